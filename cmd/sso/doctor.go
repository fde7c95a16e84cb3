package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/example/sso/authz"
	"github.com/example/sso/config"
	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/cors"
	"github.com/example/sso/doctor"
	"github.com/example/sso/ticket"
	"github.com/example/sso/users"
)

// doctorPing bounds the Redis check: a doctor that hangs helps no one.
const doctorPing = 3 * time.Second

func doctorUsage() string {
	return `usage: sso doctor [--from URL --to URL [--method M] [--header 'Name: value']... [--credentials MODE]] [serve flags]

Checks the configuration sso serve would start with (same environment,
SSO_CONFIG file and flags): settings, cookie and CORS policies, secret keys,
users file, Redis. With --from and --to it then explains whether a browser on
the page --from that fetches --to sends the session cookie and accepts the
CORS answer, and why not. Exit status 1 when any check fails.

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

Doctor flags and serve flags (sso serve -h) may come in any order. Example:

  SSO_COOKIE_DOMAINS=example.com SSO_SECRET_KEYS=… SSO_USERS_FILE=users.yaml \
    sso doctor --from https://app.example.com/ --to https://api.example.com/items \
      --method PUT --header 'Content-Type: application/json' --header 'X-CSRF-Token: x'
`
}

// doctorArgs are the flags of sso doctor itself.
type doctorArgs struct {
	from, to, method, credentials string
	headers                       []string
	help                          bool
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
		if name == "" || strings.ContainsAny(name, " \t\r\n\"(),/;<=>?@[\\]{}") {
			return nil, fmt.Errorf("doctor: --header %q: want 'Name: value', such as 'Content-Type: application/json'", s)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	return h, nil
}

// checklist prints one line per check and counts the failures.
type checklist struct {
	w             io.Writer
	total, failed int
}

func (c *checklist) ok(format string, args ...any) {
	c.total++
	fmt.Fprintf(c.w, "ok   "+format+"\n", args...)
}

// warn prints a WARN line: a setting that works in some deployments and
// fails closed in others, which doctor cannot tell apart.
func (c *checklist) warn(format string, args ...any) {
	c.total++
	fmt.Fprintf(c.w, "WARN "+format+"\n", args...)
}

// fail prints one FAIL line per line of err: a configuration error joins
// one refusal per setting.
func (c *checklist) fail(what string, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		c.total++
		c.failed++
		fmt.Fprintf(c.w, "FAIL %s: %s\n", what, line)
	}
}

// runDoctor checks the configuration as serve would build it, then, with
// --from and --to, explains a browser request (package doctor).
func runDoctor(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
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
		fmt.Fprintf(stderr, "sso: %v\n", err)
		return errUsage
	}

	c := &checklist{w: stdout}
	cookies, origins, cfg := doctorConfig(ctx, c, rest, getenv)

	if da.from != "" {
		fmt.Fprintln(stdout)
		if cookies == nil {
			c.fail("browser checks", errors.New("skipped: the cookie and CORS policies could not be built (see above)"))
		} else {
			hub, err := hubPolicy(cfg, origins)
			if err != nil {
				c.fail("login origins", err)
			}
			if w := wildLoginOrigins(cfg.LoginOrigins); w != "" {
				c.warn("%s", w)
			}
			r := doctor.Explain(doctor.Input{
				Cookies: cookies, CORS: origins, HubCORS: hub, LoginURL: cfg.LoginURL,
				From: da.from, To: da.to, Method: da.method, Headers: headers, Credentials: da.credentials,
			})
			fmt.Fprint(stdout, r)
			for _, ch := range r.Checks {
				c.total++
				if !ch.OK {
					c.failed++
				}
			}
		}
	}
	if da.probe.on {
		runProbe(ctx, c, da, headers, cfg, getenv)
	}
	if c.failed > 0 {
		return fmt.Errorf("doctor: %d of %d checks failed", c.failed, c.total)
	}
	return nil
}

