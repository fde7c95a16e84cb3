package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/example/sso/internal/testldap"
	"github.com/example/sso/login"
	"github.com/example/sso/mfa"
	"github.com/example/sso/server"
)

// TestLDAPLoginInjection: filter metacharacters in the login, through the
// form and the JSON API, with a real password of the directory, match no
// entry: 401, no session, the same answer as a wrong password.
func TestLDAPLoginInjection(t *testing.T) {
	// Regulation off: every attempt reaches the directory.
	e := newLDAPEnv(t, func(o *server.Options) { o.Regulation = server.Regulation{} })
	for _, login := range []string{"*", "al*", "alice)(uid=*", "*)(uid=*))(|(uid=*", "alice)(|(objectClass=*", `alice\00`, "alice\x00", "(uid=alice)", "carol)(!(employeeType=disabled"} {
		for _, pw := range []string{testldap.AlicePassword, testldap.CarolPassword} {
			c, _ := e.browser()
			r := postLogin(t, c, login, pw, "", loginForm(t, c, ""), nil)
			if r.StatusCode != http.StatusUnauthorized {
				t.Errorf("form login %q: %d, want 401", login, r.StatusCode)
			}
			noSessionCookie(t, r)
			body, _ := json.Marshal(map[string]string{"username": login, "password": pw})
			j := do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: string(body)})
			if j.StatusCode != http.StatusUnauthorized {
				t.Errorf("API login %q: %d %s, want 401", login, j.StatusCode, j.body)
			}
		}
	}
	for _, u := range []string{"alice", "carol", "*"} {
		if n := e.sessions(t, u); n != 0 {
			t.Errorf("%d sessions of %s", n, u)
		}
	}
}

// TestLDAPSecondFactor: an LDAP user with a second factor is held after the
// password whatever case the login is typed in (the session's name is the
// directory's, which the second factor is keyed by), and the JSON API
// refuses to mint a session for it.
func TestLDAPSecondFactor(t *testing.T) {
	ev := &events{}
	var m *mfa.Manager
	e := newLDAPEnv(t, withMFA(t, ev), func(o *server.Options) { m = o.MFA })
	ctx := context.Background()
	// An LDAP user's factors are kept under its source-qualified key.
	key := login.MFAUser("alice", "ldap")
	en, err := m.BeginTOTP(ctx, key, "alice@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ConfirmTOTP(ctx, en.ID, key, e.code(t, en.Secret)); err != nil {
		t.Fatal(err)
	}
	for _, login := range []string{"alice", "ALICE", "Alice", " alice"} {
		c, _ := e.browser()
		r := postLogin(t, c, login, testldap.AlicePassword, "", loginForm(t, c, ""), nil)
		noSessionCookie(t, r)
		if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login/factor") {
			t.Errorf("form login %q: %d to %q, want 303 to the second-factor page", login, r.StatusCode, r.Header.Get("Location"))
		}
		body, _ := json.Marshal(map[string]string{"username": login, "password": testldap.AlicePassword})
		j := do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: string(body)})
		if j.StatusCode != http.StatusUnauthorized || !strings.Contains(string(j.body), "second_factor_required") {
			t.Errorf("API login %q: %d %s, want 401 second_factor_required", login, j.StatusCode, j.body)
		}
	}
	if n := e.sessions(t, "alice"); n != 0 {
		t.Errorf("%d sessions of alice", n)
	}
}
