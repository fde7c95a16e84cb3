package authz_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/example/sso/authz"
	"github.com/example/sso/session"
	"github.com/example/sso/ticket"
)

// cookieHeader builds a Cookie header carrying each value under our name,
// in order, as a browser sends several cookies of one name (longest Path
// first, so a sibling's tossed cookie can come first).
func cookieHeader(values ...string) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = cookieName + "=" + v
	}
	return strings.Join(parts, "; ")
}

func authWithCookies(f *fixture, values ...string) *http.Request {
	r := authRequest("/auth")
	r.Header.Set("X-Original-URL", "https://app.example.test/inbox")
	r.Header.Set("X-Original-Method", "GET")
	r.Header.Set("Cookie", cookieHeader(values...))
	return r
}

// deadValue is a correctly signed cookie value whose session does not exist
// (a logged-out session, as a sibling can collect them).
func (f *fixture) deadValue(t *testing.T) string {
	t.Helper()
	raw, err := ticket.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return f.codec.Encode(raw)
}

// A sibling that tosses its own account's cookie next to the victim's gets
// no identity chosen, whichever comes first; cookies of one user still work.
func TestAuthAmbiguousSessions(t *testing.T) {
	f := newFixture(t, nil)
	alice, alice2, bob := f.login(t, "alice"), f.login(t, "alice"), f.login(t, "bob")
	dead := f.deadValue(t)
	tests := []struct {
		name     string
		cookies  []string
		status   int
		user     string
		errCode  string
		maxReads int64
	}{
		{"victim then attacker", []string{alice, bob}, 401, "", "ambiguous_session", 2},
		{"attacker then victim", []string{bob, alice}, 401, "", "ambiguous_session", 2},
		{"attacker, dead, victim", []string{bob, dead, alice}, 401, "", "ambiguous_session", 3},
		{"two sessions of one user", []string{alice2, alice}, 200, "alice", "", 2},
		{"one value twice", []string{alice, alice}, 200, "alice", "", 1},
		{"dead then live", []string{dead, bob}, 200, "bob", "", 2},
		{"garbage then live", []string{"garbage", bob}, 200, "bob", "", 1},
		{"only dead", []string{dead, dead}, 401, "", "unauthorized", 1},
		{"four signed values", []string{alice, alice2, dead, f.deadValue(t)}, 401, "", "ambiguous_session", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.store.gets.Load()
			w := f.serve(authWithCookies(f, tc.cookies...))
			if w.Code != tc.status || w.Header().Get("X-Auth-User") != tc.user {
				t.Fatalf("/auth = %d as %q, want %d as %q", w.Code, w.Header().Get("X-Auth-User"), tc.status, tc.user)
			}
			if tc.errCode != "" && w.Header().Get("X-Auth-Error") != tc.errCode {
				t.Errorf("X-Auth-Error = %q, want %q", w.Header().Get("X-Auth-Error"), tc.errCode)
			}
			if tc.errCode == "ambiguous_session" {
				login := w.Header().Get("X-Auth-Login-URL")
				if !strings.Contains(login, "reason=ambiguous_session") || !strings.Contains(login, "rd=") {
					t.Errorf("X-Auth-Login-URL = %q, want rd and reason=ambiguous_session", login)
				}
				if tok := w.Header().Get("X-Auth-Token"); tok != "" {
					t.Errorf("ambiguous 401 carries X-Auth-Token")
				}
			}
			if n := f.store.gets.Load() - before; n > tc.maxReads {
				t.Errorf("%d store reads, want at most %d", n, tc.maxReads)
			}
		})
	}
}

// Ambiguous cookies stop the search: an API key or JWT sent with them does
// not choose an identity either (a page cannot make a browser send one, so
// only a confused client meets this, and it learns why).
func TestAuthAmbiguousStopsOtherCredentials(t *testing.T) {
	f := newFixture(t, nil)
	r := authWithCookies(f, f.login(t, "alice"), f.login(t, "bob"))
	r.Header.Set("Authorization", "Bearer "+f.apiKey(t, "alice"))
	if w := f.serve(r); w.Code != http.StatusUnauthorized || w.Header().Get("X-Auth-Error") != "ambiguous_session" {
		t.Errorf("/auth = %d %q, want 401 ambiguous_session", w.Code, w.Header().Get("X-Auth-Error"))
	}
}

// A request carrying 100 copies of a dead cookie, or 100 distinct ones,
// costs at most MaxSessionCookies store reads; 100 forged ones cost none.
func TestAuthCookieAmplification(t *testing.T) {
	f := newFixture(t, nil)
	dead := f.deadValue(t)
	many := func(gen func(i int) string) []string {
		out := make([]string, 100)
		for i := range out {
			out[i] = gen(i)
		}
		return out
	}
	tests := []struct {
		name     string
		cookies  []string
		maxReads int64
	}{
		{"100 copies of a dead cookie", many(func(int) string { return dead }), 1},
		{"100 distinct dead cookies", many(func(int) string { return f.deadValue(t) }), authz.MaxSessionCookies},
		{"100 forged cookies", many(func(i int) string { return strings.Repeat("A", 40+i) }), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := f.store.gets.Load()
			w := f.serve(authWithCookies(f, tc.cookies...))
			if w.Code != http.StatusUnauthorized {
				t.Errorf("/auth = %d, want 401", w.Code)
			}
			if n := f.store.gets.Load() - before; n > tc.maxReads {
				t.Errorf("%d store reads, want at most %d", n, tc.maxReads)
			}
		})
	}
}

