package nginx_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/example/sso/nginx/nginxtest"
)

// seen records what a fake upstream received, keyed by the X-Test-ID
// request header (nginx passes it through to /auth and to the API).
type seen struct {
	mu   sync.Mutex
	reqs map[string][]recorded
}

type recorded struct {
	Method string      `json:"method"`
	Path   string      `json:"path"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

func (s *seen) add(r *http.Request) recorded {
	body, _ := io.ReadAll(r.Body)
	rec := recorded{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: string(body)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reqs == nil {
		s.reqs = map[string][]recorded{}
	}
	id := r.Header.Get("X-Test-ID")
	s.reqs[id] = append(s.reqs[id], rec)
	return rec
}

func (s *seen) get(id string) []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[id]
}

// fakeSSO answers /auth like sso would, from the session cookie cookieName:
// good → 200 with identity, empty → 200 without identity, forbidden → 403,
// broken → 500, redirect → 302, anything else → 401 with a login URL.
// Origins under example.test are allowed for CORS.
func fakeSSO(loginBase, cookieName string, rec *seen) http.Handler {
	allowed := func(origin string) bool {
		u, err := url.Parse(origin)
		return err == nil && u.Scheme == "https" && strings.HasSuffix(u.Hostname(), ".example.test")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		h := w.Header()
		if r.URL.Path != "/auth" {
			// login vhost: echo what sso would see.
			h.Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.RequestURI(), "header": r.Header})
			return
		}
		origin := r.Header.Get("Origin")
		h.Add("Vary", "Origin")
		if r.Method == http.MethodOptions {
			if !allowed(origin) || r.Header.Get("Access-Control-Request-Method") == "" {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Allow-Methods", "GET, PUT, DELETE")
			h.Set("Access-Control-Allow-Headers", "Content-Type, X-CSRF-Token")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed(origin) {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Credentials", "true")
			h.Set("Access-Control-Expose-Headers", "X-Auth-Login-URL")
		}
		// The cookie, or else an API key with the same meanings.
		v := r.Header.Get("X-API-Key")
		if c, err := r.Cookie(cookieName); err == nil {
			v = c.Value
		}
		switch v {
		case "good":
			h.Set("X-Auth-User", "alice")
			h.Set("X-Auth-Email", "alice@example.test")
			h.Set("X-Auth-Groups", "admins,dev")
			h.Set("X-Auth-Token", "jwt.for.upstream")
			h.Set("X-Auth-AMR", "pwd")
			w.WriteHeader(http.StatusOK)
		case "empty":
			w.WriteHeader(http.StatusOK)
		case "forbidden":
			w.WriteHeader(http.StatusForbidden)
		case "csrf":
			h.Set("X-Auth-Error", "cross_site_request")
			w.WriteHeader(http.StatusForbidden)
		case "inject":
			h.Set("X-Auth-Error", `x","admin":true,"y":"`)
			w.WriteHeader(http.StatusForbidden)
		case "ambiguous":
			h.Set("X-Auth-Error", "ambiguous_session")
			h.Set("X-Auth-Login-URL", loginBase+"/login?reason=ambiguous_session")
			w.WriteHeader(http.StatusUnauthorized)
		case "inject401":
			h.Set("X-Auth-Error", `x","admin":true,"y":"`)
			w.WriteHeader(http.StatusUnauthorized)
		case "broken":
			w.WriteHeader(http.StatusInternalServerError)
		case "redirect":
			h.Set("Location", loginBase)
			w.WriteHeader(http.StatusFound)
		default:
			h.Set("X-Auth-Login-URL", loginBase+"/login?rd="+url.QueryEscape(r.Header.Get("X-Original-URL")))
			h.Set("Content-Type", "application/json")
			if r.Header.Get("X-Test-Sso-Www-Auth") != "" {
				h.Set("WWW-Authenticate", `Bearer realm="from-sso"`)
			}
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"unauthorized","message":"login required"}`)
		}
	})
}

