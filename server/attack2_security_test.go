package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestOneFactorSessionCannotChangeFactors: a session from before the user
// enrolled (password only) may look at the account security page but not
// add, remove or renew a factor, whatever the form.
func TestOneFactorSessionCannotChangeFactors(t *testing.T) {
	ev := &events{}
	e := newMFAEnv(t, ev)
	old, _ := e.browser()
	expectStatus(t, sfFormLogin(t, old, "alice"), http.StatusSeeOther)

	b, _ := e.browser()
	expectStatus(t, sfFormLogin(t, b, "alice"), http.StatusSeeOther)
	r := do(t, b, req{url: hub + "/account/security"})
	csrf := find(t, csrfRE, r)
	r = sfPostForm(t, b, "/account/security/totp", url.Values{"csrf_token": {csrf}})
	secret := find(t, secretRE, r)
	r = sfPostForm(t, b, "/account/security/totp/confirm", url.Values{"csrf_token": {csrf}, "code": {e.code(t, secret)}})
	expectStatus(t, r, http.StatusOK)

	r = do(t, old, req{url: hub + "/account/security"})
	expectStatus(t, r, http.StatusOK)
	oldCSRF := find(t, csrfRE, r)
	for _, p := range []string{"/account/security/totp", "/account/security/totp/confirm", "/account/security/totp/remove",
		"/account/security/recovery", "/account/security/passkeys/begin", "/account/security/passkeys/finish", "/account/security/passkeys/remove"} {
		r := do(t, old, req{method: "POST", url: hub + p, body: url.Values{"csrf_token": {oldCSRF}, "code": {e.code(t, secret)}, "id": {"x"}}.Encode(),
			ctype: "application/x-www-form-urlencoded", headers: map[string]string{"X-CSRF-Token": oldCSRF}})
		if r.StatusCode != http.StatusForbidden || !strings.Contains(string(r.body), "second") {
			t.Errorf("%s from a password-only session: %d %s, want 403 second_factor_required", p, r.StatusCode, r.body)
		}
	}
	// The factor is still there.
	r = do(t, b, req{url: hub + "/account/security"})
	if !strings.Contains(string(r.body), "totp/remove") {
		t.Errorf("the authenticator app is gone: %s", r.body)
	}
}

// TestPendingLoginExpires: a login waiting for its second factor ends after
// 5 minutes: the right code then makes no session.
func TestPendingLoginExpires(t *testing.T) {
	ev := &events{}
	e := newMFAEnv(t, ev)
	b, _ := e.browser()
	expectStatus(t, sfFormLogin(t, b, "alice"), http.StatusSeeOther)
	r := do(t, b, req{url: hub + "/account/security"})
	csrf := find(t, csrfRE, r)
	r = sfPostForm(t, b, "/account/security/totp", url.Values{"csrf_token": {csrf}})
	secret := find(t, secretRE, r)
	expectStatus(t, sfPostForm(t, b, "/account/security/totp/confirm", url.Values{"csrf_token": {csrf}, "code": {e.code(t, secret)}}), http.StatusOK)

	c, _ := e.browser()
	r = sfFormLogin(t, c, "alice")
	if !hasSetCookie(r, "sso_pending") {
		t.Fatal("no pending login")
	}
	r = do(t, c, req{url: hub + "/login/factor"})
	tok := find(t, formTokenRE, r)
	e.clock.Advance(5*time.Minute + time.Second)
	r = sfPostForm(t, c, "/login/factor", url.Values{"form_token": {tok}, "code": {e.code(t, secret)}})
	expectStatus(t, r, http.StatusBadRequest)
	noSessionCookie(t, r)
	if n := e.sessions(t, "alice"); n != 1 {
		t.Errorf("%d sessions of alice, want only the first browser's", n)
	}
}
