package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// metric returns the value of one series on the instance's /metrics, and
// whether it is there.
func (in *instance) metric(t *testing.T, series string) (float64, bool) {
	t.Helper()
	r := in.do(t, "GET", "http://login.example.test/metrics", "", nil)
	for _, l := range strings.Split(string(r.body), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			return f, true
		}
	}
	return 0, false
}

const (
	sessionHits   = `sso_auth_cache_lookups_total{kind="session",result="hit"}`
	sessionMisses = `sso_auth_cache_lookups_total{kind="session",result="miss"}`
)

// In-memory store: /auth answers from the cache after the first request,
// and a logout is refused at once; SSO_AUTH_CACHE=0 leaves it out.
func TestAuthCacheInMemory(t *testing.T) {
	in := start(t, prodEnv(t))
	l, _ := in.login(t, "alice", testPassword)
	for range 3 {
		if code, user := in.auth(t, l.Session.Value); code != http.StatusOK || user != "alice" {
			t.Fatalf("/auth = %d %q, want 200 alice", code, user)
		}
	}
	if hits, _ := in.metric(t, sessionHits); hits != 2 {
		t.Errorf("%s = %v, want 2", sessionHits, hits)
	}
	if misses, _ := in.metric(t, sessionMisses); misses != 1 {
		t.Errorf("%s = %v, want 1", sessionMisses, misses)
	}
	if v, ok := in.metric(t, "sso_auth_cache_usable"); v != 1 || !ok {
		t.Errorf("sso_auth_cache_usable = %v (%v), want 1", v, ok)
	}
	r := in.do(t, "DELETE", "http://login.example.test/api/session", "", map[string]string{
		"Cookie": "sso_session=" + l.Session.Value, "X-CSRF-Token": l.CSRF,
	})
	if r.status != http.StatusNoContent {
		t.Fatalf("DELETE /api/session = %d, want 204", r.status)
	}
	if code, _ := in.auth(t, l.Session.Value); code != http.StatusUnauthorized {
		t.Errorf("/auth after logout = %d, want 401", code)
	}

	env := prodEnv(t)
	env["SSO_AUTH_CACHE"] = "0"
	off := start(t, env)
	l, _ = off.login(t, "alice", testPassword)
	for range 3 {
		if code, _ := off.auth(t, l.Session.Value); code != http.StatusOK {
			t.Fatalf("SSO_AUTH_CACHE=0: /auth = %d, want 200", code)
		}
	}
	if _, ok := off.metric(t, sessionMisses); ok {
		t.Errorf("SSO_AUTH_CACHE=0: %s is there, want no cache at all", sessionMisses)
	}
}
