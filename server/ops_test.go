package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/example/sso/authz"
	"github.com/example/sso/server"
	"github.com/example/sso/session/redisstore"
)

func TestOperations(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	expectStatus(t, do(t, c, req{url: hub + "/healthz"}), http.StatusOK)
	expectStatus(t, do(t, c, req{url: hub + "/readyz"}), http.StatusOK)

	e.apiLogin(t, c, "alice")
	do(t, c, req{url: "http://api.example.test/auth"})
	m := do(t, c, req{url: hub + "/metrics"})
	expectStatus(t, m, http.StatusOK)
	if ct := m.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("/metrics Content-Type = %q, want text/plain (Prometheus text format)", ct)
	}
	for _, want := range []string{
		"# TYPE sso_http_requests_total counter",
		`sso_http_requests_total{method="POST",route="/api/session",status="201"} 1`,
		`sso_auth_decisions_total{method="",result="unauthorized"} 1`,
		`sso_logins_total{outcome="ok"} 1`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestReadyzStoreDown(t *testing.T) {
	srv := httptest.NewUnstartedServer(nil)
	addr := srv.Listener.Addr().String()
	srv.Listener.Close() // nothing listens there now
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = client.Close() })
	e := newEnv(t, func(o *server.Options) { o.Store = redisstore.New(client, redisstore.Options{}) })
	c := e.client()
	r := do(t, c, req{url: hub + "/readyz"})
	expectStatus(t, r, http.StatusServiceUnavailable)
	expectStatus(t, do(t, c, req{url: hub + "/healthz"}), http.StatusOK)
	// A login that cannot be stored is no 201 and no 500 with details.
	r = do(t, c, req{method: "POST", url: hub + "/api/session", body: `{"username":"alice","password":"` + password + `"}`})
	expectStatus(t, r, http.StatusServiceUnavailable)
	if len(r.Cookies()) != 0 {
		t.Errorf("failed login sets %q", r.Header.Values("Set-Cookie"))
	}
	if strings.Contains(string(r.body), addr) {
		t.Errorf("error body leaks the store address: %s", r.body)
	}
}

func TestUnknownHost(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for _, host := range []string{"sso.evil.net", "evilexample.test", "127.0.0.1", "localhost"} {
		for _, q := range []req{
			{url: hub + "/login"},
			{method: "POST", url: hub + "/login", body: "username=alice", ctype: "application/x-www-form-urlencoded"},
			{method: "POST", url: hub + "/api/session", body: `{"username":"alice","password":"` + password + `"}`},
		} {
			q.headers = map[string]string{"Host": host}
			r := do(t, c, q)
			if r.StatusCode != http.StatusBadRequest || !strings.Contains(string(r.body), `"unknown_host"`) {
				t.Errorf("%s %s with Host %s = %d %s, want 400 unknown_host", q.method, q.url, host, r.StatusCode, r.body)
			}
			if len(r.Cookies()) != 0 {
				t.Errorf("Host %s: sets %q", host, r.Header.Values("Set-Cookie"))
			}
		}
	}
}

// A browser that asks by an IP or an unknown name gets a page naming the
// hub and the cookie domains, still with a 400 and no cookie; a client that
// prefers JSON keeps the JSON answer.
func TestUnknownHostPage(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for _, tc := range []struct {
		accept string
		html   bool
	}{
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true}, // Chromium's navigation
		{"text/html", true},
		{"application/json", false},
		{"application/json, text/html", false},
		{"*/*", false},
		{"", false},
	} {
		for _, host := range []string{"127.0.0.1:8080", "localhost", "sso.evil.net"} {
			for _, q := range []req{
				{url: hub + "/login"},
				{method: "POST", url: hub + "/login", body: "username=alice", ctype: "application/x-www-form-urlencoded"},
			} {
				q.headers = map[string]string{"Host": host, "Accept": tc.accept}
				r := do(t, c, q)
				name := fmt.Sprintf("%s %s Host %s Accept %q", q.method, q.url, host, tc.accept)
				if r.StatusCode != http.StatusBadRequest || len(r.Cookies()) != 0 {
					t.Errorf("%s = %d, cookies %q; want 400 and none", name, r.StatusCode, r.Header.Values("Set-Cookie"))
				}
				ct := r.Header.Get("Content-Type")
				if !tc.html {
					if !strings.HasPrefix(ct, "application/json") || !strings.Contains(string(r.body), `"unknown_host"`) {
						t.Errorf("%s: %s %s, want JSON unknown_host", name, ct, r.body)
					}
					continue
				}
				body := string(r.body)
				if !strings.HasPrefix(ct, "text/html") || r.Header.Get("Content-Security-Policy") == "" {
					t.Errorf("%s: Content-Type %q, CSP %q; want an HTML page with the pages' CSP", name, ct, r.Header.Get("Content-Security-Policy"))
				}
				hostOnly, _, _ := strings.Cut(host, ":")
				for _, want := range []string{`href="` + hub + `/login"`, "<code>example.test</code>", "<code>" + hostOnly} {
					if !strings.Contains(body, want) {
						t.Errorf("%s: page lacks %q:\n%s", name, want, body)
					}
				}
			}
		}
	}
}

// hostileOrigins are origins that must never get an
// Access-Control-Allow-Origin answer.
var hostileOrigins = []string{
	"https://evil.net",
	"http://evil.net",
	"null",
	"*",
	"https://example.test.evil.net",
	"https://app.example.test.evil.net",
	"https://evilexample.test",
	"http://evilexample.test",
	"https://example.testevil.net",
	"https://app.example.test@evil.net",
	"https://evil.net#.example.test",
	"https://evil.net/.example.test",
	"https://evil.net?.example.test",
	"https://app.example.test/path",
	"ftp://app.example.test",
	"file://",
	"javascript://app.example.test",
	"https://*.example.test",
	"https://app.example.test:99999",
	"https://app.example.test%2eevil.net",
	"https://app.example.test, https://evil.net",
	"https://evil.net https://app.example.test",
	"https://xn--80ak6aa92e.com",
	"https://app.example.test\x00",
}

