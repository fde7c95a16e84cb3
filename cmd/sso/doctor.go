package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/example/sso/doctor"
	"github.com/example/sso/internal/app"
	"github.com/example/sso/internal/httptoken"
)

// doctorPing bounds the Redis check: a doctor that hangs helps no one.
const doctorPing = 3 * time.Second

// doctorDetails is the body of sso doctor -h.
const doctorDetails = `Checks the configuration sso serve would start with (same environment,
SSO_CONFIG file and flags), through the same assembly serve uses: settings,
cookie and CORS policies, secret keys, JWT, users file, Redis. With --from
and --to it then explains whether a browser on the page --from that fetches
--to sends the session cookie and accepts the CORS answer, and why not.

  --json              print one JSON document (docs/doctor.md) instead of text
  --from URL          the page's URL, e.g. https://app.example.com/
  --to URL            the URL the page fetches, e.g. https://api.example.com/items
  --method M          the fetch method (default GET)
  --header 'N: v'     a header the page's script sets; repeatable
  --credentials MODE  fetch's credentials mode: include (default), same-origin, omit
  --probe             also send the real requests to the running deployment:
                      the login page, a login, the preflight, the request
                      without and with the session; shows the headers that
                      decide each verdict (unsafe methods go as GET)
  --probe-user NAME   log in as NAME, password from SSO_PROBE_PASSWORD (or give
                      a session cookie value in SSO_PROBE_COOKIE); neither:
                      only what needs no session is probed
  --probe-ca FILE     trust this PEM CA too (a dev CA)
  --probe-connect H:P connect every probe request to H:P (as curl --connect-to)

Doctor flags and serve flags (sso serve -h) may come in any order.
Exit status: 0 every check passed (warnings allowed), 1 a check failed,
2 a usage error or a configuration that cannot be read at all.
`

func doctorUsage() string {
	c, _ := lookup("doctor")
	return commandUsage(c)
}

// doctorArgs are the flags of sso doctor itself.
type doctorArgs struct {
	from, to, method, credentials string
	headers                       []string
	help, json                    bool
	probe                         probeArgs
}

// splitDoctorArgs takes doctor's own flags out of args ("--from URL" or
// "--from=URL", one or two dashes) and returns the rest, in order, for
// config.Load. A serve flag's separate value ("--listen :8080") passes
// through untouched, since only doctor's own names are consumed.
func splitDoctorArgs(args []string) (doctorArgs, []string, error) {
	var d doctorArgs
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			rest = append(rest, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		switch name {
		case "h", "help":
			d.help = true
			continue
		case "probe":
			d.probe.on = true
			continue
		case "json":
			if hasValue {
				return d, nil, fmt.Errorf("doctor: flag --json takes no value")
			}
			d.json = true
			continue
		case "from", "to", "method", "credentials", "header", "probe-user", "probe-ca", "probe-connect":
		default:
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return d, nil, fmt.Errorf("doctor: flag --%s needs a value", name)
			}
			i++
			value = args[i]
		}
		switch name {
		case "from":
			d.from = value
		case "to":
			d.to = value
		case "method":
			d.method = value
		case "credentials":
			d.credentials = value
		case "header":
			d.headers = append(d.headers, value)
		default:
			d.probe.set(name, value)
		}
	}
	return d, rest, nil
}

