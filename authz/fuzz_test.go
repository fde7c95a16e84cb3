package authz_test

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzAuth feeds arbitrary credentials and headers to /auth: it never
// panics, never lets an unknown credential pass, never writes a cookie and
// never answers Access-Control-Allow-Origin: *.
func FuzzAuth(f *testing.F) {
	f.Add("garbage", "Bearer x", "sso_x", "https://evil.net", "POST", "https://app.example.test/")
	f.Add("", "bearer eyJhbGciOiJFZERTQSJ9.e30.x", "", "null", "DELETE", "//evil.net")
	f.Add(strings.Repeat("A", 43)+"."+strings.Repeat("B", 43), "Basic Zm9vOmJhcg==", "", "https://app.example.test", "GET", "javascript:alert(1)")
	f.Fuzz(func(t *testing.T, cookie, authorization, xAPIKey, origin, method, original string) {
		fx := newFixture(t, nil)
		r := authRequest("/auth")
		// Through the header, as a client would send it, even when invalid.
		r.Header["Cookie"] = []string{cookieName + "=" + cookie}
		r.Header["Authorization"] = []string{authorization}
		r.Header["X-Api-Key"] = []string{xAPIKey}
		r.Header["Origin"] = []string{origin}
		r.Header["X-Original-Method"] = []string{method}
		r.Header["X-Original-Url"] = []string{original}
		w := fx.serve(r)
		switch w.Code {
		case http.StatusUnauthorized, http.StatusForbidden:
		default:
			t.Fatalf("/auth with no stored credential = %d, want 401 or 403", w.Code)
		}
		if v := w.Header().Get("Access-Control-Allow-Origin"); v == "*" || (v != "" && v != origin) {
			t.Fatalf("Access-Control-Allow-Origin = %q for Origin %q", v, origin)
		}
		if len(w.Header().Values("Set-Cookie")) != 0 {
			t.Fatal("/auth set a cookie")
		}
		if u := w.Header().Get("X-Auth-User"); u != "" {
			t.Fatalf("X-Auth-User = %q", u)
		}
		if login := w.Header().Get("X-Auth-Login-URL"); w.Code == http.StatusUnauthorized && !strings.HasPrefix(login, loginURL+"/login") {
			t.Fatalf("X-Auth-Login-URL = %q", login)
		}
	})
}
