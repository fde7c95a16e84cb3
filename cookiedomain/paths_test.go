package cookiedomain

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/publicsuffix"
)

func TestPathPrefixes(t *testing.T) {
	tests := []struct {
		in   []string
		want []string
	}{
		{[]string{"/"}, nil},
		{[]string{""}, nil},
		{[]string{"login"}, nil},
		{[]string{"/login"}, []string{"/login"}},
		{[]string{"/a/b"}, []string{"/a", "/a/", "/a/b"}},
		{[]string{"/a/b/"}, []string{"/a", "/a/", "/a/b", "/a/b/"}},
		{[]string{"/a//b"}, []string{"/a", "/a/", "/a//", "/a//b"}},
		{[]string{"/login", "/logout", "/login"}, []string{"/login", "/logout"}},
		{[]string{"/a;b", "/\x7f", "/é"}, nil},
		{[]string{"/x%20y/z"}, []string{"/x%20y", "/x%20y/", "/x%20y/z"}},
	}
	for _, tc := range tests {
		if got := PathPrefixes(tc.in...); !slices.Equal(got, tc.want) {
			t.Errorf("PathPrefixes(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Through a real cookie jar: cookies a sibling tossed for the parent domain
// at paths under the one a request was for are all deleted by ClearAtPaths
// sent from the login hub, and one at an unrelated path is left alone (it is
// not sent with that request either).
func TestClearAtPathsRemovesTossedCookies(t *testing.T) {
	p, err := New(Config{Domains: []string{"example.com"}, Name: "sso", SameSite: http.SameSiteLaxMode, Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	jar, err := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	if err != nil {
		t.Fatal(err)
	}
	sibling, _ := url.Parse("https://blog.example.com/")
	var tossed []*http.Cookie
	for _, path := range []string{"/app", "/app/", "/app/inbox", "/other"} {
		tossed = append(tossed, &http.Cookie{Name: "sso", Value: "tossed" + strings.ReplaceAll(path, "/", "_"), Domain: "example.com", Path: path, Secure: true})
	}
	jar.SetCookies(sibling, tossed)
	target, _ := url.Parse("https://app.example.com/app/inbox")
	if n := len(jar.Cookies(target)); n != 3 {
		t.Fatalf("before: %d cookies sent to %s, want 3", n, target)
	}
	clear, err := p.ClearAtPaths("login.example.com", target.EscapedPath())
	if err != nil {
		t.Fatal(err)
	}
	hub, _ := url.Parse("https://login.example.com/logout")
	jar.SetCookies(hub, clear)
	if got := jar.Cookies(target); len(got) != 0 {
		t.Errorf("after: %d cookies still sent to %s: %v", len(got), target, got)
	}
	other, _ := url.Parse("https://app.example.com/other")
	if n := len(jar.Cookies(other)); n != 1 {
		t.Errorf("cookie at /other: %d, want 1 (untouched)", n)
	}
	if _, err := p.ClearAtPaths("evil.net", "/x"); err == nil {
		t.Error("ClearAtPaths for a host under no parent domain: no error")
	}
}

func FuzzPathPrefixes(f *testing.F) {
	for _, s := range []string{"/", "/a/b/", "/x;y", "//", "/a/../b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		for _, p := range PathPrefixes(path) {
			if !strings.HasPrefix(path, p) || p == "/" || !validCookiePath(p) {
				t.Fatalf("PathPrefixes(%q) gave %q", path, p)
			}
			c := &http.Cookie{Name: "n", Value: "", Path: p}
			if c.String() == "" || !strings.Contains(c.String(), "Path="+p) {
				t.Fatalf("cookie with Path %q does not serialise it: %q", p, c.String())
			}
		}
	})
}
