package authz

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"

	"github.com/example/sso/cors"
	"github.com/example/sso/redirect"
	"github.com/example/sso/token"
)

// Result names the outcome of one /auth decision, for metrics.
type Result string

const (
	ResultAllowed      Result = "allowed"
	ResultUnauthorized Result = "unauthorized"
	ResultForbidden    Result = "forbidden"
	ResultCSRF         Result = "csrf"
	ResultPreflightOK  Result = "preflight_ok"
	ResultPreflightNo  Result = "preflight_refused"
	ResultError        Result = "error"
)

// Handler is the nginx `auth_request` target, GET and OPTIONS /auth, as the
// contract describes it. It never sets a cookie: idle and absolute expiry live
// in the store, so nothing depends on nginx passing a Set-Cookie back from a
// subrequest.
type Handler struct {
	Auth    *Authenticator
	CORS    *cors.Policy
	Proxies *Proxies
	// LoginURL is the login hub's public base URL, e.g. https://login.example.com.
	LoginURL string
	Log      *slog.Logger
	// Observe, when set, is told every decision.
	Observe func(Result, Method)

	tokens    tokenCache
	rendered  renderCache
	audiences audienceCache
	hosts     hostCache
	// untrusted logs once about X-Original-* from a peer that is not a
	// trusted proxy.
	untrusted sync.Once
}

func (h *Handler) observe(res Result, m Method) {
	if h.Observe != nil {
		h.Observe(res, m)
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.Log == nil {
		h.Log = slog.New(slog.DiscardHandler)
	}
	origin := get(r.Header, hOrigin)
	if r.Method == http.MethodOptions {
		// Browsers send preflights without cookies; nginx routes the
		// upstreams' preflights here so that they never meet a 401.
		h.CORS.Preflight(w, r)
		if w.Header().Get("Access-Control-Allow-Origin") != "" {
			h.observe(ResultPreflightOK, "")
		} else {
			h.observe(ResultPreflightNo, "")
		}
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		writeJSON(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET (nginx auth_request) or OPTIONS (preflight)", "")
		return
	}
	hdr := w.Header()
	originAllowed := h.CORS.Decorate(hdr, origin)
	hdr[hCacheControl] = noStore

	trusted := h.Proxies.Trusted(r)
	if !trusted && (get(r.Header, hOriginalMethod) != "" || get(r.Header, hOriginalURL) != "") {
		// Fail closed: ignoring the headers would silently turn the
		// forgery shield off for every upstream behind a proxy missing
		// from the list. nginx turns this 5xx into a 500 for the client.
		h.untrusted.Do(func() {
			h.Log.Error("auth: X-Original-* headers from a peer outside SSO_TRUSTED_PROXIES; answering 500 untrusted_proxy until nginx's address is added to SSO_TRUSTED_PROXIES", "peer", r.RemoteAddr)
		})
		h.observe(ResultError, "")
		w.Header().Set("X-Auth-Error", "untrusted_proxy")
		writeJSON(w, http.StatusInternalServerError, "untrusted_proxy", "X-Original-* headers from "+peerIP(r)+", which SSO_TRUSTED_PROXIES does not list", "")
		return
	}
	method := http.MethodGet
	originalURL := ""
	if trusted {
		if m := get(r.Header, hOriginalMethod); m != "" {
			method = strings.ToUpper(m)
		}
		originalURL = get(r.Header, hOriginalURL)
	}
	// nginx's auth_request reads only the headers of the answer; a body it
	// does not read makes it close the keepalive connection to sso, so an
	// anonymous request would cost a new TCP connection each. nginx builds
	// its own JSON for the client from the headers; direct callers still get
	// the body.
	subrequest := trusted && get(r.Header, hOriginalMethod) != ""
	reply := func(status int, code, msg, login string) {
		// The reason travels in a header too, for nginx's logs and error
		// pages, since a subrequest's answer has no body.
		hdr[hAuthError] = errorValue(code)
		if subrequest {
			hdr[hContentLength] = zeroLength
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, code, msg, login)
	}

	// The forgery shield for every upstream: an unsafe request whose Origin
	// is not ours, or that the browser itself marks cross-site, is refused
	// before any credential is looked at. Same-site siblings that are not in
	// the allowed origins are caught by the Origin check, which SameSite=Lax
	// alone would let through.
	if !safeMethod(method) {
		if (origin != "" && !originAllowed) || (origin == "" && get(r.Header, hSecFetchSite) == "cross-site") {
			h.observe(ResultCSRF, "")
			reply(http.StatusForbidden, "cross_site_request", "an unsafe "+method+" request from another origin is refused", "")
			return
		}
	}

	id, err := h.Auth.Authenticate(r.Context(), r)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			h.observe(ResultUnauthorized, "")
			code, msg, reason := "unauthorized", "login required", ""
			if errors.Is(err, ErrAmbiguous) {
				// The hub must not bounce the browser straight back (its
				// own cookies may look fine): it shows whose sessions
				// these are and offers to sign out of them.
				code, msg, reason = "ambiguous_session", "session cookies of different users: sign out at the login hub", "ambiguous_session"
			}
			login := h.loginURL(originalURL, reason) // only here: rd checking is not free
			hdr[hLoginURL] = []string{login}
			hdr[hWWWAuthenticate] = bearerChallenge
			reply(http.StatusUnauthorized, code, msg, login)
			return
		}
		// A store outage is never a 200. nginx turns any status other than
		// 2xx, 401 and 403 into a 500: the request fails closed.
		h.observe(ResultError, "")
		h.Log.ErrorContext(r.Context(), "auth: credentials could not be checked", "err", err)
		reply(http.StatusServiceUnavailable, "unavailable", "credentials could not be checked, try again", "")
		return
	}
	// Parsing the query allocates; most /auth requests have none.
	var q url.Values
	if r.URL.RawQuery != "" {
		var err error
		if q, err = ParseAuthQuery(r.URL.RawQuery); err != nil {
			// A mistake in nginx's configuration: nginx turns this into a
			// 500, so the location fails closed until it is fixed, where
			// a dropped pair would have been a weaker check.
			h.observe(ResultError, id.Method)
			reply(http.StatusBadRequest, "bad_auth_query", "/auth query: "+err.Error(), "")
			return
		}
		if groups := q["group"]; len(groups) > 0 && !id.InGroup(groups...) {
			h.observe(ResultForbidden, id.Method)
			reply(http.StatusForbidden, "forbidden", "requires membership of one of: "+strings.Join(groups, ", "), "")
			return
		}
	}
	if !h.factorOK(w, q, id, originalURL, reply) {
		return
	}
	if amr := amrHeader(id); amr != nil {
		hdr[hAuthAMR] = amr
	}
	// Shared, pre-rendered values written under canonical keys: no
	// allocation per request for the identity headers.
	rv := h.rendered.headers(&id)
	hdr[hAuthUser], hdr[hAuthEmail], hdr[hAuthGroups] = rv.user, rv.emailV, rv.groupsV
	if err := h.setToken(hdr, id, originalURL); err != nil {
		h.observe(ResultError, id.Method)
		h.Log.ErrorContext(r.Context(), "auth: sign upstream token", "err", err)
		reply(http.StatusInternalServerError, "internal", "internal error", "")
		return
	}
	h.observe(ResultAllowed, id.Method)
	w.WriteHeader(http.StatusOK)
}

