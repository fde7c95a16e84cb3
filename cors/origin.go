package cors

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// ErrInvalidOrigin is wrapped by every error of ParseOrigin.
var ErrInvalidOrigin = errors.New("cors: invalid origin")

// maxOriginLen bounds the work done on a hostile Origin header before any
// parsing. "https://" + a 253-byte name + ":65535" is under 300 bytes; the
// rest is room for a non-ASCII name before IDNA.
const maxOriginLen = 1024

// Origin is a canonical web origin (RFC 6454 §4) as far as CORS with
// credentials is concerned: an http or https scheme, a host and a port.
// Origin values are comparable with ==.
type Origin struct {
	Scheme string // "https" or "http"
	Host   string // lower-case ASCII (IDNA ToASCII); an IPv6 address without brackets
	Port   string // decimal without leading zeros; "" when absent or the scheme's default (443, 80)
}

// String returns the serialisation browsers send in an Origin header
// (RFC 6454 §6.2): "https://app.example.com", "http://[::1]:8080".
func (o Origin) String() string {
	host := o.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if o.Port == "" {
		return o.Scheme + "://" + host
	}
	return o.Scheme + "://" + host + ":" + o.Port
}

// ParseOrigin parses the value of an Origin header strictly: a scheme
// ("https" or "http", any case), "://", a host and an optional ":port",
// nothing else. It refuses "null", "*", the empty string, paths (even "/"),
// queries, fragments, userinfo, whitespace, control characters, backslashes,
// percent-encoding, other schemes and a trailing dot on the host (browsers
// never send one; accepting it would make "a.example.com." a second
// spelling of an allowed origin).
//
// The host is lower-cased and converted with IDNA ToASCII (the idna.Lookup
// profile, as in cookiedomain: letters, digits and hyphens only, so
// "my_app.example.com" is refused). A name whose last label is numeric must
// be a canonical IPv4 address; IPv6 literals come in brackets, without a
// zone. The port is 1-65535, digits only, no leading zero; the scheme's
// default port is dropped, so "https://a.example.com:443" equals
// "https://a.example.com".
func ParseOrigin(s string) (Origin, error) {
	o, _, err := parseOrigin(s)
	if err != nil {
		return Origin{}, fmt.Errorf("%w %q: %w", ErrInvalidOrigin, s, err)
	}
	return o, nil
}

// parseOrigin reports whether the input named a port explicitly, which
// patterns need: "https://a.example.com:443" allows port 443 only, while
// "https://a.example.com" allows any port.
func parseOrigin(s string) (o Origin, explicitPort bool, err error) {
	switch {
	case s == "":
		return Origin{}, false, errors.New("empty")
	case s == "null":
		// Sent by sandboxed frames, file: pages and after cross-origin
		// redirects: anyone can make a browser send it.
		return Origin{}, false, errors.New(`"null" stands for any opaque origin and cannot be trusted`)
	case len(s) > maxOriginLen:
		return Origin{}, false, fmt.Errorf("longer than %d bytes", maxOriginLen)
	}
	i := strings.Index(s, "://")
	if i < 0 {
		return Origin{}, false, errors.New(`no "://"`)
	}
	switch scheme := s[:i]; {
	case strings.EqualFold(scheme, "https"):
		o.Scheme = "https"
	case strings.EqualFold(scheme, "http"):
		o.Scheme = "http"
	default:
		return Origin{}, false, fmt.Errorf("scheme %q is neither https nor http", scheme)
	}
	rest := s[i+3:]
	// One pass over the bytes catches every delimiter that would make the
	// rest more than host[:port], whatever the parser of the client.
	for j := 0; j < len(rest); j++ {
		switch b := rest[j]; {
		case b <= ' ' || b == 0x7f:
			return Origin{}, false, fmt.Errorf("space or control character at byte %d", i+3+j)
		case b == '/' || b == '\\' || b == '?' || b == '#' || b == '@' || b == '%':
			return Origin{}, false, fmt.Errorf("%q after the scheme: an origin has no path, query, fragment, userinfo or escapes", b)
		}
	}

	var hostPart, port string
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return Origin{}, false, errors.New(`missing "]"`)
		}
		a, err := netip.ParseAddr(rest[1:end])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return Origin{}, false, errors.New("bad IPv6 literal")
		}
		o.Host = a.String()
		switch after := rest[end+1:]; {
		case after == "":
		case after[0] == ':':
			port, explicitPort = after[1:], true
		default:
			return Origin{}, false, errors.New(`junk after "]"`)
		}
	} else {
		hostPart = rest
		if j := strings.IndexByte(rest, ':'); j >= 0 {
			hostPart, port, explicitPort = rest[:j], rest[j+1:], true
		}
		h, err := canonicalHost(hostPart)
		if err != nil {
			return Origin{}, false, err
		}
		o.Host = h
	}
	if explicitPort {
		if err := checkPort(port); err != nil {
			return Origin{}, false, err
		}
		if !(o.Scheme == "https" && port == "443" || o.Scheme == "http" && port == "80") {
			o.Port = port
		}
	}
	return o, explicitPort, nil
}

