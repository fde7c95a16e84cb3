package authz_test

import (
	"net/http"
	"testing"
)

// BenchmarkAuthCookie is one /auth decision for a logged-in browser, the hot
// path behind nginx: cookie check, store read, identity headers and the
// upstream JWT for the origin of X-Original-URL.
func BenchmarkAuthCookie(b *testing.B) {
	f := newFixture(b, nil)
	value := f.login(b, "alice")
	b.ReportAllocs()
	for b.Loop() {
		r := forUpstream(withCookie(authRequest("/auth"), value), upstreamURL)
		r.Header.Set("Origin", allowed)
		if w := f.serve(r); w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// BenchmarkAuthNoCookie is the 401 path, taken by every anonymous request.
func BenchmarkAuthNoCookie(b *testing.B) {
	f := newFixture(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		if w := f.serve(authRequest("/auth")); w.Code != http.StatusUnauthorized {
			b.Fatalf("status %d", w.Code)
		}
	}
}