// setToken sets X-Auth-Token for an authenticated request: the caller's own
// client token, unchanged, or an upstream token bound to the origin of the
// trusted X-Original-URL.
func (h *Handler) setToken(hdr http.Header, id Identity, originalURL string) error {
	if id.Method == MethodJWT {
		// The caller's own token goes upstream unchanged: minting a fresh
		// one here would let a JWT renew itself forever.
		hdr[hAuthToken] = []string{id.Token}
		return nil
	}
	if h.Auth.Tokens == nil {
		return nil
	}
	aud, ok := h.audiences.audience(originalURL)
	if !ok {
		// No trusted X-Original-URL (a direct call, or nginx outside
		// SSO_TRUSTED_PROXIES), or one naming no http(s) origin: there is
		// no upstream to bind a token to, and a token for no upstream in
		// particular would be good at every one of them. The identity
		// headers still go out; X-Auth-Token does not.
		return nil
	}
	tok, err := h.upstreamToken(id, aud)
	if err != nil {
		return err
	}
	hdr[hAuthToken] = tok
	return nil
}

// upstreamAudience is the audience of the upstream token for a request to
// originalURL: its origin as cors.ParseOrigin spells origins (lower-case
// scheme and IDNA host, no default port), e.g. "https://api.example.com".
// ok is false for "", an unparseable URL, a scheme other than http and
// https, userinfo, or a host that is no origin's.
func upstreamAudience(originalURL string) (string, bool) {
	if originalURL == "" {
		return "", false
	}
	u, err := url.Parse(originalURL)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	o, err := cors.ParseOrigin(u.Scheme + "://" + u.Host)
	if err != nil {
		return "", false
	}
	return o.String(), true
}

// upstreamToken is the upstream JWT for X-Auth-Token for the upstream aud: a
// cached one while it still has at least half its lifetime left, so
// upstreams always get a usable token. The cache is keyed by credential and
// audience: a token minted for one upstream is never handed to another.
// The token comes as a header value (see value), shared by the requests
// that get it from the cache.
func (h *Handler) upstreamToken(id Identity, aud string) (value, error) {
	var key tokenKey
	switch {
	case id.Session != nil:
		key = tokenKey{kind: 's', id: id.Session.ID, aud: aud}
	case id.KeyID != "":
		key = tokenKey{kind: 'k', id: id.KeyID, aud: aud}
	}
	now := h.Auth.now()
	if key.kind != 0 {
		if tok, ok := h.tokens.get(key, now, id); ok {
			return tok, nil
		}
	}
	tok, err := h.Auth.Tokens.IssueUpstream(token.Claims{Subject: id.User, Email: id.Email, Groups: id.Groups}, aud, now)
	if err != nil {
		return nil, err
	}
	v := newValue(tok)
	if key.kind != 0 {
		h.tokens.put(key, v, now.Add(h.Auth.Tokens.TTL()/2), id)
	}
	return v, nil
}