// Garbage in front of the victim's cookie cannot hide it without a trace:
// up to 32 values are looked at (MACs only), more make the request
// ambiguous, so the hub offers the sign-out that clears them.
func TestAuthManyForgedValuesBeforeTheRealOne(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.login(t, "alice")
	forged := func(n int) []string {
		var v []string
		for i := range n {
			v = append(v, strings.Repeat("A", 43)+"."+strings.Repeat(string(rune('a'+i%26)), 43)+fmt.Sprint(i))
		}
		return v
	}
	w := f.serve(authWithCookies(f, append(forged(20), alice)...))
	if w.Code != http.StatusOK || w.Header().Get("X-Auth-User") != "alice" {
		t.Errorf("20 forged values then alice's: %d %q, want 200 alice", w.Code, w.Header().Get("X-Auth-User"))
	}
	w = f.serve(authWithCookies(f, append(forged(40), alice)...))
	if w.Code != http.StatusUnauthorized || w.Header().Get("X-Auth-Error") != "ambiguous_session" {
		t.Errorf("40 forged values then alice's: %d %q, want 401 ambiguous_session", w.Code, w.Header().Get("X-Auth-Error"))
	}
}

// A removed user's live session does not make a request ambiguous: it is
// dead to sso.
func TestSessionsFromRequestSkipsRemovedUsers(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.login(t, "alice")
	ghost := f.deadValue(t)
	raw, _ := f.codec.Decode(ghost)
	s := mustSession(t, f, alice)
	s.ID, s.User = ticket.Hash(raw), "nobody"
	if err := f.store.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	r := authWithCookies(f, ghost, alice)
	list, err := f.auth.SessionsFromRequest(context.Background(), r)
	if err != nil || len(list) != 1 || list[0].User != "alice" {
		t.Fatalf("SessionsFromRequest = %d sessions, %v; want alice alone", len(list), err)
	}
	r = authWithCookies(f, alice, f.login(t, "bob"))
	list, err = f.auth.SessionsFromRequest(context.Background(), r)
	if !errors.Is(err, authz.ErrAmbiguous) || !errors.Is(err, authz.ErrUnauthenticated) || len(list) != 2 {
		t.Fatalf("SessionsFromRequest = %d sessions, %v; want both and ErrAmbiguous", len(list), err)
	}
}

func mustSession(t *testing.T, f *fixture, value string) *session.Session {
	t.Helper()
	s, err := f.auth.SessionFromValue(context.Background(), value)
	if err != nil {
		t.Fatal(err)
	}
	return s.Clone()
}

// A session cookie next to a header credential of another user is
// ambiguous as well (outside review of the cache): a tossed cookie must not
// silently win over the victim's token. The same user's pair is fine.
func TestAuthCookieAndHeaderOfDifferentUsers(t *testing.T) {
	f := newFixture(t, nil)
	bob := f.login(t, "bob")
	aliceKey := f.apiKey(t, "alice")
	for name, set := range map[string]func(*http.Request){
		"bearer key": func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+aliceKey) },
		"X-API-Key":  func(r *http.Request) { r.Header.Set("X-API-Key", aliceKey) },
	} {
		r := authWithCookies(f, bob)
		set(r)
		if w := f.serve(r); w.Code != http.StatusUnauthorized || w.Header().Get("X-Auth-Error") != "ambiguous_session" {
			t.Errorf("%s: bob's cookie and alice's key = %d %q as %q, want 401 ambiguous_session", name, w.Code, w.Header().Get("X-Auth-Error"), w.Header().Get("X-Auth-User"))
		}
	}
	r := authWithCookies(f, f.login(t, "alice"))
	r.Header.Set("X-API-Key", aliceKey)
	if w := f.serve(r); w.Code != http.StatusOK || w.Header().Get("X-Auth-User") != "alice" {
		t.Errorf("alice's cookie and alice's key = %d %q, want 200 alice", w.Code, w.Header().Get("X-Auth-User"))
	}
	r = authWithCookies(f, bob)
	r.Header.Set("X-API-Key", "sso_not_a_real_key")
	if w := f.serve(r); w.Code != http.StatusOK || w.Header().Get("X-Auth-User") != "bob" {
		t.Errorf("bob's cookie and a dead key = %d %q, want 200 bob", w.Code, w.Header().Get("X-Auth-User"))
	}
}
