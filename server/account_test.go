package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// formLogin signs user in with the hub's form, as a browser does, and
// returns the account page's CSRF token.
func formLogin(t *testing.T, c *http.Client, user string) string {
	t.Helper()
	tok := loginForm(t, c, "")
	r := postLogin(t, c, user, password, "", tok, map[string]string{"Origin": hub, "User-Agent": firefoxUA})
	expectStatus(t, r, http.StatusSeeOther)
	return accountCSRF(t, accountPage(t, c))
}

const firefoxUA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

func accountPage(t *testing.T, c *http.Client) *response {
	t.Helper()
	return accountPageAt(t, c, "/")
}

// accountPageAt gets the account page at path ("/?done=…").
func accountPageAt(t *testing.T, c *http.Client, path string) *response {
	t.Helper()
	r := do(t, c, req{url: hub + path})
	expectStatus(t, r, http.StatusOK)
	return r
}

func accountCSRF(t *testing.T, r *response) string {
	t.Helper()
	m := csrfFieldRE.FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("no csrf_token field on the account page: %s", r.body)
	}
	return string(m[1])
}

// postForm posts fields to the hub's path as the hub's own page does
// (Origin: the hub) unless headers say otherwise.
func postForm(t *testing.T, c *http.Client, path string, fields url.Values, headers map[string]string) *response {
	t.Helper()
	h := map[string]string{"Origin": hub}
	for k, v := range headers {
		h[k] = v
	}
	return do(t, c, req{method: "POST", url: hub + path, body: fields.Encode(), ctype: "application/x-www-form-urlencoded", headers: h})
}

func location(t *testing.T, r *response, want string) {
	t.Helper()
	expectStatus(t, r, http.StatusSeeOther)
	if got := r.Header.Get("Location"); got != want {
		t.Errorf("%s %s: Location %q, want %q", r.Request.Method, r.Request.URL, got, want)
	}
}

func cookieValue(t *testing.T, c *http.Client) string {
	t.Helper()
	for _, ck := range c.Jar.Cookies(mustURL(t, hub+"/")) {
		if ck.Name == cookieName {
			return ck.Value
		}
	}
	t.Fatal("no session cookie in the jar")
	return ""
}