// An invariant over every endpoint: a hostile origin never gets ACAO, and no
// response ever says "*".
func TestNoCORSForHostileOrigins(t *testing.T) {
	e := newEnv(t)
	s := e.apiLogin(t, e.client(), "alice")
	h := e.srv.Handler()
	type ep struct{ method, path, body, ctype string }
	endpoints := []ep{
		{"GET", "/auth", "", ""},
		{"HEAD", "/auth", "", ""},
		{"OPTIONS", "/auth", "", ""},
		{"GET", "/login", "", ""},
		{"POST", "/login", "username=alice&password=x", "application/x-www-form-urlencoded"},
		{"GET", "/logout", "", ""},
		{"POST", "/logout", "", "application/x-www-form-urlencoded"},
		{"GET", "/", "", ""},
		{"POST", "/api/session", `{"username":"alice","password":"` + password + `"}`, "application/json"},
		{"GET", "/api/session", "", ""},
		{"DELETE", "/api/session", "", ""},
		{"OPTIONS", "/api/session", "", ""},
		{"GET", "/api/sessions", "", ""},
		{"DELETE", "/api/sessions", "", ""},
		{"DELETE", "/api/sessions/x", "", ""},
		{"POST", "/api/keys", `{"name":"x"}`, "application/json"},
		{"GET", "/api/keys", "", ""},
		{"DELETE", "/api/keys/x", "", ""},
		{"POST", "/api/token", "", ""},
		{"GET", "/.well-known/jwks.json", "", ""},
		{"GET", "/healthz", "", ""},
		{"GET", "/readyz", "", ""},
		{"GET", "/metrics", "", ""},
		{"GET", "/nope", "", ""},
		{"PUT", "/auth", "", ""},
	}
	serve := func(x ep, origin string, preflight bool) http.Header {
		var body *strings.Reader
		if x.body != "" {
			body = strings.NewReader(x.body)
		} else {
			body = strings.NewReader("")
		}
		r := httptest.NewRequest(x.method, "http://api.example.test"+x.path, body)
		r.RemoteAddr = "127.0.0.1:5000"
		if x.ctype != "" {
			r.Header.Set("Content-Type", x.ctype)
		}
		r.Header["Origin"] = []string{origin} // verbatim, even when invalid
		r.Header.Set("Cookie", cookieName+"="+s.Session.Value)
		r.Header.Set("X-CSRF-Token", s.CSRFToken)
		r.Header.Set("X-Original-Method", "POST")
		if preflight {
			r.Header.Set("Access-Control-Request-Method", "DELETE")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Header()
	}
	for _, x := range endpoints {
		for _, preflight := range []bool{false, true} {
			if preflight && x.method != "OPTIONS" {
				continue
			}
			for _, origin := range hostileOrigins {
				hdr := serve(x, origin, preflight)
				for k, v := range hdr {
					if strings.HasPrefix(k, "Access-Control-Allow-") {
						t.Errorf("%s %s (preflight %v) from %q: %s: %q", x.method, x.path, preflight, origin, k, v)
					}
				}
			}
		}
	}
	// None of that logged alice out.
	if code, _ := e.authWithCookie(t, s.Session.Value); code != http.StatusOK {
		t.Fatalf("/auth after the hostile sweep = %d, want 200", code)
	}
	// Allowed origins get themselves back, never "*"; no Origin gets nothing.
	for _, x := range endpoints {
		for _, preflight := range []bool{false, true} {
			if preflight && x.method != "OPTIONS" {
				continue
			}
			for _, origin := range []string{appOrigin, "https://example.test", ""} {
				hdr := serve(x, origin, preflight)
				for _, v := range hdr.Values("Access-Control-Allow-Origin") {
					if v == "*" || v != origin {
						t.Errorf("%s %s from %q: Access-Control-Allow-Origin %q", x.method, x.path, origin, v)
					}
				}
			}
		}
	}
}

// X-Forwarded-Host picks the cookie domain only when a trusted proxy sends
// it; from anyone else it is ignored.
func TestForwardedHost(t *testing.T) {
	login := `{"username":"alice","password":"` + password + `"}`
	t.Run("untrusted", func(t *testing.T) {
		e := newEnv(t) // no trusted proxies
		r := do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: login, headers: map[string]string{"X-Forwarded-Host": "login.evil.net"}})
		expectStatus(t, r, http.StatusCreated)
		if d := r.setCookie(t, cookieName).Domain; d != "example.test" {
			t.Errorf("cookie Domain = %q, want example.test", d)
		}
	})
	t.Run("trusted", func(t *testing.T) {
		e := newEnv(t, func(o *server.Options) {
			p, err := authz.NewProxies([]string{"127.0.0.0/8"})
			if err != nil {
				t.Fatal(err)
			}
			o.Proxies = p
		})
		r := do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: login, headers: map[string]string{"X-Forwarded-Host": "login.evil.net"}})
		expectStatus(t, r, http.StatusBadRequest)
		r = do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: login, headers: map[string]string{"Host": "sso.internal:8080", "X-Forwarded-Host": "login.example.test"}})
		expectStatus(t, r, http.StatusCreated)
		if d := r.setCookie(t, cookieName).Domain; d != "example.test" {
			t.Errorf("cookie Domain = %q, want example.test", d)
		}
	})
}
