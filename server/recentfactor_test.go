package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestFactorChangesNeedRecentSecond: a session that passed its second
// factor long ago (a stolen cookie, hours later) may look at the account
// security page but not change factors: every change is refused until
// the step-up link confirms the factor again; then they work.
func TestFactorChangesNeedRecentSecond(t *testing.T) {
	ev := &events{}
	e := newMFAEnv(t, ev)
	b, _ := e.browser()
	expectStatus(t, sfFormLogin(t, b, "alice"), http.StatusSeeOther)
	r := do(t, b, req{url: hub + "/account/security"})
	csrf := find(t, csrfRE, r)
	r = sfPostForm(t, b, "/account/security/totp", url.Values{"csrf_token": {csrf}})
	secret := find(t, secretRE, r)
	expectStatus(t, sfPostForm(t, b, "/account/security/totp/confirm", url.Values{"csrf_token": {csrf}, "code": {e.code(t, secret)}}), http.StatusOK)

	// Within 10 minutes of the factor: changes pass (new recovery codes).
	e.clock.Advance(9 * time.Minute)
	r = do(t, b, req{url: hub + "/account/security"})
	if strings.Contains(string(r.body), `id="stepup-needed"`) {
		t.Fatal("a session with a factor 9 minutes old is asked to step up")
	}
	csrf = find(t, csrfRE, r)
	r = sfPostForm(t, b, "/account/security/recovery", url.Values{"csrf_token": {csrf}})
	expectStatus(t, r, http.StatusOK)
	if n := len(codeRE.FindAllSubmatch(r.body, -1)); n == 0 {
		t.Fatalf("no recovery codes within 10 minutes: %s", r.body)
	}

	// Hours later the same session still works for /auth ...
	for range 10 {
		e.clock.Advance(48 * time.Minute) // under the idle timeout (1h): 8 hours in all
		expectStatus(t, auth(t, b, ""), http.StatusOK)
	}
	// ... and sees the page with the step-up link back to it ...
	r = do(t, b, req{url: hub + "/account/security"})
	expectStatus(t, r, http.StatusOK)
	wantLink := `href="/login/factor?rd=` + url.QueryEscape("/account/security") + `"`
	if !strings.Contains(string(r.body), `id="stepup-needed"`) || !strings.Contains(string(r.body), wantLink) {
		t.Fatalf("no step-up link (%s) on the page of a session whose factor is 8 hours old: %s", wantLink, r.body)
	}
	csrf = find(t, csrfRE, r)
	// ... but changes nothing.
	for _, p := range []string{"/account/security/totp", "/account/security/totp/confirm", "/account/security/totp/remove",
		"/account/security/recovery", "/account/security/passkeys/begin", "/account/security/passkeys/finish",
		"/account/security/passkeys/remove", "/account/security/passkeys/passwordless"} {
		r := do(t, b, req{method: "POST", url: hub + p, body: url.Values{"csrf_token": {csrf}, "code": {e.code(t, secret)}, "id": {"x"}, "on": {"1"}}.Encode(),
			ctype: "application/x-www-form-urlencoded", headers: map[string]string{"X-CSRF-Token": csrf}})
		if r.StatusCode != http.StatusForbidden || !strings.Contains(string(r.body), "second_factor_required") {
			t.Errorf("%s with a factor 8 hours old: %d %s, want 403 second_factor_required", p, r.StatusCode, r.body)
		}
		if len(codeRE.FindAllSubmatch(r.body, -1)) > 0 {
			t.Errorf("%s with a factor 8 hours old showed recovery codes", p)
		}
	}
	r = do(t, b, req{url: hub + "/account/security"})
	if !strings.Contains(string(r.body), "totp/remove") {
		t.Fatal("the authenticator app is gone")
	}

	// The step-up link: a fresh code, then the change passes.
	r = do(t, b, req{url: hub + "/login/factor?rd=" + url.QueryEscape("/account/security")})
	expectStatus(t, r, http.StatusOK)
	r = sfPostForm(t, b, "/login/factor", url.Values{"form_token": {find(t, formTokenRE, r)}, "code": {e.code(t, secret)}, "rd": {"/account/security"}})
	expectStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/account/security" {
		t.Fatalf("step-up went to %q, want /account/security", loc)
	}
	r = do(t, b, req{url: hub + "/account/security"})
	if strings.Contains(string(r.body), `id="stepup-needed"`) {
		t.Fatal("still asked to step up after confirming the factor")
	}
	r = sfPostForm(t, b, "/account/security/recovery", url.Values{"csrf_token": {find(t, csrfRE, r)}})
	expectStatus(t, r, http.StatusOK)
	if n := len(codeRE.FindAllSubmatch(r.body, -1)); n == 0 {
		t.Fatalf("no recovery codes after the step-up: %s", r.body)
	}
}
