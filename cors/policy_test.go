package cors_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/cors"
)

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  cors.Config
		want string // in the error
	}{
		{"no origins", cors.Config{}, "no origins"},
		{"star", cors.Config{Origins: []string{"*"}}, `"*"`},
		{"null", cors.Config{Origins: []string{"null"}}, `"null"`},
		{"empty entry", cors.Config{Origins: []string{"https://a.example.com", ""}}, `pattern ""`},
		{"wildcard host", cors.Config{Origins: []string{"https://*"}}, `"https://*"`},
		{"wildcard host with port", cors.Config{Origins: []string{"https://*:443"}}, `"https://*:443"`},
		{"no dot boundary", cors.Config{Origins: []string{"https://*example.com"}}, `"https://*example.com"`},
		{"public suffix", cors.Config{Origins: []string{"https://*.com"}}, "public suffix"},
		{"public suffix 2 labels", cors.Config{Origins: []string{"https://*.co.uk"}}, "public suffix"},
		{"private public suffix", cors.Config{Origins: []string{"https://*.github.io"}}, "public suffix"},
		{"unlisted TLD", cors.Config{Origins: []string{"https://*.localhost"}}, "public suffix"},
		{"wildcard in the middle", cors.Config{Origins: []string{"https://a.*.example.com"}}, `"https://a.*.example.com"`},
		{"two wildcards", cors.Config{Origins: []string{"https://*.*.example.com"}}, `"https://*.*.example.com"`},
		{"trailing wildcard", cors.Config{Origins: []string{"https://example.*"}}, `"https://example.*"`},
		{"wildcard over an IP", cors.Config{Origins: []string{"https://*.1.2.3"}}, `"https://*.1.2.3"`},
		{"wildcard over IPv4", cors.Config{Origins: []string{"https://*.10.0.0.1"}}, "IP address"},
		{"path", cors.Config{Origins: []string{"https://app.example.com/"}}, `"https://app.example.com/"`},
		{"userinfo", cors.Config{Origins: []string{"https://u@app.example.com"}}, "userinfo"},
		{"scheme", cors.Config{Origins: []string{"ftp://app.example.com"}}, "scheme"},
		{"no scheme", cors.Config{Origins: []string{"app.example.com"}}, `no "://"`},
		{"no scheme wildcard", cors.Config{Origins: []string{"*.example.com"}}, `no "://"`},
		{"space", cors.Config{Origins: []string{" https://app.example.com"}}, "space"},
		{"bad port", cors.Config{Origins: []string{"https://app.example.com:0"}}, "port"},
		{"method star", cors.Config{Origins: []string{"https://a.example.com"}, AllowMethods: []string{"*"}}, `method "*"`},
		{"method forbidden", cors.Config{Origins: []string{"https://a.example.com"}, AllowMethods: []string{"GET", "TRACE"}}, `"TRACE"`},
		{"method not token", cors.Config{Origins: []string{"https://a.example.com"}, AllowMethods: []string{"GET POST"}}, `"GET POST"`},
		{"header star", cors.Config{Origins: []string{"https://a.example.com"}, AllowHeaders: []string{"*"}}, `header "*"`},
		{"header not token", cors.Config{Origins: []string{"https://a.example.com"}, AllowHeaders: []string{"X-A, X-B"}}, `"X-A, X-B"`},
		{"expose star", cors.Config{Origins: []string{"https://a.example.com"}, ExposeHeaders: []string{"*"}}, `exposed header "*"`},
		{"negative max age", cors.Config{Origins: []string{"https://a.example.com"}, MaxAge: -time.Second}, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := cors.New(tc.cfg)
			if err == nil {
				t.Fatalf("New(%+v) = %v, want an error", tc.cfg, p)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "cors: ") {
				t.Errorf("New(%+v) error %q, want it to start with \"cors: \" and contain %q", tc.cfg, err, tc.want)
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := cors.New(cors.Config{Origins: []string{"*", "https://ok.example.com", "https://*.com"}, AllowMethods: []string{"*"}})
	if err == nil {
		t.Fatal("New accepted three bad settings")
	}
	for _, want := range []string{`pattern "*"`, `pattern "https://*.com"`, `method "*"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New error %q does not mention %q", err, want)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	p, err := cors.New(cors.Config{Origins: []string{"https://a.example.com"}, AllowMethods: []string{"get", "GET", "Patch"}, AllowHeaders: []string{"X-A", "x-a", "X-B"}})
	if err != nil {
		t.Fatal(err)
	}
	got := p.Config()
	want := cors.Config{
		Origins:       []string{"https://a.example.com"},
		AllowMethods:  []string{"GET", "PATCH"},
		AllowHeaders:  []string{"X-A", "X-B"},
		ExposeHeaders: []string{"X-Auth-Login-URL", "X-CSRF-Token"},
		MaxAge:        cors.DefaultMaxAge,
	}
	if !slices.Equal(got.Origins, want.Origins) || !slices.Equal(got.AllowMethods, want.AllowMethods) ||
		!slices.Equal(got.AllowHeaders, want.AllowHeaders) || !slices.Equal(got.ExposeHeaders, want.ExposeHeaders) || got.MaxAge != want.MaxAge {
		t.Errorf("Config() = %+v, want %+v", got, want)
	}
	got.AllowMethods[0] = "TRACE"
	if p.Config().AllowMethods[0] != "GET" {
		t.Error("Config() returned a slice shared with the policy")
	}

	p, err = cors.New(cors.Config{Origins: []string{"https://a.example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Config().AllowMethods, []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}; !slices.Equal(got, want) {
		t.Errorf("default AllowMethods = %q, want %q", got, want)
	}
	if got, want := p.Config().AllowHeaders, []string{"Content-Type", "Authorization", "X-CSRF-Token", "X-Requested-With", "X-API-Key"}; !slices.Equal(got, want) {
		t.Errorf("default AllowHeaders = %q, want %q", got, want)
	}
}

func TestDefaultOrigins(t *testing.T) {
	got := cors.DefaultOrigins([]string{"example.com", "example.test"})
	want := []string{"https://example.com", "https://*.example.com", "https://example.test", "https://*.example.test"}
	if !slices.Equal(got, want) {
		t.Errorf("DefaultOrigins = %q, want %q", got, want)
	}
	if _, err := cors.New(cors.Config{Origins: got}); err != nil {
		t.Errorf("New(DefaultOrigins): %v", err)
	}
}

// TestPatterns covers the port and scheme rules of patterns.
func TestPatterns(t *testing.T) {
	tests := []struct {
		pattern string
		origin  string
		want    bool
	}{
		{"https://app.example.com", "https://app.example.com:1", true},
		{"https://app.example.com:443", "https://app.example.com", true},
		{"https://app.example.com:443", "https://app.example.com:443", true},
		{"https://app.example.com:443", "https://app.example.com:8443", false},
		{"https://app.example.com:8443", "https://app.example.com", false},
		{"https://APP.example.com", "https://app.example.com", true},
		{"http://localhost:3000", "http://localhost:3000", true},
		{"http://localhost:3000", "http://localhost:3001", false},
		{"http://localhost:3000", "https://localhost:3000", false},
		{"http://localhost", "http://localhost:5173", true},
		{"https://[::1]:8443", "https://[0:0::1]:8443", true},
		{"https://[::1]", "https://[::2]", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{"https://*.example.com:8443", "https://a.example.com:8443", true},
		{"https://*.example.com:8443", "https://a.example.com", false},
		{"https://*.example.com:443", "https://a.b.example.com", true},
		{"https://*.example.com", "https://example.com", false}, // the parent is not included
		{"https://*.example.com", "http://a.example.com", false},
		{"http://*.example.test", "http://a.example.test:8080", true},
		{"https://*.bücher.example", "https://a.xn--bcher-kva.example", true},
		{"https://*.example.co.uk", "https://a.example.co.uk", true},
		{"https://*.example.co.uk", "https://co.uk", false},
		{"https://*.a.example.com", "https://a.example.com", false},
		{"https://*.a.example.com", "https://b.example.com", false},
		{"https://*.a.example.com", "https://x.a.example.com", true},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.origin, func(t *testing.T) {
			p, err := cors.New(cors.Config{Origins: []string{tc.pattern}})
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Allowed(tc.origin); got != tc.want {
				t.Errorf("pattern %q: Allowed(%q) = %v, want %v", tc.pattern, tc.origin, got, tc.want)
			}
		})
	}
}

func BenchmarkAllowed(b *testing.B) {
	p, err := cors.New(cors.Config{Origins: append(cors.DefaultOrigins([]string{"example.com", "example.org", "example.net"}), "https://app.example.io:8443")})
	if err != nil {
		b.Fatal(err)
	}
	for _, o := range []string{"https://app.example.com", "https://a.b.c.example.net", "https://example.com.evil.net"} {
		b.Run(o, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Allowed(o)
			}
		})
	}
}