// checkPort accepts 1-65535 written as browsers serialise it: digits only,
// no sign, no leading zero.
func checkPort(p string) error {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return fmt.Errorf("port %q is not 1-65535 without leading zeros", p)
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

// canonicalHost lower-cases and IDNA-converts a host name (not an IPv6
// literal). ASCII input is restricted to letters, digits, "-" and "." before
// IDNA sees it, so that no mapping can turn an ASCII delimiter into
// something else; non-ASCII input is left to the idna.Lookup profile, whose
// output is checked again.
func canonicalHost(h string) (string, error) {
	if h == "" {
		return "", errors.New("empty host")
	}
	if strings.HasSuffix(h, ".") {
		return "", errors.New("trailing dot in host: browsers never send it")
	}
	ascii := true
	for i := 0; i < len(h); i++ {
		switch b := h[i]; {
		case b >= 0x80:
			ascii = false
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '-', b == '.':
		default:
			return "", fmt.Errorf("character %q not allowed in a host", b)
		}
	}
	name := strings.ToLower(h)
	// idna.Lookup leaves plain lower-case ASCII alone except for its label
	// rules (hyphens, "xn--" labels), so run it on everything: one path,
	// the same answers as cookiedomain.
	out, err := idna.Lookup.ToASCII(name)
	if err != nil {
		return "", fmt.Errorf("not a valid domain name: %w", err)
	}
	if !ascii {
		// IDNA maps, for example, U+3002 to "." and full-width letters to
		// ASCII ones; what comes out must still be a plain name.
		for i := 0; i < len(out); i++ {
			if b := out[i]; !('a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '-' || b == '.') {
				return "", fmt.Errorf("character %q not allowed in a host after IDNA", b)
			}
		}
		if strings.HasSuffix(out, ".") {
			return "", errors.New("trailing dot in host after IDNA")
		}
	}
	if err := checkLabels(out); err != nil {
		return "", err
	}
	return out, nil
}

func checkLabels(name string) error {
	if name == "" {
		return errors.New("empty host")
	}
	if len(name) > 253 {
		return errors.New("host longer than 253 bytes")
	}
	last := ""
	for l := range strings.SplitSeq(name, ".") {
		switch {
		case l == "":
			return errors.New("empty label in host")
		case len(l) > 63:
			return fmt.Errorf("label %q longer than 63 bytes", l)
		}
		last = l
	}
	// WHATWG URL §3.5 "ends in a number": browsers parse such a host as
	// IPv4 ("0x7f.1" is 127.0.0.1), so accept only the canonical spelling.
	if allDigits(last) || strings.HasPrefix(last, "0x") && allHex(last[2:]) {
		if a, err := netip.ParseAddr(name); err != nil || !a.Is4() || a.String() != name {
			return fmt.Errorf("host %q ends in a number but is no canonical IPv4 address", name)
		}
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

// isIP reports whether a canonical host is an IP address.
func isIP(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsValid()
}
