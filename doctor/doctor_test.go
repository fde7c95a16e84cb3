package doctor

import (
	"net/http"
	"strings"
	"testing"

	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/cors"
)

const login = "https://login.example.com"

type setup struct {
	domains  []string      // nil: example.com
	sameSite http.SameSite // zero: Lax
	insecure bool          // Secure unless set
	origins  []string      // nil: the defaults sso serves with (cors.DefaultOrigins + the hub)
}

// policies builds the policies the way cmd/sso does: default origins over
// the cookie domains, plus the login hub's own origin.
func (s setup) policies(t testing.TB, loginURL string) (*cookiedomain.Policy, *cors.Policy) {
	t.Helper()
	domains := s.domains
	if domains == nil {
		domains = []string{"example.com"}
	}
	cp, err := cookiedomain.New(cookiedomain.Config{Domains: domains, SameSite: s.sameSite, Secure: !s.insecure})
	if err != nil {
		t.Fatalf("cookiedomain.New: %v", err)
	}
	origins := s.origins
	if origins == nil {
		origins = cors.DefaultOrigins(cp.Domains())
	}
	if o, err := cors.ParseOrigin(strings.TrimSuffix(loginURL, "/")); err == nil {
		origins = append(origins, o.String())
	}
	op, err := cors.New(cors.Config{Origins: origins})
	if err != nil {
		t.Fatalf("cors.New: %v", err)
	}
	return cp, op
}

// want is what a test expects of one check: its OK flag and words its
// Detail must contain.
type want struct {
	ok       bool
	mentions []string
}

