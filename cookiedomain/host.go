package cookiedomain

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// maxInput bounds the work done on a hostile Host header before any parsing;
// a DNS name is at most 253 bytes, and a port or brackets add a few more.
const maxInput = 1024

// host is a canonical host name and what was learnt while canonicalising it.
type host struct {
	name    string // canonical: lower case, ASCII, no port, no trailing dot, IPv6 without brackets
	ip      bool   // an IPv4 or IPv6 literal
	hasPort bool   // the input carried ":port" (possibly an empty port)
}

// Canonical returns the canonical form of a host as found in a Host header
// or a URL: lower case, IDNA ToASCII (the idna.Lookup profile, which also
// applies the STD3 rules: letters, digits and hyphens only), with the port
// and one trailing dot stripped. "[::1]:80" becomes "::1"; IP addresses are
// accepted here (a request may well arrive by IP) but are never a valid
// parent, see ValidateParent.
//
// It refuses the empty string, spaces and control characters, empty labels
// ("a..b"), labels over 63 bytes, names over 253 bytes, non-numeric ports and
// names whose last label is all digits but that are no IPv4 address
// ("127.1", "0x7f.0.0.1"): browsers read those as IPv4 addresses.
func Canonical(h string) (string, error) {
	c, err := canonical(h)
	if err != nil {
		return "", fmt.Errorf("cookiedomain: invalid host %q: %w", h, err)
	}
	return c.name, nil
}

func canonical(s string) (host, error) {
	switch {
	case s == "":
		return host{}, errors.New("empty")
	case len(s) > maxInput:
		return host{}, fmt.Errorf("longer than %d bytes", maxInput)
	case !utf8.ValidString(s):
		// idna would turn each bad byte into U+FFFD and encode that.
		return host{}, errors.New("invalid UTF-8")
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b == 0x7f {
			return host{}, fmt.Errorf("space or control character at byte %d", i)
		}
	}

	var h host
	name := s
	switch {
	case strings.HasPrefix(s, "["):
		// "[v6]" or "[v6]:port" (RFC 3986 §3.2.2 IP-literal).
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return host{}, errors.New("missing ']'")
		}
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return host{}, errors.New("junk after ']'")
			}
			if err := checkPort(rest[1:]); err != nil {
				return host{}, err
			}
			h.hasPort = true
		}
		a, err := netip.ParseAddr(s[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return host{}, errors.New("bad IPv6 literal")
		}
		h.name, h.ip = a.String(), true
		return h, nil
	case strings.Count(s, ":") > 1:
		// A bare IPv6 address, as in configuration or in our own output;
		// accepted so that Canonical is idempotent.
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return host{}, errors.New("bad IPv6 address or too many colons")
		}
		h.name, h.ip = a.String(), true
		return h, nil
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		if err := checkPort(s[i+1:]); err != nil {
			return host{}, err
		}
		name, h.hasPort = s[:i], true
	}
	if a, err := netip.ParseAddr(name); err == nil && a.Is4() {
		h.name, h.ip = a.String(), true
		return h, nil
	}

	// idna.Lookup lower-cases, maps (full-width letters, "。" to ".") and
	// validates labels; we check lengths and empty labels ourselves because
	// the profile does not (VerifyDNSLength is off in Lookup).
	ascii, err := idna.Lookup.ToASCII(name)
	if err != nil {
		return host{}, fmt.Errorf("not a valid domain name: %w", err)
	}
	ascii = strings.ToLower(ascii)
	// RFC 6265 §5.1.2: the trailing dot of an absolute name is not part of
	// the cookie domain. Strip one only; "example.com.." has an empty label.
	ascii = strings.TrimSuffix(ascii, ".")
	if err := checkLabels(ascii); err != nil {
		return host{}, err
	}
	if a, err := netip.ParseAddr(ascii); err == nil && a.Is4() {
		// Only reachable through IDNA mapping, e.g. full-width digits.
		h.name, h.ip = a.String(), true
		return h, nil
	}
	h.name = ascii
	return h, nil
}

// checkPort accepts RFC 3986's port = *DIGIT, bounded by 65535.
func checkPort(p string) error {
	if len(p) > 5 {
		return fmt.Errorf("port %q too long", p)
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return fmt.Errorf("port %q is not numeric", p)
		}
		n = n*10 + int(p[i]-'0')
	}
	if n > 65535 {
		return fmt.Errorf("port %q out of range", p)
	}
	return nil
}

func checkLabels(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if len(name) > 253 {
		return errors.New("name longer than 253 bytes")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		switch {
		case l == "":
			return errors.New("empty label")
		case len(l) > 63:
			return fmt.Errorf("label %q longer than 63 bytes", l)
		}
	}
	// WHATWG URL §3.5 "ends in a number": browsers parse such a host as
	// IPv4, so it cannot be a domain name and must not match one.
	if last := labels[len(labels)-1]; allDigits(last) || strings.HasPrefix(last, "0x") && allHex(last[2:]) {
		return fmt.Errorf("last label %q is numeric but the name is no IPv4 address", last)
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// ValidateParent checks that domain can carry a Domain cookie attribute and
// returns its canonical form. One leading dot is accepted and stripped:
// RFC 6265 §5.2.3 user agents ignore it, and ".example.com" is a common
// habit. It refuses IP addresses, ports, single labels ("localhost") and
// public suffixes per golang.org/x/net/publicsuffix ("com", "co.uk",
// "github.io"), because browsers refuse cookies for them (RFC 6265 §5.3
// step 5). The reserved TLD "test" is no listed suffix, so "example.test"
// (the dev default) is accepted.
func ValidateParent(domain string) (string, error) {
	d, err := validateParent(domain)
	if err != nil {
		return "", fmt.Errorf("cookiedomain: %w", err)
	}
	return d, nil
}

// validateParent returns errors without the package prefix so that New can
// put the field name in front.
func validateParent(domain string) (string, error) {
	h, err := canonical(strings.TrimPrefix(domain, "."))
	switch {
	case err != nil:
		return "", fmt.Errorf("invalid domain %q: %w", domain, err)
	case h.ip:
		return "", fmt.Errorf("%q is an IP address: a cookie Domain must be a name", domain)
	case h.hasPort:
		return "", fmt.Errorf("%q has a port: cookie domains have none", domain)
	case !strings.Contains(h.name, "."):
		return "", fmt.Errorf("%q is a single label: browsers refuse cookies for it", domain)
	}
	if ps, _ := publicsuffix.PublicSuffix(h.name); ps == h.name {
		return "", fmt.Errorf("%q is a public suffix: browsers refuse cookies for it", h.name)
	}
	return h.name, nil
}

// Under reports whether host is parent or a subdomain of it, on a dot
// boundary (net/http/cookiejar's hasDotSuffix): "evilexample.com" is not
// under "example.com". Both arguments must be canonical (see Canonical); an
// IP address is under itself only.
func Under(host, parent string) bool {
	if host == "" || parent == "" {
		return false
	}
	if host == parent {
		return true
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return false
	}
	return len(host) > len(parent) && host[len(host)-len(parent)-1] == '.' && strings.HasSuffix(host, parent)
}
