package doctor

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"github.com/example/sso/internal/httptoken"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/example/sso/internal/limitfile"
)

// Rules of the probe's own checks. Checks that test a browser rule on a
// live answer carry that rule's Check* name instead (CheckOrigin,
// CheckPreflight, CheckDomain, CheckSecure, CheckSameSite, CheckLoginCookie,
// CheckCSRF), so a probe fails with the same rule Explain names.
const (
	ProbeReach     = "probe: reach"           // the request got an HTTP answer at all
	ProbeLoginPage = "probe: login page"      // the hub serves its login page
	ProbeLogin     = "probe: login"           // a login with the given credentials sets the cookie
	ProbeProtected = "probe: protected"       // without a session the URL answers 401, not the resource
	ProbeSession   = "probe: session"         // with the session the URL lets the request through
	ProbeSkipped   = "probe: session skipped" // no credentials: what needs a session is not probed
	ProbeLogout    = "probe: logout"          // the session the probe logged in for is ended again
)

// DefaultCookieName is sso's default SSO_COOKIE_NAME.
const DefaultCookieName = "sso_session"

// ProbeInput is a running deployment and the request scenario to try on it.
type ProbeInput struct {
	// Client sends the requests; nil: a client with RootCAs and Connect.
	// The probe never follows redirects and keeps no cookie jar, whatever
	// the client says: it reports each answer as the browser receives it.
	Client *http.Client
	// RootCAs are the certificate authorities the default client trusts
	// (see LoadCAFile for a dev CA); nil: the system's.
	RootCAs *x509.CertPool
	// Connect, when set, is the host:port the default client connects to
	// for every URL (as curl --connect-to), keeping the URL's host for
	// TLS and Host: a deployment not (yet) in DNS.
	Connect string

	LoginURL   string // the login hub, e.g. "https://login.example.com"
	CookieName string // "": DefaultCookieName

	From, To string      // as in Input
	Method   string      // as in Input; "" = GET
	Headers  http.Header // as in Input

	// User and Password log in at LoginURL (POST /api/session) for the
	// session; Cookie is a session cookie value to use instead. Neither:
	// only what needs no session is probed, and the report says so.
	User, Password string
	Cookie         string
}

// ProbeCheck is one verdict on a live answer, with the request it came from
// and the response headers that decided it.
// Its JSON form is the {ok, rule, why, fix} entry of doctor's other checks,
// plus the request, status and headers.
type ProbeCheck struct {
	Rule    string `json:"rule"` // a Check* or Probe* constant
	OK      bool   `json:"ok"`
	Why     string `json:"why"`     // what happened and what it means
	Fix     string `json:"fix"`     // what to change; "" when OK
	Request string `json:"request"` // e.g. "OPTIONS https://api.example.com/items"
	Status  int    `json:"status"`  // 0: no answer
	// Headers are the response headers that matter for the rule (CORS,
	// Vary, X-Auth-Error, Set-Cookie with its value hidden, Location).
	Headers http.Header `json:"headers,omitempty"`
}

// ProbeReport is every check of a probe, in the order the requests went.
type ProbeReport struct {
	Checks []ProbeCheck
	OK     bool
}

