package server_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/authz"
	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/cors"
	"github.com/example/sso/server"
)

// The hostile sibling: a host under the parent domain (blog.example.test)
// that sets cookies of our name for the whole domain. These tests use a real
// cookie jar, which applies Domain and Path as a browser does and sends the
// longer Path first.

const blog = "http://blog.example.test"

// withTrustedLoopback lets the tests speak for nginx (X-Original-*).
func withTrustedLoopback(t *testing.T) envOption {
	return func(o *server.Options) {
		p, err := authz.NewProxies([]string{"127.0.0.0/8"})
		if err != nil {
			t.Fatal(err)
		}
		o.Proxies = p
	}
}

// toss plants value as our session cookie for the parent domain at path, as
// a sibling's Set-Cookie or document.cookie would.
func toss(t *testing.T, jar *cookiejar.Jar, value, path string) {
	t.Helper()
	jar.SetCookies(mustURL(t, blog+"/"), []*http.Cookie{{Name: cookieName, Value: value, Domain: "example.test", Path: path}})
}

// nginxAuth is the /auth subrequest nginx makes for target: the browser's
// cookies for target, X-Original-URL and X-Original-Method.
func nginxAuth(t *testing.T, e *env, jar *cookiejar.Jar, target string) *response {
	t.Helper()
	var parts []string
	for _, c := range jar.Cookies(mustURL(t, target)) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	h := map[string]string{"X-Original-URL": target, "X-Original-Method": "GET"}
	if len(parts) > 0 {
		h["Cookie"] = strings.Join(parts, "; ")
	}
	return do(t, e.client(), req{url: "http://sso.example.test/auth", headers: h})
}

var formFieldRE = regexp.MustCompile(`name="form_token" value="([^"]+)"`)

// A sibling tosses the attacker's own valid cookie with a longer Path next
// to the victim's: /auth chooses no identity (401 ambiguous_session and the
// login URL says so), the hub shows both accounts, and its sign-out ends the
// victim's session and clears the tossed copy under rd's path, after which
// the victim is simply logged out, never the attacker.
func TestCookieTossingIsRefused(t *testing.T) {
	e := newEnv(t, withTrustedLoopback(t))
	victim, jar := e.browser()
	e.formLogin(t, victim, "")
	attacker := e.apiLogin(t, e.client(), "bob")
	const inbox = "https://app.example.test/inbox"
	toss(t, jar, attacker.Session.Value, "/inbox")

	r := nginxAuth(t, e, jar, inbox)
	expectStatus(t, r, http.StatusUnauthorized)
	if got := r.Header.Get("X-Auth-Error"); got != "ambiguous_session" {
		t.Errorf("X-Auth-Error = %q, want ambiguous_session", got)
	}
	if u := r.Header.Get("X-Auth-User"); u != "" {
		t.Fatalf("/auth chose %q", u)
	}
	login := r.Header.Get("X-Auth-Login-URL")
	lu := mustURL(t, login)
	if lu.Query().Get("reason") != "ambiguous_session" || lu.Query().Get("rd") != inbox {
		t.Fatalf("X-Auth-Login-URL = %q, want rd and reason=ambiguous_session", login)
	}

	// The hub itself sees one session (the tossed Path leaves it out), so
	// it must not bounce back to rd: it offers to sign out.
	page := do(t, victim, req{url: strings.Replace(login, "https://login.example.test", hub, 1)})
	expectStatus(t, page, http.StatusOK)
	if !strings.Contains(string(page.body), "app.example.test") || formFieldRE.Find(page.body) == nil {
		t.Fatalf("login page with reason=ambiguous_session: want the sign-out offer naming app.example.test, got %s", page.body)
	}
	tok := string(formFieldRE.FindSubmatch(page.body)[1])
	form := url.Values{"form_token": {tok}, "tossed": {"1"}, "rd": {inbox}}
	r = do(t, victim, req{method: "POST", url: hub + "/logout", body: form.Encode(), ctype: "application/x-www-form-urlencoded"})
	expectStatus(t, r, http.StatusSeeOther)
	if cs := jar.Cookies(mustURL(t, inbox)); hasCookie(cs, cookieName, "") {
		t.Errorf("after the sign-out the jar still sends %v to %s", cs, inbox)
	}
	r = nginxAuth(t, e, jar, inbox)
	expectStatus(t, r, http.StatusUnauthorized)
	if got := r.Header.Get("X-Auth-Error"); got != "unauthorized" {
		t.Errorf("after the sign-out X-Auth-Error = %q, want unauthorized", got)
	}
}

