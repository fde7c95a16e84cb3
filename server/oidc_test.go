package server_test

import (
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/example/sso/federation"
	"github.com/example/sso/internal/testoidc"
	"github.com/example/sso/server"
)

const (
	providerID   = "corp"
	providerName = "Corp IdP"
	callbackURL  = hub + "/oauth2/callback/" + providerID
	appPage      = "https://app.example.test/inbox?x=1"
)

var idpUsers = []testoidc.User{
	{ID: "u1", Username: "alice", Password: "alice-idp-pw", Email: "alice@example.test", EmailVerified: true, Groups: []string{"staff", "dev"}},
	{ID: "u2", Username: "eve", Password: "eve-idp-pw", Email: "eve@elsewhere.test", EmailVerified: true, Groups: []string{"staff"}},
}

// oidcEnv is a hub with the users file and one provider, corp (a real
// OpenID provider, testoidc, on loopback), whose user names get the prefix
// "corp:".
type oidcEnv struct {
	*env
	idp *testoidc.Server
}

func newOIDCEnv(t *testing.T, opts ...envOption) *oidcEnv {
	t.Helper()
	return newOIDCEnvWith(t, idpUsers, "corp:", opts...)
}

// newOIDCEnvWith is newOIDCEnv with the provider's users and user prefix.
func newOIDCEnvWith(t *testing.T, users []testoidc.User, prefix string, opts ...envOption) *oidcEnv {
	t.Helper()
	idp := testoidc.Start(t, testoidc.Options{Users: users, RedirectURIs: []string{callbackURL}})
	withFed := func(o *server.Options) {
		fed, err := federation.New(federation.Options{
			Providers: []federation.Provider{{
				ID: providerID, Name: providerName, Issuer: idp.Issuer,
				ClientID: testoidc.ClientIDClaims, ClientSecret: testoidc.Secret, RedirectURL: callbackURL,
				UserPrefix: prefix, AllowedEmailDomains: []string{"example.test"},
			}},
			Keys:             [][]byte{[]byte("oidc state key oidc state key 32b")},
			AllowRedirect:    o.Cookies.Contains,
			DiscoveryTimeout: 5 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		o.Federation = fed
	}
	return &oidcEnv{env: newEnv(t, append([]envOption{withFed}, opts...)...), idp: idp}
}

// oidcBrowser is a browser with a cookie jar that reaches the hub under
// every *.example.test name and the provider on loopback; it follows the
// provider's redirects but stops at every answer of the hub, so tests see
// them.
func (e *oidcEnv) oidcBrowser() *http.Client {
	e.t.Helper()
	jar, err := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	if err != nil {
		e.t.Fatal(err)
	}
	addr := e.ts.Listener.Addr().String()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(hostport)
		if err != nil {
			return nil, err
		}
		if host == "example.test" || strings.HasSuffix(host, ".example.test") {
			hostport = addr
		}
		return dialer.DialContext(ctx, network, hostport)
	}}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(r *http.Request, via []*http.Request) error {
			if strings.HasSuffix(r.URL.Hostname(), "example.test") || len(via) > 10 {
				return http.ErrUseLastResponse
			}
			return nil
		}}
}

// toCallback starts corp's sign-in at the hub with rd, signs in at the
// provider's own login page and returns the provider's redirect to the
// hub's callback, not yet followed.
func (e *oidcEnv) toCallback(t *testing.T, c *http.Client, user, pw, rd string) string {
	t.Helper()
	// Start's 302 to the provider is followed, to its login page.
	page, err := c.Get(hub + "/oauth2/start/" + providerID + "?rd=" + url.QueryEscape(rd))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(page.Request.URL.String(), e.idp.Issuer) {
		t.Fatalf("start led to %s (%d), want the provider's login page", page.Request.URL, page.StatusCode)
	}
	resp := testoidc.SubmitLogin(t, c, page, user, pw)
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, callbackURL+"?") {
		t.Fatalf("after the provider's login: %d to %q, want 302 to %s", resp.StatusCode, loc, callbackURL)
	}
	return loc
}

// noSessionCookie fails when r sets a session cookie with a value.
func noSessionCookie(t *testing.T, r *response) {
	t.Helper()
	for _, c := range r.Cookies() {
		if c.Name == cookieName && c.Value != "" {
			t.Errorf("%s %s set a session cookie", r.Request.Method, r.Request.URL)
		}
	}
}

