//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/cors"
	"github.com/example/sso/doctor"
	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/nginx/nginxtest"
)

// The doctor agreement test: for a set of configurations and URL pairs
// (page → API), what doctor.Explain predicts and what Chromium does must
// be the same. Each SameSite mode runs its own sso behind its own nginx;
// every page is a blank document on its host, and the fetch runs in it.

// agreementCORS are the SSO_CORS_ORIGINS of every agreement instance: the
// app on any port, the parent domain, another site and the app over plain
// http are allowed; other.example.test is not.
func agreementCORS(port int) []string {
	return []string{
		"https://app." + domain,
		"https://" + domain + ":" + strconv.Itoa(port),
		"https://" + evilHost + ":" + strconv.Itoa(port),
		"http://app." + domain,
	}
}

// agreementHeader is the one extra header preflights allow (SSO_CORS_HEADERS).
const agreementHeader = "X-Request-Id"

// agreeStack is one sso configuration behind its own nginx.
type agreeStack struct {
	*stack
	mode      string // lax, strict, none
	otherPort int    // a second https port serving app.example.test's page
	httpPort  int    // a plain-http port serving app.example.test's page
	cookies   *cookiedomain.Policy
	cors, hub *cors.Policy
	bin       string   // cmd/sso
	env       []string // sso's configuration
}

// pair is one scenario: a page at from fetches to.
type pair struct {
	name, from, to, method, credentials string
	headers                             http.Header
}

// outcome is what one side says about a pair.
type outcome struct {
	cookie   string // "sent", "not sent", or "-" when the request never left the browser
	readable bool   // the page could read the answer
	ok       bool   // the call worked: readable, 2xx, as alice
	detail   string
}

func TestDoctorAgreesWithChromium(t *testing.T) {
	chromiumPath(t)
	begin := time.Now()
	ssoBin, apiBin := testproc.Build(t, "./cmd/sso"), testproc.Build(t, "./cmd/demoapi")
	const password = "agreement password"
	// Minimum-cost bcrypt: logins stay fast in -race builds.
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfgDir := t.TempDir()
	usersFile := filepath.Join(cfgDir, "users.yml")
	writeFile(t, usersFile, fmt.Sprintf("users:\n  %s:\n    displayname: Alice\n    email: %s\n    password: %q\n", username, email, hash))
	web := t.TempDir()
	writeFile(t, filepath.Join(web, "index.html"), "<!doctype html>\n<meta charset=\"utf-8\"><title>page</title>\n<body data-state=\"done\"></body>\n")

	apiCmd := exec.Command(apiBin)
	apiCmd.Env = append(testproc.Environ("SSO_", "DEMOAPI_"), "DEMOAPI_LISTEN=127.0.0.1:0")
	apiProc := testproc.Start(t, "demoapi", apiCmd)
	apiAddr, err := apiProc.WaitListening(20 * time.Second)
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	rec := startRecorder(t, apiAddr)

	var stacks []*agreeStack
	for _, mode := range []string{"lax", "strict", "none"} {
		stacks = append(stacks, startAgreeStack(t, mode, ssoBin, usersFile, web, rec, apiProc))
	}
	// One Chromium trusts every instance's leaf key.
	var spki []string
	for _, s := range stacks {
		spki = append(spki, s.spki)
	}
	chrome := startChromium(t, &stack{spki: strings.Join(spki, ",")})
	for _, s := range stacks {
		s.chrome = chrome
	}
	t.Logf("stacks and chromium up in %v", time.Since(begin).Round(time.Millisecond))

	var rows []string
	for _, s := range stacks {
		t.Run(s.mode, func(t *testing.T) {
			tb := newBrowser(t, s.stack)
			s.login(tb, password)
			for i, p := range s.pairs() {
				// A query of its own tells this pair's request apart.
				p.to += "?pair=" + strconv.Itoa(i)
				want := s.doctor(p)
				// The policies above are built as sso builds them: sso
				// doctor on the same configuration must say the same.
				if cli := s.doctorCLI(tb, p); cli != want.ok {
					tb.errorf("%s %s: sso doctor says ok=%v, doctor.Explain on the test's policies ok=%v: the test's policies differ from sso's", s.mode, p.name, cli, want.ok)
				}
				got := s.browser(tb, p)
				agree := want.cookie == got.cookie || got.cookie == "-"
				agree = agree && want.readable == got.readable && want.ok == got.ok
				mark := "agree"
				if !agree {
					mark = "DISAGREE"
					tb.errorf("%s %s: doctor says cookie %s, readable %v, works %v (%s); Chromium: cookie %s, readable %v, works %v (%s)",
						s.mode, p.name, want.cookie, want.readable, want.ok, want.detail, got.cookie, got.readable, got.ok, got.detail)
				}
				// The probe does not model fetch's credentials mode (the
				// page's code): it is compared on the other pairs only.
				probed := "-"
				if p.credentials == "" {
					pr := s.probe(tb, p, password)
					probed = strconv.FormatBool(pr.OK)
					if pr.OK != got.ok {
						mark += ", PROBE DISAGREES"
						tb.errorf("%s %s: doctor --probe says works %v, Chromium %v; probe:\n%s", s.mode, p.name, pr.OK, got.ok, pr)
					}
				}
				rows = append(rows, fmt.Sprintf("%-6s %-26s %-6s %-9s %-6v %-5v %-5s | %-9s %-6v %-5v %s",
					s.mode, p.name, p.method, want.cookie, want.readable, want.ok, probed, got.cookie, got.readable, got.ok, got.detail+" | "+mark))
			}
		})
	}
	t.Logf("doctor (d: Explain, p: Probe) vs Chromium (c) in %v:\n%-6s %-26s %-6s %-9s %-6s %-5s %-5s | %-9s %-6s %-5s %s\n%s",
		time.Since(begin).Round(time.Millisecond),
		"mode", "pair", "method", "d:cookie", "d:read", "d:ok", "p:ok", "c:cookie", "c:read", "c:ok", "c:status | verdict",
		strings.Join(rows, "\n"))
}