// At the hub and its API, where the tossed cookie is sent along: both refuse
// to pick, and DELETE /api/session (no Origin: a script, or one of the
// allowed origins after a preflight) ends both sessions and clears them.
func TestCookieTossingAtTheHub(t *testing.T) {
	e := newEnv(t, withTrustedLoopback(t))
	victim, jar := e.browser()
	mine := e.apiLogin(t, victim, "alice")
	attacker := e.apiLogin(t, e.client(), "bob")
	toss(t, jar, attacker.Session.Value, "/api")

	r := do(t, victim, req{url: hub + "/api/session"})
	expectStatus(t, r, http.StatusUnauthorized)
	var body struct{ Error string }
	r.json(t, &body)
	if body.Error != "ambiguous_session" {
		t.Errorf("GET /api/session error = %q, want ambiguous_session", body.Error)
	}
	for _, q := range []req{
		{method: "POST", url: hub + "/api/keys", body: `{"name":"x"}`, headers: map[string]string{"X-CSRF-Token": mine.CSRFToken}},
		{method: "POST", url: hub + "/api/token", headers: map[string]string{"X-CSRF-Token": attacker.CSRFToken}},
		{url: hub + "/api/sessions"},
	} {
		if r := do(t, victim, q); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with tossed cookies = %d, want 401", q.method, q.url, r.StatusCode)
		}
	}
	// A page of a disallowed origin cannot end them.
	r = do(t, victim, req{method: "DELETE", url: hub + "/api/session", headers: map[string]string{"Origin": "https://evil.net"}})
	expectStatus(t, r, http.StatusForbidden)
	if len(r.Cookies()) != 0 {
		t.Errorf("refused DELETE sets cookies %q", r.Header.Values("Set-Cookie"))
	}
	r = do(t, victim, req{method: "DELETE", url: hub + "/api/session"})
	expectStatus(t, r, http.StatusNoContent)
	for _, v := range []string{mine.Session.Value, attacker.Session.Value} {
		if code, _ := e.authWithCookie(t, v); code != http.StatusUnauthorized {
			t.Errorf("/auth with a session the sign-out ended = %d, want 401", code)
		}
	}
	if cs := jar.Cookies(mustURL(t, hub+"/api/session")); hasCookie(cs, cookieName, "") {
		t.Errorf("after DELETE /api/session the jar still sends %v", cs)
	}
}

// The hub's own pages see both cookies: they name both accounts, and the
// plain logout form (CSRF token of one session) is not enough to act.
func TestCookieTossingHubPages(t *testing.T) {
	e := newEnv(t)
	victim, jar := e.browser()
	e.formLogin(t, victim, "")
	attacker := e.apiLogin(t, e.client(), "bob")
	// Same name, Domain and Path would overwrite the victim's cookie: a
	// forced login, which no server can see. A longer Path keeps both.
	toss(t, jar, attacker.Session.Value, "/login")
	toss(t, jar, attacker.Session.Value, "/logout")
	for _, path := range []string{"/login", "/logout"} {
		r := do(t, victim, req{url: hub + path})
		expectStatus(t, r, http.StatusUnauthorized)
		if !strings.Contains(string(r.body), "bob") || !strings.Contains(string(r.body), `id="accounts"`) {
			t.Errorf("GET %s: want the page naming both accounts, got %s", path, r.body)
		}
	}
	r := do(t, victim, req{method: "POST", url: hub + "/logout", body: url.Values{"csrf_token": {attacker.CSRFToken}}.Encode(), ctype: "application/x-www-form-urlencoded"})
	expectStatus(t, r, http.StatusForbidden)
	if hasCookie(r.Cookies(), cookieName, "") {
		t.Errorf("refused sign-out sets %q", r.Header.Values("Set-Cookie"))
	}
}

