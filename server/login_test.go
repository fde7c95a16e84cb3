package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestLoginFormFlow(t *testing.T) {
	e := newEnv(t)
	c, jar := e.browser()
	const rd = "https://app.example.test/inbox?x=1"
	tok := loginForm(t, c, rd)
	nonce := jar.Cookies(mustURL(t, hub+"/login"))
	if len(nonce) == 0 {
		t.Fatal("GET /login set no nonce cookie for /login")
	}
	if got := jar.Cookies(mustURL(t, "http://app.example.test/login")); len(got) != 0 {
		t.Errorf("the login nonce reaches app.example.test: %v; it must be host-only", got)
	}

	r := postLogin(t, c, "alice", password, rd, tok, nil)
	expectStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != rd {
		t.Errorf("Location = %q, want %q", loc, rd)
	}
	ck := r.setCookie(t, cookieName)
	if ck.Domain != "example.test" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
		t.Errorf("session cookie = %q, want Domain=example.test; Path=/; HttpOnly; SameSite=Lax", ck.String())
	}
	if ck.MaxAge <= 0 {
		t.Errorf("session cookie Max-Age = %d, want positive", ck.MaxAge)
	}

	// The jar, like a browser, sends it to every sibling.
	for _, host := range []string{"api.example.test", "app.example.test", "a.b.example.test", "example.test"} {
		if !hasCookie(jar.Cookies(mustURL(t, "http://"+host+"/x")), cookieName, ck.Value) {
			t.Errorf("the jar does not send the session cookie to %s", host)
		}
	}
	if hasCookie(jar.Cookies(mustURL(t, "http://evilexample.test/")), cookieName, "") {
		t.Error("the jar sends the session cookie to evilexample.test")
	}
	a := do(t, c, req{url: "http://api.example.test/auth"})
	expectStatus(t, a, http.StatusOK)
	if u := a.Header.Get("X-Auth-User"); u != "alice" {
		t.Errorf("/auth at api.example.test: X-Auth-User = %q, want alice", u)
	}

	// With the session, GET /login goes straight to rd.
	r = do(t, c, req{url: hub + "/login?rd=" + url.QueryEscape(rd)})
	expectStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != rd {
		t.Errorf("GET /login with a session: Location = %q, want %q", loc, rd)
	}
}

// A login never keeps an id the browser brought: the old session dies and
// the new one has a fresh id.
func TestLoginFormFreshSessionID(t *testing.T) {
	e := newEnv(t)
	old := e.apiLogin(t, e.client(), "alice").Session.Value

	c, jar := e.browser()
	tok := loginForm(t, c, "")
	// The browser carries the old session (or one an attacker planted).
	jar.SetCookies(mustURL(t, hub+"/"), []*http.Cookie{{Name: cookieName, Value: old, Domain: "example.test", Path: "/"}})
	r := postLogin(t, c, "alice", password, "", tok, nil)
	expectStatus(t, r, http.StatusSeeOther)
	fresh := r.setCookie(t, cookieName).Value
	if fresh == old {
		t.Fatal("login kept the session id the browser brought")
	}
	if code, _ := e.authWithCookie(t, old); code != http.StatusUnauthorized {
		t.Errorf("/auth with the replaced session = %d, want 401", code)
	}
	if code, user := e.authWithCookie(t, fresh); code != http.StatusOK || user != "alice" {
		t.Errorf("/auth with the new session = %d %q, want 200 alice", code, user)
	}

	// A planted value that is no session at all changes nothing either.
	c2, jar2 := e.browser()
	tok = loginForm(t, c2, "")
	jar2.SetCookies(mustURL(t, hub+"/"), []*http.Cookie{{Name: cookieName, Value: "planted", Domain: "example.test", Path: "/"}})
	r = postLogin(t, c2, "alice", password, "", tok, nil)
	expectStatus(t, r, http.StatusSeeOther)
	if v := r.setCookie(t, cookieName).Value; v == "planted" || v == fresh {
		t.Errorf("second login got cookie %q, want a fresh one", v)
	}
}

