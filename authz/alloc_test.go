package authz_test

import (
	"net/http"
	"testing"
)

// The allocations of the hot paths stay bounded (issue 10: at most 20 per
// cached /auth). Counts, not timings: they do not depend on the machine's
// load. The bounds leave a little room above what the paths make now (7
// for a cached cookie of a password login, with its X-Auth-AMR, 9 for a cached API key and for each 401).
func TestAuthAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own account")
	}
	f := newFixture(t, nil)
	benchCache(t, f)
	value := f.login(t, "alice")
	forged := []byte(value)
	forged[3] ^= 1
	key := forUpstream(authRequest("/auth"), upstreamURL)
	key.Header.Set("X-Original-Method", "GET")
	key.Header.Set("X-API-Key", f.apiKey(t, "bob"))
	for _, c := range []struct {
		name   string
		r      *http.Request
		status int
		max    float64
	}{
		{"cached cookie", nginxRequest(value), http.StatusOK, 10},
		{"cached API key", key, http.StatusOK, 12},
		{"no credentials", nginxRequest(""), http.StatusUnauthorized, 12},
		{"forged cookie", nginxRequest(string(forged)), http.StatusUnauthorized, 12},
	} {
		w := &discard{h: make(http.Header, 16)}
		serve := func() {
			w.reset()
			f.h.ServeHTTP(w, c.r)
		}
		serve() // fills the caches
		if w.code != c.status {
			t.Fatalf("%s: status %d, want %d", c.name, w.code, c.status)
		}
		if n := testing.AllocsPerRun(200, serve); n > c.max {
			t.Errorf("%s: %.1f allocations per /auth, want at most %.0f", c.name, n, c.max)
		}
	}
}