// Two cookies of one user (an old host-only copy next to the shared one)
// still work, and a sign-out ends both sessions.
func TestTwoCookiesOfOneUser(t *testing.T) {
	e := newEnv(t, withTrustedLoopback(t))
	c, jar := e.browser()
	e.formLogin(t, c, "")
	other := e.apiLogin(t, e.client(), "alice")
	jar.SetCookies(mustURL(t, "http://app.example.test/"), []*http.Cookie{{Name: cookieName, Value: other.Session.Value, Path: "/"}})
	r := nginxAuth(t, e, jar, "https://app.example.test/")
	expectStatus(t, r, http.StatusOK)
	if u := r.Header.Get("X-Auth-User"); u != "alice" {
		t.Errorf("X-Auth-User = %q, want alice", u)
	}
}

// Login CSRF: the form's nonce cookie is __Host- when cookies are Secure,
// its token expires, and a form post from a sibling origin is refused even
// with a valid pair.
func TestLoginFormNonce(t *testing.T) {
	t.Run("host-bound when Secure", func(t *testing.T) {
		e := newEnv(t, func(o *server.Options) {
			p, err := cookiedomain.New(cookiedomain.Config{Domains: []string{"example.test"}, Name: cookieName, SameSite: http.SameSiteLaxMode, Secure: true})
			if err != nil {
				t.Fatal(err)
			}
			o.Cookies = p
		})
		r := do(t, e.client(), req{url: hub + "/login"})
		expectStatus(t, r, http.StatusOK)
		ck := r.setCookie(t, "__Host-sso_form")
		if !ck.Secure || ck.Domain != "" || ck.Path != "/" || !ck.HttpOnly {
			t.Errorf("nonce cookie %q: want __Host- with Secure, no Domain, Path=/, HttpOnly", r.Header.Values("Set-Cookie"))
		}
	})
	t.Run("expires", func(t *testing.T) {
		e := newEnv(t)
		c, _ := e.browser()
		tok := loginForm(t, c, "")
		e.clock.Advance(11 * time.Minute)
		r := postLogin(t, c, "alice", password, "", tok, nil)
		expectStatus(t, r, http.StatusForbidden)
		if hasCookie(r.Cookies(), cookieName, "") {
			t.Error("expired form set a session cookie")
		}
		tok = loginForm(t, c, "")
		e.clock.Advance(9 * time.Minute)
		expectStatus(t, postLogin(t, c, "alice", password, "", tok, nil), http.StatusSeeOther)
	})
	t.Run("sibling origin", func(t *testing.T) {
		e := newEnv(t)
		c, _ := e.browser()
		tok := loginForm(t, c, "")
		r := postLogin(t, c, "bob", password, "", tok, map[string]string{"Origin": blog})
		expectStatus(t, r, http.StatusForbidden)
		if hasCookie(r.Cookies(), cookieName, "") {
			t.Error("a sibling's form post set a session cookie")
		}
	})
}

