package doctor

import (
	"net"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// The browser rules the checks rely on, each a small pure function named
// after the term the specification defines.

// normalizeMethod is Fetch's "normalize a method": only these six are
// upper-cased; any other method keeps its case, and CORS compares methods
// case-sensitively, so fetch(url, {method: "patch"}) sends "patch".
func normalizeMethod(m string) string {
	switch u := strings.ToUpper(m); u {
	case "DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT":
		return u
	}
	return m
}

// forbiddenMethod is Fetch's "forbidden method": fetch() throws on these.
func forbiddenMethod(m string) bool {
	switch strings.ToUpper(m) {
	case "CONNECT", "TRACE", "TRACK":
		return true
	}
	return false
}

// safelistedMethod is Fetch's "CORS-safelisted method".
func safelistedMethod(m string) bool {
	return m == "GET" || m == "HEAD" || m == "POST"
}

// safeMethod is RFC 9110 §9.2.1 "safe", as sso's forgery checks use it.
func safeMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}

// forbiddenHeader is Fetch's "forbidden request-header": a script cannot
// set these; the browser silently ignores the attempt.
func forbiddenHeader(name string) bool {
	n := strings.ToLower(name)
	if strings.HasPrefix(n, "proxy-") || strings.HasPrefix(n, "sec-") {
		return true
	}
	switch n {
	case "accept-charset", "accept-encoding", "access-control-request-headers",
		"access-control-request-method", "connection", "content-length", "cookie",
		"cookie2", "date", "dnt", "expect", "host", "keep-alive", "origin",
		"referer", "set-cookie", "te", "trailer", "transfer-encoding", "upgrade", "via":
		return true
	}
	return false
}

// safelistedHeader is Fetch's "CORS-safelisted request-header": a request
// whose script-set headers are all of this kind needs no preflight.
func safelistedHeader(name, value string) bool {
	if len(value) > 128 {
		return false
	}
	switch strings.ToLower(name) {
	case "accept":
		return !hasUnsafeByte(value)
	case "accept-language", "content-language":
		for i := 0; i < len(value); i++ {
			c := value[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte(" *,-.;=", c) >= 0) {
				return false
			}
		}
		return true
	case "content-type":
		if hasUnsafeByte(value) {
			return false
		}
		essence, _, _ := strings.Cut(value, ";")
		switch strings.ToLower(strings.TrimSpace(essence)) {
		case "application/x-www-form-urlencoded", "multipart/form-data", "text/plain":
			return true
		}
		return false
	case "range":
		return simpleRange(value)
	}
	return false
}

// hasUnsafeByte is Fetch's "CORS-unsafe request-header byte" test.
func hasUnsafeByte(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 && c != '\t' || c == 0x7f || strings.IndexByte(`"():<>?@[\]{}`, c) >= 0 {
			return true
		}
	}
	return false
}

// simpleRange is Fetch's "simple range header value": "bytes=N-" or
// "bytes=N-M".
func simpleRange(v string) bool {
	rest, ok := strings.CutPrefix(v, "bytes=")
	if !ok {
		return false
	}
	start, end, ok := strings.Cut(rest, "-")
	digits := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	return ok && start != "" && digits(start) && digits(end)
}

// registrable returns the registrable domain (eTLD+1) of a canonical host,
// or the host itself for IP addresses and names that have none (a public
// suffix, "localhost"), which the HTML standard then treats as the site.
func registrable(host string) string {
	if net.ParseIP(host) != nil {
		return host
	}
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}

// trustworthy reports whether a URL with this scheme and canonical host is a
// secure context in Chrome and Firefox (Secure Contexts §3.1 "potentially
// trustworthy"): https, or http to localhost or a loopback address. Safari
// does not treat http://localhost so.
func trustworthy(scheme, host string) bool {
	if scheme == "https" {
		return true
	}
	return loopback(host)
}

func loopback(host string) bool {
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// headerNames returns the names of h's script-set headers, in canonical
// form and sorted, for messages.
func headerNames(h http.Header, keep func(name string, values []string) bool) []string {
	var out []string
	for name, vs := range h {
		if keep(name, vs) {
			out = append(out, http.CanonicalHeaderKey(name))
		}
	}
	slices.Sort(out)
	return out
}