// The account page shows who you are, your sessions with browser, address
// and machine-readable times, and your keys; its one script is the hub's
// own file, allowed by the CSP, and nothing inline.
func TestAccountPage(t *testing.T) {
	e := newEnv(t)
	a, _ := e.browser()
	formLogin(t, a, "alice")
	b, _ := e.browser()
	e.apiLogin(t, b, "alice")

	r := accountPage(t, a)
	body := string(r.body)
	for _, want := range []string{
		`<strong id="user">alice</strong>`, `<span id="email">alice@example.test</span>`, `<span id="groups">admins, dev</span>`,
		`<td>Firefox 128 · Linux</td>`,
		`<time datetime="` + e.clock.Now().UTC().Format("2006-01-02T15:04:05Z") + `">` + e.clock.Now().UTC().Format("2006-01-02 15:04 UTC") + `</time>`,
		`id="current-session"`, `class="other-session"`, `action="/account/sessions/revoke-others"`,
		`id="no-keys"`, `action="/account/keys"`, `id="signout-all"`,
		`<script src="/assets/localtime.js" defer></script>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("account page lacks %s:\n%s", want, body)
		}
	}
	if n := strings.Count(body, `class="revoke-session"`); n != 1 {
		t.Errorf("%d revoke forms, want 1 (the other session; this one is signed out below)", n)
	}
	if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(body) || strings.Contains(body, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
		t.Error("the account page has inline script")
	}
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self';") {
		t.Errorf("CSP %q, want default-src 'none' and script-src 'self' only", csp)
	}

	js := do(t, a, req{url: hub + "/assets/localtime.js"})
	expectStatus(t, js, http.StatusOK)
	if ct := js.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") || js.Header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.Contains(string(js.body), `querySelectorAll("time[datetime]")`) {
		t.Errorf("localtime.js: Content-Type %q, nosniff %q, body %q", ct, js.Header.Get("X-Content-Type-Options"), js.body)
	}

	// Signed out: the page sends the browser to the login form.
	r = do(t, e.client(), req{url: hub + "/"})
	location(t, r, "/login")
}

// Revoking from the account page: another session (its cookie is then
// refused by /auth), all others, and the browser's own (which signs it out).
func TestAccountRevokeSessions(t *testing.T) {
	e := newEnv(t)
	a, _ := e.browser()
	csrf := formLogin(t, a, "alice")
	b, _ := e.browser()
	other := e.apiLogin(t, b, "alice").Session.Value
	bob := e.apiLogin(t, e.client(), "bob").Session.Value

	ids := regexp.MustCompile(`<tr class="other-session">[\s\S]*?name="id" value="([0-9a-f]+)"`).FindAllSubmatch(accountPage(t, a).body, -1)
	if len(ids) != 1 {
		t.Fatalf("%d other sessions on the page, want 1", len(ids))
	}
	otherID := string(ids[0][1])

	// Refusals first: nothing changes.
	for name, tc := range map[string]struct {
		fields  url.Values
		headers map[string]string
		client  *http.Client
		want    int
	}{
		"no token":               {url.Values{"id": {otherID}}, nil, a, http.StatusForbidden},
		"wrong token":            {url.Values{"id": {otherID}, "csrf_token": {csrf + "x"}}, nil, a, http.StatusForbidden},
		"sibling origin":         {url.Values{"id": {otherID}, "csrf_token": {csrf}}, map[string]string{"Origin": appOrigin}, a, http.StatusForbidden},
		"no session":             {url.Values{"id": {otherID}, "csrf_token": {csrf}}, nil, e.client(), http.StatusUnauthorized},
		"no id":                  {url.Values{"csrf_token": {csrf}}, nil, a, http.StatusBadRequest},
		"unknown id":             {url.Values{"id": {strings.Repeat("0", 64)}, "csrf_token": {csrf}}, nil, a, http.StatusNotFound},
		"bob's session as alice": {url.Values{"id": {sessionIDOf(t, e, bob)}, "csrf_token": {csrf}}, nil, a, http.StatusNotFound},
	} {
		r := postForm(t, tc.client, "/account/sessions/revoke", tc.fields, tc.headers)
		if r.StatusCode != tc.want || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s, want %d and a page", name, r.StatusCode, r.Header.Get("Content-Type"), tc.want)
		}
	}
	if st, _ := e.authWithCookie(t, other); st != http.StatusOK {
		t.Fatalf("after refused revocations the other session's /auth = %d, want 200", st)
	}
	if st, _ := e.authWithCookie(t, bob); st != http.StatusOK {
		t.Fatalf("bob's /auth = %d after alice tried to revoke it, want 200", st)
	}

	r := postForm(t, a, "/account/sessions/revoke", url.Values{"id": {otherID}, "csrf_token": {csrf}}, nil)
	location(t, r, "/?done=session_revoked")
	if st, _ := e.authWithCookie(t, other); st != http.StatusUnauthorized {
		t.Errorf("revoked session's /auth = %d, want 401", st)
	}
	if page := string(accountPageAt(t, a, r.Header.Get("Location")).body); !strings.Contains(page, "The session was signed out.") || strings.Contains(page, `class="other-session"`) {
		t.Errorf("account page after the revocation:\n%s", page)
	}

	// All others: two more sessions go, this one and bob's stay.
	c1, c2 := e.apiLogin(t, e.client(), "alice").Session.Value, e.apiLogin(t, e.client(), "alice").Session.Value
	r = postForm(t, a, "/account/sessions/revoke-others", url.Values{"csrf_token": {csrf}}, nil)
	location(t, r, "/?done=sessions_revoked")
	for _, v := range []string{c1, c2} {
		if st, _ := e.authWithCookie(t, v); st != http.StatusUnauthorized {
			t.Errorf("after revoke-others a session's /auth = %d, want 401", st)
		}
	}
	if st, _ := e.authWithCookie(t, cookieValue(t, a)); st != http.StatusOK {
		t.Errorf("after revoke-others this browser's /auth = %d, want 200", st)
	}
	if st, _ := e.authWithCookie(t, bob); st != http.StatusOK {
		t.Errorf("after alice's revoke-others bob's /auth = %d, want 200", st)
	}

	// Its own session: signed out, cookie cleared.
	own := cookieValue(t, a)
	r = postForm(t, a, "/account/sessions/revoke", url.Values{"id": {sessionIDOf(t, e, own)}, "csrf_token": {csrf}}, nil)
	location(t, r, "/login")
	if st, _ := e.authWithCookie(t, own); st != http.StatusUnauthorized {
		t.Errorf("own revoked session's /auth = %d, want 401", st)
	}
}

// sessionIDOf returns the store id of the session whose cookie value is v.
func sessionIDOf(t *testing.T, e *env, v string) string {
	t.Helper()
	r := do(t, e.client(), req{url: hub + "/api/sessions", headers: map[string]string{"Cookie": cookieName + "=" + v}})
	expectStatus(t, r, http.StatusOK)
	var list struct {
		Sessions []struct {
			ID      string
			Current bool
		}
	}
	r.json(t, &list)
	for _, s := range list.Sessions {
		if s.Current {
			return s.ID
		}
	}
	t.Fatal("no current session in /api/sessions")
	return ""
}

var newKeyRE = regexp.MustCompile(`<code id="new-key" class="secret">(sso_[^<]+)</code>`)

// Keys from the account page: created with a name and expiry, shown once,
// accepted by /auth, listed without the key, refused once revoked.
func TestAccountKeys(t *testing.T) {
	e := newEnv(t)
	a, _ := e.browser()
	csrf := formLogin(t, a, "alice")

	for name, tc := range map[string]struct {
		fields url.Values
		want   string
	}{
		"no name":        {url.Values{"name": {"  "}, "expires": {"30d"}}, "Give the key a name"},
		"long name":      {url.Values{"name": {strings.Repeat("n", 101)}, "expires": {"30d"}}, "Give the key a name"},
		"unknown expiry": {url.Values{"name": {"ci"}, "expires": {"10y"}}, "Choose when the key expires"},
	} {
		tc.fields.Set("csrf_token", csrf)
		r := postForm(t, a, "/account/keys", tc.fields, nil)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s: %d, want 400 with %q: %s", name, r.StatusCode, tc.want, r.body)
		}
	}
	r := postForm(t, a, "/account/keys", url.Values{"name": {"ci"}, "expires": {"30d"}}, nil)
	expectStatus(t, r, http.StatusForbidden)

	r = postForm(t, a, "/account/keys", url.Values{"name": {"ci deploy"}, "expires": {"7d"}, "csrf_token": {csrf}}, nil)
	expectStatus(t, r, http.StatusCreated)
	m := newKeyRE.FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("the key page shows no key: %s", r.body)
	}
	key := string(m[1])
	exp := e.clock.Now().Add(7 * 24 * time.Hour).UTC()
	if !strings.Contains(string(r.body), `<time datetime="`+exp.Format(time.RFC3339)+`">`) || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("key page: want the expiry %v and no-store (got %q): %s", exp, r.Header.Get("Cache-Control"), r.body)
	}
	auth := func() int {
		return do(t, e.client(), req{url: "http://api.example.test/auth", headers: map[string]string{"X-API-Key": key}}).StatusCode
	}
	if st := auth(); st != http.StatusOK {
		t.Fatalf("/auth with the new key = %d, want 200", st)
	}
	page := string(accountPage(t, a).body)
	ids := regexp.MustCompile(`<tr class="key" data-id="([^"]+)">\s*<td>ci deploy</td>`).FindStringSubmatch(page)
	if ids == nil || strings.Contains(page, key) {
		t.Fatalf("account page: want the key listed by name, never the key itself:\n%s", page)
	}

	// bob cannot revoke alice's key.
	b, _ := e.browser()
	bcsrf := formLogin(t, b, "bob")
	r = postForm(t, b, "/account/keys/revoke", url.Values{"id": {ids[1]}, "csrf_token": {bcsrf}}, nil)
	expectStatus(t, r, http.StatusNotFound)
	if st := auth(); st != http.StatusOK {
		t.Fatalf("/auth with the key after bob's try = %d, want 200", st)
	}

	r = postForm(t, a, "/account/keys/revoke", url.Values{"id": {ids[1]}, "csrf_token": {csrf}}, nil)
	location(t, r, "/?done=key_revoked")
	if st := auth(); st != http.StatusUnauthorized {
		t.Errorf("/auth with the revoked key = %d, want 401", st)
	}
	if page := string(accountPageAt(t, a, r.Header.Get("Location")).body); strings.Contains(page, "ci deploy") || !strings.Contains(page, "The API key was revoked.") {
		t.Errorf("account page after revoking:\n%s", page)
	}
}

