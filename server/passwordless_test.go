package server_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/example/sso/internal/softauthn"
	"github.com/example/sso/login"
	"github.com/example/sso/server"
	"github.com/example/sso/users"
)

// switchedUsers is the users file with some users disabled at will, as a
// reload of the file would.
type switchedUsers struct {
	server.Users
	mu       sync.Mutex
	disabled map[string]bool
}

func (g *switchedUsers) Lookup(name string) (users.User, bool) {
	u, ok := g.Users.Lookup(name)
	g.mu.Lock()
	defer g.mu.Unlock()
	u.Disabled = u.Disabled || g.disabled[name]
	return u, ok
}

func (g *switchedUsers) disable(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.disabled[name] = true
}

var (
	loginTokenRE = regexp.MustCompile(`id="passkey-login"[^>]* data-token="([^"]+)"`)
	credIDRE     = regexp.MustCompile(`class="passwordless" data-id="([^"]+)"`)
)

// jsonCreation decodes registration options as the browser gets them.
func jsonCreation(t *testing.T, r *response) *protocol.CredentialCreation {
	t.Helper()
	var creation protocol.CredentialCreation
	r.json(t, &creation)
	if id, ok := creation.Response.User.ID.(string); ok {
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil {
			t.Fatal(err)
		}
		creation.Response.User.ID = protocol.URLEncodedBase64(raw)
	}
	return &creation
}

// passkeySignIn runs the login page's passwordless sign-in with a in a
// fresh browser and returns the browser and the finish answer.
func passkeySignIn(t *testing.T, e *env, a *softauthn.Authenticator, rd string) (*http.Client, *response) {
	t.Helper()
	// One ceremony per two seconds per address after a burst of ten
	// (TestPasswordlessBeginLimited): these sign-ins come at that pace.
	e.clock.Advance(2 * time.Second)
	b, _ := e.browser()
	r := do(t, b, req{url: hub + "/login"})
	expectStatus(t, r, http.StatusOK)
	tok := find(t, loginTokenRE, r)
	r = do(t, b, req{method: "POST", url: hub + "/login/passkey/begin", headers: map[string]string{"X-SSO-Form-Token": tok}})
	expectStatus(t, r, http.StatusOK)
	var assertion protocol.CredentialAssertion
	r.json(t, &assertion)
	if n := len(assertion.Response.AllowedCredentials); n != 0 || assertion.Response.UserVerification != protocol.VerificationRequired {
		t.Fatalf("discoverable options: %d allowed credentials, userVerification %q; want none, required", n, assertion.Response.UserVerification)
	}
	body, err := a.Assert(&assertion)
	if err != nil {
		t.Fatal(err)
	}
	u := hub + "/login/passkey/finish"
	if rd != "" {
		u += "?rd=" + url.QueryEscape(rd)
	}
	return b, do(t, b, req{method: "POST", url: u, body: string(body), headers: map[string]string{"X-SSO-Form-Token": tok}})
}