// startAgreeStack starts sso with SameSite=mode and nginx in front of it
// and of the shared API recorder.
func startAgreeStack(t *testing.T, mode, ssoBin, usersFile, web string, rec *recorder, api *testproc.Proc) *agreeStack {
	t.Helper()
	port := testproc.FreePort(t)
	s := &agreeStack{
		stack:     &stack{port: port, api: rec, procs: map[string]*testproc.Proc{"demoapi": api}},
		mode:      mode,
		otherPort: testproc.FreePort(t),
		httpPort:  testproc.FreePort(t),
	}
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat(mode, 32)[:32]))
	origins := agreementCORS(port)
	env := []string{
		"SSO_LISTEN=127.0.0.1:0",
		"SSO_COOKIE_DOMAINS=" + domain,
		"SSO_COOKIE_SECURE=true",
		"SSO_COOKIE_SAMESITE=" + mode,
		"SSO_LOGIN_URL=" + s.origin("login"),
		"SSO_SECRET_KEYS=" + key,
		"SSO_USERS_FILE=" + usersFile,
		"SSO_CORS_ORIGINS=" + strings.Join(origins, ","),
		"SSO_CORS_HEADERS=" + agreementHeader,
		"SSO_TRUSTED_PROXIES=127.0.0.1/32",
	}
	s.bin, s.env = ssoBin, env
	ssoProc := s.startProcess(t, "sso-"+mode, ssoBin, env)
	ssoAddr := s.waitListening(t, ssoProc)

	// The policies as sso builds them (cmd/sso webPolicies): the login
	// hub's origin is always allowed; its own API answers only itself.
	var err error
	s.cookies, err = cookiedomain.New(cookiedomain.Config{Domains: []string{domain}, Name: cookieName, SameSite: sameSiteMode(mode), Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	if s.cors, err = cors.New(cors.Config{Origins: append(origins, s.origin("login")), AllowHeaders: append(cors.DefaultAllowHeaders(), agreementHeader)}); err != nil {
		t.Fatal(err)
	}
	if s.hub, err = cors.New(cors.Config{Origins: []string{s.origin("login")}}); err != nil {
		t.Fatal(err)
	}

	s.nginx = nginxtest.Start(t, nginxtest.Options{
		Vars: map[string]string{
			"SSO_UPSTREAM": ssoAddr,
			"API_UPSTREAM": rec.addr,
			"HTTPS_PORT":   strconv.Itoa(port),
			"APP_ROOT":     web,
		},
		Hosts: []string{domain, "*." + domain, evilHost},
		// Unprotected blank pages: the parent domain, another site and a
		// sibling CORS does not allow on the main port; the app's page on
		// another https port and over plain http.
		ExtraHTTP: `
server {
    listen ${LISTEN_ADDR}:${HTTPS_PORT} ssl;
    server_name ` + domain + ` ` + evilHost + ` ` + sibling + `;
    root ` + web + `;
    location / { try_files $uri =404; }
}
server {
    listen ${LISTEN_ADDR}:` + strconv.Itoa(s.otherPort) + ` ssl;
    server_name app.` + domain + `;
    root ` + web + `;
    location / { try_files $uri =404; }
}
server {
    listen ${LISTEN_ADDR}:` + strconv.Itoa(s.httpPort) + `;
    server_name app.` + domain + `;
    root ` + web + `;
    location / { try_files $uri =404; }
}`,
	})
	s.spki = leafSPKIHash(t, s.nginx.TLS.CertPEM)
	return s
}

func sameSiteMode(mode string) http.SameSite {
	switch mode {
	case "strict":
		return http.SameSiteStrictMode
	case "none":
		return http.SameSiteNoneMode
	}
	return http.SameSiteLaxMode
}

// pairs are the scenarios of this configuration: every kind once under
// Lax, and the ones SameSite decides under Strict and None.
func (s *agreeStack) pairs() []pair {
	api := s.url("api", "/me")
	app := s.url("app", "/")
	evil := s.url(evilHost, "/")
	plain := "http://app." + domain + ":" + strconv.Itoa(s.httpPort) + "/"
	json := http.Header{"Content-Type": {"application/json"}}
	switch s.mode {
	case "strict", "none":
		return []pair{
			{name: "sibling", from: app, to: api},
			{name: "other site", from: evil, to: api},
			{name: "http page -> https api", from: plain, to: api},
			{name: "preflighted PUT", from: app, to: s.url("api", "/items/1"), method: "PUT", headers: json},
		}
	}
	return []pair{
		{name: "same host", from: s.url("api", "/me"), to: api},
		{name: "sibling", from: app, to: api},
		{name: "parent domain page", from: s.url(domain, "/"), to: api},
		{name: "other site", from: evil, to: api},
		{name: "http page -> https api", from: plain, to: api},
		{name: "other port", from: "https://app." + domain + ":" + strconv.Itoa(s.otherPort) + "/", to: api},
		{name: "non-allowed sibling", from: s.url(sibling, "/"), to: api},
		{name: "preflighted PUT", from: app, to: s.url("api", "/items/1"), method: "PUT", headers: json},
		{name: "PUT, non-allowed sibling", from: s.url(sibling, "/"), to: s.url("api", "/items/1"), method: "PUT", headers: json},
		{name: "allowed custom header", from: app, to: api, headers: http.Header{agreementHeader: {"r1"}}},
		{name: "other custom header", from: app, to: api, headers: http.Header{"X-Debug-Trace": {"1"}}},
		{name: "credentials same-origin", from: app, to: api, credentials: "same-origin"},
	}
}

// login signs alice in with the hub's form (its page's CSP allows no
// fetch) and checks the browser holds the session cookie.
func (s *agreeStack) login(tb *tab, password string) {
	tb.b.t.Helper()
	form := s.url("login", "/login")
	tb.navigate(form)
	tb.do("fill in and submit the login form", stepTimeout,
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("submit")),
	)
	tb.waitPage("signed in at the hub", navTimeout, func(p pageState) bool {
		return !strings.HasPrefix(p.URL, form) && p.Ready == "complete"
	})
	for _, c := range tb.cookies(s.url("api", "/")) {
		if c.Name == cookieName {
			return
		}
	}
	tb.fatalf("no %s for %s after the login", cookieName, s.url("api", "/"))
}