// String renders each request once ("→ OPTIONS url: 204" and its headers)
// followed by its verdicts ("ok   rule: why" / "FAIL rule: why; fix").
func (r ProbeReport) String() string {
	var b strings.Builder
	last := ""
	for _, c := range r.Checks {
		if c.Request != "" && c.Request != last {
			last = c.Request
			fmt.Fprintf(&b, "→ %s: ", c.Request)
			if c.Status == 0 {
				b.WriteString("no answer\n")
			} else {
				fmt.Fprintf(&b, "%d\n", c.Status)
			}
			keys := make([]string, 0, len(c.Headers))
			for k := range c.Headers {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				for _, v := range c.Headers[k] {
					fmt.Fprintf(&b, "     %s: %s\n", k, v)
				}
			}
		}
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// String renders the check as one line.
func (c ProbeCheck) String() string {
	mark := "ok   "
	if !c.OK {
		mark = "FAIL "
	}
	s := mark + c.Rule + ": " + c.Why
	if c.Fix != "" {
		s += "; fix: " + c.Fix
	}
	return s
}

// LoadCAFile returns the system roots plus the PEM certificates in path
// (the dev CA of a local stack).
func LoadCAFile(path string) (*x509.CertPool, error) {
	pem, err := limitfile.Read(path, limitfile.Small)
	if err != nil {
		return nil, fmt.Errorf("doctor: CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("doctor: CA file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// probeTimeout bounds each request of a probe.
const probeTimeout = 10 * time.Second

// prober carries the state of one Probe.
type prober struct {
	ctx    context.Context
	client *http.Client
	in     ProbeInput
	rep    ProbeReport
	s      *scenario
	// csrf is the CSRF token of the session the probe logged in for
	// itself ("" when it used a given cookie or has none): that session
	// is ended once the requests are done.
	csrf string
}

// Probe sends the requests a browser would to a running deployment: the
// login page, a login when credentials are given, the CORS preflight of
// the scenario, and the request itself without and with the session
// cookie. It judges each answer by the browser's rules and sso's contract.
// Unsafe methods are never sent to the fetched URL itself: their preflight
// is, and the requests go as GET, which the report says.
func Probe(ctx context.Context, in ProbeInput) ProbeReport {
	p := &prober{ctx: ctx, in: in, client: probeClient(in)}
	if in.CookieName == "" {
		p.in.CookieName = DefaultCookieName
	}
	// parse wants policies; the probe reads the live ones instead.
	s, msg := parseProbe(in)
	if msg != "" {
		p.add(ProbeCheck{Rule: CheckRequest, Why: msg, Fix: "give --from and --to as absolute http(s) URLs"})
		return p.done()
	}
	p.s = s
	p.loginPage()
	cookie := p.session()
	p.preflight()
	p.request(cookie)
	p.logout(cookie)
	return p.done()
}

// logout ends the session the probe logged in for (DELETE /api/session
// with its CSRF token), so repeated probes (a monitoring job) neither leave
// live sessions in the store nor push the user's own sessions out past
// SSO_SESSION_MAX_PER_USER. A session given in SSO_PROBE_COOKIE is the
// caller's and is kept. A failed logout fails the check: the probe then
// left a live session behind.
func (p *prober) logout(cookie string) {
	if cookie == "" || p.csrf == "" {
		return
	}
	a := p.send("DELETE", p.s.loginOrigin.String()+"/api/session", http.Header{
		"Cookie":       {p.in.CookieName + "=" + cookie},
		"X-CSRF-Token": {p.csrf},
		"Accept":       {"application/json"},
	}, nil)
	if a == nil {
		return
	}
	ok := a.status == http.StatusNoContent || a.status == http.StatusOK
	why := fmt.Sprintf("DELETE /api/session answered %d: the probe's session is ended", a.status)
	if !ok {
		why = fmt.Sprintf("DELETE /api/session answered %d: %s; the probe's session stays until it expires", a.status, firstLine(a.body))
	}
	p.check(a, ProbeLogout, ok, why, "check that the hub's JSON API reaches sso; end the session with DELETE /api/sessions/{id} as "+p.in.User)
}

func probeClient(in ProbeInput) *http.Client {
	var c http.Client
	if in.Client != nil {
		c = *in.Client
	} else {
		d := &net.Dialer{Timeout: 5 * time.Second}
		connect := in.Connect
		c.Transport = &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: in.RootCAs, MinVersion: tls.VersionTLS12},
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if connect != "" {
					addr = connect
				}
				return d.DialContext(ctx, network, addr)
			},
			ResponseHeaderTimeout: probeTimeout,
		}
		c.Timeout = probeTimeout
	}
	c.Jar = nil
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// parseProbe checks the URLs and method as parse does, without policies.
func parseProbe(in ProbeInput) (*scenario, string) {
	s := &scenario{in: Input{From: in.From, To: in.To, Method: in.Method, Headers: in.Headers, LoginURL: in.LoginURL}}
	var msg string
	if s.from, msg = parseEndpoint("the page URL (From)", in.From); msg != "" {
		return nil, msg
	}
	if s.to, msg = parseEndpoint("the fetched URL (To)", in.To); msg != "" {
		return nil, msg
	}
	s.method = in.Method
	if s.method == "" {
		s.method = "GET"
	}
	if !httptoken.Valid(s.method) || forbiddenMethod(s.method) {
		return nil, fmt.Sprintf("method %q cannot be sent by fetch()", s.method)
	}
	s.method = normalizeMethod(s.method)
	u, err := url.Parse(in.LoginURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" {
		return nil, fmt.Sprintf("the login URL %q is not an absolute http(s) URL", in.LoginURL)
	}
	login, msg := parseEndpoint("the login URL", u.Scheme+"://"+u.Host+"/")
	if msg != "" {
		return nil, msg
	}
	s.login, s.loginOrigin = login.host, login.origin
	s.sameOrigin = s.from.origin == s.to.origin
	s.sameSite = s.from.origin.Scheme == s.to.origin.Scheme && s.from.site == s.to.site
	return s, ""
}

func (p *prober) add(c ProbeCheck) { p.rep.Checks = append(p.rep.Checks, c) }

func (p *prober) done() ProbeReport {
	p.rep.OK = len(p.rep.Checks) > 0
	for _, c := range p.rep.Checks {
		p.rep.OK = p.rep.OK && c.OK
	}
	return p.rep
}

// answer is one response, read and closed.
type answer struct {
	req    string
	status int
	header http.Header
	body   []byte
}

// send makes one request; a transport error becomes a failing ProbeReach
// check and a nil answer.
func (p *prober) send(method, rawURL string, header http.Header, body []byte) *answer {
	req := method + " " + rawURL
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	r, err := http.NewRequestWithContext(p.ctx, method, rawURL, rd)
	if err != nil {
		p.add(ProbeCheck{Rule: ProbeReach, Request: req, Why: fmt.Sprintf("cannot build the request: %v", err)})
		return nil
	}
	for k, vs := range header {
		r.Header[k] = vs
	}
	resp, err := p.client.Do(r)
	if err != nil {
		fix := "check the URL, DNS (or --probe-connect) and TLS trust (--probe-ca for a dev CA)"
		p.add(ProbeCheck{Rule: ProbeReach, Request: req, Why: fmt.Sprintf("no answer: %v", err), Fix: fix})
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return &answer{req: req, status: resp.StatusCode, header: resp.Header, body: b}
}

// shown picks the headers that matter from h; Set-Cookie values are
// hidden (a session cookie is a credential).
func shown(h http.Header) http.Header {
	out := http.Header{}
	for _, k := range []string{
		"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods",
		"Access-Control-Allow-Headers", "Vary", "X-Auth-Error", "Location", "Content-Type", "WWW-Authenticate",
	} {
		if vs := h.Values(k); len(vs) > 0 {
			out[k] = vs
		}
	}
	for _, line := range h.Values("Set-Cookie") {
		name, rest, _ := strings.Cut(line, "=")
		_, attrs, _ := strings.Cut(rest, ";")
		out.Add("Set-Cookie", name+"=…;"+attrs)
	}
	return out
}

func (p *prober) check(a *answer, rule string, ok bool, why, fix string) {
	c := ProbeCheck{Rule: rule, OK: ok, Why: why, Request: a.req, Status: a.status, Headers: shown(a.header)}
	if !ok {
		c.Fix = fix
	}
	p.add(c)
}

// loginPage: GET <login URL>/login answers 200.
func (p *prober) loginPage() {
	u := p.s.loginOrigin.String() + "/login"
	a := p.send("GET", u, http.Header{"Accept": {"text/html"}}, nil)
	if a == nil {
		return
	}
	ok := a.status == http.StatusOK
	p.check(a, ProbeLoginPage, ok,
		fmt.Sprintf("the login hub answers %d %s", a.status, http.StatusText(a.status)),
		"point SSO_LOGIN_URL at the host nginx proxies to sso (the login vhost), and check sso runs")
}

// session returns the session cookie value: the given one, or one from
// logging in. "" when there is none, with the reason reported.
func (p *prober) session() string {
	if p.in.Cookie != "" {
		p.add(ProbeCheck{Rule: ProbeLogin, OK: true, Why: "using the given session cookie (its attributes are not probed: log in with credentials for that)"})
		return p.in.Cookie
	}
	if p.in.User == "" || p.in.Password == "" {
		p.add(ProbeCheck{Rule: ProbeSkipped, OK: true, Why: "no credentials (--probe-user with SSO_PROBE_PASSWORD, or SSO_PROBE_COOKIE): the cookie's attributes and the request with a session are not probed"})
		return ""
	}
	body, err := json.Marshal(map[string]string{"username": p.in.User, "password": p.in.Password})
	if err != nil {
		p.add(ProbeCheck{Rule: ProbeLogin, Why: fmt.Sprintf("cannot encode the login: %v", err)})
		return ""
	}
	a := p.send("POST", p.s.loginOrigin.String()+"/api/session", http.Header{"Content-Type": {"application/json"}}, body)
	if a == nil {
		return ""
	}
	if a.status != http.StatusCreated {
		p.check(a, ProbeLogin, false, fmt.Sprintf("POST /api/session answered %d: %s", a.status, firstLine(a.body)),
			"check the user name and SSO_PROBE_PASSWORD, and that the login hub is sso")
		return ""
	}
	var sc *http.Cookie
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == p.in.CookieName {
			sc = c
		}
	}
	if sc == nil || sc.Value == "" {
		p.check(a, ProbeLogin, false, fmt.Sprintf("the login answered 201 without a %s cookie", p.in.CookieName),
			"set SSO_COOKIE_NAME to the name sso uses, or check nothing between browser and sso strips Set-Cookie")
		return ""
	}
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	if json.Unmarshal(a.body, &login) == nil {
		p.csrf = login.CSRF
	}
	p.check(a, ProbeLogin, true, fmt.Sprintf("logged in as %s: the hub set %s", p.in.User, p.in.CookieName), "")
	for _, v := range judgeCookie(p.s, sc) {
		p.check(a, v.Rule, v.OK, v.Why, v.Fix)
	}
	return sc.Value
}

// verdict is a judgement before it is tied to a request.
type verdict struct {
	Rule string
	OK   bool
	Why  string
	Fix  string
}

// judgeCookie applies the browser's storage and sending rules to the
// session cookie the hub actually set, for this scenario.
func judgeCookie(s *scenario, c *http.Cookie) []verdict {
	var out []verdict
	// Storage (RFC 6265bis §5.7).
	var problems []string
	if c.SameSite == http.SameSiteNoneMode && !c.Secure {
		problems = append(problems, "SameSite=None without Secure is refused")
	}
	if c.Secure && s.loginOrigin.Scheme == "http" && !loopback(s.login) {
		problems = append(problems, "a Secure cookie set over plain http is ignored")
	}
	if !c.HttpOnly {
		problems = append(problems, "it lacks HttpOnly, so any script on any sibling can read the session")
	}
	if len(problems) > 0 {
		out = append(out, verdict{CheckLoginCookie, false, "the hub's cookie: " + strings.Join(problems, "; "), "serve the hub over https with SSO_COOKIE_SECURE=true"})
	} else {
		out = append(out, verdict{CheckLoginCookie, true, "the browser stores it (" + cookieAttrs(c) + ")", ""})
	}
	// Domain-match (RFC 6265bis §5.1.3): a cookie without Domain is
	// host-only.
	domain := strings.ToLower(strings.TrimPrefix(c.Domain, "."))
	switch {
	case domain == "" && s.to.host == s.login:
		out = append(out, verdict{CheckDomain, true, "the cookie is host-only on " + s.login + ", the fetched host", ""})
	case domain == "":
		out = append(out, verdict{CheckDomain, false, fmt.Sprintf("the cookie has no Domain: it goes back to %s only, never to %s", s.login, s.to.host), "set SSO_COOKIE_DOMAINS to the parent domain of both"})
	case s.to.host == domain || strings.HasSuffix(s.to.host, "."+domain):
		out = append(out, verdict{CheckDomain, true, fmt.Sprintf("Domain=%s covers %s", domain, s.to.host), ""})
	default:
		out = append(out, verdict{CheckDomain, false, fmt.Sprintf("Domain=%s does not cover %s: the browser never sends the cookie there", domain, s.to.host), "serve the API under " + domain + " or add its domain to SSO_COOKIE_DOMAINS"})
	}
	// Secure (RFC 6265bis §5.8.3).
	if c.Secure && !s.to.secure() {
		out = append(out, verdict{CheckSecure, false, fmt.Sprintf("the cookie is Secure and %s is plain http: the browser does not send it", s.to.origin), "serve the API over https"})
	} else {
		out = append(out, verdict{CheckSecure, true, fmt.Sprintf("Secure=%v and %s is %s", c.Secure, s.to.origin, s.to.origin.Scheme), ""})
	}
	// SameSite (RFC 6265bis §5.8.3), schemeful sites.
	mode := SameSiteName(c.SameSite)
	switch {
	case s.sameSite:
		out = append(out, verdict{CheckSameSite, true, fmt.Sprintf("%s and %s are same-site: SameSite=%s lets the cookie go", s.from.origin, s.to.origin, mode), ""})
	case c.SameSite == http.SameSiteNoneMode:
		out = append(out, verdict{CheckSameSite, false, fmt.Sprintf("%s and %s are cross-site: the SameSite=None cookie is a third-party cookie there, which Safari, Firefox and Chrome's Incognito never send", s.from.origin, s.to.origin), "serve the page and the API under one registrable domain (and one scheme)"})
	default:
		out = append(out, verdict{CheckSameSite, false, fmt.Sprintf("%s and %s are cross-site and the cookie is SameSite=%s: a fetch never carries it", s.from.origin, s.to.origin, mode), "serve the page and the API under one registrable domain (and one scheme)"})
	}
	return out
}

func cookieAttrs(c *http.Cookie) string {
	a := []string{}
	if c.Domain != "" {
		a = append(a, "Domain="+strings.TrimPrefix(c.Domain, "."))
	}
	if c.Path != "" {
		a = append(a, "Path="+c.Path)
	}
	if c.Secure {
		a = append(a, "Secure")
	}
	if c.HttpOnly {
		a = append(a, "HttpOnly")
	}
	return strings.Join(append(a, "SameSite="+SameSiteName(c.SameSite)), "; ")
}

// unsafeHeaders are the header names (lower case, sorted) a browser lists
// in Access-Control-Request-Headers for these script-set headers.
func unsafeHeaders(h http.Header) []string {
	var out []string
	for name, vs := range h {
		if forbiddenHeader(name) {
			continue
		}
		unsafe := len(vs) == 0 && !safelistedHeader(name, "")
		for _, v := range vs {
			unsafe = unsafe || !safelistedHeader(name, v)
		}
		if unsafe {
			out = append(out, strings.ToLower(name))
		}
	}
	slices.Sort(out)
	return out
}

// preflight sends the OPTIONS a browser would send for the scenario (one is
// sent even when the browser would not need it: its answer shows whether
// the origin is allowed before anything else is tried).
func (p *prober) preflight() {
	s := p.s
	if s.sameOrigin {
		return
	}
	h := http.Header{"Origin": {s.from.origin.String()}, "Access-Control-Request-Method": {s.method}}
	names := unsafeHeaders(s.in.Headers)
	if len(names) > 0 {
		h.Set("Access-Control-Request-Headers", strings.Join(names, ","))
	}
	a := p.send("OPTIONS", s.to.url.String(), h, nil)
	if a == nil {
		return
	}
	needed := !safelistedMethod(s.method) || len(names) > 0
	for _, v := range judgePreflight(s, needed, names, a.status, a.header, a.body) {
		p.check(a, v.Rule, v.OK, v.Why, v.Fix)
	}
}

// judgePreflight applies the Fetch standard's CORS check to a preflight
// answer. When the browser would send no preflight, only its Origin
// verdict counts (and passes: the actual answer decides).
func judgePreflight(s *scenario, needed bool, names []string, status int, h http.Header, body []byte) []verdict {
	origin := s.from.origin.String()
	acao, acac := h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Credentials")
	okStatus := status >= 200 && status < 300
	if !needed {
		why := fmt.Sprintf("%s with only CORS-safelisted headers needs no preflight; sso answered one with %d", s.method, status)
		if !okStatus && len(body) > 0 {
			why += " (" + firstLine(body) + ")"
		}
		return []verdict{{CheckPreflight, true, why, ""}}
	}
	switch {
	case !okStatus || acao != origin || acac != "true":
		why := fmt.Sprintf("the preflight answered %d with Access-Control-Allow-Origin %q and -Credentials %q; a credentialed fetch needs 2xx, exactly %q and \"true\": the browser never sends the request",
			status, acao, acac, origin)
		rule, fix := CheckOrigin, "add "+origin+" to SSO_CORS_ORIGINS, and route OPTIONS to sso's /auth (snippets/sso-protect.conf)"
		// sso's refusal names its reason in the body (cors.Policy.Preflight).
		if reason := string(body); status == http.StatusForbidden && (strings.Contains(reason, "method not allowed") || strings.Contains(reason, "header not allowed")) {
			rule, fix = CheckPreflight, "drop the method or header from the request, or allow it (SSO_CORS_HEADERS for headers)"
			why += " (sso: " + firstLine(body) + ")"
		}
		return []verdict{{rule, false, why, fix}}
	}
	out := []verdict{{CheckOrigin, true, fmt.Sprintf("the preflight allows %s with credentials", origin), ""}}
	var missing []string
	if !safelistedMethod(s.method) && !slices.Contains(splitList(h.Get("Access-Control-Allow-Methods")), s.method) {
		missing = append(missing, "method "+s.method)
	}
	allowed := splitList(strings.ToLower(h.Get("Access-Control-Allow-Headers")))
	for _, n := range names {
		if !slices.Contains(allowed, n) {
			missing = append(missing, "header "+n)
		}
	}
	if len(missing) > 0 {
		return append(out, verdict{CheckPreflight, false, "the preflight answer does not allow " + strings.Join(missing, ", ") + ": the browser never sends the request", "drop it from the request, or allow it (SSO_CORS_HEADERS for headers)"})
	}
	return append(out, verdict{CheckPreflight, true, fmt.Sprintf("the preflight allows %s and the headers %v", s.method, names), ""})
}

func splitList(v string) []string {
	var out []string
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// request sends the scenario's request without and then with the session.
func (p *prober) request(cookie string) {
	s := p.s
	method, note := s.method, ""
	if !safeMethod(method) {
		// A probe must not change data on a live API.
		method, note = "GET", fmt.Sprintf(" (sent as GET: the probe does not send %s to a live API)", s.method)
	}
	h := http.Header{"Accept": {"application/json"}}
	for k, vs := range s.in.Headers {
		if !forbiddenHeader(k) {
			h[http.CanonicalHeaderKey(k)] = vs
		}
	}
	if !s.sameOrigin || method != "GET" {
		h.Set("Origin", s.from.origin.String())
	}
	a := p.send(method, s.to.url.String(), h, nil)
	if a != nil {
		a.req += " (no cookie)"
		// A navigation (the page's headers may ask for HTML) is sent to
		// the login hub instead of a 401.
		toLogin := (a.status == http.StatusFound || a.status == http.StatusSeeOther) &&
			strings.HasPrefix(a.header.Get("Location"), s.loginOrigin.String()+"/")
		ok := a.status == http.StatusUnauthorized || toLogin
		why := fmt.Sprintf("without a session it answers %d%s", a.status, note)
		if ok {
			why += ": sso's auth_request guards it"
			if e := a.header.Get("X-Auth-Error"); e != "" {
				why += " (X-Auth-Error: " + e + ")"
			}
		}
		p.check(a, ProbeProtected, ok, why, "protect the location with snippets/sso-protect.conf (auth_request to sso's /auth)")
		if cookie == "" {
			v := judgeActual(s, a.header)
			p.check(a, v.Rule, v.OK, v.Why+" (on the 401)", v.Fix)
		}
	}
	if cookie == "" {
		return
	}
	h.Set("Cookie", p.in.CookieName+"="+cookie)
	a = p.send(method, s.to.url.String(), h, nil)
	if a == nil {
		return
	}
	a.req += " (with the session cookie)"
	why := fmt.Sprintf("with the session it answers %d%s", a.status, note)
	fix := ""
	rule := ProbeSession
	ok := a.status < 400 || a.status == http.StatusNotFound || a.status == http.StatusMethodNotAllowed
	switch e := a.header.Get("X-Auth-Error"); {
	case ok:
		why += ": sso let it through"
	case a.status == http.StatusForbidden && e == "cross_site_request":
		rule, fix = CheckCSRF, "add "+s.from.origin.String()+" to SSO_CORS_ORIGINS"
		why += ": sso's forgery shield refused the Origin (X-Auth-Error: cross_site_request)"
	case a.status == http.StatusUnauthorized:
		why += fmt.Sprintf(": sso refused the cookie (X-Auth-Error: %s)", e)
		fix = "the session expired, or sso's SSO_SECRET_KEYS or SSO_COOKIE_NAME differ from the ones that issued it; log in again"
	default:
		why += fmt.Sprintf(" (X-Auth-Error: %s)", e)
		fix = "see sso's log; 403 forbidden is a ?group= refusal, 5xx a backend outage"
	}
	p.check(a, rule, ok, why, fix)
	v := judgeActual(s, a.header)
	p.check(a, v.Rule, v.OK, v.Why, v.Fix)
}

// judgeActual is the CORS check of an actual (credentialed) answer: may
// the page read it?
func judgeActual(s *scenario, h http.Header) verdict {
	origin := s.from.origin.String()
	if s.sameOrigin {
		return verdict{CheckOrigin, true, "same origin: the page reads the answer, no CORS involved", ""}
	}
	acao, acac := h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Credentials")
	if acao != origin || acac != "true" {
		return verdict{CheckOrigin, false, fmt.Sprintf("Access-Control-Allow-Origin %q, -Credentials %q: the browser hides the answer from %s (it needs exactly %q and \"true\")", acao, acac, origin, origin),
			"add " + origin + " to SSO_CORS_ORIGINS, and have nginx copy sso's CORS headers (snippets/sso-protect.conf)"}
	}
	why := fmt.Sprintf("Access-Control-Allow-Origin: %s with -Credentials: true: the page reads the answer", origin)
	if !slices.Contains(splitList(strings.ToLower(strings.Join(h.Values("Vary"), ","))), "origin") {
		why += "; no Vary: Origin, so a shared cache may hand this answer to another origin"
	}
	return verdict{CheckOrigin, true, why, ""}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
