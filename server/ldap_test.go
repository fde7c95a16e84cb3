package server_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sso/internal/testldap"
	"github.com/example/sso/ldapusers"
	"github.com/example/sso/login"
	"github.com/example/sso/server"
	"github.com/example/sso/session"
)

// ldapEnv is a hub whose password backend is a real slapd (testldap:
// alice, bob, disabled carol), with login regulation on.
type ldapEnv struct {
	*env
	dir    *testldap.Server
	mu     sync.Mutex
	events []login.Event
}

func newLDAPEnv(t *testing.T, opts ...envOption) *ldapEnv {
	t.Helper()
	s := testldap.Start(t)
	d, err := ldapusers.New(ldapusers.Config{
		Address: s.URL, BaseDN: testldap.BaseDN, AdditionalUsersDN: "ou=people", UsersFilter: testldap.DisabledFilter,
		AdditionalGroupsDN: "ou=groups", User: testldap.ServiceDN, Password: testldap.ServicePW, Timeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	le := &ldapEnv{dir: s}
	le.env = newEnv(t, append([]envOption{func(o *server.Options) {
		o.Users = nil
		o.Password = login.Password{Checker: d, Source: "ldap"}
		o.Regulation = server.Regulation{MaxRetries: 3, FindTime: time.Minute, BanTime: time.Minute}
		o.Limiter = o.Store.(session.Limiter)
		o.LoginObserver = login.ObserverFunc(func(_ context.Context, ev login.Event) {
			le.mu.Lock()
			le.events = append(le.events, ev)
			le.mu.Unlock()
		})
	}}, opts...)...)
	return le
}

func (e *ldapEnv) count(kind login.EventKind) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.events {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// TestLDAPPasswordLogin: the password form signs alice in against the
// directory; the session is an LDAP one with the directory's groups.
func TestLDAPPasswordLogin(t *testing.T) {
	e := newLDAPEnv(t)
	c, _ := e.browser()
	tok := loginForm(t, c, appPage)
	r := postLogin(t, c, "alice", testldap.AlicePassword, appPage, tok, nil)
	expectStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != appPage {
		t.Errorf("Location = %q, want %q", loc, appPage)
	}
	a := do(t, c, req{url: "http://api.example.test/auth"})
	expectStatus(t, a, http.StatusOK)
	if u, g := a.Header.Get("X-Auth-User"), a.Header.Get("X-Auth-Groups"); u != "alice" || !slices.Equal(strings.Split(g, ","), []string{"admins", "dev"}) {
		t.Errorf("/auth: user %q groups %q, want alice admins,dev", u, g)
	}
	list, err := e.store.List(context.Background(), "alice")
	if err != nil || len(list) != 1 || list[0].Source != "ldap" || !slices.Equal(list[0].AMR(), []string{"pwd"}) {
		t.Fatalf("alice's sessions: %v (%v), want one of source ldap, amr pwd", list, err)
	}
	// The JSON API too.
	b := do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: `{"username":"bob","password":"` + testldap.BobPassword + `"}`})
	expectStatus(t, b, http.StatusCreated)
}

// TestLDAPDisabledRefused: carol, disabled in the directory, is refused
// with her right password, exactly as a wrong password is.
func TestLDAPDisabledRefused(t *testing.T) {
	e := newLDAPEnv(t)
	c, _ := e.browser()
	r := postLogin(t, c, "carol", testldap.CarolPassword, "", loginForm(t, c, ""), nil)
	expectStatus(t, r, http.StatusUnauthorized)
	if !strings.Contains(string(r.body), "Invalid username or password.") {
		t.Errorf("carol's login page: %s", r.body)
	}
	noSessionCookie(t, r)
	j := do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: `{"username":"carol","password":"` + testldap.CarolPassword + `"}`})
	expectStatus(t, j, http.StatusUnauthorized)
	if e.sessions(t, "carol") != 0 {
		t.Error("carol has a session")
	}
}

// TestLDAPDown: with the directory down, logins are 503 (page and JSON
// "unavailable"), no session, and no failure is counted: more outages than
// MaxRetries ban nobody, and alice signs in once it is back.
func TestLDAPDown(t *testing.T) {
	e := newLDAPEnv(t)
	e.dir.Kill()
	c, _ := e.browser()
	for range 5 { // more than MaxRetries (3)
		r := postLogin(t, c, "alice", testldap.AlicePassword, "", loginForm(t, c, ""), nil)
		expectStatus(t, r, http.StatusServiceUnavailable)
		if !strings.Contains(string(r.body), "Signing in is not possible right now") || strings.Contains(string(r.body), "127.0.0.1") {
			t.Errorf("503 page: %s", r.body)
		}
		noSessionCookie(t, r)
		j := do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: `{"username":"alice","password":"` + testldap.AlicePassword + `"}`})
		expectStatus(t, j, http.StatusServiceUnavailable)
		var eb struct{ Error string }
		j.json(t, &eb)
		if eb.Error != "unavailable" {
			t.Errorf("POST /api/session with LDAP down: error %q, want unavailable", eb.Error)
		}
	}
	if n := e.count(login.EventFailed); n != 0 {
		t.Errorf("%d failed logins counted during the outage, want 0", n)
	}
	if n := e.sessions(t, "alice"); n != 0 {
		t.Errorf("%d sessions of alice during the outage", n)
	}
	e.dir.Restart()
	// The pool may hold a dead connection for one more try: a second one
	// must succeed.
	var r *response
	for range 2 {
		r = postLogin(t, c, "alice", testldap.AlicePassword, "", loginForm(t, c, ""), nil)
		if r.StatusCode == http.StatusSeeOther {
			break
		}
	}
	expectStatus(t, r, http.StatusSeeOther)
}