// doctorConfig is part one: the configuration, built as serve's build
// builds it. It returns the policies (nil when they could not be built).
// A refused setting is reported once, by config.Load; the checks that
// depend on it are skipped, and all others still run.
func doctorConfig(ctx context.Context, c *checklist, args []string, getenv func(string) string) (*cookiedomain.Policy, *cors.Policy, config.Config) {
	cfg, err := config.Load(args, getenv)
	bad := refused(err)
	if err != nil {
		c.fail("configuration", err)
		if len(cfg.CookieDomains) == 0 {
			// Load stopped before reading the settings (a bad flag or
			// configuration file): nothing else can be checked.
			return nil, nil, cfg
		}
	} else {
		mode := ""
		if cfg.DevMode {
			mode = " (DEV MODE: SSO_COOKIE_DOMAINS is not set)"
		}
		c.ok("configuration: cookie domains %s, login hub %s%s", strings.Join(cfg.CookieDomains, ", "), cfg.LoginURL, mode)
	}

	var keys [][]byte
	if !bad("SSO_SECRET_KEYS") {
		keys, err = secretKeys(cfg)
		switch {
		case err != nil:
			c.fail("secret keys", err)
		case keys == nil:
			c.ok("secret keys: none set; dev mode generates one at start-up, so sessions end when sso stops")
		default:
			if _, err := ticket.New(cfg.CookieName, keys); err != nil {
				c.fail("secret keys", fmt.Errorf("SSO_SECRET_KEYS: %w", err))
			} else {
				c.ok("secret keys: %d %s; the first signs, all verify", len(keys), plural(len(keys), "key"))
			}
		}
	}

	var (
		cookies *cookiedomain.Policy
		origins *cors.Policy
	)
	if !bad("SSO_COOKIE_DOMAINS", "SSO_COOKIE_NAME", "SSO_COOKIE_SAMESITE", "SSO_COOKIE_SECURE", "SSO_LOGIN_URL", "SSO_CORS_ORIGINS") {
		var login *url.URL
		cookies, origins, login, err = webPolicies(cfg)
		if err != nil {
			c.fail("cookie and CORS settings", err)
			cookies, origins = nil, nil
		} else {
			d, _ := cookies.For(login.Hostname())
			attrs := "HttpOnly, SameSite=" + doctor.SameSiteName(cookies.SameSite())
			if cookies.Secure() {
				attrs = "Secure, " + attrs
			}
			c.ok("cookie: %s with Domain=%s, set by the login hub %s://%s; %s", cookies.Name(), d, login.Scheme, login.Host, attrs)
			c.ok("CORS origins: %s", strings.Join(origins.Config().Origins, ", "))
		}
	}

	if !bad("SSO_TRUSTED_PROXIES") {
		if _, err := authz.NewProxies(cfg.TrustedProxies); err != nil {
			c.fail("trusted proxies", fmt.Errorf("SSO_TRUSTED_PROXIES: %w", err))
		} else {
			c.ok("trusted proxies: %s", strings.Join(cfg.TrustedProxies, ", "))
			if w := proxyReach(cfg.Listen, cfg.TrustedProxies); w != "" {
				c.warn("%s", w)
			}
		}
	}

	if (keys != nil || len(cfg.JWTKeyFiles) > 0) && !bad("SSO_JWT_ISSUER", "SSO_JWT_AUDIENCE", "SSO_JWT_TTL", "SSO_JWT_KEY_FILES") {
		if iss, err := newIssuer(cfg, keys); err != nil {
			c.fail("JWT", err)
		} else {
			c.ok("JWT: issuer %s, audience %s, lifetime %s", cfg.JWTIssuer, cfg.JWTAudience, iss.TTL())
		}
	}

	switch {
	case bad("SSO_USERS_FILE"):
	case cfg.UsersFile != "":
		if d, err := users.LoadFile(cfg.UsersFile); err != nil {
			c.fail("users file", fmt.Errorf("SSO_USERS_FILE=%q: %w", cfg.UsersFile, oneLine{err}))
		} else {
			c.ok("users file %s: %d %s", cfg.UsersFile, len(d.Users()), plural(len(d.Users()), "user"))
		}
	default:
		doctorSignIn(ctx, c, cfg, bad)
	}

	if bad("SSO_REDIS_URL", "SSO_REDIS_SENTINEL_MASTER", "SSO_REDIS_SENTINEL_ADDRS", "SSO_REDIS_CLUSTER_ADDRS", "SSO_REDIS_PASSWORD") {
		return cookies, origins, cfg
	}
	doctorStore(ctx, c, cfg)
	return cookies, origins, cfg
}

// refused returns a test for whether err (from config.Load) refuses any
// of the named settings.
func refused(err error) func(settings ...string) bool {
	set := map[string]bool{}
	var walk func(error)
	walk = func(e error) {
		var se *config.SettingError
		if errors.As(e, &se) {
			set[se.Setting] = true
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return func(settings ...string) bool {
		for _, s := range settings {
			if set[s] {
				return true
			}
		}
		return false
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// doctorStore checks that Redis answers, through the same newStore serve
// uses, with a shorter timeout. It never prints the Redis password:
// newStore's errors carry the address only.
func doctorStore(ctx context.Context, c *checklist, cfg config.Config) {
	if cfg.RedisURL == "" && cfg.RedisSentinelMaster == "" && len(cfg.RedisClusterAddrs) == 0 {
		c.ok("store: embedded in-memory store (no Redis configured): sessions are lost on restart and not shared between instances")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, doctorPing)
	defer cancel()
	a := &app{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	defer a.close()
	if _, _, err := newStore(ctx, cfg, a, nil); err != nil {
		c.fail("store", err)
		return
	}
	c.ok("store: Redis answers")
}
