package main

import (
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
	_, p, _, err := webPolicies(cfg)
	if err != nil {
		t.Fatal(err)
	}
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
