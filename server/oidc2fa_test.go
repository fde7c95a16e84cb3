package server_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/internal/testoidc"
	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/login"
	"github.com/example/sso/mfa"
	"github.com/example/sso/server"
)

// The provider's users for the second step: no user prefix, so that the
// provider's alice has the users file's alice's name.
var idp2FAUsers = []testoidc.User{
	{ID: "u1", Username: "alice", Password: "alice-idp-pw", Email: "alice@example.test", EmailVerified: true, Groups: []string{"staff"}},
	{ID: "u3", Username: "carol", Password: "carol-idp-pw", Email: "carol@example.test", EmailVerified: true, Groups: []string{"ops"}},
	{ID: "u4", Username: "dave", Password: "dave-idp-pw", Email: "dave@example.test", EmailVerified: true, Groups: []string{"staff"}, AMR: []string{"pwd", "mfa"}},
	{ID: "u5", Username: "erin", Password: "erin-idp-pw", Email: "erin@example.test", EmailVerified: true, Groups: []string{"ops"}, AMR: []string{"mfa"}},
	// One factor at the provider, however strong: not MFA.
	{ID: "u6", Username: "frank", Password: "frank-idp-pw", Email: "frank@example.test", EmailVerified: true, Groups: []string{"ops"}, AMR: []string{"hwk"}},
}

type oidc2FAEnv struct {
	*oidcEnv
	mfa *mfa.Manager
	ev  *events
}

// newOIDC2FAEnv: the users file, provider corp without a prefix, second
// factors with "ops" required (the file's alice is in admins, not ops), SSO_MFA_OIDC_AMR as trust says.
func newOIDC2FAEnv(t *testing.T, trust bool, opts ...envOption) *oidc2FAEnv {
	t.Helper()
	e := &oidc2FAEnv{ev: &events{}}
	keep := func(o *server.Options) { e.mfa, o.MFATrustOIDCAMR = o.MFA, trust }
	e.oidcEnv = newOIDCEnvWith(t, idp2FAUsers, "", append([]envOption{withMFA(t, e.ev, "ops"), keep}, opts...)...)
	return e
}

// signIn runs corp's sign-in for user in c and returns the hub's answer to
// the callback.
func (e *oidc2FAEnv) signIn(t *testing.T, c *http.Client, user, rd string) *response {
	t.Helper()
	return do(t, c, req{url: e.toCallback(t, c, user, user+"-idp-pw", rd)})
}

// expectHeld checks that r holds the login for a second factor: a page of
// the hub's that moves on to /login/factor (a redirect would lose the
// SameSite=Strict pending cookie after the provider's cross-site one),
// the pending cookie, no session.
func expectHeld(t *testing.T, r *response) {
	t.Helper()
	expectStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), `content="0;url=/login/factor"`) || !hasSetCookie(r, "sso_pending") {
		t.Fatalf("callback of a user with a second factor: want the page that moves on to /login/factor and a pending cookie; cookies %q, body %s", r.Header.Values("Set-Cookie"), r.body)
	}
	noSessionCookie(t, r)
}

// expectSession checks that r mints a session and goes to rd, and that the
// session's amr at /auth is amr.
func expectSession(t *testing.T, c *http.Client, r *response, rd, amr string) {
	t.Helper()
	expectStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != rd || !hasSetCookie(r, cookieName) {
		t.Fatalf("want a session and Location %q; got Location %q, cookies %q", rd, loc, r.Header.Values("Set-Cookie"))
	}
	a := auth(t, c, "")
	expectStatus(t, a, http.StatusOK)
	if got := a.Header.Get("X-Auth-AMR"); got != amr {
		t.Fatalf("X-Auth-AMR = %q, want %q", got, amr)
	}
}

// enrolTOTPAccount enrols an authenticator app on c's session at the
// account security page and returns its secret.
func (e *oidc2FAEnv) enrolTOTPAccount(t *testing.T, c *http.Client) string {
	t.Helper()
	r := do(t, c, req{url: hub + "/account/security"})
	expectStatus(t, r, http.StatusOK)
	csrf := find(t, csrfRE, r)
	r = sfPostForm(t, c, "/account/security/totp", url.Values{"csrf_token": {csrf}})
	expectStatus(t, r, http.StatusOK)
	secret := find(t, secretRE, r)
	r = sfPostForm(t, c, "/account/security/totp/confirm", url.Values{"csrf_token": {csrf}, "code": {e.code(t, secret)}})
	expectStatus(t, r, http.StatusOK)
	return secret
}

func (e *oidc2FAEnv) enrolled(t *testing.T, key string) bool {
	t.Helper()
	totp, keys, err := e.mfa.Enrolled(context.Background(), key, "")
	if err != nil {
		t.Fatal(err)
	}
	return totp || keys > 0
}

