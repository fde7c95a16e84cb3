package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/example/sso/internal/softauthn"
)

var revokeOthersRE = regexp.MustCompile(`action="/account/sessions/revoke-others" id="revoke-others">\s*<input type="hidden" name="csrf_token" value="([^"]+)"`)

// TestFirstFactorOffersSignOutOthers: after a user's first second factor
// (an authenticator app on the account page, at a required-group sign-in,
// or a first passkey) the result page offers to sign out the sessions from
// before it, which otherwise keep working; it does so through the account
// form. Later changes (new recovery codes) do not offer it.
func TestFirstFactorOffersSignOutOthers(t *testing.T) {
	t.Run("authenticator app", func(t *testing.T) {
		e := newMFAEnv(t, &events{})
		old, _ := e.browser()
		expectStatus(t, sfFormLogin(t, old, "alice"), http.StatusSeeOther)
		b, _ := e.browser()
		expectStatus(t, sfFormLogin(t, b, "alice"), http.StatusSeeOther)
		r := do(t, b, req{url: hub + "/account/security"})
		if revokeOthersRE.Match(r.body) {
			t.Fatal("the security page offers to sign out others before any factor")
		}
		csrf := find(t, csrfRE, r)
		r = sfPostForm(t, b, "/account/security/totp", url.Values{"csrf_token": {csrf}})
		secret := find(t, secretRE, r)
		r = sfPostForm(t, b, "/account/security/totp/confirm", url.Values{"csrf_token": {csrf}, "code": {e.code(t, secret)}})
		expectStatus(t, r, http.StatusOK)
		if len(codeRE.FindAllSubmatch(r.body, -1)) == 0 {
			t.Fatalf("no recovery codes: %s", r.body)
		}
		tok := find(t, revokeOthersRE, r)
		// Sessions from before the factor still work until signed out.
		expectStatus(t, auth(t, old, ""), http.StatusOK)
		r = sfPostForm(t, b, "/account/sessions/revoke-others", url.Values{"csrf_token": {tok}})
		expectStatus(t, r, http.StatusSeeOther)
		expectStatus(t, auth(t, old, ""), http.StatusUnauthorized)
		expectStatus(t, auth(t, b, "?factor=2"), http.StatusOK)

		// New recovery codes later: no such offer.
		r = do(t, b, req{url: hub + "/account/security"})
		r = sfPostForm(t, b, "/account/security/recovery", url.Values{"csrf_token": {find(t, csrfRE, r)}})
		expectStatus(t, r, http.StatusOK)
		if revokeOthersRE.Match(r.body) || strings.Contains(string(r.body), "revoke-others") {
			t.Fatal("new recovery codes offer to sign out others")
		}
	})

	t.Run("required group at sign-in", func(t *testing.T) {
		e := newMFAEnv(t, &events{}, "admins")
		b, _ := e.browser()
		sfFormLogin(t, b, "alice")
		r := do(t, b, req{url: hub + "/login/factor"})
		secret := find(t, secretRE, r)
		r = sfPostForm(t, b, "/login/factor/enrol", url.Values{"form_token": {find(t, formTokenRE, r)}, "code": {e.code(t, secret)}})
		expectStatus(t, r, http.StatusOK)
		tok := find(t, revokeOthersRE, r)
		r = sfPostForm(t, b, "/account/sessions/revoke-others", url.Values{"csrf_token": {tok}})
		expectStatus(t, r, http.StatusSeeOther) // the token is the new session's
		expectStatus(t, auth(t, b, "?factor=2"), http.StatusOK)
	})

	t.Run("first passkey", func(t *testing.T) {
		e := newMFAEnv(t, &events{})
		b, _ := e.browser()
		sfFormLogin(t, b, "alice")
		soft := softauthn.New(hub)
		register := func(soft *softauthn.Authenticator) string {
			t.Helper()
			r := do(t, b, req{url: hub + "/account/security"})
			hdr := map[string]string{"X-CSRF-Token": find(t, csrfRE, r)}
			r = do(t, b, req{method: "POST", url: hub + "/account/security/passkeys/begin", headers: hdr})
			expectStatus(t, r, http.StatusOK)
			body, err := soft.Register(jsonCreation(t, r))
			if err != nil {
				t.Fatal(err)
			}
			r = do(t, b, req{method: "POST", url: hub + "/account/security/passkeys/finish?name=k", body: string(body), headers: hdr})
			expectStatus(t, r, http.StatusOK)
			var out struct{ Redirect string }
			r.json(t, &out)
			return out.Redirect
		}
		next := register(soft)
		r := do(t, b, req{url: hub + next})
		expectStatus(t, r, http.StatusOK)
		find(t, revokeOthersRE, r)
		// A second passkey is no first factor (its session steps up first).
		r = do(t, b, req{url: hub + "/login/factor"})
		tok := find(t, regexp.MustCompile(`data-token="([^"]+)"`), r)
		fh := map[string]string{"X-SSO-Form-Token": tok}
		r = do(t, b, req{method: "POST", url: hub + "/login/factor/passkey/begin", headers: fh})
		expectStatus(t, r, http.StatusOK)
		body, err := soft.Assert(jsonAssertion(t, r))
		if err != nil {
			t.Fatal(err)
		}
		expectStatus(t, do(t, b, req{method: "POST", url: hub + "/login/factor/passkey/finish", body: string(body), headers: fh}), http.StatusOK)
		next = register(softauthn.New(hub)) // another device
		r = do(t, b, req{url: hub + next})
		if revokeOthersRE.Match(r.body) {
			t.Fatalf("a second passkey (%s) offers to sign out others", next)
		}
	})
}

func jsonAssertion(t *testing.T, r *response) *protocol.CredentialAssertion {
	t.Helper()
	var a protocol.CredentialAssertion
	r.json(t, &a)
	return &a
}
