//go:build e2e

package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/example/sso/internal/testldap"
	"github.com/example/sso/internal/testoidc"
	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/nginx/nginxtest"
)

// The OpenID provider's user, and what sso maps it to (SSO_OIDC_USER_PREFIX
// keeps its names apart from the directory's).
const (
	idpUser     = "carla"
	idpPassword = "carla-idp-password"
	idpEmail    = "carla@example.test"
	idpGroups   = "staff,ops"
	oidcUser    = "corp:" + idpUser
	oidcID      = "corp"
	oidcName    = "Corp IdP"
)

// federatedStack is nginx in front of an sso whose password backend is a
// real slapd (testldap) and which offers a real OpenID provider (testoidc,
// the zitadel/oidc example server) beside it, and of the demo API.
type federatedStack struct {
	*stack
	idp *testoidc.Server
	dir *testldap.Server
}

func startFederatedStack(t *testing.T, env ...string) *federatedStack {
	t.Helper()
	begin := time.Now()
	ssoBin, apiBin := testproc.Build(t, "./cmd/sso"), testproc.Build(t, "./cmd/demoapi")
	port := testproc.FreePort(t)
	s := &stack{port: port, procs: map[string]*testproc.Proc{}}
	dir := testldap.Start(t)
	idp := testoidc.Start(t, testoidc.Options{
		Users: []testoidc.User{{ID: "u-carla", Username: idpUser, Password: idpPassword, Email: idpEmail, EmailVerified: true,
			Groups: strings.Split(idpGroups, ",")}},
		RedirectURIs: []string{s.url("login", "/oauth2/callback/"+oidcID)},
	})
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	apiProc := s.startProcess(t, "demoapi", apiBin, []string{"DEMOAPI_LISTEN=127.0.0.1:0"})
	ssoProc := s.startProcess(t, "sso", ssoBin, append([]string{
		"SSO_LISTEN=127.0.0.1:0",
		"SSO_COOKIE_DOMAINS=" + domain,
		"SSO_COOKIE_SECURE=true",
		"SSO_LOGIN_URL=" + s.origin("login"),
		"SSO_SECRET_KEYS=" + base64.StdEncoding.EncodeToString(key),
		"SSO_CORS_ORIGINS=" + s.origin("app") + "," + s.origin("login"),
		"SSO_LOGIN_ORIGINS=" + s.origin("app"),
		"SSO_TRUSTED_PROXIES=127.0.0.1/32",
		// The directory, under the contract's name of the setting.
		"SSO_LDAP_URL=" + dir.URL,
		"SSO_LDAP_BASE_DN=" + testldap.BaseDN,
		"SSO_LDAP_USERS_FILTER=" + testldap.DisabledFilter,
		"SSO_LDAP_USER=" + testldap.ServiceDN,
		"SSO_LDAP_PASSWORD=" + testldap.ServicePW,
		// The provider; its ID token carries only sub (the claims come
		// from userinfo).
		"SSO_OIDC_ID=" + oidcID,
		"SSO_OIDC_NAME=" + oidcName,
		"SSO_OIDC_ISSUER=" + idp.Issuer,
		"SSO_OIDC_CLIENT_ID=" + testoidc.ClientUserinfo,
		"SSO_OIDC_CLIENT_SECRET=" + testoidc.Secret,
		"SSO_OIDC_ALLOWED_EMAIL_DOMAINS=" + domain,
		"SSO_OIDC_USER_PREFIX=corp:",
		"SSO_LOG_LEVEL=info",
	}, env...))
	apiAddr, ssoAddr := s.waitListening(t, apiProc), s.waitListening(t, ssoProc)
	s.api = startRecorder(t, apiAddr)

	appPage, err := os.ReadFile(filepath.Join("..", "deploy", "app", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	web := t.TempDir()
	writeFile(t, filepath.Join(web, "app", "index.html"), string(appPage))
	s.nginx = nginxtest.Start(t, nginxtest.Options{
		Vars: map[string]string{
			"SSO_UPSTREAM": ssoAddr,
			"API_UPSTREAM": s.api.addr,
			"HTTPS_PORT":   strconv.Itoa(port),
			"APP_ROOT":     filepath.Join(web, "app"),
		},
		Hosts: []string{domain, "*." + domain},
	})
	s.caFile = filepath.Join(s.nginx.Dir, "tls", "ca.pem")
	s.spki = leafSPKIHash(t, s.nginx.TLS.CertPEM)
	t.Logf("federated stack up in %v: nginx https on %d, sso %s, provider %s, slapd %s",
		time.Since(begin).Round(time.Millisecond), port, ssoAddr, idp.Issuer, dir.URL)
	return &federatedStack{stack: s, idp: idp, dir: dir}
}

// TestOIDCAndLDAPBrowser signs in through the real OpenID provider's own
// login page and through the LDAP-backed password form, each in a fresh
// browser context of one Chromium; the session cookie then works on api.
// as a users-file session does, with the groups the provider or the
// directory gave.
func TestOIDCAndLDAPBrowser(t *testing.T) {
	chromiumPath(t) // skip before building anything when there is no browser
	st := startFederatedStack(t)
	st.chrome = startChromium(t, st.stack)

	t.Run("OIDCLoginThroughProviderPage", func(t *testing.T) { testOIDCLogin(t, st) })
	t.Run("LDAPPasswordForm", func(t *testing.T) { testLDAPLogin(t, st) })
}

// toLoginPage opens the app, follows its redirect to the hub's login page
// and checks that rd leads back.
func toLoginPage(tb *tab) {
	tb.b.t.Helper()
	st := tb.b.st
	tb.navigate(st.url("app", "/"))
	p := tb.waitPage("redirect from the app to the login hub", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, st.url("login", "/login")) && p.Ready == "complete"
	})
	if !strings.Contains(p.URL, "rd=") {
		tb.fatalf("login page %s has no rd: the login would not lead back to the app", p.URL)
	}
}

