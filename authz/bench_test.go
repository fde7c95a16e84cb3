package authz_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/example/sso/session/authcache"
)

// discard is a ResponseWriter that keeps the status and reuses one header
// map, so that the benchmarks measure the handler and not a recorder (an
// httptest.ResponseRecorder costs several allocations of its own).
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

// reset empties the headers (keeping the map, as net/http does not) for
// the next request.
func (d *discard) reset() {
	clear(d.h)
	d.code = 0
}

// benchAuth serves r b.N times and checks every status: the request is
// built once, as it is read-only to the handler.
func benchAuth(b *testing.B, f *fixture, r *http.Request, want int) {
	b.Helper()
	w := &discard{h: make(http.Header, 16)}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		f.h.ServeHTTP(w, r)
		if w.code != want {
			b.Fatalf("status %d, want %d", w.code, want)
		}
	}
}

// nginxRequest is /auth as nginx's auth_request sends it for a browser's
// fetch from an allowed origin, with cookie (none when "").
func nginxRequest(cookie string) *http.Request {
	r := forUpstream(authRequest("/auth"), upstreamURL)
	r.Header.Set("X-Original-Method", "GET")
	r.Header.Set("Origin", allowed)
	if cookie != "" {
		r = withCookie(r, cookie)
	}
	return r
}

// benchCache puts a Local verified-session cache (SSO_AUTH_CACHE) in front
// of the fixture's store, with a TTL that outlasts the benchmark.
func benchCache(b testing.TB, f *fixture) {
	b.Helper()
	c, err := authcache.New(authcache.Options{TTL: time.Hour, Refresh: f.auth.Refresh, Local: true, Now: f.clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	st, err := authcache.NewStore(f.store, c, nil)
	if err != nil {
		b.Fatal(err)
	}
	f.auth.Sessions, f.auth.Keys = st, st
}

// BenchmarkAuthCookie is one /auth decision for a logged-in browser, the hot
// path behind nginx: cookie check, store read (in-memory store, no cache),
// identity headers and the upstream JWT for the origin of X-Original-URL.
func BenchmarkAuthCookie(b *testing.B) {
	f := newFixture(b, nil)
	benchAuth(b, f, nginxRequest(f.login(b, "alice")), http.StatusOK)
}

// BenchmarkAuthCookieCached is the same with the verified-session cache
// (SSO_AUTH_CACHE) answering: what a Redis-backed /auth costs on a hit.
func BenchmarkAuthCookieCached(b *testing.B) {
	f := newFixture(b, nil)
	benchCache(b, f)
	r := nginxRequest(f.login(b, "alice"))
	gets := f.store.gets.Load()
	benchAuth(b, f, r, http.StatusOK)
	if n := f.store.gets.Load() - gets; n != 1 {
		b.Errorf("%d store reads, want 1 (the first request; then the cache)", n)
	}
}

// BenchmarkAuthAPIKeyCached is an API key (X-API-Key) answered from the
// cache.
func BenchmarkAuthAPIKeyCached(b *testing.B) {
	f := newFixture(b, nil)
	benchCache(b, f)
	r := forUpstream(authRequest("/auth"), upstreamURL)
	r.Header.Set("X-Original-Method", "GET")
	r.Header.Set("X-API-Key", f.apiKey(b, "bob"))
	benchAuth(b, f, r, http.StatusOK)
}

// BenchmarkAuthNoCookie is the 401 path, taken by every anonymous request.
func BenchmarkAuthNoCookie(b *testing.B) {
	f := newFixture(b, nil)
	benchAuth(b, f, nginxRequest(""), http.StatusUnauthorized)
}

// BenchmarkAuthGarbageCookie is a 401 for a cookie whose signature fails:
// it must cost no store read.
func BenchmarkAuthGarbageCookie(b *testing.B) {
	f := newFixture(b, nil)
	value := []byte(f.login(b, "alice"))
	value[3] ^= 1 // still base64url, no longer signed
	benchAuth(b, f, nginxRequest(string(value)), http.StatusUnauthorized)
	if n := f.store.gets.Load(); n != 0 {
		b.Errorf("%d store reads for a forged cookie, want 0", n)
	}
}
