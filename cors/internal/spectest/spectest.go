// Package spectest holds the one table of CORS requests and full expected
// responses (in the style of rs/cors's TestSpec) that every entry point of
// package cors and package gincors is run against, plus the invariants that
// must hold for any request whatsoever.
package spectest

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/idna"

	"github.com/example/sso/cors"
)

// Origins is the policy under test.
var Origins = []string{"https://*.example.com", "https://example.com", "https://app.example.org:8443"}

// NewPolicy returns the policy under test, with the default methods,
// headers and max age.
func NewPolicy(t testing.TB) *cors.Policy {
	t.Helper()
	p, err := cors.New(cors.Config{Origins: Origins})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Next is the handler behind every middleware: it marks the response so
// that a test sees whether it ran.
var Next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Next", "1")
	w.WriteHeader(http.StatusOK)
})

// Response is the status and the full header set of an answer.
type Response struct {
	Status int
	Header http.Header
}

// Case is one request and the answers expected from it.
type Case struct {
	Name   string
	Method string
	Host   string            // default "sso.example.com"
	Header map[string]string // request headers
	// Want is the answer of cors.Policy.Handler; Decorate (for requests
	// that are no preflight) and Preflight (for preflights) must match it.
	Want Response
	// Gin, when set, is the answer of gincors where it differs from Want:
	// gin-contrib/cors aborts requests from a disallowed origin with 403.
	Gin *Response
}

// Preflight reports whether the case's request is a CORS preflight.
func (c Case) Preflight() bool { return cors.IsPreflight(c.Request()) }

// Request builds the case's request.
func (c Case) Request() *http.Request {
	r := httptest.NewRequest(c.Method, "http://sso.example.com/x", nil)
	r.Host = "sso.example.com"
	if c.Host != "" {
		r.Host = c.Host
	}
	for k, v := range c.Header {
		r.Header.Set(k, v)
	}
	return r
}

// H builds a header from name, value pairs; a name may repeat.
func H(kv ...string) http.Header {
	h := make(http.Header)
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

const (
	allowMethods = "GET, HEAD, POST, PUT, PATCH, DELETE"
	allowHeaders = "Content-Type, Authorization, X-CSRF-Token, X-Requested-With, X-API-Key"
	expose       = "X-Auth-Login-URL, X-CSRF-Token"
)

var (
	preflightVary = []string{"Vary", "Origin", "Vary", "Access-Control-Request-Method", "Vary", "Access-Control-Request-Headers"}
	refused       = Response{http.StatusForbidden, H(append(slices.Clone(preflightVary),
		"Content-Type", "text/plain; charset=utf-8", "X-Content-Type-Options", "nosniff")...)}
	ginForbidden = &Response{http.StatusForbidden, H("Vary", "Origin", "Content-Type", "application/json; charset=utf-8")}
)

func actual(origin string) Response {
	return Response{http.StatusOK, H("Vary", "Origin",
		"Access-Control-Allow-Origin", origin,
		"Access-Control-Allow-Credentials", "true",
		"Access-Control-Expose-Headers", expose,
		"X-Next", "1")}
}

func granted(origin string) Response {
	return Response{http.StatusNoContent, H(append(slices.Clone(preflightVary),
		"Access-Control-Allow-Origin", origin,
		"Access-Control-Allow-Credentials", "true",
		"Access-Control-Allow-Methods", allowMethods,
		"Access-Control-Allow-Headers", allowHeaders,
		"Access-Control-Max-Age", "600")...)}
}

var plain = Response{http.StatusOK, H("Vary", "Origin", "X-Next", "1")}

func pre(origin, method, headers string) map[string]string {
	m := map[string]string{"Origin": origin, "Access-Control-Request-Method": method}
	if headers != "" {
		m["Access-Control-Request-Headers"] = headers
	}
	return m
}

// Cases is the table.
func Cases() []Case {
	o := func(origin string) map[string]string { return map[string]string{"Origin": origin} }
	return []Case{
		{Name: "no Origin (curl)", Method: "GET", Want: plain},
		{Name: "empty Origin", Method: "GET", Header: o(""), Want: plain},
		{Name: "allowed subdomain GET", Method: "GET", Header: o("https://app.example.com"), Want: actual("https://app.example.com")},
		{Name: "allowed deep subdomain POST", Method: "POST", Header: o("https://a.b.example.com"), Want: actual("https://a.b.example.com")},
		{Name: "allowed parent on any port", Method: "DELETE", Header: o("https://example.com:8443"), Want: actual("https://example.com:8443")},
		{Name: "allowed exact with port", Method: "PUT", Header: o("https://app.example.org:8443"), Want: actual("https://app.example.org:8443")},
		{Name: "upper case echoed verbatim", Method: "GET", Header: o("HTTPS://APP.EXAMPLE.COM"), Want: actual("HTTPS://APP.EXAMPLE.COM")},
		{Name: "look-alike domain", Method: "GET", Header: o("https://example.com.evil.net"), Want: plain, Gin: ginForbidden},
		{Name: "null", Method: "POST", Header: o("null"), Want: plain, Gin: ginForbidden},
		{Name: "http scheme", Method: "GET", Header: o("http://app.example.com"), Want: plain, Gin: ginForbidden},
		{Name: "port mismatch", Method: "GET", Header: o("https://app.example.org"), Want: plain, Gin: ginForbidden},
		{Name: "same origin, not listed", Method: "POST", Host: "other.net", Header: o("https://other.net"), Want: plain},
		{Name: "same origin, listed", Method: "POST", Host: "login.example.com", Header: o("https://login.example.com"), Want: actual("https://login.example.com")},
		{Name: "OPTIONS without request method is no preflight", Method: "OPTIONS", Header: o("https://app.example.com"), Want: actual("https://app.example.com")},
		{Name: "OPTIONS without request method, evil origin", Method: "OPTIONS", Header: o("https://evil.net"), Want: plain, Gin: ginForbidden},
		{Name: "request method without Origin is no preflight", Method: "OPTIONS", Header: map[string]string{"Access-Control-Request-Method": "PUT"}, Want: plain},
		{Name: "preflight granted", Method: "OPTIONS", Header: pre("https://app.example.com", "PUT", "content-type,x-csrf-token"), Want: granted("https://app.example.com")},
		{Name: "preflight granted, no headers", Method: "OPTIONS", Header: pre("https://a.b.example.com", "DELETE", ""), Want: granted("https://a.b.example.com")},
		{Name: "preflight granted, spaces and case", Method: "OPTIONS", Header: pre("https://example.com", "PATCH", " Content-Type , X-CSRF-TOKEN,,authorization"), Want: granted("https://example.com")},
		{Name: "preflight granted, exact port", Method: "OPTIONS", Header: pre("https://app.example.org:8443", "POST", "x-api-key"), Want: granted("https://app.example.org:8443")},
		{Name: "preflight evil origin", Method: "OPTIONS", Header: pre("https://evilexample.com", "PUT", ""), Want: refused},
		{Name: "preflight null", Method: "OPTIONS", Header: pre("null", "GET", ""), Want: refused},
		{Name: "preflight empty origin", Method: "OPTIONS", Header: pre("", "GET", ""), Want: refused},
		{Name: "preflight method not allowed", Method: "OPTIONS", Header: pre("https://app.example.com", "PURGE", ""), Want: refused},
		{Name: "preflight lower-case method", Method: "OPTIONS", Header: pre("https://app.example.com", "patch", ""), Want: refused},
		{Name: "preflight empty method", Method: "OPTIONS", Header: pre("https://app.example.com", "", ""), Want: refused},
		{Name: "preflight header not allowed", Method: "OPTIONS", Header: pre("https://app.example.com", "PUT", "content-type,x-evil"), Want: refused},
		{Name: "preflight wildcard header", Method: "OPTIONS", Header: pre("https://app.example.com", "PUT", "*"), Want: refused},
	}
}

// Run sends every case through serve and compares the full answer with
// want(c), skipping cases for which want returns nil.
func Run(t *testing.T, serve func(*http.Request) *httptest.ResponseRecorder, want func(Case) *Response) {
	t.Helper()
	for _, c := range Cases() {
		w := want(c)
		if w == nil {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			rec := serve(c.Request())
			got := rec.Result()
			if got.StatusCode != w.Status {
				t.Errorf("%s %v: status %d, want %d", c.Method, c.Header, got.StatusCode, w.Status)
			}
			if !maps.EqualFunc(got.Header, w.Header, slices.Equal) {
				t.Errorf("%s %v: headers\n got %v\nwant %v", c.Method, c.Header, got.Header, w.Header)
			}
			CheckInvariants(t, c.Request(), rec)
		})
	}
}

