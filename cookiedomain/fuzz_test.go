package cookiedomain

import (
	"slices"
	"strings"
	"testing"
)

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{
		"Example.COM", "example.com.", "example.com:8443", "[::1]:80", "::1", "bücher.example",
		"127.0.0.1", "a..b", "xn--bcher-kva.example", "ｅｘａｍｐｌｅ。com", "127.1", "[fe80::1%25eth0]",
		"EXAMPLE.COM.:", "ab--cd.example", "\u00df.example", "a\u200db.example",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := Canonical(in)
		if err != nil {
			return
		}
		if got == "" || strings.ToLower(got) != got || strings.HasSuffix(got, ".") || strings.ContainsAny(got, " []") {
			t.Fatalf("Canonical(%q) = %q: not canonical", in, got)
		}
		again, err := Canonical(got)
		if err != nil || again != got {
			t.Fatalf("Canonical(%q) = %q, %v; Canonical(%q) = %q, want idempotent", in, got, nil, got, again)
		}
		if !Under(got, got) {
			t.Fatalf("Under(%q, %q) = false", got, got)
		}
	})
}

func FuzzFor(f *testing.F) {
	for _, s := range []string{
		"login.example.com", "foo.sso.example.com:443", "evilexample.com", "example.com.evil.net",
		"SHOP.BÜCHER.EXAMPLE.", "127.0.0.1", "[::1]", "example.test", "sso.example.com.",
	} {
		f.Add(s)
	}
	domains := []string{"example.com", "sso.example.com", "xn--bcher-kva.example", "example.test"}
	p, err := New(Config{Domains: domains})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host string) {
		parent, err := p.For(host)
		if err != nil {
			return
		}
		if !slices.Contains(domains, parent) {
			t.Fatalf("For(%q) = %q, not one of %q", host, parent, domains)
		}
		h, err := Canonical(host)
		if err != nil {
			t.Fatalf("For(%q) = %q but Canonical fails: %v", host, parent, err)
		}
		if !Under(h, parent) {
			t.Fatalf("For(%q) = %q, but Under(%q, %q) = false", host, parent, h, parent)
		}
		for _, d := range domains {
			if len(d) > len(parent) && Under(h, d) {
				t.Fatalf("For(%q) = %q, but the longer %q also matches", host, parent, d)
			}
		}
		if _, err := p.SessionCookie(host, "v", 1); err != nil {
			t.Fatalf("For(%q) = %q, but SessionCookie fails: %v", host, parent, err)
		}
	})
}