// doctor is doctor.Explain's prediction for p.
func (s *agreeStack) doctor(p pair) outcome {
	r := doctor.Explain(doctor.Input{
		Cookies: s.cookies, CORS: s.cors, HubCORS: s.hub, LoginURL: s.origin("login"),
		From: p.from, To: p.to, Method: p.method, Headers: p.headers, Credentials: p.credentials,
	})
	o := outcome{cookie: "sent", readable: true, ok: r.OK}
	var failed []string
	for _, c := range r.Checks {
		if c.OK {
			continue
		}
		failed = append(failed, c.Name)
		switch c.Name {
		case doctor.CheckLoginDomain, doctor.CheckLoginCookie, doctor.CheckCredentials, doctor.CheckDomain, doctor.CheckSecure, doctor.CheckSameSite:
			o.cookie = "not sent"
		case doctor.CheckOrigin, doctor.CheckPreflight:
			o.readable = false
		}
	}
	o.detail = strings.Join(failed, ", ")
	return o
}

// doctorCLI runs `sso doctor` for p on the instance's configuration and
// reports whether every check passed.
func (s *agreeStack) doctorCLI(tb *tab, p pair) bool {
	tb.b.t.Helper()
	args := []string{"doctor", "--from", p.from, "--to", p.to}
	if p.method != "" {
		args = append(args, "--method", p.method)
	}
	if p.credentials != "" {
		args = append(args, "--credentials", p.credentials)
	}
	for k := range p.headers {
		args = append(args, "--header", k+": "+p.headers.Get(k))
	}
	ctx, cancel := withTimeout(30 * time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.bin, args...)
	cmd.Env = append(testproc.Environ("SSO_", "DEMOAPI_"), s.env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return false
	}
	tb.fatalf("sso %s: %v\n%s", strings.Join(args, " "), err, out)
	return false
}

