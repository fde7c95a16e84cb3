package cors_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/example/sso/cors/internal/spectest"
)

// TestSpec runs the shared table through Handler, Decorate and Preflight.
func TestSpec(t *testing.T) {
	p := spectest.NewPolicy(t)
	serve := func(h http.Handler) func(*http.Request) *httptest.ResponseRecorder {
		return func(r *http.Request) *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			return rec
		}
	}
	t.Run("Handler", func(t *testing.T) {
		spectest.Run(t, serve(p.Handler(spectest.Next)), func(c spectest.Case) *spectest.Response { return &c.Want })
	})
	t.Run("Decorate", func(t *testing.T) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.Decorate(w.Header(), r.Header.Get("Origin"))
			spectest.Next(w, r)
		})
		spectest.Run(t, serve(h), func(c spectest.Case) *spectest.Response {
			if c.Preflight() {
				return nil
			}
			return &c.Want
		})
	})
	t.Run("Preflight", func(t *testing.T) {
		spectest.Run(t, serve(http.HandlerFunc(p.Preflight)), func(c spectest.Case) *spectest.Response {
			if !c.Preflight() {
				return nil
			}
			return &c.Want
		})
	})
}

func TestPreflightRefusesNonPreflight(t *testing.T) {
	p := spectest.NewPolicy(t)
	for _, method := range []string{"GET", "POST", "OPTIONS"} {
		r := httptest.NewRequest(method, "/", nil)
		r.Header.Set("Origin", "https://app.example.com")
		rec := httptest.NewRecorder()
		p.Preflight(rec, r)
		if rec.Code != http.StatusForbidden {
			t.Errorf("Preflight(%s without Access-Control-Request-Method) = %d, want 403", method, rec.Code)
		}
		spectest.CheckInvariants(t, r, rec)
	}
}

func TestDecorateHeaderHygiene(t *testing.T) {
	p := spectest.NewPolicy(t)
	tests := []struct {
		name   string
		before http.Header
		origin string
		want   http.Header
	}{
		{
			name:   "keeps other Vary values",
			before: spectest.H("Vary", "Accept-Encoding"),
			origin: "https://evil.net",
			want:   spectest.H("Vary", "Accept-Encoding", "Vary", "Origin"),
		},
		{
			name:   "no duplicate Vary: Origin",
			before: spectest.H("Vary", "Accept-Encoding, origin"),
			origin: "",
			want:   spectest.H("Vary", "Accept-Encoding, origin"),
		},
		{
			name:   "Vary: * covers Origin",
			before: spectest.H("Vary", "*"),
			origin: "",
			want:   spectest.H("Vary", "*"),
		},
		{
			name:   "removes CORS headers someone else set",
			before: spectest.H("Access-Control-Allow-Origin", "*", "Access-Control-Allow-Credentials", "true", "Access-Control-Expose-Headers", "X"),
			origin: "https://evil.net",
			want:   spectest.H("Vary", "Origin"),
		},
		{
			name:   "replaces a wrong Access-Control-Allow-Origin",
			before: spectest.H("Access-Control-Allow-Origin", "*"),
			origin: "https://app.example.com",
			want: spectest.H("Access-Control-Allow-Origin", "https://app.example.com", "Vary", "Origin",
				"Access-Control-Allow-Credentials", "true", "Access-Control-Expose-Headers", "X-Auth-Login-URL, X-CSRF-Token"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.before.Clone()
			p.Decorate(h, tc.origin)
			if len(h) != len(tc.want) {
				t.Errorf("Decorate(%v, %q) = %v, want %v", tc.before, tc.origin, h, tc.want)
			}
			for k, v := range tc.want {
				if !slices.Equal(h[k], v) {
					t.Errorf("Decorate(%v, %q): %s = %q, want %q", tc.before, tc.origin, k, h[k], v)
				}
			}
		})
	}
}

// TestAddVaryDoesNotWriteSharedSlices guards against the data race of
// appending to a header slice that another response shares.
func TestAddVaryDoesNotWriteSharedSlices(t *testing.T) {
	p := spectest.NewPolicy(t)
	shared := make([]string, 1, 4)
	shared[0] = "Accept-Encoding"
	h := http.Header{"Vary": shared}
	p.Decorate(h, "https://app.example.com")
	if got := shared[:2][1]; got != "" {
		t.Errorf("Decorate wrote %q into the spare capacity of a shared Vary slice", got)
	}
}

// adversarial are origins for the invariant checks.
var adversarial = []string{
	"", "null", "*", "https://app.example.com", "HTTPS://APP.EXAMPLE.COM", "https://example.com", "https://a.b.example.com:1",
	"https://app.example.org:8443", "https://app.example.org", "http://app.example.com", "https://example.com.evil.net",
	"https://evilexample.com", "https://example.com@evil.net", "https://evil.net#.example.com", "https://app.example.com/",
	"https://app.example.com.", " https://app.example.com", "https://аpp.example.com", "https://app.exаmple.com",
	"https://[::1]", "https://app.example.com:0", "https://https://app.example.com", "https://evil.net\\.example.com",
}

// TestInvariants sends every adversarial origin, as an actual request and
// as preflights, through every net/http entry point.
func TestInvariants(t *testing.T) {
	p := spectest.NewPolicy(t)
	entries := map[string]http.Handler{
		"Handler":   p.Handler(spectest.Next),
		"Preflight": http.HandlerFunc(p.Preflight),
		"Decorate": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.Decorate(w.Header(), r.Header.Get("Origin"))
			spectest.Next(w, r)
		}),
	}
	for _, origin := range adversarial {
		for _, r := range invariantRequests(origin, "PUT", "content-type") {
			for name, h := range entries {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				spectest.CheckInvariants(t, r, rec)
				if t.Failed() {
					t.Fatalf("%s: %s %v", name, r.Method, r.Header)
				}
			}
		}
	}
}

func invariantRequests(origin, method, headers string) []*http.Request {
	var out []*http.Request
	for _, m := range []string{"GET", "POST", "OPTIONS"} {
		r := httptest.NewRequest(m, "/", nil)
		r.Header.Set("Origin", origin)
		out = append(out, r)
	}
	r := httptest.NewRequest("OPTIONS", "/", nil)
	r.Header.Set("Origin", origin)
	r.Header.Set("Access-Control-Request-Method", method)
	r.Header.Set("Access-Control-Request-Headers", headers)
	return append(out, r)
}

// FuzzEntryPoints checks the invariants for arbitrary origins, methods and
// requested headers.
func FuzzEntryPoints(f *testing.F) {
	for _, o := range adversarial {
		f.Add(o, "PUT", "content-type")
	}
	f.Add("https://app.example.com", "patch", "X-CSRF-Token, x-evil")
	p := spectest.NewPolicy(f)
	h := p.Handler(spectest.Next)
	f.Fuzz(func(t *testing.T, origin, method, headers string) {
		for _, r := range invariantRequests(origin, method, headers) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			spectest.CheckInvariants(t, r, rec)
			rec = httptest.NewRecorder()
			p.Preflight(rec, r)
			spectest.CheckInvariants(t, r, rec)
		}
	})
}
