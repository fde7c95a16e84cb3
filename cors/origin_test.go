package cors_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/example/sso/cors"
	"github.com/example/sso/cors/internal/spectest"
)

func TestParseOrigin(t *testing.T) {
	tests := []struct {
		in   string
		want cors.Origin
	}{
		{"https://app.example.com", cors.Origin{"https", "app.example.com", ""}},
		{"HTTPS://APP.Example.COM", cors.Origin{"https", "app.example.com", ""}},
		{"http://localhost:3000", cors.Origin{"http", "localhost", "3000"}},
		{"https://a.example.com:443", cors.Origin{"https", "a.example.com", ""}},
		{"http://a.example.com:80", cors.Origin{"http", "a.example.com", ""}},
		{"http://a.example.com:443", cors.Origin{"http", "a.example.com", "443"}},
		{"https://a.example.com:80", cors.Origin{"https", "a.example.com", "80"}},
		{"https://a.example.com:65535", cors.Origin{"https", "a.example.com", "65535"}},
		{"https://[::1]", cors.Origin{"https", "::1", ""}},
		{"https://[2001:DB8:0:0::1]:8443", cors.Origin{"https", "2001:db8::1", "8443"}},
		{"http://127.0.0.1:8080", cors.Origin{"http", "127.0.0.1", "8080"}},
		{"https://аpp.example.com", cors.Origin{"https", "xn--pp-6kc.example.com", ""}}, // Cyrillic а
		{"https://bücher.example", cors.Origin{"https", "xn--bcher-kva.example", ""}},
		{"https://xn--bcher-kva.example", cors.Origin{"https", "xn--bcher-kva.example", ""}},
		// UTS 46 drops a zero-width space, as browsers' URL parsers do.
		{"https://app.exa\u200bmple.com", cors.Origin{"https", "app.example.com", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := cors.ParseOrigin(tc.in)
			if err != nil {
				t.Fatalf("ParseOrigin(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseOrigin(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseOriginRefuses(t *testing.T) {
	for _, in := range []string{
		"", "null", "*", "file://", "file:///etc/passwd", "ftp://example.com", "ws://example.com", "https:app.example.com",
		"https//app.example.com", "https://", "https://:443", "https://app.example.com/", "https://app.example.com/x",
		"https://app.example.com?", "https://app.example.com#", "https://u@app.example.com", "https://u:p@app.example.com",
		"https://app.example.com.", "https://app..example.com", "https://.app.example.com", " https://app.example.com",
		"https://app.example.com ", "https://app.example.com\t", "https://app.example.com\n", "https://app.example.com\x00",
		"https://app.example.com\\", "https://app.example.com\\@evil.net", "https://app%2eexample.com",
		"https://app.example.com:", "https://app.example.com:0", "https://app.example.com:00443", "https://app.example.com:+443",
		"https://app.example.com:-1", "https://app.example.com:65536", "https://app.example.com:99999999", "https://app.example.com:abc",
		"https://app.example.com:443:443", "https://https://app.example.com", "https://my_app.example.com", "https://-app.example.com",
		"https://[::1", "https://[::1]x", "https://[fe80::1%25eth0]", "https://[1.2.3.4]", "https://::1", "https://0x7f.0.0.1",
		"https://127.1", "https://127.000.0.1", "https://1.2.3.4.5", "https://xn--.example.com", "https://xn--zz-.example.com",
		"https://app.example.com\u3002", "https://" + strings.Repeat("a", 64) + ".example.com",
		"https://" + strings.Repeat("a.", 130) + "com", "https://" + strings.Repeat("a", 2000),
		"https://app\uff0fevil.net", // full-width solidus maps to "/"
	} {
		t.Run(in, func(t *testing.T) {
			o, err := cors.ParseOrigin(in)
			if err == nil {
				t.Fatalf("ParseOrigin(%q) = %#v, want an error", in, o)
			}
			if !errors.Is(err, cors.ErrInvalidOrigin) {
				t.Errorf("ParseOrigin(%q) error %v does not wrap ErrInvalidOrigin", in, err)
			}
		})
	}
}

// TestAllowed runs adversarial origins, many from public CORS-bypass
// lists, against the spectest policy.
func TestAllowed(t *testing.T) {
	p := spectest.NewPolicy(t)
	tests := []struct {
		origin string
		want   bool
	}{
		{"https://app.example.com", true},
		{"https://a.b.example.com", true},
		{"https://x.y.z.example.com", true},
		{"https://APP.Example.com", true},
		{"HTTPS://APP.EXAMPLE.COM", true},
		{"https://app.example.com:8443", true}, // portless pattern: any port
		{"https://app.example.com:443", true},
		{"https://example.com", true},
		{"https://example.com:444", true},
		{"https://app.example.org:8443", true},
		{"https://аpp.example.com", true},        // Cyrillic а, but under example.com after IDNA
		{"https://xn--pp-6kc.example.com", true}, // the same in punycode
		{"https://ａpp.example.com", true},        // full-width a maps to a: still under example.com

		{"https://example.com.evil.net", false},
		{"https://evilexample.com", false},
		{"https://example.com%60.evil.net", false},
		{"https://example.com`.evil.net", false},
		{"https://example.com_.evil.net", false},
		{"https://example.com-.evil.net", false},
		{"https://example.com..evil.net", false},
		{"https://evil.net/example.com", false},
		{"https://evil.net/.example.com", false},
		{"https://example.com@evil.net", false},
		{"https://app.example.com@evil.net", false},
		{"https://evil.net#.example.com", false},
		{"https://evil.net?.example.com", false},
		{"https://evil.net\\.example.com", false},
		{"https://evil.net\\@app.example.com", false},
		{"https://app.example.com\\@evil.net", false},
		{"https://evil.net%2f.example.com", false},
		{"https://evil.net%00.example.com", false},
		{"https://evil.net\x00.example.com", false},
		{"http://app.example.com", false},
		{"http://example.com", false},
		{"wss://app.example.com", false},
		{"https://app.example.org", false},
		{"https://app.example.org:443", false},
		{"https://app.example.org:8444", false},
		{"https://x.app.example.org:8443", false},
		{"https://example.org:8443", false},
		{"null", false},
		{"*", false},
		{"", false},
		{"https://app.example.com/", false},
		{"https://app.example.com.", false},
		{"https://example.com.", false},
		{" https://app.example.com", false},
		{"https://app.example.com\t", false},
		{"https://app.example.com\r\n", false},
		{"https://app.exаmple.com", false}, // Cyrillic а in the parent
		{"https://app.xn--exmple-4nf.com", false},
		{"https://xn--e1awd7f.com", false},
		{"https://xn--80ak6aa92e.com", false},
		{"https://app.example.com:0", false},
		{"https://app.example.com:65536", false},
		{"https://app.example.com:abc", false},
		{"https://app.example.com:", false},
		{"https://[::1]", false},
		{"https://[::1]:8443", false},
		{"https://https://app.example.com", false},
		{"https://app.example.com.https://evil.net", false},
		{"https://example.comevil.net", false},
		{"https://com", false},
		{"https://examplecom", false},
		{"https://evil.net:443.example.com", false},
		{"https://app.example.com:443@evil.net", false},
		{"https://app.example.com%2e", false},
		{"https://xn--.example.com", false},
		{"//app.example.com", false},
		{"app.example.com", false},
	}
	for _, tc := range tests {
		t.Run(tc.origin, func(t *testing.T) {
			if got := p.Allowed(tc.origin); got != tc.want {
				t.Errorf("Allowed(%q) = %v, want %v", tc.origin, got, tc.want)
			}
			if got := spectest.Oracle(tc.origin); tc.want && !got {
				t.Errorf("Oracle(%q) = false, but Allowed should be true: the oracle is wrong", tc.origin)
			}
		})
	}
}

// FuzzParseOrigin checks that parsing never panics, that an accepted
// origin re-parses from its String() to the same value, that it is what
// net/url sees too, and that Allowed never exceeds the slow oracle.
func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{
		"https://app.example.com", "https://a.b.example.com:8443", "http://localhost:3000", "https://[::1]:443",
		"https://example.com.evil.net", "https://example.com@evil.net", "https://аpp.example.com", "null", "*",
		"https://app.example.org:8443", "HTTPS://EXAMPLE.COM", "https://xn--bcher-kva.example", "http://127.0.0.1",
		"https://evil.net#.example.com", "https://app.example.com:0443",
	} {
		f.Add(s)
	}
	p := spectest.NewPolicy(f)
	f.Fuzz(func(t *testing.T, s string) {
		allowed := p.Allowed(s)
		o, err := cors.ParseOrigin(s)
		if err != nil {
			if allowed {
				t.Fatalf("Allowed(%q) = true, but ParseOrigin fails: %v", s, err)
			}
			return
		}
		again, err := cors.ParseOrigin(o.String())
		if err != nil || again != o {
			t.Fatalf("ParseOrigin(%q) = %#v; ParseOrigin(%q) = %#v, %v", s, o, o.String(), again, err)
		}
		if p.Allowed(o.String()) != allowed {
			t.Fatalf("Allowed(%q) = %v, Allowed(%q) differs", s, allowed, o.String())
		}
		if allowed && !spectest.Oracle(s) {
			t.Fatalf("Allowed(%q) = true, but the oracle refuses it", s)
		}
		if !utf8.ValidString(s) {
			return
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("ParseOrigin(%q) accepted what net/url refuses: %v", s, err)
		}
		if u.Scheme != o.Scheme || u.User != nil || u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			t.Fatalf("ParseOrigin(%q) = %#v, but net/url sees %#v", s, o, u)
		}
	})
}