func TestDoctorExplain(t *testing.T) {
	json := http.Header{"Content-Type": {"application/json"}, "X-Csrf-Token": {"tok"}}
	tests := []struct {
		name   string
		setup  setup
		in     Input // LoginURL defaults to login
		okAll  bool
		checks map[string]want
	}{
		{
			name:  "happy path: app to api is same-site",
			in:    Input{From: "https://app.example.com/", To: "https://api.example.com/items"},
			okAll: true,
			checks: map[string]want{
				CheckLoginDomain: {true, []string{"Domain=example.com"}},
				CheckLoginCookie: {true, []string{"Secure", "SameSite=Lax"}},
				CheckCredentials: {true, []string{"include"}},
				CheckDomain:      {true, []string{"api.example.com is under example.com"}},
				CheckSecure:      {true, []string{"https://api.example.com"}},
				CheckSameSite:    {true, []string{"same-site", "registrable domain example.com"}},
				CheckOrigin:      {true, []string{"Access-Control-Allow-Origin: https://app.example.com", "nginx"}},
				CheckPreflight:   {true, []string{"without a preflight"}},
				CheckCSRF:        {true, []string{"safe"}},
			},
		},
		{
			name:  "page on another registrable domain: cross-site, Lax cookie not sent",
			setup: setup{origins: []string{"https://app.example.org"}},
			in:    Input{From: "https://app.example.org/", To: "https://api.example.com/items"},
			checks: map[string]want{
				CheckDomain:   {true, nil},
				CheckSameSite: {false, []string{"cross-site", "example.org", "example.com", "SameSite=Lax", "top-level GET"}},
				CheckOrigin:   {true, nil},
			},
		},
		{
			name:  "cross-site with SameSite=None: a third-party cookie, blocked by most browsers",
			setup: setup{sameSite: http.SameSiteNoneMode, origins: []string{"https://app.example.org"}},
			in:    Input{From: "https://app.example.org/", To: "https://api.example.com/items"},
			checks: map[string]want{
				CheckSameSite: {false, []string{"SameSite=None", "third-party", "Safari", "Incognito"}},
			},
		},
		{
			name:  "cross-site with SameSite=Strict",
			setup: setup{sameSite: http.SameSiteStrictMode, origins: []string{"https://app.example.org"}},
			in:    Input{From: "https://app.example.org/", To: "https://api.example.com/items"},
			checks: map[string]want{
				CheckSameSite: {false, []string{"SameSite=Strict", "never"}},
			},
		},
		{
			name:  "SameSite=Strict is still sent same-site",
			setup: setup{sameSite: http.SameSiteStrictMode},
			in:    Input{From: "https://app.example.com/", To: "https://api.example.com/items"},
			okAll: true,
			checks: map[string]want{
				CheckSameSite: {true, []string{"SameSite=Strict", "same-site"}},
			},
		},
		{
			name: "http API with a Secure cookie",
			in:   Input{From: "https://app.example.com/", To: "http://api.example.com/items"},
			checks: map[string]want{
				CheckDomain:   {true, nil},
				CheckSecure:   {false, []string{"http://api.example.com", "https"}},
				CheckSameSite: {false, []string{"schemes https and http"}},
			},
		},
		{
			name:  "http API without Secure (development)",
			setup: setup{insecure: true, origins: []string{"http://*.example.com"}},
			in:    Input{LoginURL: "http://login.example.com", From: "http://app.example.com/", To: "http://api.example.com/items"},
			okAll: true,
			checks: map[string]want{
				CheckLoginCookie: {true, []string{"SameSite=Lax"}},
				CheckSecure:      {true, []string{"not Secure"}},
			},
		},
		{
			name: "API host outside the cookie domain",
			in:   Input{From: "https://app.example.com/", To: "https://api.other.com/items"},
			checks: map[string]want{
				CheckDomain: {false, []string{"api.other.com", "Domain=example.com", "SSO_COOKIE_DOMAINS"}},
			},
		},
		{
			name: "look-alike evilexample.com is not under example.com",
			in:   Input{From: "https://app.example.com/", To: "https://evilexample.com/items"},
			checks: map[string]want{
				CheckDomain: {false, []string{"evilexample.com", ".example.com"}},
			},
		},
		{
			name:  "API under a second cookie domain than the hub's",
			setup: setup{domains: []string{"example.com", "example.org"}},
			in:    Input{From: "https://app.example.com/", To: "https://api.example.org/items"},
			checks: map[string]want{
				CheckDomain: {false, []string{"api.example.org", "cookie domain example.org", "log in through a host under example.org"}},
			},
		},
		{
			name:  "longest cookie domain wins for the hub",
			setup: setup{domains: []string{"example.com", "sso.example.com"}},
			in:    Input{LoginURL: "https://login.sso.example.com", From: "https://app.sso.example.com/", To: "https://api.example.com/items"},
			checks: map[string]want{
				CheckLoginDomain: {true, []string{"Domain=sso.example.com"}},
				CheckDomain:      {false, []string{"not under sso.example.com"}},
			},
		},
		{
			name: "login hub outside every cookie domain",
			in:   Input{LoginURL: "https://login.example.net", From: "https://app.example.com/", To: "https://api.example.com/items"},
			checks: map[string]want{
				CheckLoginDomain: {false, []string{"login.example.net", "example.com", "SSO_LOGIN_URL"}},
				CheckDomain:      {false, []string{"sets no cookie"}},
			},
		},
		{
			name: "login hub over http with a Secure cookie",
			in:   Input{LoginURL: "http://login.example.com", From: "https://app.example.com/", To: "https://api.example.com/items"},
			checks: map[string]want{
				CheckLoginDomain: {true, nil},
				CheckLoginCookie: {false, []string{"http://login.example.com", "Secure", "https"}},
			},
		},
		{
			name:  "sibling origin not in SSO_CORS_ORIGINS, with the fix",
			setup: setup{origins: []string{"https://app.example.com"}},
			in:    Input{From: "https://www.example.com/", To: "https://api.example.com/items"},
			checks: map[string]want{
				CheckDomain: {true, nil},
				CheckOrigin: {false, []string{"https://www.example.com is not an allowed origin", "https://app.example.com", "SSO_CORS_ORIGINS", "https://*.example.com"}},
			},
		},
		{
			name: "foreign origin: no wildcard suggested",
			in:   Input{From: "https://partner.test/", To: "https://api.example.com/items"},
			checks: map[string]want{
				CheckOrigin: {false, []string{"add https://partner.test to SSO_CORS_ORIGINS"}},
			},
		},
		{
			name:  "PUT with JSON and X-CSRF-Token needs a preflight, which is allowed",
			in:    Input{From: "https://app.example.com/", To: "https://api.example.com/items/1", Method: "put", Headers: json},
			okAll: true,
			checks: map[string]want{
				CheckPreflight: {true, []string{"PUT", "Content-Type: application/json", "X-Csrf-Token", "OPTIONS", "sso allows"}},
				CheckCSRF:      {true, []string{"https://app.example.com is allowed", "PUT"}},
			},
		},
		{
			name: "custom header not in AllowHeaders",
			in:   Input{From: "https://app.example.com/", To: "https://api.example.com/items", Headers: http.Header{"X-Trace-Id": {"1"}}},
			checks: map[string]want{
				CheckPreflight: {false, []string{"X-Trace-Id", "never sends"}},
			},
		},
		{
			name: "lower-case patch is not upper-cased by fetch",
			in:   Input{From: "https://app.example.com/", To: "https://api.example.com/items/1", Method: "patch"},
			checks: map[string]want{
				CheckPreflight: {false, []string{`method patch`, "write PATCH"}},
			},
		},
		{
			name:  "form POST is a simple request",
			in:    Input{From: "https://app.example.com/", To: "https://api.example.com/items", Method: "POST", Headers: http.Header{"Content-Type": {"text/plain;charset=UTF-8"}}},
			okAll: true,
			checks: map[string]want{
				CheckPreflight: {true, []string{"POST with only CORS-safelisted headers"}},
				CheckCSRF:      {true, []string{"/auth"}},
			},
		},
		{
			name:  "preflight from an origin that is not allowed",
			setup: setup{origins: []string{"https://app.example.com"}},
			in:    Input{From: "https://www.example.com/", To: "https://api.example.com/items", Method: "DELETE"},
			checks: map[string]want{
				CheckPreflight: {false, []string{"403", "https://www.example.com"}},
				CheckCSRF:      {false, []string{"cross_site_request", "https://www.example.com"}},
			},
		},
		{
			name: "credentials omitted",
			in:   Input{From: "https://app.example.com/", To: "https://api.example.com/items", Credentials: "omit"},
			checks: map[string]want{
				CheckCredentials: {false, []string{`"omit"`, `credentials: "include"`}},
			},
		},
		{
			name: "fetch's default same-origin credentials on a cross-origin call",
			in:   Input{From: "https://app.example.com/", To: "https://api.example.com/items", Credentials: "same-origin"},
			checks: map[string]want{
				CheckCredentials: {false, []string{`"same-origin"`, "https://api.example.com", "withCredentials"}},
			},
		},
		{
			name:  "same-origin credentials on a same-origin call",
			in:    Input{From: "https://api.example.com/app", To: "https://api.example.com/items", Credentials: "same-origin"},
			okAll: true,
			checks: map[string]want{
				CheckCredentials: {true, []string{"same-origin"}},
				CheckOrigin:      {true, []string{"own origin", "no CORS"}},
				CheckPreflight:   {true, []string{"same origin"}},
			},
		},
		{
			name:  "same-origin POST on an API whose origin is not allowed hits the /auth shield",
			setup: setup{origins: []string{"https://app.example.com"}},
			in:    Input{From: "https://api.example.com/", To: "https://api.example.com/items", Method: "POST"},
			checks: map[string]want{
				CheckOrigin: {true, nil},
				CheckCSRF:   {false, []string{"https://api.example.com", "same-origin POST"}},
			},
		},
		{
			name: "DELETE on sso's API without X-CSRF-Token",
			in:   Input{From: "https://app.example.com/", To: login + "/api/sessions", Method: "DELETE"},
			checks: map[string]want{
				CheckOrigin: {true, []string{"sso's own answer"}},
				CheckCSRF:   {false, []string{"X-CSRF-Token", "DELETE", "/api/session"}},
			},
		},
		{
			name:  "DELETE on sso's API with X-CSRF-Token",
			in:    Input{From: "https://app.example.com/", To: login + "/api/sessions", Method: "DELETE", Headers: http.Header{"X-Csrf-Token": {"t"}}},
			okAll: true,
			checks: map[string]want{
				CheckPreflight: {true, []string{"DELETE", "X-Csrf-Token"}},
				CheckCSRF:      {true, []string{"X-CSRF-Token", "https://app.example.com"}},
			},
		},
		{
			name:  "login by password needs no CSRF token",
			in:    Input{From: login + "/login", To: login + "/api/session", Method: "POST", Headers: http.Header{"Content-Type": {"application/json"}}},
			okAll: true,
			checks: map[string]want{
				CheckCSRF: {true, []string{"POST /api/session"}},
			},
		},
		{
			name: "IP address target",
			in:   Input{From: "https://app.example.com/", To: "https://192.0.2.7/items"},
			checks: map[string]want{
				CheckDomain:   {false, []string{"192.0.2.7"}},
				CheckSameSite: {false, []string{"192.0.2.7"}},
			},
		},
		{
			name:  "a script cannot set Cookie",
			in:    Input{From: "https://app.example.com/", To: "https://api.example.com/items", Headers: http.Header{"Cookie": {"sso_session=x"}}},
			okAll: true,
			checks: map[string]want{
				CheckRequest:   {true, []string{"Scripts cannot set Cookie"}},
				CheckPreflight: {true, nil},
			},
		},
		{
			name: "bad page URL",
			in:   Input{From: "app.example.com", To: "https://api.example.com/items"},
			checks: map[string]want{
				CheckRequest: {false, []string{`"app.example.com"`, "absolute"}},
			},
		},
		{
			name: "forbidden method",
			in:   Input{From: "https://app.example.com/", To: "https://api.example.com/items", Method: "CONNECT"},
			checks: map[string]want{
				CheckRequest: {false, []string{"CONNECT"}},
			},
		},
		{
			name: "unknown credentials mode",
			in:   Input{From: "https://app.example.com/", To: "https://api.example.com/items", Credentials: "always"},
			checks: map[string]want{
				CheckRequest: {false, []string{`"always"`}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			if in.LoginURL == "" {
				in.LoginURL = login
			}
			in.Cookies, in.CORS = tc.setup.policies(t, in.LoginURL)
			r := Explain(in)
			if r.OK != tc.okAll {
				t.Errorf("Explain().OK = %v, want %v; report:\n%s", r.OK, tc.okAll, r)
			}
			for name, w := range tc.checks {
				c, found := r.Get(name)
				if !found {
					t.Errorf("no check %q; report:\n%s", name, r)
					continue
				}
				if c.OK != w.ok {
					t.Errorf("check %q OK = %v, want %v; detail: %s", name, c.OK, w.ok, c.Detail)
				}
				for _, m := range w.mentions {
					if !strings.Contains(c.Detail, m) {
						t.Errorf("check %q detail = %q, want it to mention %q", name, c.Detail, m)
					}
				}
			}
		})
	}
}

// The hub's own API answers only the hub and SSO_LOGIN_ORIGINS: a sibling
// that SSO_CORS_ORIGINS allows for upstream APIs is told it cannot read the
// hub's session, and which setting would let it.
func TestDoctorHubAPI(t *testing.T) {
	cp, op := setup{}.policies(t, login)
	hub, err := op.WithOrigins(login, "https://app.example.com")
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Cookies: cp, CORS: op, HubCORS: hub, LoginURL: login, To: login + "/api/session"}
	in.From = "https://blog.example.com/"
	r := Explain(in)
	c, _ := r.Get(CheckOrigin)
	if c.OK || !strings.Contains(c.Detail, "SSO_LOGIN_ORIGINS") {
		t.Errorf("blog → hub API: %v, want refused naming SSO_LOGIN_ORIGINS", c)
	}
	in.From = "https://app.example.com/"
	if c, _ := Explain(in).Get(CheckOrigin); !c.OK {
		t.Errorf("listed app → hub API: %v, want allowed", c)
	}
	in.From, in.To = "https://blog.example.com/", "https://api.example.com/items"
	if c, _ := Explain(in).Get(CheckOrigin); !c.OK {
		t.Errorf("blog → upstream API: %v, want allowed by SSO_CORS_ORIGINS", c)
	}
	in.From, in.To, in.Method = "https://blog.example.com/", login+"/api/session", "POST"
	in.Headers = http.Header{"Content-Type": {"application/json"}}
	if c, _ := Explain(in).Get(CheckCSRF); c.OK || !strings.Contains(c.Detail, "SSO_LOGIN_ORIGINS") {
		t.Errorf("blog logs in at the hub: %v, want refused naming SSO_LOGIN_ORIGINS", c)
	}
}