// TestPasswordlessSignIn: alice registers a passwordless passkey on the
// account security page; a fresh browser signs in with it alone, and the
// session passes factor=2; the ceremony is single-use; unmarking it, or
// disabling alice in the users file, refuses it; failures count against
// the client address until it is banned.
func TestPasswordlessSignIn(t *testing.T) {
	ev := &events{}
	gate := &switchedUsers{disabled: map[string]bool{}}
	e := newEnv(t, withMFA(t, ev), func(o *server.Options) { gate.Users = o.Users; o.Users = gate })
	soft := softauthn.New(hub)

	b, _ := e.browser()
	sfFormLogin(t, b, "alice")
	r := do(t, b, req{url: hub + "/account/security"})
	expectStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), `id="passkey-register-passwordless"`) {
		t.Fatalf("security page offers no passwordless passkey: %s", r.body)
	}
	csrf := find(t, csrfRE, r)
	r = do(t, b, req{method: "POST", url: hub + "/account/security/passkeys/begin?passwordless=1", headers: map[string]string{"X-CSRF-Token": csrf}})
	expectStatus(t, r, http.StatusOK)
	creation := jsonCreation(t, r)
	if sel := creation.Response.AuthenticatorSelection; sel.ResidentKey != protocol.ResidentKeyRequirementRequired || sel.UserVerification != protocol.VerificationRequired {
		t.Fatalf("passwordless registration asks residentKey %q, userVerification %q", sel.ResidentKey, sel.UserVerification)
	}
	body, err := soft.Register(creation)
	if err != nil {
		t.Fatal(err)
	}
	r = do(t, b, req{method: "POST", url: hub + "/account/security/passkeys/finish?name=phone", body: string(body), headers: map[string]string{"X-CSRF-Token": csrf}})
	expectStatus(t, r, http.StatusOK)

	// The login page offers it, with the script the page's CSP allows.
	b2, _ := e.browser()
	r = do(t, b2, req{url: hub + "/login"})
	if !strings.Contains(string(r.body), "Sign in with a passkey") || !strings.Contains(r.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("login page: no passkey button or script: %s", r.body)
	}
	// Without the page's token: refused before any ceremony.
	expectStatus(t, do(t, b2, req{method: "POST", url: hub + "/login/passkey/begin"}), http.StatusForbidden)

	b3, r := passkeySignIn(t, e, soft, "https://app.example.test/x")
	expectStatus(t, r, http.StatusOK)
	var out struct{ Redirect string }
	r.json(t, &out)
	if out.Redirect != "https://app.example.test/x" || !hasSetCookie(r, cookieName) {
		t.Fatalf("passwordless sign-in: %s, cookies %q", r.body, r.Header.Values("Set-Cookie"))
	}
	r = auth(t, b3, "?factor=2&max_age=1m")
	expectStatus(t, r, http.StatusOK)
	if got, user := r.Header.Get("X-Auth-AMR"), r.Header.Get("X-Auth-User"); got != "user,hwk" || user != "alice" {
		t.Fatalf("X-Auth-AMR %q, X-Auth-User %q; want user,hwk and alice", got, user)
	}

	// The security page lets a passwordless session change things, and
	// shows the passkey as passwordless.
	r = do(t, b3, req{url: hub + "/account/security"})
	expectStatus(t, r, http.StatusOK)
	if strings.Contains(string(r.body), `id="stepup-needed"`) {
		t.Fatal("a passwordless session is asked to step up on the security page")
	}
	credID := find(t, credIDRE, r)
	csrf = find(t, csrfRE, r)
	// Unmarked, it no longer signs in alone (a 401, counted: 1).
	r = sfPostForm(t, b3, "/account/security/passkeys/passwordless", url.Values{"csrf_token": {csrf}, "id": {credID}, "on": {"0"}})
	expectStatus(t, r, http.StatusSeeOther)
	_, r = passkeySignIn(t, e, soft, "")
	expectStatus(t, r, http.StatusUnauthorized)
	if hasSetCookie(r, cookieName) {
		t.Fatal("a refused passkey set a session cookie")
	}
	r = sfPostForm(t, b3, "/account/security/passkeys/passwordless", url.Values{"csrf_token": {csrf}, "id": {credID}, "on": {"1"}})
	expectStatus(t, r, http.StatusSeeOther)
	_, r = passkeySignIn(t, e, soft, "")
	expectStatus(t, r, http.StatusOK)
	// Without the CSRF token the mark is refused.
	expectStatus(t, sfPostForm(t, b3, "/account/security/passkeys/passwordless", url.Values{"id": {credID}, "on": {"0"}}), http.StatusForbidden)

	// A disabled user is refused (counted: 2), and gets no session.
	gate.disable("alice")
	_, r = passkeySignIn(t, e, soft, "")
	expectStatus(t, r, http.StatusUnauthorized)
	if hasSetCookie(r, cookieName) {
		t.Fatal("a disabled user's passkey set a session cookie")
	}
	var fails, wins int
	for _, x := range ev.list {
		if x.Detail == login.DetailPasswordless {
			switch x.Kind {
			case login.EventFailed:
				fails++
			case login.EventSucceeded:
				wins++
			}
		}
	}
	if fails != 2 || wins != 2 {
		t.Errorf("passwordless events: %d failed, %d succeeded; want 2, 2", fails, wins)
	}

	// Failures count against the client address: MaxRetries (3) ×
	// IPFactor (4) in all, then 429 before any check.
	for i := fails; i < 3*server.IPFactor; i++ {
		_, r = passkeySignIn(t, e, soft, "")
		expectStatus(t, r, http.StatusUnauthorized)
	}
	_, r = passkeySignIn(t, e, soft, "")
	expectStatus(t, r, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

// TestPasswordlessNotForLDAP: with an LDAP password backend (or none) the
// hub does not offer passwordless sign-in.
func TestPasswordlessNotForLDAP(t *testing.T) {
	ev := &events{}
	e := newEnv(t, withMFA(t, ev), func(o *server.Options) {
		o.Password = login.Password{Checker: login.Users(o.Users), Source: "ldap"}
	})
	b, _ := e.browser()
	r := do(t, b, req{url: hub + "/login"})
	expectStatus(t, r, http.StatusOK)
	if strings.Contains(string(r.body), "passkey-login") {
		t.Fatal("the login page offers passwordless sign-in with an LDAP backend")
	}
	expectStatus(t, do(t, b, req{method: "POST", url: hub + "/login/passkey/begin"}), http.StatusNotFound)
	if !slices.Contains([]int{http.StatusNotFound}, do(t, b, req{method: "POST", url: hub + "/account/security/passkeys/passwordless"}).StatusCode) {
		t.Error("the mark route exists with an LDAP backend")
	}
}

// Starting passwordless sign-ins stores a ceremony each: one address gets
// a burst of ten, then one every two seconds (429 with Retry-After).
func TestPasswordlessBeginLimited(t *testing.T) {
	e := newMFAEnv(t, &events{})
	b, _ := e.browser()
	r := do(t, b, req{url: hub + "/login"})
	expectStatus(t, r, http.StatusOK)
	h := map[string]string{"X-SSO-Form-Token": find(t, loginTokenRE, r)}
	begin := func() *response {
		return do(t, b, req{method: "POST", url: hub + "/login/passkey/begin", headers: h})
	}
	for i := range 10 {
		if r := begin(); r.StatusCode != http.StatusOK {
			t.Fatalf("begin %d: %d, want 200", i+1, r.StatusCode)
		}
	}
	r = begin()
	expectStatus(t, r, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "too_many_attempts") {
		t.Fatalf("11th begin: Retry-After %q, body %s", r.Header.Get("Retry-After"), r.body)
	}
	e.clock.Advance(2 * time.Second)
	expectStatus(t, begin(), http.StatusOK)
	expectStatus(t, begin(), http.StatusTooManyRequests)
}