// errorPage checks that r is the login page with status want, an error
// message containing msg, and none of the words in hidden.
func errorPage(t *testing.T, r *response, want int, msg string, hidden ...string) {
	t.Helper()
	expectStatus(t, r, want)
	body := string(r.body)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, `id="error"`) || !strings.Contains(body, msg) {
		t.Errorf("%s %s: want an HTML page with an error saying %q; got %s", r.Request.Method, r.Request.URL, msg, body)
	}
	for _, h := range hidden {
		if strings.Contains(body, h) {
			t.Errorf("%s %s: the page shows %q", r.Request.Method, r.Request.URL, h)
		}
	}
	if !strings.Contains(body, `id="provider-`+providerID+`"`) {
		t.Errorf("the error page offers no button to try again: %s", body)
	}
	noSessionCookie(t, r)
}

// TestOIDCLogin: the login page offers corp beside the password form; a
// sign-in through the provider's own page lands on rd with a session of
// the mapped identity (source oidc:corp, amr oidc), which /auth answers
// with the provider's groups; an API key and a client JWT made from it
// carry the same identity.
func TestOIDCLogin(t *testing.T) {
	e := newOIDCEnv(t)
	c := e.oidcBrowser()

	r := do(t, c, req{url: hub + "/login?rd=" + url.QueryEscape(appPage)})
	expectStatus(t, r, http.StatusOK)
	body := string(r.body)
	wantHref := `href="/oauth2/start/corp?rd=` + strings.ReplaceAll(url.QueryEscape(appPage), "&", "&amp;")
	if !strings.Contains(body, `id="password"`) || !strings.Contains(body, wantHref) || !strings.Contains(body, "Sign in with "+providerName) {
		t.Fatalf("login page: want the password form and a %q button (%s); got %s", providerName, wantHref, body)
	}

	cb := e.toCallback(t, c, "alice", "alice-idp-pw", appPage)
	r = do(t, c, req{url: cb})
	expectStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != appPage {
		t.Errorf("callback: Location = %q, want rd %q", loc, appPage)
	}
	ck := r.setCookie(t, cookieName)
	if ck.Domain != "example.test" || !ck.HttpOnly || ck.Value == "" {
		t.Errorf("session cookie = %q", ck.String())
	}

	a := do(t, c, req{url: "http://api.example.test/auth"})
	expectStatus(t, a, http.StatusOK)
	if u, g, m := a.Header.Get("X-Auth-User"), a.Header.Get("X-Auth-Groups"), a.Header.Get("X-Auth-Email"); u != "corp:alice" || g != "staff,dev" || m != "alice@example.test" {
		t.Errorf("/auth: user %q groups %q email %q, want corp:alice, staff,dev, alice@example.test", u, g, m)
	}
	list, err := e.store.List(context.Background(), "corp:alice")
	if err != nil || len(list) != 1 {
		t.Fatalf("sessions of corp:alice: %v, %v", list, err)
	}
	if s := list[0]; s.Source != "oidc:corp" || !slices.Equal(s.AMR(), []string{"oidc"}) {
		t.Errorf("session: Source %q AMR %v, want oidc:corp [oidc]", s.Source, s.AMR())
	}

	// The same callback again: its state cookie is gone.
	r = do(t, c, req{url: cb})
	errorPage(t, r, http.StatusBadRequest, "not started in this browser")

	// An API key and a client JWT of the federated user: the key keeps the
	// session's snapshot, since no users file knows corp:alice.
	var sb sessionBody
	r = do(t, c, req{url: hub + "/api/session"})
	expectStatus(t, r, http.StatusOK)
	r.json(t, &sb)
	r = do(t, c, req{method: "POST", url: hub + "/api/keys", body: `{"name":"ci"}`, headers: map[string]string{"X-CSRF-Token": sb.CSRFToken}})
	expectStatus(t, r, http.StatusCreated)
	var key struct{ Key string }
	r.json(t, &key)
	script := e.client()
	a = do(t, script, req{url: "http://api.example.test/auth", headers: map[string]string{"X-API-Key": key.Key}})
	expectStatus(t, a, http.StatusOK)
	if u, g := a.Header.Get("X-Auth-User"), a.Header.Get("X-Auth-Groups"); u != "corp:alice" || g != "staff,dev" {
		t.Errorf("/auth with the key: user %q groups %q", u, g)
	}
	r = do(t, script, req{method: "POST", url: hub + "/api/token", headers: map[string]string{"X-API-Key": key.Key}})
	expectStatus(t, r, http.StatusOK)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	r.json(t, &tok)
	a = do(t, script, req{url: "http://api.example.test/auth", headers: map[string]string{"Authorization": "Bearer " + tok.AccessToken}})
	expectStatus(t, a, http.StatusOK)
	if u, g := a.Header.Get("X-Auth-User"), a.Header.Get("X-Auth-Groups"); u != "corp:alice" || g != "staff,dev" {
		t.Errorf("/auth with the JWT: user %q groups %q", u, g)
	}
}

