package authz_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/example/sso/session"
	"github.com/example/sso/session/authcache"
	"github.com/example/sso/ticket"
	"github.com/example/sso/token"
)

// withCache puts a verified-session cache (SSO_AUTH_CACHE=ttl, in-memory
// store) between the authenticator and the fixture's counting store, so
// that f.store counts the reads the cache did not spare.
func withCache(t *testing.T, f *fixture, ttl time.Duration) *authcache.Store {
	t.Helper()
	c, err := authcache.New(authcache.Options{TTL: ttl, Refresh: f.auth.Refresh, Local: true, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	st, err := authcache.NewStore(f.store, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.auth.Sessions, f.auth.Keys = st, st
	return st
}

// Cookie, API key and JWT: the second /auth within the TTL reads nothing
// from the store; after it, one read again.
func TestCachedAuthSparesTheStore(t *testing.T) {
	f := newFixture(t, nil)
	withCache(t, f, 2*time.Second)
	value := f.login(t, "alice")
	key := f.apiKey(t, "bob")
	jwt := f.jwt(t, "alice")
	creds := []struct {
		name  string
		req   func() *http.Request
		reads func() int64
	}{
		{"cookie", func() *http.Request { return withCookie(authRequest("/auth"), value) }, f.store.gets.Load},
		{"api key", func() *http.Request {
			r := authRequest("/auth")
			r.Header.Set("X-API-Key", key)
			return r
		}, f.store.keyGets.Load},
		{"jwt", func() *http.Request {
			r := authRequest("/auth")
			r.Header.Set("Authorization", "Bearer "+jwt)
			return r
		}, f.store.gets.Load},
	}
	// A key never used before is touched on its first use, and a touch
	// ends what is cached of it (its next read sees the new last use).
	if w := f.serve(creds[1].req()); w.Code != http.StatusOK {
		t.Fatalf("first use of the key: /auth = %d, want 200", w.Code)
	}
	for _, c := range creds {
		t.Run(c.name, func(t *testing.T) {
			serve := func(what string, wantReads int64) {
				t.Helper()
				before := c.reads()
				if w := f.serve(c.req()); w.Code != http.StatusOK {
					t.Fatalf("%s: /auth = %d, want 200", what, w.Code)
				}
				if n := c.reads() - before; n != wantReads {
					t.Errorf("%s: %d store reads, want %d", what, n, wantReads)
				}
			}
			serve("first", 1)
			serve("second", 0)
			serve("third", 0)
			f.clock.Advance(2 * time.Second)
			serve("after the TTL", 1)
			serve("refilled", 0)
		})
	}
}

// The cache does not change how often last-seen is written: at most once
// per refresh interval, as TestSlidingRefreshAtMostOncePerInterval checks
// without it.
func TestCachedSlidingRefresh(t *testing.T) {
	f := newFixture(t, nil) // Refresh 1m
	withCache(t, f, 10*time.Second)
	value := f.login(t, "alice")
	steps := []struct {
		advance     time.Duration
		wantTouches int64
	}{
		{0, 0}, {30 * time.Second, 0}, {31 * time.Second, 1}, {59 * time.Second, 1}, {time.Second, 2}, {10 * time.Minute, 3},
	}
	for i, st := range steps {
		f.clock.Advance(st.advance)
		for range 5 {
			if w := f.serve(withCookie(authRequest("/auth"), value)); w.Code != http.StatusOK {
				t.Fatalf("step %d: /auth = %d, want 200", i, w.Code)
			}
		}
		if got := f.store.touches.Load(); got != st.wantTouches {
			t.Errorf("step %d: %d Touch calls in all, want %d", i, got, st.wantTouches)
		}
	}
}

// Each cookie is looked up (in the cache or the store) and then compared:
// sessions of two users, both cached, are as ambiguous as when read.
func TestCachedSessionsStillAmbiguous(t *testing.T) {
	f := newFixture(t, nil)
	withCache(t, f, time.Minute)
	alice, alice2, bob := f.login(t, "alice"), f.login(t, "alice"), f.login(t, "bob")
	for _, v := range []string{alice, alice2, bob} {
		if w := f.serve(withCookie(authRequest("/auth"), v)); w.Code != http.StatusOK {
			t.Fatalf("/auth = %d, want 200", w.Code)
		}
	}
	before := f.store.gets.Load()
	for _, cookies := range [][]string{{alice, bob}, {bob, alice}, {alice2, bob, alice}} {
		w := f.serve(authWithCookies(f, cookies...))
		if w.Code != http.StatusUnauthorized || w.Header().Get("X-Auth-Error") != "ambiguous_session" {
			t.Errorf("/auth with cached sessions of two users = %d %q, want 401 ambiguous_session", w.Code, w.Header().Get("X-Auth-Error"))
		}
	}
	if w := f.serve(authWithCookies(f, alice, alice2)); w.Code != http.StatusOK || w.Header().Get("X-Auth-User") != "alice" {
		t.Errorf("/auth with two cached sessions of alice = %d %q, want 200 alice", w.Code, w.Header().Get("X-Auth-User"))
	}
	if n := f.store.gets.Load() - before; n != 0 {
		t.Errorf("%d store reads with every session cached, want 0", n)
	}
}

// The cache holds the store's answer, not the decision: a session whose
// user is not in the users file is refused from the cache as from the store.
func TestCachedSessionOfRemovedUser(t *testing.T) {
	f := newFixture(t, nil)
	st := withCache(t, f, time.Minute)
	raw, err := ticket.NewID()
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	id := ticket.Hash(raw)
	if err := st.Create(context.Background(), &session.Session{
		ID: id, User: "ghost", CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour), Idle: time.Hour,
	}); err != nil {
		t.Fatal(err)
	}
	tok, err := f.tokens.IssueAccess(token.Claims{Subject: "ghost", SessionID: id}, now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if w := f.serve(withCookie(authRequest("/auth"), f.codec.Encode(raw))); w.Code != http.StatusUnauthorized {
			t.Errorf("request %d: session of a removed user = %d, want 401", i, w.Code)
		}
		r := authRequest("/auth")
		r.Header.Set("Authorization", "Bearer "+tok)
		if w := f.serve(r); w.Code != http.StatusUnauthorized {
			t.Errorf("request %d: JWT of a removed user = %d, want 401", i, w.Code)
		}
	}
	if n := f.store.gets.Load(); n != 1 {
		t.Errorf("%d store reads, want 1 (then the cache)", n)
	}
}

// Logout through the cached store is refused at once.
func TestCachedLogoutIsInstant(t *testing.T) {
	f := newFixture(t, nil)
	st := withCache(t, f, time.Minute)
	value := f.login(t, "alice")
	if w := f.serve(withCookie(authRequest("/auth"), value)); w.Code != http.StatusOK {
		t.Fatalf("/auth = %d, want 200", w.Code)
	}
	if err := st.Delete(context.Background(), f.sessionID(t, value)); err != nil {
		t.Fatal(err)
	}
	if w := f.serve(withCookie(authRequest("/auth"), value)); w.Code != http.StatusUnauthorized {
		t.Errorf("/auth after logout = %d, want 401", w.Code)
	}
}
