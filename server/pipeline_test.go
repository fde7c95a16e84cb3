package server_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/example/sso/login"
	"github.com/example/sso/server"
	"github.com/example/sso/session"
)

// A password login records how the session was established: from the
// users file (no Source), by one "pwd" factor given at login time.
func TestLoginRecordsFactors(t *testing.T) {
	e := newEnv(t)
	e.apiLogin(t, e.client(), "alice")
	list, err := e.store.List(context.Background(), "alice")
	if err != nil || len(list) != 1 {
		t.Fatalf("List(alice) = %d sessions, %v; want 1", len(list), err)
	}
	s := list[0]
	if s.Source != "" || !slices.Equal(s.AMR(), []string{"pwd"}) || !s.Factors[0].At.Equal(e.clock.Now()) {
		t.Errorf("session Source %q, Factors %v; want users file and pwd at %v", s.Source, s.Factors, e.clock.Now())
	}
}

// A federated identity minted through the pipeline (as the OIDC callback
// will) works everywhere a users-file session does, with the snapshot it
// was minted with, although the user is in no users file; an API key made
// from it carries that snapshot too.
func TestFederatedSessionThroughHub(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := login.Identity{User: "carol", Email: "carol@idp.test", Groups: []string{"staff"}, Source: "oidc:corp"}
	m, err := e.srv.Login().Mint(ctx, id, []session.Factor{login.Factor(login.Federated{Method: login.AMROIDC}, e.clock.Now())},
		login.Request{Host: "login.example.test", ClientIP: "192.0.2.7", UserAgent: "curl/8", Via: "oidc"})
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	if m.Cookie.Domain != "example.test" || m.Session.Source != "oidc:corp" {
		t.Errorf("minted cookie domain %q, session source %q", m.Cookie.Domain, m.Session.Source)
	}
	status, user := e.authWithCookie(t, m.Value)
	if status != http.StatusOK || user != "carol" {
		t.Fatalf("/auth with the federated session = %d %q, want 200 carol", status, user)
	}
	cookie := map[string]string{"Cookie": cookieName + "=" + m.Value}
	var b sessionBody
	r := do(t, e.client(), req{url: hub + "/api/session", headers: cookie})
	expectStatus(t, r, http.StatusOK)
	r.json(t, &b)
	if b.User.Email != "carol@idp.test" || !slices.Equal(b.User.Groups, []string{"staff"}) {
		t.Errorf("GET /api/session user = %+v, want the snapshot", b.User)
	}
	h := map[string]string{"Cookie": cookieName + "=" + m.Value, "X-CSRF-Token": m.Session.CSRFToken}
	r = do(t, e.client(), req{method: "POST", url: hub + "/api/keys", body: `{"name":"ci"}`, headers: h})
	expectStatus(t, r, http.StatusCreated)
	var k struct{ Key string }
	r.json(t, &k)
	r = do(t, e.client(), req{url: "http://api.example.test/auth", headers: map[string]string{"Authorization": "Bearer " + k.Key}})
	expectStatus(t, r, http.StatusOK)
	if r.Header.Get("X-Auth-User") != "carol" || r.Header.Get("X-Auth-Email") != "carol@idp.test" || r.Header.Get("X-Auth-Groups") != "staff" {
		t.Errorf("/auth with the federated user's key: X-Auth-* = %q %q %q, want carol's snapshot",
			r.Header.Get("X-Auth-User"), r.Header.Get("X-Auth-Email"), r.Header.Get("X-Auth-Groups"))
	}
}

// LoginObserver hears every outcome, and no event carries the password or
// the login as typed.
func TestLoginObserver(t *testing.T) {
	var (
		mu     sync.Mutex
		events []login.Event
	)
	e := newEnv(t, func(o *server.Options) {
		o.Regulation = server.Regulation{MaxRetries: 2, FindTime: testRegulation.FindTime, BanTime: testRegulation.BanTime}
		o.Limiter = o.Store.(session.Limiter)
		o.LoginObserver = login.ObserverFunc(func(_ context.Context, ev login.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev)
		})
	})
	c := e.client()
	expectStatus(t, apiTry(t, c, "alice", password, nil), http.StatusCreated)
	expectStatus(t, apiTry(t, c, "ALICE ", "secret-guess-1", nil), http.StatusUnauthorized)
	expectStatus(t, apiTry(t, c, "ALICE ", "secret-guess-2", nil), http.StatusUnauthorized)
	expectStatus(t, apiTry(t, c, "ALICE ", "secret-guess-3", nil), http.StatusTooManyRequests)

	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for _, ev := range events {
		kinds = append(kinds, string(ev.Kind))
		if strings.Contains(strings.ToLower(ev.User+ev.ClientIP+ev.Via+ev.Source), "guess") || strings.Contains(ev.User, "ALICE") {
			t.Errorf("event %+v carries what was typed", ev)
		}
	}
	want := []string{"succeeded", "minted", "failed", "locked", "failed", "blocked"}
	if !slices.Equal(kinds, want) {
		t.Fatalf("events %q, want %q", kinds, want)
	}
	if ev := events[1]; ev.User != "alice" || ev.Session == nil || ev.Via != "api" || ev.Method != "pwd" {
		t.Errorf("minted event %+v, want alice's session via api by pwd", ev)
	}
	if ev := events[3]; ev.Lock == nil || ev.Lock.Bucket != "untrusted clients" || ev.Lock.Failures != 2 {
		t.Errorf("locked event %+v, want the untrusted clients bucket after 2 failures", ev)
	}
	if ev := events[5]; ev.RetryAfter != testRegulation.BanTime {
		t.Errorf("blocked event RetryAfter %v, want %v", ev.RetryAfter, testRegulation.BanTime)
	}
}