// echoAPI answers with the request it received as JSON. Its own CORS header
// must never reach the client (sso is the CORS authority). /own-401 answers
// 401 itself, which nginx must pass through untouched.
func echoAPI(rec *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := rec.add(r)
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/own-401" {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":"upstream says no"}`)
			return
		}
		_ = json.NewEncoder(w).Encode(got)
	})
}

type env struct {
	srv      *nginxtest.Server
	client   *http.Client
	auth     *seen // requests that reached fake sso
	api      *seen // requests that reached the API upstream
	appOrig  string
	loginURL string
}

// startEnv starts nginx with a fake sso and an echo API; vars are extra
// template variables (nil: the defaults, session cookie sso_session).
func startEnv(t *testing.T, vars map[string]string) *env {
	t.Helper()
	e := &env{auth: &seen{}, api: &seen{}}
	cookieName := nginxtest.DefaultCookieName
	if v, ok := vars["SSO_COOKIE_NAME"]; ok {
		cookieName = v
	}
	// The login URL needs nginx's port, which is known only after Start; a
	// pointer-free indirection: the fake reads it from e at request time.
	var loginBase struct {
		sync.Mutex
		v string
	}
	ssoTS := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		loginBase.Lock()
		base := loginBase.v
		loginBase.Unlock()
		fakeSSO(base, cookieName, e.auth).ServeHTTP(w, r)
	}))
	t.Cleanup(ssoTS.Close)
	apiTS := httptest.NewServer(echoAPI(e.api))
	t.Cleanup(apiTS.Close)

	all := map[string]string{
		"SSO_UPSTREAM": ssoTS.Listener.Addr().String(),
		"API_UPSTREAM": apiTS.Listener.Addr().String(),
	}
	for k, v := range vars {
		all[k] = v
	}
	e.srv = nginxtest.Start(t, nginxtest.Options{
		Vars:  all,
		Files: map[string]string{"app/index.html": "<!doctype html><title>demo app</title>\n"},
		// Another site on the same port, as e2e adds one: not protected.
		Hosts: []string{"example.test", "*.example.test", "other-site.test"},
		ExtraHTTP: `server {
    listen ${LISTEN_ADDR}:${HTTPS_PORT} ssl;
    server_name other-site.test;
    return 200 "other site\n";
}`,
	})
	e.client = e.srv.Client()
	e.appOrig = strings.TrimSuffix(e.srv.URL("app", "/"), "/")
	e.loginURL = e.srv.URL("login", "")
	loginBase.Lock()
	loginBase.v = e.loginURL
	loginBase.Unlock()
	return e
}

type response struct {
	status int
	header http.Header
	body   string
}

func (e *env) do(t *testing.T, method, rawURL, body string, hdr map[string]string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test-ID", t.Name())
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, rawURL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func TestNginxIntegration(t *testing.T) {
	e := startEnv(t, nil)
	api := func(path string) string { return e.srv.URL("api", path) }
	goodCookie := "sso_session=good"
	fetch := map[string]string{"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty", "Sec-Fetch-Site": "same-site", "Origin": e.appOrig}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	upstreamCalls := func(t *testing.T) []recorded { return e.api.get(t.Name()) }
	wantNoUpstream := func(t *testing.T) {
		t.Helper()
		if n := len(upstreamCalls(t)); n != 0 {
			t.Errorf("upstream was called %d times, want 0", n)
		}
	}
	wantOneUpstream := func(t *testing.T) recorded {
		t.Helper()
		calls := upstreamCalls(t)
		if len(calls) != 1 {
			t.Fatalf("upstream was called %d times, want 1", len(calls))
		}
		return calls[0]
	}

	t.Run("authenticated request reaches upstream with identity", func(t *testing.T) {
		r := e.do(t, "GET", api("/me"), "", with(fetch, "Cookie", goodCookie))
		if r.status != 200 {
			t.Fatalf("status = %d, want 200; body %s", r.status, r.body)
		}
		got := wantOneUpstream(t)
		for k, want := range map[string]string{
			"X-Auth-User":       "alice",
			"X-Auth-Email":      "alice@example.test",
			"X-Auth-Groups":     "admins,dev",
			"X-Auth-Token":      "jwt.for.upstream",
			"X-Forwarded-For":   "127.0.0.1",
			"X-Forwarded-Proto": "https",
		} {
			if v := got.Header.Get(k); v != want {
				t.Errorf("upstream %s = %q, want %q", k, v, want)
			}
		}
		if v := r.header.Values("Access-Control-Allow-Origin"); len(v) != 1 || v[0] != e.appOrig {
			t.Errorf("Access-Control-Allow-Origin = %q, want exactly [%q] (upstream's own must be hidden)", v, e.appOrig)
		}
		if v := r.header.Get("Access-Control-Allow-Credentials"); v != "true" {
			t.Errorf("Access-Control-Allow-Credentials = %q, want true", v)
		}
	})

	// Caddy's three cases (GHSA-7r4p-vjf4-gxv4): a forged identity header
	// never reaches the upstream.
	forged := map[string]string{
		"X-Auth-User":       "mallory",
		"X-Auth-Email":      "mallory@evil.test",
		"X-Auth-Groups":     "admins",
		"X-Auth-Token":      "forged",
		"X-Auth-AMR":        "pwd,otp,hwk", // a second factor never passed
		"X-Forwarded-For":   "203.0.113.9",
		"X-Forwarded-Host":  "evil.test",
		"X-Forwarded-Proto": "http",
	}
	t.Run("forged headers with valid auth are overwritten", func(t *testing.T) {
		r := e.do(t, "GET", api("/me"), "", with(with(fetch, "Cookie", goodCookie), flatten(forged)...))
		if r.status != 200 {
			t.Fatalf("status = %d, want 200", r.status)
		}
		got := wantOneUpstream(t)
		for k, want := range map[string]string{"X-Auth-User": "alice", "X-Auth-Email": "alice@example.test",
			"X-Auth-Groups": "admins,dev", "X-Auth-Token": "jwt.for.upstream", "X-Auth-AMR": "pwd", "X-Forwarded-For": "127.0.0.1",
			"X-Forwarded-Proto": "https", "X-Forwarded-Host": strings.TrimPrefix(api(""), "https://")} {
			if v := got.Header.Values(k); len(v) != 1 || v[0] != want {
				t.Errorf("upstream %s = %q, want [%q]", k, v, want)
			}
		}
	})
	t.Run("forged headers without auth never reach upstream", func(t *testing.T) {
		r := e.do(t, "GET", api("/me"), "", with(fetch, flatten(forged)...))
		if r.status != 401 {
			t.Errorf("status = %d, want 401", r.status)
		}
		r = e.do(t, "GET", api("/me"), "", with(forged, "Sec-Fetch-Mode", "navigate"))
		if r.status != 302 {
			t.Errorf("navigation status = %d, want 302", r.status)
		}
		wantNoUpstream(t)
	})
	t.Run("forged headers with empty identity are dropped", func(t *testing.T) {
		r := e.do(t, "GET", api("/me"), "", with(with(fetch, "Cookie", "sso_session=empty"), flatten(forged)...))
		if r.status != 200 {
			t.Fatalf("status = %d, want 200", r.status)
		}
		got := wantOneUpstream(t)
		for _, k := range []string{"X-Auth-User", "X-Auth-Email", "X-Auth-Groups", "X-Auth-Token", "X-Auth-Amr"} {
			if v, ok := got.Header[k]; ok {
				t.Errorf("upstream got %s = %q, want no such header", k, v)
			}
		}
	})

	// Which unauthenticated requests are redirected and which get 401 JSON.
	for _, tc := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"Sec-Fetch-Mode navigate", map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Accept": "text/html"}, 302},
		{"Sec-Fetch-Dest document", map[string]string{"Sec-Fetch-Dest": "document"}, 302},
		{"Sec-Fetch-Mode cors", fetch, 401},
		{"Sec-Fetch-Mode cors with Accept text/html", with(fetch, "Accept", "text/html"), 401},
		{"Sec-Fetch-Site only with Accept text/html", map[string]string{"Sec-Fetch-Site": "none", "Accept": "text/html"}, 401},
		{"no Sec-Fetch, Accept text/html", map[string]string{"Accept": "text/html,application/xhtml+xml;q=0.9"}, 302},
		{"no Sec-Fetch, Accept application/json", map[string]string{"Accept": "application/json"}, 401},
		{"no Sec-Fetch, Accept */*", map[string]string{"Accept": "*/*"}, 401},
		{"no headers at all", map[string]string{}, 401},
	} {
		t.Run("unauthenticated "+tc.name, func(t *testing.T) {
			r := e.do(t, "GET", api("/items?a=1&b=2"), "", tc.hdr)
			if r.status != tc.want {
				t.Fatalf("status = %d, want %d; body %s", r.status, tc.want, r.body)
			}
			wantNoUpstream(t)
			if n := len(e.auth.get(t.Name())); n != 1 {
				t.Errorf("sso saw %d /auth requests, want 1", n)
			}
			wantLogin := e.loginURL + "/login?rd=" + url.QueryEscape(api("/items?a=1&b=2"))
			if tc.want == 302 {
				if loc := r.header.Get("Location"); loc != wantLogin {
					t.Errorf("Location = %q, want %q", loc, wantLogin)
				}
				return
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var body map[string]string
			if err := json.Unmarshal([]byte(r.body), &body); err != nil {
				t.Fatalf("body %q: %v", r.body, err)
			}
			if body["error"] != "unauthorized" || body["login_url"] != wantLogin {
				t.Errorf("body = %v, want error unauthorized and login_url %q", body, wantLogin)
			}
			if v := r.header.Get("X-Auth-Login-URL"); v != wantLogin {
				t.Errorf("X-Auth-Login-URL = %q, want %q", v, wantLogin)
			}
		})
	}

	t.Run("401 to fetch carries the CORS headers from /auth", func(t *testing.T) {
		r := e.do(t, "GET", api("/me"), "", fetch)
		if r.status != 401 {
			t.Fatalf("status = %d, want 401", r.status)
		}
		for k, want := range map[string]string{
			"Access-Control-Allow-Origin":      e.appOrig,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Expose-Headers":    "X-Auth-Login-URL",
			"Vary":                             "Origin",
		} {
			if v := r.header.Values(k); len(v) != 1 || v[0] != want {
				t.Errorf("%s = %q, want [%q]", k, v, want)
			}
		}
	})
	t.Run("401 has exactly one WWW-Authenticate", func(t *testing.T) {
		for hdr, want := range map[string]string{"": `Bearer realm="sso"`, "1": `Bearer realm="from-sso"`} {
			r := e.do(t, "GET", api("/me"), "", with(fetch, "X-Test-Sso-Www-Auth", hdr))
			if v := r.header.Values("WWW-Authenticate"); r.status != 401 || len(v) != 1 || v[0] != want {
				t.Errorf("sso sends one: %q; got %d, WWW-Authenticate %q, want 401 and [%q]", hdr, r.status, v, want)
			}
		}
	})
	t.Run("401 from an origin not allowed has no CORS headers", func(t *testing.T) {
		r := e.do(t, "GET", api("/me"), "", with(fetch, "Origin", "https://evil.test"))
		if r.status != 401 {
			t.Fatalf("status = %d, want 401", r.status)
		}
		if v := r.header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("Access-Control-Allow-Origin = %q, want none", v)
		}
	})
	t.Run("403 from /auth is JSON with CORS", func(t *testing.T) {
		r := e.do(t, "DELETE", api("/items/1"), "", with(fetch, "Cookie", "sso_session=forbidden"))
		if r.status != 403 || !strings.Contains(r.body, `"error":"forbidden"`) {
			t.Errorf("status, body = %d, %q; want 403 and a forbidden JSON error", r.status, r.body)
		}
		if v := r.header.Get("Access-Control-Allow-Origin"); v != e.appOrig {
			t.Errorf("Access-Control-Allow-Origin = %q, want %q", v, e.appOrig)
		}
		wantNoUpstream(t)
	})
	t.Run("403 carries sso's reason, and only a plain code", func(t *testing.T) {
		r := e.do(t, "DELETE", api("/items/1"), "", with(fetch, "Cookie", "sso_session=csrf"))
		if r.status != 403 || !strings.Contains(r.body, `"error":"cross_site_request"`) || r.header.Get("X-Auth-Error") != "cross_site_request" {
			t.Errorf("status, X-Auth-Error, body = %d, %q, %q; want 403 and cross_site_request", r.status, r.header.Get("X-Auth-Error"), r.body)
		}
		r = e.do(t, "DELETE", api("/items/1"), "", with(fetch, "Cookie", "sso_session=inject"))
		if r.status != 403 || !strings.Contains(r.body, `"error":"forbidden"`) || strings.Contains(r.body, "admin") {
			t.Errorf("status, body = %d, %q; want 403 with the plain forbidden code", r.status, r.body)
		}
		wantNoUpstream(t)
	})
	t.Run("401 carries ambiguous_session, and only that code", func(t *testing.T) {
		r := e.do(t, "GET", api("/items"), "", with(fetch, "Cookie", "sso_session=ambiguous"))
		if r.status != 401 || !strings.Contains(r.body, `"error":"ambiguous_session"`) || r.header.Get("X-Auth-Error") != "ambiguous_session" {
			t.Errorf("status, X-Auth-Error, body = %d, %q, %q; want 401 and ambiguous_session", r.status, r.header.Get("X-Auth-Error"), r.body)
		}
		r = e.do(t, "GET", api("/items"), "", with(fetch, "Cookie", "sso_session=inject401"))
		if r.status != 401 || !strings.Contains(r.body, `"error":"unauthorized"`) || strings.Contains(r.body, "admin") {
			t.Errorf("status, body = %d, %q; want 401 with the plain unauthorized code", r.status, r.body)
		}
		wantNoUpstream(t)
	})
	for _, v := range []string{"broken", "redirect"} {
		t.Run("auth answer "+v+" fails closed", func(t *testing.T) {
			r := e.do(t, "GET", api("/me"), "", with(fetch, "Cookie", "sso_session="+v))
			if r.status != 500 {
				t.Errorf("status = %d, want 500", r.status)
			}
			wantNoUpstream(t)
		})
	}

	t.Run("preflight from an allowed origin goes to sso, not upstream", func(t *testing.T) {
		r := e.do(t, "OPTIONS", api("/items/1"), "", map[string]string{
			"Origin": e.appOrig, "Access-Control-Request-Method": "PUT",
			"Access-Control-Request-Headers": "content-type,x-csrf-token", "Sec-Fetch-Mode": "cors",
		})
		if r.status != 204 {
			t.Fatalf("status = %d, want 204", r.status)
		}
		for k, want := range map[string]string{
			"Access-Control-Allow-Origin":      e.appOrig,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Methods":     "GET, PUT, DELETE",
		} {
			if v := r.header.Values(k); len(v) != 1 || v[0] != want {
				t.Errorf("%s = %q, want [%q]", k, v, want)
			}
		}
		wantNoUpstream(t)
		auth := e.auth.get(t.Name())
		if len(auth) != 1 || auth[0].Method != "OPTIONS" || auth[0].Path != "/auth" {
			t.Fatalf("sso saw %+v, want one OPTIONS /auth", auth)
		}
		if v := auth[0].Header.Get("X-Original-URL"); v != api("/items/1") {
			t.Errorf("X-Original-URL = %q, want %q", v, api("/items/1"))
		}
	})
	t.Run("preflight from another origin is refused", func(t *testing.T) {
		r := e.do(t, "OPTIONS", api("/items/1"), "", map[string]string{
			"Origin": "https://evil.test", "Access-Control-Request-Method": "PUT",
		})
		if r.status != 403 {
			t.Errorf("status = %d, want 403", r.status)
		}
		for k := range r.header {
			if strings.HasPrefix(k, "Access-Control-Allow-") {
				t.Errorf("refused preflight has %s: %q", k, r.header.Get(k))
			}
		}
		wantNoUpstream(t)
	})

	t.Run("auth subrequest gets method and URL but no body", func(t *testing.T) {
		body := `{"name":"thing"}`
		r := e.do(t, "PUT", api("/items/1?x=y"), body, with(fetch, "Cookie", goodCookie, "Content-Type", "application/json", "X-CSRF-Token", "tok"))
		if r.status != 200 {
			t.Fatalf("status = %d, want 200", r.status)
		}
		auth := e.auth.get(t.Name())
		if len(auth) != 1 {
			t.Fatalf("sso saw %d requests, want 1", len(auth))
		}
		a := auth[0]
		for k, want := range map[string]string{
			"X-Original-Method": "PUT",
			"X-Original-URL":    api("/items/1?x=y"),
			"X-Forwarded-For":   "127.0.0.1",
			"X-Forwarded-Proto": "https",
			"X-CSRF-Token":      "tok",
			"Origin":            e.appOrig,
			"Cookie":            goodCookie,
			"Sec-Fetch-Mode":    "cors",
		} {
			if v := a.Header.Get(k); v != want {
				t.Errorf("/auth %s = %q, want %q", k, v, want)
			}
		}
		if a.Method != "GET" || a.Path != "/auth" || a.Body != "" || a.Header.Get("Content-Length") != "" {
			t.Errorf("/auth saw %s %s, body %q, Content-Length %q; want GET /auth with no body",
				a.Method, a.Path, a.Body, a.Header.Get("Content-Length"))
		}
		if up := wantOneUpstream(t); up.Body != body || up.Method != "PUT" {
			t.Errorf("upstream got %s body %q, want PUT %q", up.Method, up.Body, body)
		}
	})

	t.Run("upstream's own 401 passes through", func(t *testing.T) {
		r := e.do(t, "GET", api("/own-401"), "", with(fetch, "Cookie", goodCookie))
		if r.status != 401 || !strings.Contains(r.body, "upstream says no") {
			t.Errorf("status, body = %d, %q; want the upstream's 401", r.status, r.body)
		}
	})

	t.Run("app page served with a session, redirected without", func(t *testing.T) {
		r := e.do(t, "GET", e.srv.URL("app", "/"), "", map[string]string{"Cookie": goodCookie, "Sec-Fetch-Mode": "navigate"})
		if r.status != 200 || !strings.Contains(r.body, "demo app") {
			t.Errorf("with session: %d %q, want 200 and the page", r.status, r.body)
		}
		r = e.do(t, "GET", e.srv.URL("app", "/"), "", map[string]string{"Sec-Fetch-Mode": "navigate"})
		if want := e.loginURL + "/login?rd=" + url.QueryEscape(e.srv.URL("app", "/")); r.status != 302 || r.header.Get("Location") != want {
			t.Errorf("without session: %d Location %q, want 302 %q", r.status, r.header.Get("Location"), want)
		}
	})

	t.Run("internal locations are not reachable", func(t *testing.T) {
		for _, p := range []string{"/_sso_auth", "/_sso_preflight"} {
			r := e.do(t, "GET", api(p), "", with(fetch, "Cookie", goodCookie))
			if r.status != 404 {
				t.Errorf("GET %s = %d, want 404", p, r.status)
			}
		}
	})

	t.Run("login vhost proxies to sso with nginx's forwarded headers", func(t *testing.T) {
		r := e.do(t, "GET", e.srv.URL("login", "/login?rd=x"), "", with(forged, "X-Original-Method", "POST", "X-Original-URL", "https://evil.test/"))
		if r.status != 200 {
			t.Fatalf("status = %d, want 200", r.status)
		}
		got := e.auth.get(t.Name())
		if len(got) != 1 || got[0].Path != "/login?rd=x" {
			t.Fatalf("sso saw %+v, want GET /login?rd=x", got)
		}
		for k, want := range map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https",
			"X-Forwarded-Host": strings.TrimPrefix(e.loginURL, "https://")} {
			if v := got[0].Header.Values(k); len(v) != 1 || v[0] != want {
				t.Errorf("sso %s = %q, want [%q]", k, v, want)
			}
		}
		// X-Original-* speak for a subrequest's original request; a client
		// on the login vhost cannot send them on to sso.
		for _, k := range []string{"X-Original-Method", "X-Original-URL"} {
			if v := got[0].Header.Values(k); len(v) != 0 {
				t.Errorf("sso got %s = %q from a client, want none", k, v)
			}
		}
	})

	t.Run("login vhost keeps /metrics private", func(t *testing.T) {
		r := e.do(t, "GET", e.srv.URL("login", "/metrics"), "", nil)
		if r.status != 404 {
			t.Errorf("status = %d, want 404", r.status)
		}
		if got := e.auth.get(t.Name()); len(got) != 0 {
			t.Errorf("sso saw %+v, want nothing", got)
		}
	})

	t.Run("plain http redirects to https", func(t *testing.T) {
		u := "http://app.example.test:" + strconv.Itoa(e.srv.HTTPPort) + "/x?y=1"
		r := e.do(t, "GET", u, "", nil)
		if want := e.srv.URL("app", "/x?y=1"); r.status != 308 || r.header.Get("Location") != want {
			t.Errorf("GET %s = %d Location %q, want 308 %q", u, r.status, r.header.Get("Location"), want)
		}
	})

	t.Run("extra vhost from ExtraHTTP is served", func(t *testing.T) {
		r := e.do(t, "GET", "https://other-site.test:"+strconv.Itoa(e.srv.HTTPSPort)+"/", "", nil)
		if r.status != 200 || r.body != "other site\n" {
			t.Errorf("GET other-site.test = %d %q, want 200 %q", r.status, r.body, "other site\n")
		}
		if n := len(e.auth.get(t.Name())); n != 0 {
			t.Errorf("sso saw %d requests for the unprotected site, want 0", n)
		}
	})
	t.Run("unknown host gets no TLS handshake", func(t *testing.T) {
		_, err := e.client.Get("https://other.test:" + strconv.Itoa(e.srv.HTTPSPort) + "/")
		if err == nil {
			t.Errorf("GET https://other.test succeeded, want a TLS error")
		}
	})
	t.Run("unknown Host header on a known SNI is refused", func(t *testing.T) {
		r := e.do(t, "GET", api("/me"), "", map[string]string{"Cookie": goodCookie, "Host": "other.test"})
		if r.status != 421 {
			t.Errorf("status = %d, want 421", r.status)
		}
	})
}

// sso's session cookie is a bearer credential for every subdomain: a
// protected upstream gets every other cookie but never that one (it has
// X-Auth-* and X-Auth-Token), while sso's /auth still gets the Cookie header
// exactly as the client sent it. The cases are those of the map's unit test.
func TestNginxSessionCookieNotForwarded(t *testing.T) {
	e := startEnv(t, nil)
	for _, tc := range upstreamCookieCases {
		t.Run(tc.name, func(t *testing.T) {
			e.checkCookies(t, []string{tc.in}, tc.want)
		})
	}
	// HTTP/1.1 clients may send several Cookie lines: nginx joins them with
	// "; " into $http_cookie, and the upstream gets the one joined header.
	t.Run("two Cookie header lines", func(t *testing.T) {
		e.checkCookies(t, []string{"a=1", "sso_session=good; b=2"}, "a=1; b=2")
	})
	t.Run("no Cookie header", func(t *testing.T) {
		e.checkCookies(t, nil, "")
	})
	t.Run("session in the second of two lines only", func(t *testing.T) {
		e.checkCookies(t, []string{"sso_session=good", "sso_session=good"}, "")
	})
}

// Every character a cookie name may have is taken literally.
func TestNginxSessionCookieOddName(t *testing.T) {
	name := "__Secure-s.$|^*+!#%&'`~x"
	e := startEnv(t, map[string]string{"SSO_COOKIE_NAME": name})
	for _, tc := range []struct{ name, in, want string }{
		{"only the session", name + "=good", ""},
		{"among others", "a=1; " + name + "=good; b=2", "a=1; b=2"},
		{"dot is not a wildcard", "__Secure-sX$|^*+!#%&'`~x=1; " + name + "=good", "__Secure-sX$|^*+!#%&'`~x=1"},
		{"default name is just a cookie here", "sso_session=1; " + name + "=good", "sso_session=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.checkCookies(t, []string{tc.in}, tc.want)
		})
	}
}

