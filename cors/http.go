package cors

import (
	"io"
	"net/http"
	"slices"
	"strings"
)

// Header names, canonical form.
const (
	hOrigin        = "Origin"
	hVary          = "Vary"
	hRequestMethod = "Access-Control-Request-Method"
	hRequestHeads  = "Access-Control-Request-Headers"
	hAllowOrigin   = "Access-Control-Allow-Origin"
	hAllowCreds    = "Access-Control-Allow-Credentials"
	hAllowMethods  = "Access-Control-Allow-Methods"
	hAllowHeaders  = "Access-Control-Allow-Headers"
	hMaxAge        = "Access-Control-Max-Age"
	hExposeHeaders = "Access-Control-Expose-Headers"
)

// responseHeaders are the CORS response headers, removed whenever the
// origin is not allowed so that no earlier code can leak one.
var responseHeaders = [...]string{hAllowOrigin, hAllowCreds, hAllowMethods, hAllowHeaders, hMaxAge, hExposeHeaders}

// IsPreflight reports whether r is a CORS preflight (Fetch §4.8): an
// OPTIONS request carrying Origin and Access-Control-Request-Method.
// Browsers send it without cookies, so it must be answered before any
// session check.
func IsPreflight(r *http.Request) bool {
	_, origin := r.Header[hOrigin]
	_, method := r.Header[hRequestMethod]
	return r.Method == http.MethodOptions && origin && method
}

// Decorate adds the CORS headers for an actual (non-preflight) response to
// a request whose Origin header is origin, and reports whether the origin is
// allowed. It always adds "Vary: Origin" (once), since the answer depends on
// it and a shared cache must not hand one origin's answer to another. When
// the origin is allowed it sets Access-Control-Allow-Origin to origin
// verbatim (browsers compare it byte for byte with what they sent, so it is
// never "*" and never a re-serialisation), Access-Control-Allow-Credentials:
// true and Access-Control-Expose-Headers. When it is not, it removes any
// Access-Control-Allow-* header already present. Call it before the
// response is written, on errors (401, 403) as much as on success: a page
// should see a 401, not a CORS error.
func (p *Policy) Decorate(h http.Header, origin string) bool {
	if len(h[hVary]) == 0 && p.varyOrigin != nil {
		h[hVary] = p.varyOrigin // the usual case, without an allocation
	} else {
		addVary(h, hOrigin)
	}
	acao, ok := p.allowOrigin(origin)
	if !ok {
		deleteCORS(h)
		return false
	}
	h[hAllowOrigin] = acao
	h[hAllowCreds] = p.allowCreds
	h[hExposeHeaders] = p.expose
	return true
}

// Preflight answers r as a CORS preflight. When r is a preflight (see
// IsPreflight) from an allowed origin, asking for a method in AllowMethods
// (case-sensitive, as browsers compare) and only headers in AllowHeaders
// (case-insensitive), it answers 204 with Access-Control-Allow-Origin (the
// request's Origin verbatim), -Credentials: true, -Methods and -Headers (the
// full configured lists, so that one cached answer serves other requests
// too) and -Max-Age. Anything else gets 403 with a short text/plain body and
// no Access-Control-Allow-* header at all. Both carry Vary: Origin,
// Access-Control-Request-Method, Access-Control-Request-Headers.
func (p *Policy) Preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	addVary(h, hOrigin)
	addVary(h, hRequestMethod)
	addVary(h, hRequestHeads)
	deleteCORS(h)
	if reason := p.refusePreflight(r); reason != "" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusForbidden)
		// The reason quotes nothing from the request.
		_, _ = io.WriteString(w, "cors: preflight refused: "+reason+"\n")
		return
	}
	h.Set(hAllowOrigin, r.Header.Get(hOrigin))
	h.Set(hAllowCreds, "true")
	h.Set(hAllowMethods, p.allowMethods)
	h.Set(hAllowHeaders, p.allowHeaders)
	h.Set(hMaxAge, p.maxAge)
	w.WriteHeader(http.StatusNoContent)
}

// refusePreflight returns why r gets no CORS permission, or "".
func (p *Policy) refusePreflight(r *http.Request) string {
	if !IsPreflight(r) {
		return "not a preflight"
	}
	if !p.Allowed(r.Header.Get(hOrigin)) {
		return "origin not allowed"
	}
	// Fetch normalises only DELETE, GET, HEAD, OPTIONS, POST and PUT to
	// upper case and compares the allowed methods byte for byte; "patch"
	// would fail in the browser, so it fails here.
	if _, ok := p.methods[r.Header.Get(hRequestMethod)]; !ok {
		return "method not allowed"
	}
	for _, v := range r.Header.Values(hRequestHeads) {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.ToLower(strings.Trim(name, " \t"))
			if name == "" {
				continue // RFC 9110 §5.6.1: empty list elements are ignored
			}
			if _, ok := p.headers[name]; !ok {
				return "header not allowed"
			}
		}
	}
	return ""
}

// Handler returns net/http middleware applying the policy: preflights are
// answered (see Preflight) and never reach next; every other request is
// decorated (see Decorate) and passed to next, whatever its origin: a
// disallowed origin merely gets no CORS headers, so the browser keeps the
// response from the page.
func (p *Policy) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if IsPreflight(r) {
			p.Preflight(w, r)
			return
		}
		p.Decorate(w.Header(), r.Header.Get(hOrigin))
		next.ServeHTTP(w, r)
	})
}

// addVary adds token to the Vary header unless it (or "*") is already
// listed, in any of the header's lines.
func addVary(h http.Header, token string) {
	for _, v := range h[hVary] {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.Trim(t, " \t")
			if t == "*" || strings.EqualFold(t, token) {
				return
			}
		}
	}
	// Clip: the slice may be shared with other responses (gin-contrib/cors
	// copies one precomputed slice into every response), and append must
	// not write into its spare capacity.
	h[hVary] = append(slices.Clip(h[hVary]), token)
}

func deleteCORS(h http.Header) {
	for _, k := range responseHeaders {
		delete(h, k)
	}
}
