package main

import (
	"net/http"
	"testing"

	"github.com/example/sso/internal/testredis"
)

// Two instances on one Redis share sessions; a session outlives a restart;
// removing its key from SSO_SECRET_KEYS ends it.
func TestRedisSharedSessions(t *testing.T) {
	addr := testredis.Start(t)
	env := prodEnv(t)
	env["SSO_REDIS_URL"] = "redis://" + addr + "/0"
	oldKey, newKey := b64Key(1, 32), b64Key(7, 32)
	env["SSO_SECRET_KEYS"] = oldKey

	a := start(t, env)
	b := start(t, env)

	// Logged in through A, known to B at once; logged out through B, gone
	// from A at once.
	l, _ := a.login(t, "alice", testPassword)
	if code, user := b.auth(t, l.Session.Value); code != http.StatusOK || user != "alice" {
		t.Fatalf("B: /auth with A's session = %d %q, want 200 alice", code, user)
	}
	r := b.do(t, "DELETE", "http://login.example.test/api/session", "", map[string]string{
		"Cookie": "sso_session=" + l.Session.Value, "X-CSRF-Token": l.CSRF,
	})
	if r.status != http.StatusNoContent {
		t.Fatalf("B: DELETE /api/session = %d, want 204; body %s", r.status, r.body)
	}
	if code, _ := a.auth(t, l.Session.Value); code != http.StatusUnauthorized {
		t.Fatalf("A: /auth after logout through B = %d, want 401", code)
	}

	// A restart keeps the session.
	l, _ = a.login(t, "alice", testPassword)
	a.stop(t)
	a = start(t, env)
	if code, user := a.auth(t, l.Session.Value); code != http.StatusOK || user != "alice" {
		t.Fatalf("A after a restart: /auth = %d %q, want 200 alice", code, user)
	}

	// A new signing key with the old one still listed: still fine.
	a.stop(t)
	env["SSO_SECRET_KEYS"] = newKey + "," + oldKey
	a = start(t, env)
	if code, _ := a.auth(t, l.Session.Value); code != http.StatusOK {
		t.Fatalf("A with keys new,old: /auth = %d, want 200", code)
	}
	// The old key removed: its cookies are refused, while B, still on the
	// old key, accepts the very same session.
	a.stop(t)
	env["SSO_SECRET_KEYS"] = newKey
	a = start(t, env)
	if code, _ := a.auth(t, l.Session.Value); code != http.StatusUnauthorized {
		t.Errorf("A without the old key: /auth = %d, want 401", code)
	}
	if code, _ := b.auth(t, l.Session.Value); code != http.StatusOK {
		t.Errorf("B with the old key: /auth = %d, want 200", code)
	}
	// A session made with the new key works on A.
	l2, _ := a.login(t, "alice", testPassword)
	if code, _ := a.auth(t, l2.Session.Value); code != http.StatusOK {
		t.Errorf("A: /auth with a new-key session = %d, want 200", code)
	}
}