// backOnApp waits for the app page after a login and its /me answer.
func backOnApp(tb *tab) {
	tb.b.t.Helper()
	st := tb.b.st
	p := tb.waitPage("back on the app after login, /me answered", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, st.origin("app")+"/") && p.State != "" && p.State != "loading"
	})
	if p.State != "ready" {
		tb.fatalf("app page after login: data-state = %q, want ready (status %q, url %s); documents:\n%s",
			p.State, tb.text("status"), p.URL, tb.documentLog())
	}
}

// sessionCookieSet checks that the browser holds the session cookie for
// api.; the app's fetch to /me only answered because it did.
func sessionCookieSet(tb *tab) {
	tb.b.t.Helper()
	st := tb.b.st
	for _, c := range tb.cookies(st.url("api", "/me")) {
		if c.Name == cookieName && c.Domain == "."+domain && c.Secure && c.HTTPOnly {
			return
		}
	}
	tb.fatalf("no Secure HttpOnly %s cookie for .%s reaches api.; the browser has %v", cookieName, domain, cookieNames(tb.allCookies()))
}

// apiSawGroups reports whether the upstream got GET /me from the app as
// user with exactly groups in X-Auth-Groups.
func apiSawGroups(reqs []apiRequest, st *stack, user, groups string) bool {
	for _, r := range reqs {
		if r.Method == "GET" && r.Path == "/me" && r.Origin == st.origin("app") && r.User == user && r.Groups == groups {
			return true
		}
	}
	return false
}

// OIDC: the login page's provider button → the provider's own login page
// (its form, filled in as a person would) → the hub's callback → the app,
// with the session cookie; the API's upstream sees the mapped user and the
// provider's groups.
func testOIDCLogin(t *testing.T, fs *federatedStack) {
	st := fs.stack
	tb := newBrowser(t, st)
	mark := st.api.mark()
	toLoginPage(tb)
	tb.do("click the provider's button", stepTimeout, chromedp.Click(chromedp.ID("provider-"+oidcID)))
	tb.waitPage("the provider's own login page", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, fs.idp.Issuer) && p.Ready == "complete"
	})
	tb.do("fill in and submit the provider's login form", stepTimeout,
		chromedp.SendKeys(chromedp.ID("username"), idpUser),
		chromedp.SendKeys(chromedp.ID("password"), idpPassword),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
	)
	backOnApp(tb)
	sessionCookieSet(tb)
	if got := tb.text("user"); got != oidcUser {
		tb.errorf("#user = %q, want %q", got, oidcUser)
	}
	if got := tb.text("email"); !strings.Contains(got, idpEmail) {
		tb.errorf("#email = %q, want it to contain %q", got, idpEmail)
	}
	if !apiSawGroups(st.api.since(mark), st, oidcUser, idpGroups) {
		tb.errorf("the API never saw GET /me as %s with X-Auth-Groups %q; it saw %v", oidcUser, idpGroups, st.api.since(mark))
	}
}

// LDAP: the hub's password form, checked against slapd → the app, with the
// session cookie; the upstream sees the directory's groups.
func testLDAPLogin(t *testing.T, fs *federatedStack) {
	st := fs.stack
	tb := newBrowser(t, st)
	mark := st.api.mark()
	toLoginPage(tb)
	tb.do("fill in and submit the password form", stepTimeout,
		chromedp.SendKeys(chromedp.ID("username"), "alice"),
		chromedp.SendKeys(chromedp.ID("password"), testldap.AlicePassword),
		chromedp.Click(chromedp.ID("submit")),
	)
	backOnApp(tb)
	sessionCookieSet(tb)
	if got := tb.text("user"); got != "alice" {
		tb.errorf("#user = %q, want alice", got)
	}
	if !apiSawGroups(st.api.since(mark), st, "alice", "admins,dev") {
		tb.errorf("the API never saw GET /me as alice with X-Auth-Groups admins,dev; it saw %v", st.api.since(mark))
	}
}