// TestOIDCTamperedState: a callback whose state differs from the browser's
// flow, or that comes to a browser that started none, is a 400 page and no
// session.
func TestOIDCTamperedState(t *testing.T) {
	e := newOIDCEnv(t)
	c := e.oidcBrowser()
	cb := e.toCallback(t, c, "alice", "alice-idp-pw", appPage)
	u, err := url.Parse(cb)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("state", q.Get("state")+"x")
	u.RawQuery = q.Encode()

	// Another browser, with no flow of its own, gets the genuine callback.
	other := e.oidcBrowser()
	r := do(t, other, req{url: cb})
	errorPage(t, r, http.StatusBadRequest, "not started in this browser", "sso_oidc")

	r = do(t, c, req{url: u.String()})
	errorPage(t, r, http.StatusBadRequest, "not started in this browser")
	if n := e.sessions(t, "corp:alice"); n != 0 {
		t.Errorf("%d sessions of corp:alice after tampered callbacks", n)
	}
}

// TestOIDCProviderDown: a provider that is down when the sign-in starts,
// or when its code is exchanged, gives a 502 page and never a session.
func TestOIDCProviderDown(t *testing.T) {
	e := newOIDCEnv(t)
	c := e.oidcBrowser()
	cb := e.toCallback(t, c, "alice", "alice-idp-pw", appPage)
	e.idp.Stop()
	r := do(t, c, req{url: cb})
	errorPage(t, r, http.StatusBadGateway, providerName+" cannot be reached right now", "127.0.0.1", "connection refused")
	if n := e.sessions(t, "corp:alice"); n != 0 {
		t.Errorf("%d sessions of corp:alice after a failed exchange", n)
	}

	// A hub that has not discovered the provider yet: Start fails.
	down := newOIDCEnv(t)
	down.idp.Stop()
	r = do(t, down.oidcBrowser(), req{url: hub + "/oauth2/start/" + providerID})
	errorPage(t, r, http.StatusBadGateway, providerName+" cannot be reached right now", "127.0.0.1", "discovery")
}

// TestOIDCDenied: a user the allow-list leaves out gets a 403 page saying
// why, and no session; an unknown provider is a 404 page.
func TestOIDCDenied(t *testing.T) {
	e := newOIDCEnv(t)
	c := e.oidcBrowser()
	cb := e.toCallback(t, c, "eve", "eve-idp-pw", appPage)
	r := do(t, c, req{url: cb})
	errorPage(t, r, http.StatusForbidden, "Sign-in with "+providerName+" was refused")
	if n := e.sessions(t, "corp:eve"); n != 0 {
		t.Errorf("%d sessions of corp:eve", n)
	}
	r = do(t, c, req{url: hub + "/oauth2/start/nosuch"})
	errorPage(t, r, http.StatusNotFound, "no such sign-in provider", "nosuch")
	r = do(t, c, req{url: hub + "/oauth2/callback/nosuch?state=x&code=y"})
	errorPage(t, r, http.StatusNotFound, "no such sign-in provider", "nosuch")
}

// TestOIDCOnly: without a users file (and no LDAP) the login page shows the
// providers instead of the password form, and password logins are 404.
func TestOIDCOnly(t *testing.T) {
	e := newOIDCEnv(t, func(o *server.Options) { o.Users = nil })
	c := e.oidcBrowser()
	r := do(t, c, req{url: hub + "/login"})
	expectStatus(t, r, http.StatusOK)
	if body := string(r.body); strings.Contains(body, `id="password"`) || !strings.Contains(body, `id="provider-corp"`) {
		t.Errorf("login page without a password backend: want the button and no password form; got %s", body)
	}
	r = do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: `{"username":"alice","password":"` + password + `"}`})
	expectStatus(t, r, http.StatusNotFound)
	var eb struct{ Error string }
	r.json(t, &eb)
	if eb.Error != "not_found" {
		t.Errorf("POST /api/session without a password backend: error %q, want not_found", eb.Error)
	}
	cb := e.toCallback(t, c, "alice", "alice-idp-pw", "/")
	r = do(t, c, req{url: cb})
	expectStatus(t, r, http.StatusSeeOther)
	a := do(t, c, req{url: "http://api.example.test/auth"})
	expectStatus(t, a, http.StatusOK)
}

// sessions counts the live sessions of user.
func (e *env) sessions(t *testing.T, user string) int {
	t.Helper()
	list, err := e.store.List(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}
