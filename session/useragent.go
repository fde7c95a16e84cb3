package session

import (
	"strings"
	"unicode/utf8"
)

// MaxUserAgent bounds what UserAgentSummary returns, in bytes.
const MaxUserAgent = 64

// UserAgentSummary reduces a User-Agent header to what the session page
// shows: the browser with its major version and the operating system, as
// "Chrome 156 · Linux". A raw header is up to a few hundred bytes, mostly
// compatibility tokens ("Mozilla/5.0 … like Gecko … Safari/537.36") that
// nobody reads, and sessions are stored in Redis by the thousand (issue 10).
//
// Browsers are told apart by the tokens they add to Chrome's or Safari's
// (Edg/, OPR/, SamsungBrowser/ …), checked before the tokens they copy. A
// client that is no known browser (curl/8.5.0, python-requests/2.31) is
// named by its first product token; an empty header gives "". The result
// is valid UTF-8, holds no control characters and is at most MaxUserAgent
// bytes, whatever the input.
func UserAgentSummary(ua string) string {
	ua = strings.TrimSpace(ua)
	if ua == "" {
		return ""
	}
	b := browser(ua)
	if b == "" {
		b = product(ua)
	}
	if os := operatingSystem(ua); os != "" {
		if b == "" {
			b = os
		} else {
			b += " · " + os
		}
	}
	if b == "" {
		return "unknown"
	}
	return b
}

// browsers is checked in order: the first token present names the browser.
// The version is the number after the token, or after versionAt when set
// (Safari's own token is its WebKit build, its version sits in Version/).
var browsers = []struct {
	token, name, versionAt string
}{
	{"Edg/", "Edge", ""},
	{"EdgA/", "Edge", ""},
	{"EdgiOS/", "Edge", ""},
	{"Edge/", "Edge", ""},
	{"OPR/", "Opera", ""},
	{"OPiOS/", "Opera", ""},
	{"Opera/", "Opera", "Version/"},
	{"SamsungBrowser/", "Samsung Internet", ""},
	{"YaBrowser/", "Yandex", ""},
	{"Vivaldi/", "Vivaldi", ""},
	{"FxiOS/", "Firefox", ""},
	{"Firefox/", "Firefox", ""},
	{"CriOS/", "Chrome", ""},
	{"HeadlessChrome/", "Headless Chrome", ""},
	{"Chromium/", "Chromium", ""},
	{"Chrome/", "Chrome", ""},
	{"MSIE ", "Internet Explorer", ""},
	{"Trident/", "Internet Explorer", "rv:"},
	{"Safari/", "Safari", "Version/"},
}

func browser(ua string) string {
	for _, b := range browsers {
		i := strings.Index(ua, b.token)
		if i < 0 {
			continue
		}
		v := major(ua[i+len(b.token):])
		if b.versionAt != "" {
			v = ""
			if j := strings.Index(ua, b.versionAt); j >= 0 {
				v = major(ua[j+len(b.versionAt):])
			}
		}
		if v == "" {
			return b.name
		}
		return b.name + " " + v
	}
	return ""
}

// major returns the leading digits of s, at most 5 of them.
func major(s string) string {
	n := 0
	for n < len(s) && n < 5 && '0' <= s[n] && s[n] <= '9' {
		n++
	}
	return s[:n]
}

// product names a client by its first product token (RFC 9110 §10.1.5:
// product = token ["/" product-version]), keeping only letters, digits and
// ".-_" of the name, at most 32 of them, and the major version.
func product(ua string) string {
	name, rest, _ := strings.Cut(ua, "/")
	if strings.ContainsAny(name, " (") || name == "Mozilla" {
		return ""
	}
	var b strings.Builder
	for _, r := range name {
		if b.Len() == 32 {
			break
		}
		if r < utf8.RuneSelf && (r == '.' || r == '-' || r == '_' ||
			'0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	if v := major(rest); v != "" {
		b.WriteString(" " + v)
	}
	return b.String()
}

// systems is checked in order: Android and ChromeOS say "Linux" too, and
// iOS says "like Mac OS X".
var systems = []struct{ token, name string }{
	{"Windows Phone", "Windows Phone"},
	{"Windows", "Windows"},
	{"Android", "Android"},
	{"iPhone", "iOS"},
	{"iPod", "iOS"},
	{"iPad", "iPadOS"},
	{"CrOS", "ChromeOS"},
	{"Macintosh", "macOS"},
	{"Mac OS X", "macOS"},
	{"FreeBSD", "FreeBSD"},
	{"OpenBSD", "OpenBSD"},
	{"Linux", "Linux"},
}

func operatingSystem(ua string) string {
	for _, s := range systems {
		if strings.Contains(ua, s.token) {
			return s.name
		}
	}
	return ""
}
