package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/example/sso/internal/app"

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
// (doctor.Probe) and adds its checks to rep, under rules "probe.<rule>".
func runProbe(ctx context.Context, rep *doctorReport, da doctorArgs, headers http.Header, cfg config.Config, getenv func(string) string) {
	fail := func(err error) {
		c := app.Check{Rule: "probe.setup", Label: "probe", URL: da.to, Why: err.Error(), Fix: "correct the --probe flags"}
		rep.add(c, c.Line())
	}
	in := doctor.ProbeInput{
		Connect: da.probe.connect, LoginURL: cfg.LoginURL, CookieName: cfg.CookieName,
		From: da.from, To: da.to, Method: da.method, Headers: headers,
		User: da.probe.user, Password: getenv("SSO_PROBE_PASSWORD"), Cookie: getenv("SSO_PROBE_COOKIE"),
	}
	if da.probe.user != "" && in.Password == "" {
		fail(fmt.Errorf("--probe-user %s: set SSO_PROBE_PASSWORD to its password", da.probe.user))
		return
	}
	if da.probe.ca != "" {
		pool, err := doctor.LoadCAFile(da.probe.ca)
		if err != nil {
			fail(fmt.Errorf("--probe-ca: %w", err))
			return
		}
		in.RootCAs = pool
	}
	r := doctor.Probe(ctx, in)
	last := ""
	for i, ch := range r.Checks {
		// The request and the headers that decided it, once per request,
		// above its verdicts (doctor.ProbeReport's text form).
		line := ch.String()
		if ch.Request != "" && ch.Request != last {
			last = ch.Request
			line = strings.TrimRight(doctor.ProbeReport{Checks: []doctor.ProbeCheck{ch}}.String(), "\n")
		}
		if i == 0 {
			line = fmt.Sprintf("\nprobe of the running deployment (%s → %s):\n%s", da.from, da.to, line)
		}
		rule := ch.Rule
		if r, ok := browserRules[rule]; ok {
			rule = r
		}
		rep.add(app.Check{Rule: "probe." + strings.TrimPrefix(rule, "browser."), Label: "probe: " + ch.Rule, OK: ch.OK, URL: ch.Request, Why: ch.Why, Fix: ch.Fix}, line)
	}
}
