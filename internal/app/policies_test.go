package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/example/sso/config"
	"github.com/example/sso/cookiedomain"
)

func TestNestedLoginDomain(t *testing.T) {
	cases := []struct {
		domains []string
		login   string
		want    string // "" or a part of the warning
	}{
		{[]string{"example.com"}, "login.example.com", ""},
		{[]string{"example.com", "example.org"}, "login.example.com", ""},
		{[]string{"example.com", "login.example.com"}, "login.example.com", `lies under the wider cookie domain "example.com"`},
		{[]string{"example.com", "corp.example.com"}, "login.corp.example.com", `sets cookies for "corp.example.com"`},
		{[]string{"example.com", "corp.example.com"}, "login.example.com", ""},
	}
	for _, tc := range cases {
		p, err := cookiedomain.New(cookiedomain.Config{Domains: tc.domains, SameSite: http.SameSiteLaxMode, Secure: true})
		if err != nil {
			t.Fatal(err)
		}
		got := nestedLoginDomain(p, tc.login)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("nestedLoginDomain(%v, %q) = %q, want %q", tc.domains, tc.login, got, tc.want)
		}
	}
}

// SSO_CORS_HEADERS extends, not replaces, the headers preflights allow.
func TestCORSHeadersSetting(t *testing.T) {
	env := map[string]string{"SSO_CORS_HEADERS": "X-Request-Id"}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	res := Assemble(context.Background(), cfg, nil, Options{})
	if res.App == nil {
		t.Fatal(res.Err())
	}
	defer res.App.Close()
	p := res.Policies.CORS
	for _, hdr := range []string{"x-request-id", "x-csrf-token,content-type", "x-other"} {
		r := httptest.NewRequest(http.MethodOptions, "http://api.example.test/x", nil)
		r.Header.Set("Origin", "http://app.example.test:8080")
		r.Header.Set("Access-Control-Request-Method", "PUT")
		r.Header.Set("Access-Control-Request-Headers", hdr)
		w := httptest.NewRecorder()
		p.Preflight(w, r)
		want := http.StatusNoContent
		if hdr == "x-other" {
			want = http.StatusForbidden
		}
		if w.Code != want {
			t.Errorf("preflight with %q: status %d, want %d", hdr, w.Code, want)
		}
	}
}

func TestProxyReach(t *testing.T) {
	loop := []string{"127.0.0.1/32", "::1/128"}
	tests := []struct {
		listen  string
		trusted []string
		warn    bool
	}{
		{"127.0.0.1:8080", loop, false},
		{"[::1]:8080", loop, false},
		{"localhost:8080", loop, false},
		{":8080", loop, true},
		{"0.0.0.0:8080", loop, true},
		{"10.0.0.5:8080", []string{"127.0.0.1"}, true},
		{":8080", []string{"127.0.0.1/32", "172.16.0.0/12"}, false},
		{":8080", []string{"10.1.2.3"}, false},
	}
	for _, tc := range tests {
		got := proxyReach(tc.listen, tc.trusted)
		if (got != "") != tc.warn {
			t.Errorf("proxyReach(%q, %q) = %q, want warning %v", tc.listen, tc.trusted, got, tc.warn)
		}
		if got != "" && !strings.Contains(got, "SSO_TRUSTED_PROXIES") {
			t.Errorf("warning %q does not name SSO_TRUSTED_PROXIES", got)
		}
	}
}