// POST /api/session with an Origin logs in only from the hub or an origin
// in SSO_LOGIN_ORIGINS; scripts without Origin are unchanged.
func TestAPILoginOrigins(t *testing.T) {
	body := `{"username":"alice","password":"` + password + `"}`
	listed, err := cors.New(cors.Config{Origins: []string{appOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *server.Options) { o.LoginOrigins = listed })
	tests := []struct {
		origin string
		want   int
	}{
		{"", http.StatusCreated},
		{hub, http.StatusCreated},
		{appOrigin, http.StatusCreated},
		{blog, http.StatusForbidden},
		{"http://api.example.test", http.StatusForbidden},
		{"https://evil.net", http.StatusForbidden},
		{"null", http.StatusForbidden},
	}
	for _, tc := range tests {
		h := map[string]string{}
		if tc.origin != "" {
			h["Origin"] = tc.origin
		}
		r := do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: body, headers: h})
		if r.StatusCode != tc.want {
			t.Errorf("login from Origin %q = %d, want %d", tc.origin, r.StatusCode, tc.want)
		}
		if tc.want != http.StatusCreated && len(r.Cookies()) != 0 {
			t.Errorf("refused login from %q sets %q", tc.origin, r.Header.Values("Set-Cookie"))
		}
	}
	// Default: none listed, so a sibling allowed by CORS cannot log in.
	e = newEnv(t)
	r := do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: body, headers: map[string]string{"Origin": appOrigin}})
	expectStatus(t, r, http.StatusForbidden)
}

// Logout CSRF: a cross-site auto-submitted POST /logout arrives without the
// session cookie (SameSite=Lax) and without a token; it gets the page and no
// Set-Cookie. A sibling's post carries the cookie but no token: refused too.
func TestLogoutNeedsProof(t *testing.T) {
	e := newEnv(t)
	c, _ := e.browser()
	value := e.formLogin(t, c, "")
	crossSite := e.client() // no jar: Lax keeps the cookie off a cross-site POST
	r := do(t, crossSite, req{method: "POST", url: hub + "/logout", body: "rd=/", ctype: "application/x-www-form-urlencoded", headers: map[string]string{"Origin": "https://evil.net"}})
	expectStatus(t, r, http.StatusForbidden)
	if len(r.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("cross-site logout sets %q", r.Header.Values("Set-Cookie"))
	}
	r = do(t, c, req{method: "POST", url: hub + "/logout", body: "rd=/", ctype: "application/x-www-form-urlencoded", headers: map[string]string{"Origin": blog}})
	expectStatus(t, r, http.StatusForbidden)
	if hasCookie(r.Cookies(), cookieName, "") {
		t.Errorf("sibling logout sets %q", r.Header.Values("Set-Cookie"))
	}
	if code, _ := e.authWithCookie(t, value); code != http.StatusOK {
		t.Fatalf("/auth after refused logouts = %d, want 200", code)
	}
	// DELETE /api/session without a session, from a disallowed origin.
	r = do(t, crossSite, req{method: "DELETE", url: hub + "/api/session", headers: map[string]string{"Origin": "https://evil.net"}})
	expectStatus(t, r, http.StatusForbidden)
	if len(r.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("cross-site DELETE /api/session sets %q", r.Header.Values("Set-Cookie"))
	}
}