// loginURL is the login hub's page with rd set to the original URL, when that
// URL is one we would follow after login.
// reason, when set, travels as the hub's `reason` parameter.
func (h *Handler) loginURL(original, reason string) string {
	return h.hubURL("/login", original, reason)
}

// hubURL is the hub's page at path with rd and reason: what
// url.Values{rd, reason}.Encode() gives (keys sorted), built in one string.
func (h *Handler) hubURL(path, original, reason string) string {
	base := strings.TrimRight(h.LoginURL, "/")
	rd := ""
	if original != "" {
		if target, ok := redirect.Check(original, h.hosts.contains(h.Auth.Cookies)); ok {
			rd = target
		}
	}
	if rd == "" && reason == "" {
		return base + path
	}
	// QueryEscape returns its input when nothing needs escaping.
	var b strings.Builder
	b.Grow(len(base) + len(path) + len("?rd=&reason=") + 3*len(rd) + len(reason))
	b.WriteString(base)
	b.WriteString(path)
	sep := byte('?')
	if rd != "" {
		b.WriteString("?rd=")
		b.WriteString(url.QueryEscape(rd))
		sep = '&'
	}
	if reason != "" {
		b.WriteByte(sep)
		b.WriteString("reason=")
		b.WriteString(url.QueryEscape(reason))
	}
	return b.String()
}

// peerIP is the address of r's peer, without the port.
func peerIP(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return "an unknown peer"
}

func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// Proxies decides whether a request came through a trusted proxy, whose
// X-Original-* and X-Forwarded-* headers may then be believed.
type Proxies struct {
	prefixes []netip.Prefix
}

// NewProxies parses CIDRs or single addresses.
func NewProxies(cidrs []string) (*Proxies, error) {
	p := &Proxies{}
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if pfx, err := netip.ParsePrefix(c); err == nil {
			p.prefixes = append(p.prefixes, pfx.Masked())
			continue
		}
		a, err := netip.ParseAddr(c)
		if err != nil {
			return nil, fmt.Errorf("authz: trusted proxy %q is neither a CIDR nor an IP address", c)
		}
		p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return p, nil
}

// Trusted reports whether r's peer address is a trusted proxy.
func (p *Proxies) Trusted(r *http.Request) bool {
	if p == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, pfx := range p.prefixes {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// Prefixes returns the trusted networks as strings, for Gin's
// SetTrustedProxies.
func (p *Proxies) Prefixes() []string {
	out := make([]string, len(p.prefixes))
	for i, pfx := range p.prefixes {
		out[i] = pfx.String()
	}
	return out
}

// ErrorBody is the contract's JSON error shape.
type ErrorBody struct {
	Error    string `json:"error"`
	Message  string `json:"message"`
	LoginURL string `json:"login_url,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, code, msg, login string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ErrorBody{Error: code, Message: msg, LoginURL: login})
}

// factorOK applies the location's factor policy (?factor=2&max_age=…) to
// an authenticated request and answers when it fails: 400 for a policy
// nginx spelled wrong, 401 with the hub's step-up page for a session
// without the factor, 403 for an API key or JWT (nothing to step up).
func (h *Handler) factorOK(w http.ResponseWriter, q url.Values, id Identity, originalURL string, reply func(status int, code, msg, login string)) bool {
	if len(q) == 0 {
		return true // no factor policy
	}
	fp, err := ParseFactorPolicy(q)
	if err != nil {
		// A mistake in nginx's configuration: nginx turns this into a 500,
		// so the location fails closed until it is fixed.
		h.observe(ResultError, id.Method)
		reply(http.StatusBadRequest, "bad_auth_query", "/auth query: "+err.Error(), "")
		return false
	}
	if fp.Satisfied(sessionFactors(id), h.Auth.now()) {
		return true
	}
	if id.Method != MethodSession {
		h.observe(ResultForbidden, id.Method)
		reply(http.StatusForbidden, "second_factor_required", "this upstream requires a browser session with a second factor", "")
		return false
	}
	h.observe(ResultUnauthorized, id.Method)
	login := h.hubURL("/login/factor", originalURL, "")
	w.Header().Set("X-Auth-Login-URL", login)
	w.Header().Set("WWW-Authenticate", `Bearer realm="sso"`)
	reply(http.StatusUnauthorized, "second_factor_required", "this upstream requires a second factor", login)
	return false
}