// Oracle is a slow, independent statement of the policy under test: it
// parses with net/url and converts with IDNA, and answers whether the
// origin's host is under example.com (any port) or is app.example.org on
// port 8443, over https. Policy.Allowed may refuse more (it is stricter
// about spelling) but must never allow an origin the oracle refuses.
func Oracle(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "https" || u.Opaque != "" || u.User != nil || u.Path != "" || u.RawPath != "" ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.OmitHost {
		return false
	}
	host, err := idna.Lookup.ToASCII(strings.ToLower(u.Hostname()))
	if err != nil {
		return false
	}
	if host == "example.com" || strings.HasSuffix(host, ".example.com") {
		return true
	}
	return host == "app.example.org" && u.Port() == "8443"
}

// CheckInvariants fails t when the answer to r breaks a rule that holds
// for every request: Vary names Origin; Access-Control-Allow-Origin is
// never "*", appears only for an origin the Oracle allows, and then equals
// the request's Origin exactly and comes with -Credentials: true; a 403 and
// a refused origin carry no Access-Control-* header.
func CheckInvariants(t testing.TB, r *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	res := rec.Result()
	h := res.Header
	origin := r.Header.Get("Origin")
	if !slices.ContainsFunc(h.Values("Vary"), func(v string) bool { return strings.Contains(v, "Origin") }) {
		t.Errorf("Origin %q: no Vary: Origin in %v", origin, h)
	}
	acao := h.Values("Access-Control-Allow-Origin")
	switch {
	case len(acao) > 1:
		t.Errorf("Origin %q: several Access-Control-Allow-Origin %q", origin, acao)
	case slices.Contains(acao, "*"):
		t.Errorf("Origin %q: Access-Control-Allow-Origin: *", origin)
	case len(acao) == 1 && acao[0] != origin:
		t.Errorf("Origin %q: Access-Control-Allow-Origin %q, want the request's origin", origin, acao[0])
	case len(acao) == 1 && !Oracle(origin):
		t.Errorf("Origin %q: allowed, but the oracle refuses it", origin)
	case len(acao) == 1 && h.Get("Access-Control-Allow-Credentials") != "true":
		t.Errorf("Origin %q: allowed without Access-Control-Allow-Credentials: true", origin)
	}
	if len(acao) == 0 || res.StatusCode == http.StatusForbidden {
		for k := range h {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("Origin %q, status %d: %s without Access-Control-Allow-Origin", origin, res.StatusCode, k)
			}
		}
	}
}