func TestLoginFormWrongPassword(t *testing.T) {
	e := newEnv(t)
	var bodies []string
	for _, tc := range []struct{ user, pw string }{
		{"alice", "wrong"},
		{"nobody", password},
		{"alice@example.test", "wrong"},
	} {
		c, _ := e.browser()
		tok := loginForm(t, c, "")
		r := postLogin(t, c, tc.user, tc.pw, "", tok, nil)
		expectStatus(t, r, http.StatusUnauthorized)
		for _, ck := range r.Cookies() {
			if ck.Name == cookieName && ck.MaxAge >= 0 {
				t.Errorf("failed login for %q set a session cookie", tc.user)
			}
		}
		if !strings.Contains(string(r.body), "Invalid username or password.") {
			t.Errorf("failed login for %q: no generic message in %s", tc.user, r.body)
		}
		// The form comes back, with a fresh token, for another try.
		if formTokenRE.Find(r.body) == nil {
			t.Errorf("failed login for %q: no form in the answer", tc.user)
		}
		bodies = append(bodies, formTokenRE.ReplaceAllString(string(r.body), ""))
	}
	// Unknown user and wrong password read alike.
	for i := range bodies {
		if bodies[i] != bodies[0] {
			t.Errorf("failed-login page %d differs from page 0: it hints whether the user exists", i)
		}
	}
	// Login by email works.
	c, _ := e.browser()
	tok := loginForm(t, c, "")
	expectStatus(t, postLogin(t, c, "ALICE@example.test", password, "", tok, nil), http.StatusSeeOther)
}

func TestLoginFormAntiForgery(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name  string
		setup func(t *testing.T) (*http.Client, string, map[string]string)
	}{
		{"missing token", func(t *testing.T) (*http.Client, string, map[string]string) {
			c, _ := e.browser()
			loginForm(t, c, "")
			return c, "", nil
		}},
		{"forged token", func(t *testing.T) (*http.Client, string, map[string]string) {
			c, _ := e.browser()
			loginForm(t, c, "")
			return c, strings.Repeat("ab", 32), nil
		}},
		{"token without its nonce cookie", func(t *testing.T) (*http.Client, string, map[string]string) {
			tok := loginForm(t, e.client(), "") // the nonce cookie is dropped
			c, _ := e.browser()
			return c, tok, nil
		}},
		{"token of another browser", func(t *testing.T) (*http.Client, string, map[string]string) {
			other, _ := e.browser()
			tok := loginForm(t, other, "")
			c, _ := e.browser()
			loginForm(t, c, "")
			return c, tok, nil
		}},
		{"valid token, foreign Origin", func(t *testing.T) (*http.Client, string, map[string]string) {
			c, _ := e.browser()
			return c, loginForm(t, c, ""), map[string]string{"Origin": "https://evil.net"}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, tok, headers := tc.setup(t)
			r := postLogin(t, c, "alice", password, "", tok, headers)
			expectStatus(t, r, http.StatusForbidden)
			for _, ck := range r.Cookies() {
				if ck.Name == cookieName && ck.MaxAge >= 0 {
					t.Error("refused login set a session cookie")
				}
			}
		})
	}
}

func TestRedirectTargets(t *testing.T) {
	e := newEnv(t)
	c, _ := e.browser()
	e.formLogin(t, c, "")
	tests := []struct{ rd, want string }{
		{"/dashboard?a=1", "/dashboard?a=1"},
		{"https://app.example.test/x", "https://app.example.test/x"},
		{"https://example.test/", "https://example.test/"},
		{"https://APP.Example.Test/y", "https://app.example.test/y"},
		{"//evil.net", "/"},
		{"//evil.net/x", "/"},
		{"/\\evil.net", "/"},
		{"\\\\evil.net", "/"},
		{"https://evil.net", "/"},
		{"https://evil.net/.example.test", "/"},
		{"https://example.test.evil.net/", "/"},
		{"https://evilexample.test/", "/"},
		{"https://app.example.test@evil.net/", "/"},
		{"https://user:pw@app.example.test/", "/"},
		{"http://app.example.test/", "/"},
		{"javascript:alert(1)", "/"},
		{"JavaScript://app.example.test/%0aalert(1)", "/"},
		{"data:text/html,<script>alert(1)</script>", "/"},
		{"https://evil.net\\@app.example.test/", "/"},
		{"https://app.example.test\r\n.evil.net/", "/"},
		{"evil.net", "/"},
		{"https:evil.net", "/"},
	}
	for _, tc := range tests {
		t.Run(tc.rd, func(t *testing.T) {
			// With a session GET /login redirects at once.
			r := do(t, c, req{url: hub + "/login?rd=" + url.QueryEscape(tc.rd)})
			expectStatus(t, r, http.StatusSeeOther)
			if loc := r.Header.Get("Location"); loc != tc.want {
				t.Errorf("GET /login?rd=%q: Location = %q, want %q", tc.rd, loc, tc.want)
			}
			// And so does the form.
			fresh, _ := e.browser()
			tok := loginForm(t, fresh, tc.rd)
			r = postLogin(t, fresh, "alice", password, tc.rd, tok, nil)
			expectStatus(t, r, http.StatusSeeOther)
			if loc := r.Header.Get("Location"); loc != tc.want {
				t.Errorf("POST /login rd=%q: Location = %q, want %q", tc.rd, loc, tc.want)
			}
		})
	}
}