// A sibling that SSO_CORS_ORIGINS allows (every one, by default, for the
// APIs behind /auth) cannot read the session or its CSRF token from the hub,
// so it cannot act as the user there (outside review: it minted an API key).
func TestSiblingCannotReadTheHubSession(t *testing.T) {
	e := newEnv(t)
	c, _ := e.browser()
	e.apiLogin(t, c, "alice")
	r := do(t, c, req{url: hub + "/api/session", headers: map[string]string{"Origin": blog}})
	if v := r.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("GET /api/session from %s: Access-Control-Allow-Origin %q: the page could read the CSRF token", blog, v)
	}
	p := do(t, c, req{method: "OPTIONS", url: hub + "/api/keys", headers: map[string]string{"Origin": blog, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-csrf-token"}})
	expectStatus(t, p, http.StatusForbidden)
	// /auth still answers the same sibling's preflights: CORS for upstreams
	// is unchanged.
	a := do(t, e.client(), req{method: "OPTIONS", url: "http://api.example.test/auth", headers: map[string]string{"Origin": blog, "Access-Control-Request-Method": "PUT"}})
	expectStatus(t, a, http.StatusNoContent)
}

// Without __Host- (plain HTTP), a sibling's form nonce sent first does not
// block the hub's own form (second outside review).
func TestFormNonceCopies(t *testing.T) {
	e := newEnv(t)
	r := do(t, e.client(), req{url: hub + "/login"})
	expectStatus(t, r, http.StatusOK)
	nonce := r.setCookie(t, "sso_form").Value
	tok := string(formTokenRE.FindSubmatch(r.body)[1])
	form := url.Values{"username": {"alice"}, "password": {password}, "form_token": {tok}}
	p := do(t, e.client(), req{method: "POST", url: hub + "/login", body: form.Encode(), ctype: "application/x-www-form-urlencoded",
		headers: map[string]string{"Origin": hub, "Cookie": "sso_form=tossed; sso_form=" + nonce}})
	expectStatus(t, p, http.StatusSeeOther)
}

// "Sign out of all" ends every session the browser's cookies name, also
// those beyond the few a request makes sso read (second outside review:
// three of bob's sessions ahead kept alice's alive).
func TestSignOutOfAllEndsUnreadSessions(t *testing.T) {
	e := newEnv(t)
	alice := e.apiLogin(t, e.client(), "alice").Session.Value
	var values []string
	for range 3 {
		values = append(values, e.apiLogin(t, e.client(), "bob").Session.Value)
	}
	values = append(values, alice)
	cookie := ""
	for _, v := range values {
		cookie += cookieName + "=" + v + "; "
	}
	page := do(t, e.client(), req{url: hub + "/", headers: map[string]string{"Cookie": cookie}})
	expectStatus(t, page, http.StatusUnauthorized)
	nonce := page.setCookie(t, "sso_form").Value
	tok := string(formFieldRE.FindSubmatch(page.body)[1])
	form := url.Values{"form_token": {tok}, "tossed": {"1"}}
	r := do(t, e.client(), req{method: "POST", url: hub + "/logout", body: form.Encode(), ctype: "application/x-www-form-urlencoded",
		headers: map[string]string{"Origin": hub, "Cookie": cookie + "sso_form=" + nonce}})
	expectStatus(t, r, http.StatusSeeOther)
	for i, v := range values {
		if code, _ := e.authWithCookie(t, v); code != http.StatusUnauthorized {
			t.Errorf("session %d after sign out of all: /auth = %d, want 401", i, code)
		}
	}
}

// A browser that sends no Origin but a Referer of another origin is not the
// hub (second outside review).
func TestLoginRefererOfAnotherOrigin(t *testing.T) {
	e := newEnv(t)
	body := `{"username":"alice","password":"` + password + `"}`
	r := do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: body, headers: map[string]string{"Referer": blog + "/page"}})
	expectStatus(t, r, http.StatusForbidden)
	r = do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: body, headers: map[string]string{"Referer": hub + "/login"}})
	expectStatus(t, r, http.StatusCreated)
}

// DELETE /api/session with more signed cookies than are read ends them all,
// as the hub's sign-out does.
func TestAPISignOutEndsUnreadSessions(t *testing.T) {
	e := newEnv(t)
	var values []string
	for _, u := range []string{"bob", "bob", "bob", "alice"} {
		values = append(values, e.apiLogin(t, e.client(), u).Session.Value)
	}
	cookie := ""
	for _, v := range values {
		cookie += cookieName + "=" + v + "; "
	}
	r := do(t, e.client(), req{method: "DELETE", url: hub + "/api/session", headers: map[string]string{"Cookie": cookie}})
	expectStatus(t, r, http.StatusNoContent)
	for i, v := range values {
		if code, _ := e.authWithCookie(t, v); code != http.StatusUnauthorized {
			t.Errorf("session %d after DELETE /api/session: /auth = %d, want 401", i, code)
		}
	}
}