// "Sign out everywhere" ends every session of the user; plain "Sign out"
// ends only this one.
func TestSignOutEverywhere(t *testing.T) {
	e := newEnv(t)
	a, _ := e.browser()
	csrf := formLogin(t, a, "alice")
	other := e.apiLogin(t, e.client(), "alice").Session.Value

	r := postForm(t, a, "/logout", url.Values{"csrf_token": {csrf}, "scope": {"this"}}, nil)
	location(t, r, "/login")
	if st, _ := e.authWithCookie(t, other); st != http.StatusOK {
		t.Fatalf("after a plain sign-out the other session's /auth = %d, want 200", st)
	}

	csrf = formLogin(t, a, "alice")
	own := cookieValue(t, a)
	// The confirmation page offers both too.
	if page := do(t, a, req{url: hub + "/logout"}); !strings.Contains(string(page.body), `id="signout-all" name="scope" value="all"`) {
		t.Errorf("GET /logout offers no sign-out everywhere:\n%s", page.body)
	}
	r = postForm(t, a, "/logout", url.Values{"csrf_token": {csrf}, "scope": {"all"}}, nil)
	location(t, r, "/login")
	for _, v := range []string{own, other} {
		if st, _ := e.authWithCookie(t, v); st != http.StatusUnauthorized {
			t.Errorf("after signing out everywhere a session's /auth = %d, want 401", st)
		}
	}
}
