package cookiedomain

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"testing"
	"time"

	"golang.org/x/net/publicsuffix"
)

// TestJar runs the cookies through net/http/cookiejar, which applies the
// RFC 6265 domain rules as a browser does: the session reaches siblings,
// and the clearing pair also removes a host-only leftover.
func TestJar(t *testing.T) {
	p := mustNew(t, Config{Domains: []string{"example.com"}, Name: "sso", Secure: true})
	jar, err := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	if err != nil {
		t.Fatal(err)
	}
	login := &url.URL{Scheme: "https", Host: "login.example.com", Path: "/login"}
	app := &url.URL{Scheme: "https", Host: "app.example.com", Path: "/"}
	evil := &url.URL{Scheme: "https", Host: "evilexample.com", Path: "/"}

	c, err := p.SessionCookie(login.Host, "v1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// A host-only cookie of the same name, as an older configuration left it.
	old := &http.Cookie{Name: "sso", Value: "old", Path: "/", Secure: true, HttpOnly: true, MaxAge: 3600}
	jar.SetCookies(login, []*http.Cookie{c, old})

	if got := len(jar.Cookies(login)); got != 2 {
		t.Fatalf("login.example.com has %d cookies, want 2 (shared and host-only)", got)
	}
	if got := jar.Cookies(app); len(got) != 1 || got[0].Value != "v1" {
		t.Errorf("app.example.com gets %v, want the shared session cookie", got)
	}
	if got := jar.Cookies(evil); len(got) != 0 {
		t.Errorf("evilexample.com gets %v, want nothing", got)
	}

	clear, err := p.ClearCookies(login.Host)
	if err != nil {
		t.Fatal(err)
	}
	jar.SetCookies(login, clear)
	for _, u := range []*url.URL{login, app} {
		if got := jar.Cookies(u); len(got) != 0 {
			t.Errorf("after ClearCookies, %s still gets %v", u.Host, got)
		}
	}
}
