package doctor

import (
	"net/http"
	"strings"
	"testing"
)

func TestDoctorSafelistedHeader(t *testing.T) {
	tests := []struct {
		name, value string
		want        bool
	}{
		{"Accept", "application/json", true},
		{"Accept", "text/html(", false},
		{"Accept-Language", "en-GB,en;q=0.9", true},
		{"Content-Language", "de/at", false},
		{"Content-Type", "text/plain;charset=UTF-8", true},
		{"content-type", "Application/X-WWW-Form-Urlencoded", true},
		{"Content-Type", "multipart/form-data; boundary=x", true},
		{"Content-Type", "application/json", false},
		{"Content-Type", "text/plain; a=\"b\"", false}, // '"' is a CORS-unsafe byte
		{"Content-Type", "", false},
		{"Range", "bytes=0-", true},
		{"Range", "bytes=10-20", true},
		{"Range", "bytes=-20", false},
		{"Range", "bytes=0-1,3-4", false},
		{"X-CSRF-Token", "t", false},
		{"Authorization", "Bearer x", false},
		{"Accept", strings.Repeat("a", 129), false},
	}
	for _, tc := range tests {
		if got := safelistedHeader(tc.name, tc.value); got != tc.want {
			t.Errorf("safelistedHeader(%q, %q) = %v, want %v", tc.name, tc.value, got, tc.want)
		}
	}
}

func TestDoctorNormalizeMethod(t *testing.T) {
	for in, want := range map[string]string{
		"get": "GET", "Post": "POST", "delete": "DELETE", "put": "PUT", "options": "OPTIONS",
		"patch": "patch", "PATCH": "PATCH", "propfind": "propfind",
	} {
		if got := normalizeMethod(in); got != want {
			t.Errorf("normalizeMethod(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDoctorRegistrable(t *testing.T) {
	for in, want := range map[string]string{
		"api.example.com":   "example.com",
		"a.b.example.co.uk": "example.co.uk",
		"alice.github.io":   "alice.github.io", // a private suffix counts too
		"github.io":         "github.io",
		"localhost":         "localhost",
		"192.0.2.7":         "192.0.2.7",
		"::1":               "::1",
	} {
		if got := registrable(in); got != want {
			t.Errorf("registrable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDoctorTrustworthy(t *testing.T) {
	tests := []struct {
		scheme, host string
		want         bool
	}{
		{"https", "api.example.com", true},
		{"http", "api.example.com", false},
		{"http", "localhost", true},
		{"http", "app.localhost", true},
		{"http", "127.0.0.1", true},
		{"http", "::1", true},
		{"http", "localhost.example.com", false},
		{"http", "10.0.0.1", false},
	}
	for _, tc := range tests {
		if got := trustworthy(tc.scheme, tc.host); got != tc.want {
			t.Errorf("trustworthy(%q, %q) = %v, want %v", tc.scheme, tc.host, got, tc.want)
		}
	}
}

// Explain takes URLs and headers from the command line: it must never
// panic, and always report the request check first.
func FuzzExplain(f *testing.F) {
	f.Add("https://app.example.com/", "https://api.example.com/items", "PUT", "X-CSRF-Token", "t", "include")
	f.Add("http://[::1]:3000", "https://login.example.com/api/session", "patch", "Content-Type", "text/plain", "same-origin")
	f.Add("https://xn--bcher-kva.example/", "https://evilexample.com:0/", "", "Range", "bytes=0-", "")
	f.Fuzz(func(t *testing.T, from, to, method, hname, hvalue, creds string) {
		cp, op := setup{}.policies(t, login)
		r := Explain(Input{
			Cookies: cp, CORS: op, LoginURL: login,
			From: from, To: to, Method: method, Credentials: creds,
			Headers: http.Header{hname: {hvalue}},
		})
		if len(r.Checks) == 0 || r.Checks[0].Name != CheckRequest {
			t.Fatalf("Explain(%q, %q): first check is not %q: %v", from, to, CheckRequest, r.Checks)
		}
		if r.OK {
			for _, c := range r.Checks {
				if !c.OK {
					t.Fatalf("report OK with failing check %v", c)
				}
			}
		}
	})
}

func TestDoctorWithoutPolicies(t *testing.T) {
	r := Explain(Input{From: "https://app.example.com/", To: "https://api.example.com/"})
	if r.OK || len(r.Checks) != 1 || r.Checks[0].Name != CheckRequest {
		t.Errorf("Explain without policies = %+v, want one failing %q check", r, CheckRequest)
	}
}
