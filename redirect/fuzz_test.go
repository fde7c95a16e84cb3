package redirect

import (
	"net/url"
	"strings"
	"testing"
)

func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"/", "/app?x=1#y", "//evil.net", "/\\evil.net", "/\t/evil.com", "/ /evil.com", "/%2f%2fevil.net",
		"/..//evil.net", "https://app.example.com:8443/x", "https://example.com@evil.net", "https:evil.net",
		"https:/evil.net", "https://bücher.example.com/", "https://[::1]/", "javascript:alert(1)",
		"https://app.example.com./?q=ü#ü", "https://evil.net。example.com", "/%2e%2e//x",
	} {
		f.Add(s)
	}
	allowed := func(h string) bool {
		return h == "::1" || h == "127.0.0.1" || underExample(h)
	}
	f.Fuzz(func(t *testing.T, rd string) {
		got, ok := Check(rd, allowed)
		if !ok {
			if got != "" {
				t.Fatalf("Check(%q) = %q, false, want empty target when refused", rd, got)
			}
			return
		}
		if strings.HasPrefix(got, "/") {
			if strings.HasPrefix(got, "//") || strings.HasPrefix(got, `/\`) {
				t.Fatalf("Check(%q) = %q: scheme-relative", rd, got)
			}
		} else {
			u, err := url.Parse(got)
			if err != nil || u.Scheme != "https" || u.User != nil || u.Opaque != "" {
				t.Fatalf("Check(%q) = %q: not a plain https URL (%v)", rd, got, err)
			}
			h := u.Hostname()
			if h != strings.ToLower(h) || strings.HasSuffix(h, ".") || !allowed(h) {
				t.Fatalf("Check(%q) = %q: host %q is not canonical and allowed", rd, got, h)
			}
		}
		if strings.ContainsAny(got, "\\ \t\r\n\x00") {
			t.Fatalf("Check(%q) = %q: contains a backslash, space or control", rd, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] >= 0x80 {
				t.Fatalf("Check(%q) = %q: not ASCII", rd, got)
			}
		}
		if again, ok := Check(got, allowed); !ok || again != got {
			t.Fatalf("Check(%q) = %q; Check(%q) = %q, %v, want idempotent", rd, got, got, again, ok)
		}
	})
}
