package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/mfa"
	"github.com/example/sso/server"
)

// TestOIDCLoginNeedsSecondFactor: an OIDC sign-in is a first factor like a
// password: a user who enrolled a second factor, or who is in a required
// group, gets no session from the callback but the second-factor page.
func TestOIDCLoginNeedsSecondFactor(t *testing.T) {
	for _, tc := range []struct {
		name     string
		required []string
		enrol    bool
	}{
		{name: "enrolled", enrol: true},
		{name: "required group", required: []string{"staff"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &events{}
			var (
				m      *mfa.Manager
				secret string
			)
			e := newOIDCEnv(t, withMFA(t, ev, tc.required...), func(o *server.Options) { m = o.MFA })
			if tc.enrol {
				ctx := context.Background()
				en, err := m.BeginTOTP(ctx, "corp:alice", "alice@example.test")
				if err != nil {
					t.Fatal(err)
				}
				if err := m.ConfirmTOTP(ctx, en.ID, "corp:alice", e.code(t, en.Secret)); err != nil {
					t.Fatal(err)
				}
				secret = en.Secret
			}
			c := e.oidcBrowser()
			cb := e.toCallback(t, c, "alice", "alice-idp-pw", appPage)
			r := do(t, c, req{url: cb})
			noSessionCookie(t, r)
			// The page itself, not a redirect: the pending cookie is
			// SameSite=Strict, and this navigation came from the provider.
			expectStatus(t, r, http.StatusOK)
			if body := string(r.body); !strings.Contains(body, `name="form_token"`) || !strings.Contains(body, "corp:alice") {
				t.Errorf("callback: want the second-factor page for corp:alice; got %s", body)
			}
			if tc.required != nil && !strings.Contains(string(r.body), `id="secret"`) {
				t.Errorf("callback of a required-group member without a factor: want the enrolment page; got %s", r.body)
			}
			if !hasSetCookie(r, "sso_pending") {
				t.Error("callback: no pending-login cookie")
			}
			list, err := e.store.List(context.Background(), "corp:alice")
			if err != nil || len(list) != 0 {
				t.Errorf("sessions of corp:alice after the callback: %d, %v; want none", len(list), err)
			}
			if !tc.enrol {
				// A required-group member sets up the app right there.
				sec := find(t, secretRE, r)
				r = sfPostForm(t, c, "/login/factor/enrol", url.Values{"form_token": {find(t, formTokenRE, r)}, "code": {e.code(t, sec)}})
				expectStatus(t, r, http.StatusOK)
				if got := auth(t, c, "?factor=2").Header.Get("X-Auth-AMR"); got != "oidc,otp" {
					t.Errorf("after enrolment: X-Auth-AMR = %q, want oidc,otp", got)
				}
				return
			}
			// The code finishes the sign-in: a session with both factors, on to rd.
			e.clock.Advance(30 * time.Second)
			r = sfPostForm(t, c, "/login/factor", url.Values{"form_token": {find(t, formTokenRE, r)}, "code": {e.code(t, secret)}})
			expectStatus(t, r, http.StatusSeeOther)
			if loc := r.Header.Get("Location"); loc != appPage {
				t.Errorf("after the code: Location = %q, want %q", loc, appPage)
			}
			a := auth(t, c, "?factor=2")
			expectStatus(t, a, http.StatusOK)
			if got := a.Header.Get("X-Auth-AMR"); got != "oidc,otp" {
				t.Errorf("X-Auth-AMR = %q, want oidc,otp", got)
			}
			list, err = e.store.List(context.Background(), "corp:alice")
			if err != nil || len(list) != 1 || list[0].Source != "oidc:corp" || list[0].Email != "alice@example.test" {
				t.Errorf("sessions of corp:alice after the code: %+v, %v; want one of source oidc:corp", list, err)
			}
		})
	}
}
