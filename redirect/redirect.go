package redirect

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// MaxLen is the longest rd accepted, in bytes. Real targets are far shorter;
// the bound keeps hostile input cheap and the Location header small.
const MaxLen = 2048

// Check returns the target to redirect to and true when rd is a relative
// path ("/x", not "//x" or "/\x") or an https URL whose canonical host
// satisfies allowed; otherwise "", false.
//
// The canonical host is lower case, IDNA ToASCII (idna.Lookup), without a
// trailing dot; an IPv6 literal is passed without brackets. A nil allowed
// refuses every absolute URL.
//
// The target returned is re-serialised from the parsed URL, with the
// canonical host and any non-ASCII query bytes percent-encoded, so what goes
// into Location is exactly what was checked, and Check(target) returns
// target again.
func Check(rd string, allowed func(canonicalHost string) bool) (string, bool) {
	if rd == "" || len(rd) > MaxLen || !utf8.ValidString(rd) {
		return "", false
	}
	for _, r := range rd {
		// Browsers strip tabs and newlines anywhere in a URL and treat "\" as
		// "/" (WHATWG URL §4.4), so "/\t/evil.net" and "/\evil.net" become
		// "//evil.net". Refuse rather than model that; invisible format
		// characters (zero-width, bidi overrides) go too.
		if r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return "", false
		}
	}
	switch {
	case strings.HasPrefix(rd, "/"):
		return checkPath(rd)
	case len(rd) > len("https://") && strings.EqualFold(rd[:len("https://")], "https://"):
		// Only the full "https://" form: "https:evil.net" and
		// "https:/evil.net" are resolved against the current URL by some
		// parsers and as https://evil.net by browsers.
		if allowed == nil {
			return "", false
		}
		return checkHTTPS(rd, allowed)
	}
	return "", false
}

func checkPath(rd string) (string, bool) {
	if strings.HasPrefix(rd, "//") {
		return "", false // scheme-relative: another host
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "", false
	}
	if !safeComponents(u) {
		return "", false
	}
	// A server behind us may decode the path once more and redirect to it,
	// and browsers resolve "." and ".." (also as %2e) before requesting:
	// "/%2f%2fevil.net" and "/..//evil.net" both end up as "//evil.net".
	for _, p := range []string{u.Path, removeDotSegments(u.Path)} {
		if strings.HasPrefix(p, "//") || strings.HasPrefix(p, `/\`) {
			return "", false
		}
	}
	u.RawQuery = escapeNonASCII(u.RawQuery)
	return u.String(), true
}

func checkHTTPS(rd string, allowed func(string) bool) (string, bool) {
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != "https" || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	// The raw authority: userinfo ("https://app.example.com@evil.net") and
	// percent-encoding ("%2e", "%0a") have no business in it; url.Parse
	// would decode the latter.
	authority := rd[len("https://"):]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if strings.ContainsAny(authority, "%@") {
		return "", false
	}
	if !safeComponents(u) {
		return "", false
	}

	canon, ipv6, ok := canonicalHost(u.Hostname())
	if !ok || !allowed(canon) {
		return "", false
	}
	hostport := canon
	if ipv6 {
		hostport = "[" + canon + "]"
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || len(p) > 5 || n > 65535 {
			return "", false
		}
		hostport += ":" + strconv.Itoa(n)
	}
	u.Host = hostport
	u.RawQuery = escapeNonASCII(u.RawQuery)
	return u.String(), true
}

// canonicalHost lower-cases, IDNA-encodes and strips the trailing dot, so
// that allowed sees the name a browser will look up.
func canonicalHost(h string) (canon string, ipv6 bool, ok bool) {
	if h == "" {
		return "", false, false
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return "", false, false
		}
		return a.String(), a.Is6(), true
	}
	if strings.Contains(h, ":") {
		return "", false, false
	}
	ascii, err := idna.Lookup.ToASCII(h)
	if err != nil {
		return "", false, false
	}
	ascii = strings.TrimSuffix(strings.ToLower(ascii), ".")
	if ascii == "" || len(ascii) > 253 {
		return "", false, false
	}
	labels := strings.Split(ascii, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "", false, false
		}
	}
	if a, err := netip.ParseAddr(ascii); err == nil && a.Is4() {
		return a.String(), false, true // reached through IDNA mapping of digits
	}
	// WHATWG URL "ends in a number": a browser would read the name as an
	// IPv4 address ("0x7f.1"), so it names no host we could vouch for.
	if last := labels[len(labels)-1]; endsInNumber(last) {
		return "", false, false
	}
	return ascii, false, true
}

func endsInNumber(label string) bool {
	digits := label
	if strings.HasPrefix(label, "0x") {
		digits = label[2:]
		return strings.Trim(digits, "0123456789abcdef") == ""
	}
	return digits != "" && strings.Trim(digits, "0123456789") == ""
}

// safeComponents refuses control characters that percent-encoding hides
// ("%0d%0a", "%00", "%09") in the path, query and fragment: a downstream
// that decodes them could split headers or be tricked like the raw forms.
func safeComponents(u *url.URL) bool {
	if hasControl(u.Path) || hasControl(u.Fragment) {
		return false
	}
	q := strings.ToLower(u.RawQuery)
	for i := 0; i+2 < len(q); i++ {
		if q[i] == '%' && (q[i+1] == '0' || q[i+1] == '1' || q[i+1:i+3] == "7f") && isHex(q[i+2]) {
			return false
		}
	}
	return true
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f || unicode.IsControl(r) {
			return true
		}
	}
	return false
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f'
}

// removeDotSegments is RFC 3986 §5.2.4 for an absolute path.
func removeDotSegments(p string) string {
	segs := strings.Split(p, "/")[1:]
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if last {
			out = append(out, "")
		}
	}
	return "/" + strings.Join(out, "/")
}

// escapeNonASCII percent-encodes bytes >= 0x80, as browsers do, so the
// Location header is plain ASCII; url.URL.String leaves RawQuery alone.
func escapeNonASCII(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < utf8.RuneSelf {
			b.WriteByte(c)
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}