// TestOIDCSecondFactor: a provider's user who enrolled a second factor is
// held after the provider's sign-in and needs the code; the users file's
// user of the same name has factors of their own, which neither lets the
// other skip nor serves the other as a code.
func TestOIDCSecondFactor(t *testing.T) {
	e := newOIDC2FAEnv(t, true)

	// The users file's alice enrols TOTP.
	fb, _ := e.browser()
	expectStatus(t, sfFormLogin(t, fb, "alice"), http.StatusSeeOther)
	fileSecret := e.enrolTOTPAccount(t, fb)
	if !e.enrolled(t, "alice") || e.enrolled(t, "oidc:corp:alice") {
		t.Fatal("the file user's TOTP is not kept under her own key alone")
	}

	// corp's alice is someone else: one factor, as before.
	c := e.oidcBrowser()
	expectSession(t, c, e.signIn(t, c, "alice", appPage), appPage, "oidc")
	expectStatus(t, auth(t, c, "?factor=2"), http.StatusUnauthorized)
	// She enrols her own on the account page (her session steps up).
	e.clock.Advance(30 * time.Second)
	secret := e.enrolTOTPAccount(t, c)
	if !e.enrolled(t, "oidc:corp:alice") {
		t.Fatal("corp's alice enrolled, but not under oidc:corp:alice")
	}
	a := auth(t, c, "?factor=2")
	expectStatus(t, a, http.StatusOK)
	if got := a.Header.Get("X-Auth-AMR"); got != "oidc,otp" {
		t.Fatalf("after enrolment: X-Auth-AMR = %q, want oidc,otp", got)
	}

	// Her next sign-in through corp is held: no session until the code.
	e.clock.Advance(30 * time.Second)
	c2 := e.oidcBrowser()
	expectHeld(t, e.signIn(t, c2, "alice", appPage))
	expectStatus(t, auth(t, c2, ""), http.StatusUnauthorized)
	r := do(t, c2, req{url: hub + "/login/factor"})
	expectStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), "alice") || strings.Contains(string(r.body), "oidc:corp") {
		t.Errorf("the factor page should name alice, not the key: %s", r.body)
	}
	tok := find(t, formTokenRE, r)
	// The file user's code is not hers.
	if fileCode, own := e.code(t, fileSecret), e.code(t, secret); fileCode != own {
		r = sfPostForm(t, c2, "/login/factor", url.Values{"form_token": {tok}, "code": {fileCode}})
		expectStatus(t, r, http.StatusUnauthorized)
		tok = find(t, formTokenRE, r)
		expectStatus(t, auth(t, c2, ""), http.StatusUnauthorized)
	}
	r = sfPostForm(t, c2, "/login/factor", url.Values{"form_token": {tok}, "code": {e.code(t, secret)}})
	expectSession(t, c2, r, appPage, "oidc,otp")
	expectStatus(t, auth(t, c2, "?factor=2&max_age=1m"), http.StatusOK)
	list, err := e.store.List(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	var sources []string
	for _, s := range list {
		sources = append(sources, s.Source)
	}
	if !slices.Contains(sources, "oidc:corp") {
		t.Errorf("sessions of alice have sources %q, want one of oidc:corp", sources)
	}

	// The second-factor events name alice and her source apart.
	e.ev.mu.Lock()
	var seen bool
	for _, ev := range e.ev.list {
		if ev.Kind == login.EventSecondSucceeded && ev.Source == "oidc:corp" {
			seen = ev.User == "alice"
		}
		if strings.Contains(ev.User, ":") {
			t.Errorf("event %s names user %q", ev.Kind, ev.User)
		}
	}
	e.ev.mu.Unlock()
	if !seen {
		t.Error("no second_factor_succeeded event of user alice, source oidc:corp")
	}

	// The users file's alice still needs her own code.
	fb2, _ := e.browser()
	r = sfFormLogin(t, fb2, "alice")
	if r.Header.Get("Location") != "/login/factor" {
		t.Fatalf("the file's alice after corp's alice enrolled: Location %q", r.Header.Get("Location"))
	}
}

// TestOIDCRequiredGroupEnrols: a required-group member signing in through
// the provider with nothing enrolled is led to enrolment; what she enrols
// is hers as the provider's user.
func TestOIDCRequiredGroupEnrols(t *testing.T) {
	e := newOIDC2FAEnv(t, true)
	c := e.oidcBrowser()
	expectHeld(t, e.signIn(t, c, "carol", appPage))
	r := do(t, c, req{url: hub + "/login/factor"})
	expectStatus(t, r, http.StatusOK)
	secret := find(t, secretRE, r)
	tok := find(t, formTokenRE, r)
	r = sfPostForm(t, c, "/login/factor/enrol", url.Values{"form_token": {tok}, "code": {e.code(t, secret)}})
	expectStatus(t, r, http.StatusOK)
	if !hasSetCookie(r, cookieName) || len(codeRE.FindAllSubmatch(r.body, -1)) != mfa.RecoveryCodes {
		t.Fatalf("enrolment at sign-in: cookies %q, body %s", r.Header.Values("Set-Cookie"), r.body)
	}
	a := auth(t, c, "?factor=2")
	expectStatus(t, a, http.StatusOK)
	if got, u := a.Header.Get("X-Auth-AMR"), a.Header.Get("X-Auth-User"); got != "oidc,otp" || u != "carol" {
		t.Fatalf("X-Auth-AMR %q, user %q; want oidc,otp and carol", got, u)
	}
	if !e.enrolled(t, "oidc:corp:carol") || e.enrolled(t, "carol") {
		t.Error("carol's TOTP is not kept under oidc:corp:carol alone")
	}
	// One factor at the provider does not count: frank (ops, amr hwk) is
	// held too, with SSO_MFA_OIDC_AMR on.
	expectHeld(t, e.signIn(t, e.oidcBrowser(), "frank", appPage))
}