// probe is doctor.Probe's verdict on the running stack for p, logged in
// as alice.
func (s *agreeStack) probe(tb *tab, p pair, password string) doctor.ProbeReport {
	tb.b.t.Helper()
	ctx, cancel := withTimeout(30 * time.Second)
	defer cancel()
	return doctor.Probe(ctx, doctor.ProbeInput{
		Client: s.nginx.Client(), LoginURL: s.origin("login"), CookieName: cookieName,
		From: p.from, To: p.to, Method: p.method, Headers: p.headers,
		User: username, Password: password,
	})
}

// browser runs p in Chromium: the page at p.from fetches p.to, and the
// DevTools protocol tells whether the request carried the cookie.
func (s *agreeStack) browser(tb *tab, p pair) outcome {
	tb.b.t.Helper()
	tb.navigate(p.from)
	method := p.method
	if method == "" {
		method = "GET"
	}
	init := map[string]any{"method": method, "credentials": "include", "headers": map[string]string{}}
	if p.credentials != "" {
		init["credentials"] = p.credentials
	}
	for k := range p.headers {
		init["headers"].(map[string]string)[k] = p.headers.Get(k)
	}
	if method == "PUT" {
		init["body"] = `{"name":"agreement"}`
	}
	initJSON, _ := json.Marshal(init)
	res := tb.eval("fetch "+p.to+" from "+p.from, `(async () => {
  try {
    const r = await fetch(`+jsString(p.to)+`, `+string(initJSON)+`);
    return JSON.stringify({ok: true, status: r.status, body: await r.text()});
  } catch (e) {
    return JSON.stringify({ok: false, error: String(e)});
  }
})()`)
	var got struct {
		OK     bool
		Status int
		Body   string
		Error  string
	}
	if err := json.Unmarshal([]byte(res), &got); err != nil {
		tb.fatalf("fetch result %q: %v", res, err)
	}
	o := outcome{readable: got.OK, cookie: "-"}
	if got.OK {
		o.detail = strconv.Itoa(got.Status)
		o.ok = got.Status == http.StatusOK && (strings.Contains(got.Body, `"user":"`+username+`"`) || strings.Contains(got.Body, `"by":"`+username+`"`))
	} else {
		o.detail = "err"
	}
	if r, ok := waitFetch(tb, method, p.to); ok {
		o.cookie = "not sent"
		if r.cookieSent(cookieName) {
			o.cookie = "sent"
		}
		for _, c := range r.Cookies {
			if c.Cookie != nil && c.Cookie.Name == cookieName && len(c.BlockedReasons) > 0 {
				o.detail += fmt.Sprintf(" blocked%v", c.BlockedReasons)
			}
		}
	}
	return o
}

// waitFetch finds the page's fetch of url in the network log. ok is false
// when the request never went on the wire (a refused preflight stops it).
func waitFetch(tb *tab, method, url string) (netRequest, bool) {
	match := func(r *netRequest) bool {
		return r.URL == url && r.Method == method && r.Type == network.ResourceTypeFetch
	}
	deadline := time.Now().Add(stepTimeout)
	var settled time.Time
	for {
		for _, r := range tb.requests(match) {
			if r.Raw != nil && (r.Status != 0 || r.Failed != "") {
				return r, true
			}
			if r.Failed != "" && settled.IsZero() {
				// Failed before its headers were reported: perhaps
				// never sent, perhaps the extra info is late.
				settled = time.Now()
			}
		}
		if !settled.IsZero() && time.Since(settled) > time.Second {
			return netRequest{}, false
		}
		if time.Now().After(deadline) {
			tb.fatalf("no finished fetch %s %s within %v; requests seen:\n%s", method, url, stepTimeout, tb.networkLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
