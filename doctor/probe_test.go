package doctor

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func probeScenario(t *testing.T, from, to, method string, headers http.Header) *scenario {
	t.Helper()
	s, msg := parseProbe(ProbeInput{LoginURL: login, From: from, To: to, Method: method, Headers: headers})
	if msg != "" {
		t.Fatalf("parseProbe: %s", msg)
	}
	return s
}

func rules(vs []verdict) map[string]bool {
	m := map[string]bool{}
	for _, v := range vs {
		m[v.Rule] = v.OK
	}
	return m
}

func TestJudgeCookie(t *testing.T) {
	hubCookie := func(mod func(*http.Cookie)) *http.Cookie {
		c := &http.Cookie{Name: "sso_session", Value: "v", Domain: "example.com", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
		if mod != nil {
			mod(c)
		}
		return c
	}
	for _, tc := range []struct {
		name, from, to string
		cookie         *http.Cookie
		want           map[string]bool
	}{
		{"sibling", "https://app.example.com/", "https://api.example.com/x", hubCookie(nil),
			map[string]bool{CheckLoginCookie: true, CheckDomain: true, CheckSecure: true, CheckSameSite: true}},
		{"other site lax", "https://evil.test/", "https://api.example.com/x", hubCookie(nil),
			map[string]bool{CheckLoginCookie: true, CheckDomain: true, CheckSecure: true, CheckSameSite: false}},
		{"other site none", "https://evil.test/", "https://api.example.com/x", hubCookie(func(c *http.Cookie) { c.SameSite = http.SameSiteNoneMode }),
			map[string]bool{CheckLoginCookie: true, CheckDomain: true, CheckSecure: true, CheckSameSite: false}},
		{"http page is another site", "http://app.example.com/", "https://api.example.com/x", hubCookie(nil),
			map[string]bool{CheckLoginCookie: true, CheckDomain: true, CheckSecure: true, CheckSameSite: false}},
		{"secure to http", "http://app.example.com/", "http://api.example.com/x", hubCookie(nil),
			map[string]bool{CheckLoginCookie: true, CheckDomain: true, CheckSecure: false, CheckSameSite: true}},
		{"host-only", "https://app.example.com/", "https://api.example.com/x", hubCookie(func(c *http.Cookie) { c.Domain = "" }),
			map[string]bool{CheckLoginCookie: true, CheckDomain: false, CheckSecure: true, CheckSameSite: true}},
		{"foreign domain", "https://app.example.org/", "https://api.example.org/x", hubCookie(nil),
			map[string]bool{CheckLoginCookie: true, CheckDomain: false, CheckSecure: true, CheckSameSite: true}},
		{"none without secure", "https://app.example.com/", "https://api.example.com/x", hubCookie(func(c *http.Cookie) { c.SameSite, c.Secure = http.SameSiteNoneMode, false }),
			map[string]bool{CheckLoginCookie: false, CheckDomain: true, CheckSecure: true, CheckSameSite: true}},
		{"no HttpOnly", "https://app.example.com/", "https://api.example.com/x", hubCookie(func(c *http.Cookie) { c.HttpOnly = false }),
			map[string]bool{CheckLoginCookie: false, CheckDomain: true, CheckSecure: true, CheckSameSite: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := judgeCookie(probeScenario(t, tc.from, tc.to, "", nil), tc.cookie)
			if got := rules(vs); !mapsEqual(got, tc.want) {
				t.Errorf("verdicts %v, want %v (%+v)", got, tc.want, vs)
			}
			for _, v := range vs {
				if !v.OK && v.Fix == "" {
					t.Errorf("%s fails without a fix", v.Rule)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestJudgePreflight(t *testing.T) {
	const app = "https://app.example.com"
	allowed := http.Header{
		"Access-Control-Allow-Origin":      {app},
		"Access-Control-Allow-Credentials": {"true"},
		"Access-Control-Allow-Methods":     {"GET, HEAD, POST, PUT, PATCH, DELETE"},
		"Access-Control-Allow-Headers":     {"Content-Type, Authorization, X-CSRF-Token"},
	}
	for _, tc := range []struct {
		name    string
		method  string
		headers http.Header
		status  int
		resp    http.Header
		body    string
		want    map[string]bool
	}{
		{"simple get: not needed", "GET", nil, 403, http.Header{}, "cors: preflight refused: origin not allowed\n", map[string]bool{CheckPreflight: true}},
		{"put allowed", "PUT", http.Header{"Content-Type": {"application/json"}}, 204, allowed, "", map[string]bool{CheckOrigin: true, CheckPreflight: true}},
		{"put from a refused origin", "PUT", nil, 403, http.Header{"Vary": {"Origin"}}, "cors: preflight refused: origin not allowed\n", map[string]bool{CheckOrigin: false}},
		{"header refused by sso", "GET", http.Header{"X-Custom": {"1"}}, 403, http.Header{"Vary": {"Origin"}}, "cors: preflight refused: header not allowed\n", map[string]bool{CheckPreflight: false}},
		{"header missing from the answer", "GET", http.Header{"X-Custom": {"1"}}, 204, allowed, "", map[string]bool{CheckOrigin: true, CheckPreflight: false}},
		{"lower-case patch is not PATCH", "patch", nil, 204, allowed, "", map[string]bool{CheckOrigin: true, CheckPreflight: false}},
		{"wildcard origin with credentials", "DELETE", nil, 204, http.Header{"Access-Control-Allow-Origin": {"*"}, "Access-Control-Allow-Credentials": {"true"}}, "", map[string]bool{CheckOrigin: false}},
		{"no credentials header", "DELETE", nil, 204, http.Header{"Access-Control-Allow-Origin": {app}}, "", map[string]bool{CheckOrigin: false}},
		{"nginx answers the preflight itself", "DELETE", nil, 405, http.Header{}, "", map[string]bool{CheckOrigin: false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := probeScenario(t, app+"/", "https://api.example.com/x", tc.method, tc.headers)
			names := unsafeHeaders(tc.headers)
			needed := !safelistedMethod(s.method) || len(names) > 0
			vs := judgePreflight(s, needed, names, tc.status, tc.resp, []byte(tc.body))
			if got := rules(vs); !mapsEqual(got, tc.want) {
				t.Errorf("verdicts %v, want %v (%+v)", got, tc.want, vs)
			}
		})
	}
}

func TestJudgeActual(t *testing.T) {
	const app = "https://app.example.com"
	for _, tc := range []struct {
		name     string
		from     string
		h        http.Header
		ok       bool
		whyWants string
	}{
		{"allowed", app + "/", http.Header{"Access-Control-Allow-Origin": {app}, "Access-Control-Allow-Credentials": {"true"}, "Vary": {"Origin"}}, true, "the page reads"},
		{"no vary", app + "/", http.Header{"Access-Control-Allow-Origin": {app}, "Access-Control-Allow-Credentials": {"true"}}, true, "no Vary: Origin"},
		{"missing", app + "/", http.Header{"Vary": {"Origin"}}, false, "hides the answer"},
		{"other origin", app + "/", http.Header{"Access-Control-Allow-Origin": {"https://else.example.com"}, "Access-Control-Allow-Credentials": {"true"}}, false, "hides"},
		{"same origin", "https://api.example.com/page", http.Header{}, true, "same origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := judgeActual(probeScenario(t, tc.from, "https://api.example.com/x", "", nil), tc.h)
			if v.Rule != CheckOrigin || v.OK != tc.ok || !strings.Contains(v.Why, tc.whyWants) {
				t.Errorf("judgeActual = %+v, want %s ok=%v with %q", v, CheckOrigin, tc.ok, tc.whyWants)
			}
		})
	}
}

func TestUnsafeHeaders(t *testing.T) {
	got := unsafeHeaders(http.Header{
		"Content-Type": {"application/json"}, "Accept": {"text/html"}, "X-Request-Id": {"1"},
		"Cookie": {"forbidden"}, "Content-Language": {"en"},
	})
	if want := []string{"content-type", "x-request-id"}; !slices.Equal(got, want) {
		t.Errorf("unsafeHeaders = %v, want %v", got, want)
	}
}

func TestProbeBadInput(t *testing.T) {
	r := Probe(t.Context(), ProbeInput{LoginURL: login, From: "app.example.com", To: "https://api.example.com/"})
	if r.OK || len(r.Checks) != 1 || r.Checks[0].Rule != CheckRequest || r.Checks[0].Fix == "" {
		t.Errorf("Probe with a bad From = %+v, want one failing %s check with a fix", r, CheckRequest)
	}
}

// The probe judges headers a live server sent: whatever they say, the
// judgements never panic, and a failing one always names a fix.
func FuzzProbeJudge(f *testing.F) {
	f.Add("PUT", "X-Custom", "1", 204, "https://app.example.com", "true", "GET, PUT", "x-custom", "sso_session=v; Domain=example.com; Secure; HttpOnly; SameSite=None", "")
	f.Add("patch", "Content-Type", "application/json", 403, "", "", "", "", "sso_session=v", "cors: preflight refused: header not allowed\n")
	f.Add("GET", "", "", 200, "*", "TRUE", "*", "*", "sso_session=; Domain=.evil.test", "\x00")
	f.Fuzz(func(t *testing.T, method, hname, hvalue string, status int, acao, acac, acam, acah, setCookie, body string) {
		s, msg := parseProbe(ProbeInput{LoginURL: login, From: "https://app.example.com/", To: "https://api.example.com/x", Method: method, Headers: http.Header{hname: {hvalue}}})
		if msg != "" {
			return
		}
		h := http.Header{"Access-Control-Allow-Origin": {acao}, "Access-Control-Allow-Credentials": {acac},
			"Access-Control-Allow-Methods": {acam}, "Access-Control-Allow-Headers": {acah}, "Set-Cookie": {setCookie}}
		names := unsafeHeaders(s.in.Headers)
		vs := judgePreflight(s, true, names, status, h, []byte(body))
		vs = append(vs, judgeActual(s, h))
		for _, c := range (&http.Response{Header: h}).Cookies() {
			vs = append(vs, judgeCookie(s, c)...)
		}
		for _, v := range vs {
			if !v.OK && v.Fix == "" {
				t.Fatalf("%s fails without a fix: %+v", v.Rule, v)
			}
		}
		_ = shown(h)
	})
}

// fakeDeployment answers as sso behind nginx would, for one user, and
// records the logouts it receives.
type fakeDeployment struct {
	logouts []string // "cookie csrf" of each DELETE /api/session
}

func (d *fakeDeployment) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/login":
		w.WriteHeader(http.StatusOK)
	case r.URL.Path == "/api/session" && r.Method == http.MethodPost:
		http.SetCookie(w, &http.Cookie{Name: DefaultCookieName, Value: "sess-1", Domain: "example.com", Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"user":{"name":"alice"},"csrf_token":"csrf-1"}`))
	case r.URL.Path == "/api/session" && r.Method == http.MethodDelete:
		c, _ := r.Cookie(DefaultCookieName)
		v := ""
		if c != nil {
			v = c.Value
		}
		d.logouts = append(d.logouts, v+" "+r.Header.Get("X-CSRF-Token"))
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("Vary", "Origin")
		if c, _ := r.Cookie(DefaultCookieName); c == nil {
			w.Header().Set("X-Auth-Error", "unauthorized")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
}

// A probe that logged in for itself ends that session afterwards (repeated
// probes must not pile up sessions and push the user's own out past
// SSO_SESSION_MAX_PER_USER); a session the caller gave is left alone.
func TestProbeLogsOut(t *testing.T) {
	d := &fakeDeployment{}
	srv := httptest.NewServer(d)
	defer srv.Close()
	client := srv.Client()
	client.Transport = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}}
	in := ProbeInput{Client: client, LoginURL: "http://login.example.com", From: "http://app.example.com/", To: "http://api.example.com/me"}

	in.User, in.Password = "alice", "pw"
	r := Probe(t.Context(), in)
	if want := []string{"sess-1 csrf-1"}; !slices.Equal(d.logouts, want) {
		t.Errorf("logouts after a probe that logged in = %q, want %q", d.logouts, want)
	}
	var found bool
	for _, c := range r.Checks {
		if c.Rule == ProbeLogout {
			found = true
			if !c.OK || c.Status != http.StatusNoContent {
				t.Errorf("logout check = %+v, want ok with 204", c)
			}
		}
	}
	if !found {
		t.Errorf("no %s check in %+v", ProbeLogout, r.Checks)
	}

	d.logouts = nil
	in.User, in.Password, in.Cookie = "", "", "given"
	r = Probe(t.Context(), in)
	if len(d.logouts) != 0 {
		t.Errorf("the probe logged out the caller's own session: %q", d.logouts)
	}
	for _, c := range r.Checks {
		if c.Rule == ProbeLogout {
			t.Errorf("a %s check without a login of the probe's own: %+v", ProbeLogout, c)
		}
	}
}