// Every failing check of these scenarios names its remedy apart, for sso
// doctor --json; a passing check has none.
func TestCheckFix(t *testing.T) {
	cookies, err := cookiedomain.New(cookiedomain.Config{Domains: []string{"example.com"}, Name: "sso_session", SameSite: http.SameSiteLaxMode, Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	origins, err := cors.New(cors.Config{Origins: cors.DefaultOrigins([]string{"example.com"})})
	if err != nil {
		t.Fatal(err)
	}
	fails := 0
	for _, sc := range []struct{ from, to, method string }{
		{"https://www.other.org/", "https://api.example.com/items", "PUT"},    // cross-site: SameSite, CORS, CSRF
		{"https://app.example.com/", "http://api.example.com/items", "GET"},   // Secure over http
		{"https://app.example.com/", "https://api.example.net/items", "GET"},  // outside the cookie domain
		{"https://app.example.com/", "https://api.example.com/items", "POST"}, // all good
	} {
		r := Explain(Input{Cookies: cookies, CORS: origins, LoginURL: "https://login.example.com", From: sc.from, To: sc.to, Method: sc.method})
		for _, c := range r.Checks {
			why, fix := c.Fix()
			if c.OK {
				if fix != "" || why != c.Detail {
					t.Errorf("%s → %s: passing check %q split into %q / %q", sc.from, sc.to, c.Name, why, fix)
				}
				continue
			}
			fails++
			if o, _ := r.Get(CheckOrigin); c.Name == CheckPreflight && !o.OK && fix == "" {
				continue // the remedy is the origin check's
			}
			if fix == "" || why == "" || !strings.HasPrefix(c.Detail, why) || !strings.HasSuffix(c.Detail, fix) {
				t.Errorf("%s → %s: failing check %q: why %q, fix %q from %q", sc.from, sc.to, c.Name, why, fix, c.Detail)
			}
		}
	}
	if fails < 4 {
		t.Errorf("only %d failing checks: the scenarios no longer test the split", fails)
	}
}
