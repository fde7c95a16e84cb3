package cookiedomain

import (
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	tests := []struct {
		in, want string // want "" means an error
	}{
		// From net/http/cookiejar's canonicalHost tests.
		{"www.example.com", "www.example.com"},
		{"WWW.EXAMPLE.COM", "www.example.com"},
		{"wWw.eXAmple.CoM", "www.example.com"},
		{"www.example.com:80", "www.example.com"},
		{"192.168.0.10", "192.168.0.10"},
		{"192.168.0.5:8080", "192.168.0.5"},
		{"2001:4860:0:2001::68", "2001:4860:0:2001::68"},
		{"[2001:4860:0:2001::68]:8080", "2001:4860:0:2001::68"},
		{"www.bücher.de", "www.xn--bcher-kva.de"},
		{"www.example.com.", "www.example.com"},
		{"[bad.unmatched.bracket:", ""},

		// Host header forms.
		{"Example.COM", "example.com"},
		{"example.com.", "example.com"},
		{"EXAMPLE.COM.:443", "example.com"},
		{"example.com:8443", "example.com"},
		{"example.com:", "example.com"}, // RFC 3986: port = *DIGIT
		{"[::1]:80", "::1"},
		{"[::1]", "::1"},
		{"::1", "::1"},
		{"[::FFFF:127.0.0.1]", "::ffff:127.0.0.1"},
		{"[2001:DB8::1]:443", "2001:db8::1"},
		{"127.0.0.1", "127.0.0.1"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"BÜCHER.example", "xn--bcher-kva.example"},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example"},
		{"ｅｘａｍｐｌｅ.com", "example.com"}, // full-width letters map
		{"example。com", "example.com"}, // ideographic full stop maps to "."
		{"foo.sso.example.com", "foo.sso.example.com"},
		{"a-b.example.com", "a-b.example.com"},
		{"1password.com", "1password.com"},
		{"example.test", "example.test"},
		{"localhost", "localhost"},
		{"localhost:8080", "localhost"},
		{strings.Repeat("a", 63) + ".com", strings.Repeat("a", 63) + ".com"},

		// Refused.
		{"", ""},
		{".", ""},
		{":80", ""},
		{"a..b", ""},
		{".example.com", ""},
		{"example.com..", ""},
		{"exa mple.com", ""},
		{" example.com", ""},
		{"example.com ", ""},
		{"example.com\t", ""},
		{"example.com\r\nX-Evil: 1", ""},
		{"example.com\x00", ""},
		{"example.com\x7f", ""},
		{"\x85", ""},
		{"b\xfccher.example", ""}, // Latin-1, not UTF-8
		{"example.com:http", ""},
		{"example.com:80a", ""},
		{"example.com:-1", ""},
		{"example.com:65536", ""},
		{"example.com:123456", ""},
		{"example.com:80:80", ""},
		{"[::1]80", ""},
		{"[::1]:x", ""},
		{"[127.0.0.1]", ""},
		{"[fe80::1%25eth0]", ""},
		{"fe80::1%eth0", ""},
		{"[::1", ""},
		{"::g", ""},
		{"ex_ample.com", ""}, // STD3 rules: no underscore in a host name
		{"exam!ple.com", ""},
		{"user@example.com", ""},
		{"example.com/path", ""},
		{"-example.com", ""},
		{"example-.com", ""},
		{"ab--cd.example.com", ""}, // hyphens in positions 3 and 4 are for xn--
		{"xn--zz.example", ""},     // bad punycode
		{strings.Repeat("a", 64) + ".com", ""},
		{strings.Repeat("a.", 127) + "com", ""},
		{"127.1", ""},      // browsers read it as 127.0.0.1
		{"0x7f.0.0.1", ""}, // same
		{"127.000.000.001", ""},
		{"1.2.3.4.5", ""},
		{"example.0x1f", ""},
		{strings.Repeat("a", 2000), ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Canonical(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("Canonical(%q) = %q, want an error", tc.in, got)
				}
				if !strings.HasPrefix(err.Error(), "cookiedomain: ") {
					t.Errorf("Canonical(%q) error %q lacks the package prefix", tc.in, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Canonical(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
			}
			// Canonical output is a fixed point.
			if again, err := Canonical(got); err != nil || again != got {
				t.Errorf("Canonical(%q) = %q, %v, want %q (idempotent)", got, again, err, got)
			}
		})
	}
}

func TestValidateParent(t *testing.T) {
	tests := []struct {
		in, want string
		why      string // substring of the error when want is ""
	}{
		{in: "example.com", want: "example.com"},
		{in: "Example.COM.", want: "example.com"},
		{in: ".example.com", want: "example.com"}, // RFC 6265 §5.2.3: leading dot ignored
		{in: "sso.example.com", want: "sso.example.com"},
		{in: "example.test", want: "example.test"}, // the dev default
		{in: "example.co.uk", want: "example.co.uk"},
		{in: "alice.github.io", want: "alice.github.io"},
		{in: "bücher.example", want: "xn--bcher-kva.example"},
		{in: "example.internal", want: "example.internal"},

		{in: "com", why: "single label"},
		{in: "localhost", why: "single label"},
		{in: "test", why: "single label"},
		{in: ".com", why: "single label"},
		{in: "co.uk", why: `"co.uk" is a public suffix: browsers refuse cookies for it`},
		{in: "CO.UK.", why: `"co.uk" is a public suffix`},
		{in: "github.io", why: "public suffix"},
		{in: "appspot.com", why: "public suffix"},
		{in: "127.0.0.1", why: "IP address"},
		{in: "[::1]", why: "IP address"},
		{in: "::1", why: "IP address"},
		{in: "example.com:443", why: "has a port"},
		{in: "..example.com", why: "empty label"},
		{in: "a..b", why: "empty label"},
		{in: "", why: "empty"},
		{in: ".", why: "empty"},
		{in: "exa mple.com", why: "space"},
		{in: "127.1", why: "numeric"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ValidateParent(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ValidateParent(%q) = %q, want an error containing %q", tc.in, got, tc.why)
				}
				if !strings.HasPrefix(err.Error(), "cookiedomain: ") || !strings.Contains(err.Error(), tc.why) {
					t.Errorf("ValidateParent(%q) error = %q, want it to contain %q", tc.in, err, tc.why)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ValidateParent(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestValidateParentMessage(t *testing.T) {
	_, err := ValidateParent("co.uk")
	const want = `cookiedomain: "co.uk" is a public suffix: browsers refuse cookies for it`
	if err == nil || err.Error() != want {
		t.Errorf("ValidateParent(%q) error = %v, want %q", "co.uk", err, want)
	}
}

func TestUnder(t *testing.T) {
	tests := []struct {
		host, parent string
		want         bool
	}{
		// cookiejar's hasDotSuffix and domainMatch spirit, in our shape.
		{"sso.example.com", "sso.example.com", true},
		{"foo.sso.example.com", "sso.example.com", true},
		{"bar.foo.sso.example.com", "sso.example.com", true},
		{"example.com", "sso.example.com", false},
		{"bar.example.com", "sso.example.com", false},
		{"foosso.example.com", "sso.example.com", false},
		{"evilexample.com", "example.com", false},
		{"example.com.evil.net", "example.com", false},
		{"example.com", "example.com", true},
		{"www.example.com", "example.com", true},
		{"xample.com", "example.com", false},
		{"com", "example.com", false},
		{"", "example.com", false},
		{"example.com", "", false},
		{"", "", false},
		{"1.2.3.4", "1.2.3.4", true},
		{"1.2.3.4", "2.3.4", false},
		{"1.2.3.4", "3.4", false},
		{"::1", "::1", true},
		{"xn--bcher-kva.example", "example", true},
		{"axn--bcher-kva.example", "xn--bcher-kva.example", false},
	}
	for _, tc := range tests {
		if got := Under(tc.host, tc.parent); got != tc.want {
			t.Errorf("Under(%q, %q) = %v, want %v", tc.host, tc.parent, got, tc.want)
		}
	}
}