// formLogin logs in through the form and returns the session cookie value.
func (e *env) formLogin(t *testing.T, c *http.Client, rd string) string {
	t.Helper()
	tok := loginForm(t, c, rd)
	r := postLogin(t, c, "alice", password, rd, tok, nil)
	expectStatus(t, r, http.StatusSeeOther)
	return r.setCookie(t, cookieName).Value
}

func TestLogoutForm(t *testing.T) {
	e := newEnv(t)
	c, jar := e.browser()
	value := e.formLogin(t, c, "")
	// An old host-only copy at the hub, as an earlier configuration left.
	jar.SetCookies(mustURL(t, hub+"/"), []*http.Cookie{{Name: cookieName, Value: "left-over", Path: "/"}})

	home := do(t, c, req{url: hub + "/"})
	expectStatus(t, home, http.StatusOK)
	m := csrfFieldRE.FindSubmatch(home.body)
	if m == nil {
		t.Fatalf("home page: no csrf_token field in %s", home.body)
	}

	// Without the token: refused, still logged in; the person gets the
	// sign-out page back with a working form, not JSON.
	r := do(t, c, req{method: "POST", url: hub + "/logout", body: "rd=/", ctype: "application/x-www-form-urlencoded"})
	expectStatus(t, r, http.StatusForbidden)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || csrfFieldRE.Find(r.body) == nil {
		t.Errorf("refused logout form: %s, want the sign-out page with a csrf_token field", ct)
	}
	if code, _ := e.authWithCookie(t, value); code != http.StatusOK {
		t.Fatalf("/auth after a refused logout = %d, want 200", code)
	}

	form := url.Values{"csrf_token": {string(m[1])}, "rd": {"https://app.example.test/bye"}}
	r = do(t, c, req{method: "POST", url: hub + "/logout", body: form.Encode(), ctype: "application/x-www-form-urlencoded"})
	expectStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "https://app.example.test/bye" {
		t.Errorf("logout Location = %q, want the rd", loc)
	}
	checkClearing(t, r)
	if code, _ := e.authWithCookie(t, value); code != http.StatusUnauthorized {
		t.Errorf("/auth after logout = %d, want 401", code)
	}
	for _, host := range []string{"login.example.test", "api.example.test"} {
		if cs := jar.Cookies(mustURL(t, "http://"+host+"/")); hasCookie(cs, cookieName, "") {
			t.Errorf("after logout the jar still sends %v to %s", cs, host)
		}
	}
}

var csrfFieldRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// Browsers send "Origin: null" on a form POST from a page served with
// Referrer-Policy: no-referrer (Fetch, "append a request Origin header"),
// which the Origin checks of POST /login and POST /logout refuse: the hub's
// own forms would always fail in a browser.
func TestPagesDoNotNullTheOrigin(t *testing.T) {
	e := newEnv(t)
	r := do(t, e.client(), req{url: hub + "/login"})
	expectStatus(t, r, http.StatusOK)
	if p := strings.ToLower(r.Header.Get("Referrer-Policy")); p == "no-referrer" {
		t.Errorf("Referrer-Policy = %q: browsers would send Origin: null on the login form's POST", p)
	}
}