// TestOIDCTrustedAMR: with SSO_MFA_OIDC_AMR the provider's amr "mfa"
// stands for the second factor (factors oidc + mfa, no hold, factor=2
// admitted); without it the same users are held like any other.
func TestOIDCTrustedAMR(t *testing.T) {
	on := newOIDC2FAEnv(t, true)
	c := on.oidcBrowser()
	// dave: amr pwd, mfa; enrolled nothing, in no required group.
	expectSession(t, c, on.signIn(t, c, "dave", appPage), appPage, "oidc,mfa")
	expectStatus(t, auth(t, c, "?factor=2"), http.StatusOK)
	list, err := on.store.List(context.Background(), "dave")
	if err != nil || len(list) != 1 {
		t.Fatalf("sessions of dave: %v, %v", list, err)
	}
	f := list[0].Factors
	if len(f) != 2 || f[1].Method != login.AMRFederatedMFA || f[1].At.After(on.clock.Now()) || on.clock.Now().Sub(f[1].At) > time.Minute {
		t.Errorf("dave's factors %+v, want oidc then mfa at the provider's auth_time (at most now)", f)
	}
	// erin: amr mfa, in ops with nothing enrolled: no enrolment asked.
	c = on.oidcBrowser()
	expectSession(t, c, on.signIn(t, c, "erin", appPage), appPage, "oidc,mfa")
	expectStatus(t, auth(t, c, "?factor=2"), http.StatusOK)

	off := newOIDC2FAEnv(t, false)
	c = off.oidcBrowser()
	expectSession(t, c, off.signIn(t, c, "dave", appPage), appPage, "oidc")
	expectStatus(t, auth(t, c, "?factor=2"), http.StatusUnauthorized)
	c = off.oidcBrowser()
	expectHeld(t, off.signIn(t, c, "erin", appPage))
	expectStatus(t, auth(t, c, "?factor=2"), http.StatusUnauthorized)
}

// TestOIDCFailuresAudited: refused and failed callbacks are login_failed
// events with an outcome and the provider, never the provider's text.
func TestOIDCFailuresAudited(t *testing.T) {
	var buf testproc.Buffer
	e := newOIDCEnv(t, jsonLog(&buf))
	c := e.oidcBrowser()

	cb := e.toCallback(t, c, "alice", "alice-idp-pw", appPage)
	u, _ := url.Parse(cb)
	q := u.Query()
	q.Set("state", q.Get("state")+"x")
	u.RawQuery = q.Encode()
	expectStatus(t, do(t, c, req{url: u.String()}), http.StatusBadRequest)

	c = e.oidcBrowser()
	expectStatus(t, do(t, c, req{url: e.toCallback(t, c, "eve", "eve-idp-pw", appPage)}), http.StatusForbidden)

	c = e.oidcBrowser()
	cb = e.toCallback(t, c, "alice", "alice-idp-pw", appPage)
	// A code the provider does not know: its refusal is the callback's fault.
	u, _ = url.Parse(cb)
	q = u.Query()
	q.Set("code", "forged-code")
	u.RawQuery = q.Encode()
	expectStatus(t, do(t, c, req{url: u.String()}), http.StatusBadRequest)

	c = e.oidcBrowser()
	cb = e.toCallback(t, c, "alice", "alice-idp-pw", appPage)
	e.idp.Stop()
	expectStatus(t, do(t, c, req{url: cb}), http.StatusBadGateway)
	expectStatus(t, do(t, c, req{url: hub + "/oauth2/callback/nosuch?state=x&code=y"}), http.StatusNotFound)

	var failed []map[string]any
	for _, ev := range auditEvents(t, &buf) {
		if ev["event"] == "login_failed" {
			failed = append(failed, ev)
		}
	}
	want := []string{"invalid_state", "denied", "invalid_response", "provider_unavailable", "unknown_provider"}
	if len(failed) != len(want) {
		t.Fatalf("login_failed events %v, want outcomes %v", failed, want)
	}
	for i, ev := range failed {
		fields := map[string]any{"outcome": want[i], "via": "oidc", "method": "oidc", "provider": providerID}
		if want[i] == "unknown_provider" {
			delete(fields, "provider")
			checkFields(t, ev, fields, "provider", "user", "err")
			continue
		}
		checkFields(t, ev, fields, "user", "err")
	}
	// The provider's own words stay in the error lines, out of events.
	for _, ev := range failed {
		for k, v := range ev {
			s, _ := v.(string)
			for _, bad := range []string{"127.0.0.1:", "connection refused", "invalid_grant", "forged-code", "nosuch", "groups"} {
				if strings.Contains(s, bad) {
					t.Errorf("login_failed field %s = %q holds %q", k, s, bad)
				}
			}
		}
	}
}
