package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/example/sso/config"
	"github.com/example/sso/doctor"
)

// probeArgs are doctor's --probe flags. The password and a cookie value
// come from the environment only: a command line shows in ps.
type probeArgs struct {
	on                bool
	user, ca, connect string
}

func (p *probeArgs) set(name, value string) {
	switch name {
	case "probe-user":
		p.user = value
	case "probe-ca":
		p.ca = value
	case "probe-connect":
		p.connect = value
	}
}

// runProbe sends the scenario's real requests to the running deployment
// (doctor.Probe) and adds its checks to c.
func runProbe(ctx context.Context, c *checklist, da doctorArgs, headers http.Header, cfg config.Config, getenv func(string) string) {
	fmt.Fprintf(c.w, "\nprobe of the running deployment (%s → %s):\n", da.from, da.to)
	in := doctor.ProbeInput{
		Connect: da.probe.connect, LoginURL: cfg.LoginURL, CookieName: cfg.CookieName,
		From: da.from, To: da.to, Method: da.method, Headers: headers,
		User: da.probe.user, Password: getenv("SSO_PROBE_PASSWORD"), Cookie: getenv("SSO_PROBE_COOKIE"),
	}
	if da.probe.user != "" && in.Password == "" {
		c.fail("probe", fmt.Errorf("--probe-user %s: set SSO_PROBE_PASSWORD to its password", da.probe.user))
		return
	}
	if da.probe.ca != "" {
		pool, err := doctor.LoadCAFile(da.probe.ca)
		if err != nil {
			c.fail("probe", fmt.Errorf("--probe-ca: %w", err))
			return
		}
		in.RootCAs = pool
	}
	r := doctor.Probe(ctx, in)
	fmt.Fprint(c.w, r)
	for _, ch := range r.Checks {
		c.total++
		if !ch.OK {
			c.failed++
		}
	}
}