// checkCookies sends GET api.<domain>/cookies with these Cookie header
// lines (and an API key, for the cases without a session) and checks that the upstream got want ("" = no Cookie header) and
// that /auth got the lines unchanged.
func (e *env) checkCookies(t *testing.T, lines []string, want string) {
	t.Helper()
	req, err := http.NewRequest("GET", e.srv.URL("api", "/cookies"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test-ID", t.Name())
	req.Header.Set("X-API-Key", "good") // in when no session cookie is sent
	if len(lines) > 0 {
		req.Header["Cookie"] = lines
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /cookies with Cookie %q = %d, want 200", lines, resp.StatusCode)
	}
	up := e.api.get(t.Name())
	if len(up) != 1 {
		t.Fatalf("upstream was called %d times, want 1", len(up))
	}
	var wantUp []string
	if want != "" {
		wantUp = []string{want}
	}
	if got := up[0].Header.Values("Cookie"); !slices.Equal(got, wantUp) {
		t.Errorf("Cookie %q: upstream got Cookie %q, want %q", lines, got, wantUp)
	}
	auth := e.auth.get(t.Name())
	if len(auth) != 1 {
		t.Fatalf("sso saw %d requests, want 1", len(auth))
	}
	if got := auth[0].Header.Values("Cookie"); !slices.Equal(got, lines) {
		t.Errorf("/auth got Cookie %q, want the client's %q", got, lines)
	}
}

func flatten(m map[string]string) []string {
	var kv []string
	for k, v := range m {
		kv = append(kv, k, v)
	}
	return kv
}