// parseHeaders turns "Name: value" (or a bare "Name") into a header set.
func parseHeaders(list []string) (http.Header, error) {
	h := http.Header{}
	for _, s := range list {
		name, value, _ := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		if !httptoken.Valid(name) {
			return nil, fmt.Errorf("doctor: --header %q: want 'Name: value', such as 'Content-Type: application/json'", s)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}

// runDoctor assembles the service as serve would, reports every check the
// assembly made, then, with --from and --to, explains a browser request
// (package doctor).
func runDoctor(ctx context.Context, std stdio, args []string) error {
	stdout, stderr := std.stdout, std.stderr
	da, rest, err := splitDoctorArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "sso: %v\n\n%s", err, doctorUsage())
		return errUsage
	}
	if da.help {
		fmt.Fprint(stdout, doctorUsage())
		return nil
	}
	if (da.from == "") != (da.to == "") || (da.probe.on && da.from == "") {
		fmt.Fprintf(stderr, "sso: doctor: --from and --to go together (and --probe needs them)\n\n%s", doctorUsage())
		return errUsage
	}
	headers, err := parseHeaders(da.headers)
	if err != nil {
		fmt.Fprintf(stderr, "sso: %v\n\n%s", err, doctorUsage())
		return errUsage
	}
	cfg, loadErr, err := loadConfig(rest, std.getenv, doctorUsage(), stdout, stderr)
	if err != nil {
		return ignoreHelp(err)
	}

	res := app.Assemble(ctx, cfg, loadErr, app.Options{PingTimeout: doctorPing, Version: buildVersion()})
	if res.App != nil {
		res.App.Close()
	}
	rep := doctorReport{Version: buildVersion()}
	for _, c := range res.Checks {
		rep.add(c, c.Line())
	}
	if da.from != "" {
		rep.browser = len(rep.Checks)
		p := res.Policies
		if p.Cookies == nil || p.CORS == nil {
			c := app.Check{Rule: "browser.skipped", Label: "browser checks", URL: da.to,
				Why: "skipped: the cookie and CORS policies could not be built (see above)", Fix: "correct the settings above first"}
			rep.add(c, c.Line())
		} else {
			r := doctor.Explain(doctor.Input{
				Cookies: p.Cookies, CORS: p.CORS, HubCORS: p.HubCORS, LoginURL: cfg.LoginURL,
				From: da.from, To: da.to, Method: da.method, Headers: headers, Credentials: da.credentials,
			})
			for _, ch := range r.Checks {
				why, fix := ch.Fix()
				rep.add(app.Check{Rule: browserRule(ch.Name), Label: ch.Name, OK: ch.OK, URL: da.to, Why: why, Fix: fix}, ch.String())
			}
		}
	}
	if da.probe.on {
		runProbe(ctx, &rep, da, headers, cfg, std.getenv)
	}
	rep.OK = rep.Failed == 0

	if da.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("doctor: write JSON: %w", err)
		}
	} else {
		for i, line := range rep.lines {
			if i == rep.browser && i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintln(stdout, line)
		}
	}
	for _, c := range res.Checks {
		if !c.OK && c.Rule == app.RuleConfig {
			return fmt.Errorf("doctor: the configuration cannot be read (%d of %d checks failed): %w", rep.Failed, len(rep.Checks), errConfig)
		}
	}
	if rep.Failed > 0 {
		return fmt.Errorf("doctor: %d of %d checks failed", rep.Failed, len(rep.Checks))
	}
	return nil
}

// doctorReport is sso doctor --json's document (docs/doctor.md); Schema
// changes only when a field changes meaning or goes away.
type doctorReport struct {
	Schema   int         `json:"schema"`
	Version  string      `json:"version"`
	OK       bool        `json:"ok"`
	Failed   int         `json:"failed"`
	Warnings int         `json:"warnings"`
	Checks   []app.Check `json:"checks"`

	lines   []string // the text output, one per check
	browser int      // index of the first browser check; 0: none
}

const doctorSchema = 1

func (r *doctorReport) add(c app.Check, line string) {
	r.Schema = doctorSchema
	r.Checks = append(r.Checks, c)
	r.lines = append(r.lines, line)
	switch {
	case !c.OK:
		r.Failed++
	case c.Warn:
		r.Warnings++
	}
}

// browserRules are the stable rule names of package doctor's checks.
var browserRules = map[string]string{
	doctor.CheckRequest:     "browser.request",
	doctor.CheckLoginDomain: "browser.login-domain",
	doctor.CheckLoginCookie: "browser.login-cookie",
	doctor.CheckCredentials: "browser.credentials",
	doctor.CheckDomain:      "browser.cookie-domain",
	doctor.CheckSecure:      "browser.cookie-secure",
	doctor.CheckSameSite:    "browser.cookie-samesite",
	doctor.CheckOrigin:      "browser.cors-origin",
	doctor.CheckPreflight:   "browser.cors-preflight",
	doctor.CheckCSRF:        "browser.csrf",
}

func browserRule(name string) string {
	if r, ok := browserRules[name]; ok {
		return r
	}
	// A check added to package doctor later: a readable slug until it
	// gets its entry above.
	slug := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return '-'
	}, name)
	return "browser." + strings.Trim(strings.ReplaceAll(strings.ReplaceAll(slug, "--", "-"), "--", "-"), "-")
}
