package httptoken

import (
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"X-Request-Id", true},
		{"sso_session", true},
		{"__Secure-sso", true},
		{"!#$%&'*+-.^_`|~09azAZ", true},
		{"", false},
		{"a b", false},
		{"a:b", false},
		{"a\tb", false},
		{"é", false},
		{"a\x7f", false},
		{`a"b`, false},
	} {
		if got := Valid(tc.s); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// IsChar agrees with RFC 9110's grammar written out: visible ASCII except
// the delimiters "(),/:;<=>?@[\]{} and DQUOTE.
func TestIsCharAgainstGrammar(t *testing.T) {
	for b := 0; b < 256; b++ {
		want := b > 0x20 && b < 0x7f && !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, rune(b))
		if got := IsChar(byte(b)); got != want {
			t.Errorf("IsChar(%#x) = %v, want %v", b, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	f.Add("X-Request-Id")
	f.Add("a b")
	f.Fuzz(func(t *testing.T, s string) {
		want := s != ""
		for i := 0; i < len(s); i++ {
			b := s[i]
			if b <= 0x20 || b >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, b) >= 0 {
				want = false
			}
		}
		if Valid(s) != want {
			t.Errorf("Valid(%q) = %v, want %v", s, !want, want)
		}
	})
}
