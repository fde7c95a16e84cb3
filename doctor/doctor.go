package doctor

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/cors"
	"github.com/example/sso/internal/httptoken"
)

// Check names, in the order Explain reports them.
const (
	CheckRequest     = "request"                  // the scenario itself: URLs, method, credentials mode
	CheckLoginDomain = "login: cookie domain"     // the login hub's host is under a cookie domain
	CheckLoginCookie = "login: cookie attributes" // the browser stores the cookie the hub sets
	CheckCredentials = "cookie: credentials mode" // fetch's credentials mode lets cookies go
	CheckDomain      = "cookie: domain"           // To's host domain-matches the cookie's Domain
	CheckSecure      = "cookie: Secure"           // a Secure cookie goes over https only
	CheckSameSite    = "cookie: SameSite"         // SameSite against the page's site
	CheckOrigin      = "CORS: origin"             // the page's origin is allowed
	CheckPreflight   = "CORS: preflight"          // a needed preflight passes
	CheckCSRF        = "CSRF"                     // sso's forgery checks for unsafe methods
)

// Input is a configuration and a request scenario: a page at From calls To
// with fetch().
type Input struct {
	Cookies *cookiedomain.Policy // the session cookie policy; required
	CORS    *cors.Policy         // the origin policy, as sso serves it (login hub's origin included); required
	// HubCORS is the policy of the hub's own API (the hub and
	// SSO_LOGIN_ORIGINS), used when To is on the login hub; nil: CORS.
	HubCORS  *cors.Policy
	LoginURL string // the login hub, e.g. "https://login.example.com"

	From string // the page's URL (the top-level document), e.g. "https://app.example.com/"
	To   string // the URL it fetches, e.g. "https://api.example.com/items"
	// Method is the fetch method. Zero value: GET.
	Method string
	// Headers are the request headers the page's script sets, e.g.
	// Content-Type: application/json and X-CSRF-Token. A header present
	// with an empty value counts as set.
	Headers http.Header
	// Credentials is fetch's credentials mode: "include", "same-origin"
	// or "omit". Zero value: "include", which a page calling a sibling's
	// API needs (fetch's own default is "same-origin").
	Credentials string
}

// Check is one step of the browser's way through a request.
type Check struct {
	Name   string // one of the Check* constants
	OK     bool
	Detail string // what the browser (or sso) will do, why, and the fix
}

// Report is the outcome of Explain: every check, in order.
type Report struct {
	Checks []Check
	OK     bool // every check passed
}

// Get returns the check with this name.
func (r Report) Get(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// String renders the report one check per line: "ok   name: detail" or
// "FAIL name: detail".
func (r Report) String() string {
	var b strings.Builder
	for _, c := range r.Checks {
		b.WriteString(c.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// String renders the check as one line.
func (c Check) String() string {
	mark := "ok   "
	if !c.OK {
		mark = "FAIL "
	}
	return mark + c.Name + ": " + c.Detail
}

// endpoint is a parsed From or To URL.
type endpoint struct {
	url    *url.URL
	host   string      // canonical
	origin cors.Origin // canonical
	site   string      // registrable domain (or the host when it has none)
}

func (e endpoint) secure() bool { return trustworthy(e.origin.Scheme, e.host) }

// scenario is the validated Input.
type scenario struct {
	in          Input
	from, to    endpoint
	method      string // normalised as fetch does
	credentials string
	sameOrigin  bool
	sameSite    bool   // schemeful same-site
	login       string // canonical host of the login hub, "" when unusable
	loginOrigin cors.Origin
	domain      string // the Domain the login hub's cookie carries, "" when none
}

// Explain walks the scenario through the browser's rules and sso's checks.
// It never fails: a bad input is a failing CheckRequest.
func Explain(in Input) Report {
	var r Report
	s, msg := parse(in)
	if msg != "" {
		r.add(CheckRequest, false, "%s", msg)
		return r.done()
	}
	r.add(CheckRequest, true, "%s", s.describe())
	r.loginChecks(s)
	r.cookieChecks(s)
	r.corsChecks(s)
	r.csrfCheck(s)
	return r.done()
}

func (r *Report) add(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

func (r Report) done() Report {
	r.OK = len(r.Checks) > 0
	for _, c := range r.Checks {
		r.OK = r.OK && c.OK
	}
	return r
}

// parse validates the input; a non-empty message says what is wrong.
func parse(in Input) (*scenario, string) {
	if in.Cookies == nil || in.CORS == nil {
		return nil, "no cookie or CORS policy to check against"
	}
	s := &scenario{in: in, method: in.Method, credentials: in.Credentials}
	var msg string
	if s.from, msg = parseEndpoint("the page URL (From)", in.From); msg != "" {
		return nil, msg
	}
	if s.to, msg = parseEndpoint("the fetched URL (To)", in.To); msg != "" {
		return nil, msg
	}
	if s.method == "" {
		s.method = "GET"
	}
	if !httptoken.Valid(s.method) {
		return nil, fmt.Sprintf("method %q is not an HTTP token", s.method)
	}
	if forbiddenMethod(s.method) {
		return nil, fmt.Sprintf("fetch() refuses method %s (a forbidden method in Fetch)", s.method)
	}
	s.method = normalizeMethod(s.method)
	switch s.credentials {
	case "":
		s.credentials = "include"
	case "include", "same-origin", "omit":
	default:
		return nil, fmt.Sprintf("credentials %q: want include, same-origin or omit", s.credentials)
	}
	for name := range in.Headers {
		if !httptoken.Valid(name) {
			return nil, fmt.Sprintf("header name %q is not an HTTP token", name)
		}
	}
	s.sameOrigin = s.from.origin == s.to.origin
	// Schemeful same-site (RFC 6265bis §5.2, HTML "same site"): same
	// scheme and same registrable domain; ports do not matter.
	s.sameSite = s.from.origin.Scheme == s.to.origin.Scheme && s.from.site == s.to.site

	if u, err := url.Parse(in.LoginURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Hostname() != "" {
		if o, err := cors.ParseOrigin(u.Scheme + "://" + u.Host); err == nil {
			s.login, s.loginOrigin = o.Host, o
		}
	}
	return s, ""
}

func parseEndpoint(what, raw string) (endpoint, string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Hostname() == "" {
		return endpoint{}, fmt.Sprintf("%s %q is not an absolute http(s) URL such as https://app.example.com/", what, raw)
	}
	o, err := cors.ParseOrigin(u.Scheme + "://" + u.Host)
	if err != nil {
		return endpoint{}, fmt.Sprintf("%s %q has no valid host: %v", what, raw, err)
	}
	return endpoint{url: u, host: o.Host, origin: o, site: registrable(o.Host)}, ""
}

func (s *scenario) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "a page on %s calls %s %s with credentials %q", s.from.origin, s.method, s.to.url, s.credentials)
	if names := headerNames(s.in.Headers, func(string, []string) bool { return true }); len(names) > 0 {
		fmt.Fprintf(&b, " and headers %s", strings.Join(names, ", "))
	}
	b.WriteString(".")
	if forbidden := headerNames(s.in.Headers, func(n string, _ []string) bool { return forbiddenHeader(n) }); len(forbidden) > 0 {
		fmt.Fprintf(&b, " Scripts cannot set %s: the browser ignores them (Fetch: forbidden request-header).", strings.Join(forbidden, ", "))
	}
	return b.String()
}

// loginChecks: will the browser store the cookie the login hub sets?
// (RFC 6265bis §5.7, the storage model.)
func (r *Report) loginChecks(s *scenario) {
	p := s.in.Cookies
	if s.login == "" {
		r.add(CheckLoginDomain, false, "the login URL %q is not an absolute http(s) URL such as https://login.example.com: set SSO_LOGIN_URL", s.in.LoginURL)
		return
	}
	d, err := p.For(s.login)
	switch {
	case err != nil:
		r.add(CheckLoginDomain, false, "the login hub's host %s is under none of the cookie domains (%s), so it cannot set a cookie any sibling receives (RFC 6265bis §5.7 refuses a Domain the host does not domain-match); put SSO_LOGIN_URL on a host under one of them",
			s.login, strings.Join(p.Domains(), ", "))
	case isPublicSuffix(d):
		r.add(CheckLoginDomain, false, "Domain=%s is a public suffix: browsers refuse the cookie (RFC 6265bis §5.7); use a domain you registered", d)
	default:
		s.domain = d
		r.add(CheckLoginDomain, true, "the login hub %s sets %s with Domain=%s, the longest cookie domain its host is under", s.loginOrigin, p.Name(), d)
	}

	// Attribute rules: cookiedomain.New enforces them too, but this check
	// also sees the login URL's scheme, which the policy does not know.
	var problems []string
	lower := strings.ToLower(p.Name())
	if strings.HasPrefix(lower, "__host-") {
		problems = append(problems, fmt.Sprintf("a %s cookie must not carry Domain (RFC 6265bis §4.1.3.2), so browsers refuse it; use the __Secure- prefix", p.Name()))
	}
	if strings.HasPrefix(lower, "__secure-") && !p.Secure() {
		problems = append(problems, fmt.Sprintf("a %s cookie without Secure is refused (RFC 6265bis §4.1.3.1); set SSO_COOKIE_SECURE=true", p.Name()))
	}
	if p.SameSite() == http.SameSiteNoneMode && !p.Secure() {
		problems = append(problems, "SameSite=None without Secure is refused by current browsers (RFC 6265bis §5.7); set SSO_COOKIE_SECURE=true")
	}
	localNote := ""
	if p.Secure() && s.loginOrigin.Scheme == "http" {
		if loopback(s.login) {
			localNote = fmt.Sprintf(" Chrome and Firefox accept a Secure cookie from %s (a loopback host is a secure context); Safari does not.", s.loginOrigin)
		} else {
			problems = append(problems, fmt.Sprintf("the login hub %s is plain http, and browsers ignore a Secure cookie set over http (RFC 6265bis §5.7); serve it over https, or set SSO_COOKIE_SECURE=false for plain-HTTP development only", s.loginOrigin))
		}
	}
	if len(problems) > 0 {
		r.add(CheckLoginCookie, false, "%s", strings.Join(problems, "; "))
		return
	}
	r.add(CheckLoginCookie, true, "the browser stores %s (%s).%s", p.Name(), attributes(p), localNote)
}

func attributes(p *cookiedomain.Policy) string {
	a := []string{"HttpOnly", "SameSite=" + SameSiteName(p.SameSite())}
	if p.Secure() {
		a = append([]string{"Secure"}, a...)
	}
	return strings.Join(a, ", ")
}

// SameSiteName is the attribute value a browser shows for m: Lax, Strict
// or None (the default mode counts as Lax, as browsers treat it).
func SameSiteName(m http.SameSite) string {
	switch m {
	case http.SameSiteStrictMode:
		return "Strict"
	case http.SameSiteNoneMode:
		return "None"
	default:
		return "Lax"
	}
}

func isPublicSuffix(d string) bool {
	ps, _ := publicsuffix.PublicSuffix(d)
	return ps == d
}

// cookieChecks: will the browser attach the cookie to the fetch? Each check
// says whether its own rule holds the cookie back, whatever the others say.
func (r *Report) cookieChecks(s *scenario) {
	p := s.in.Cookies
	to := s.to.origin.String()

	// Fetch, "HTTP-network-or-cache fetch": cookies go only when the
	// credentials mode is "include", or "same-origin" on a same-origin
	// request.
	switch {
	case s.credentials == "omit":
		r.add(CheckCredentials, false, `credentials "omit" never sends cookies; call fetch with credentials: "include"`)
	case s.credentials == "same-origin" && !s.sameOrigin:
		r.add(CheckCredentials, false, `credentials "same-origin" (fetch's default) keeps cookies off this cross-origin request to %s; call fetch with credentials: "include" (XMLHttpRequest: withCredentials = true)`, to)
	case s.sameOrigin:
		r.add(CheckCredentials, true, "a same-origin request carries cookies with credentials %q", s.credentials)
	default:
		r.add(CheckCredentials, true, `credentials "include" lets the browser attach cookies to this cross-origin request`)
	}

	// RFC 6265bis §5.1.3 domain-match: the host equals the Domain or ends
	// in "." + Domain; ports never matter (§8.5).
	switch {
	case s.domain == "":
		r.add(CheckDomain, false, "the login hub sets no cookie (see %q), so there is none to send to %s", CheckLoginDomain, s.to.host)
	case cookiedomain.Under(s.to.host, s.domain):
		r.add(CheckDomain, true, "%s is under %s, so the Domain=%s cookie is sent there", s.to.host, s.domain, s.domain)
	default:
		if other, err := p.For(s.to.host); err == nil {
			r.add(CheckDomain, false, "%s is under the cookie domain %s, not under %s where the login hub sets the cookie: the browser sends a Domain=%s cookie only to %s and hosts ending in .%s; have users log in through a host under %s",
				s.to.host, other, s.domain, s.domain, s.domain, s.domain, other)
		} else {
			r.add(CheckDomain, false, "%s is neither %s nor ends in .%s, so the browser never sends the Domain=%s cookie there (RFC 6265bis §5.1.3); serve it under %s or add its domain to SSO_COOKIE_DOMAINS",
				s.to.host, s.domain, s.domain, s.domain, s.domain)
		}
	}

	// RFC 6265bis §5.8.3: a Secure cookie goes only to secure origins.
	switch {
	case !p.Secure():
		r.add(CheckSecure, true, "the cookie is not Secure, so it goes over http and https alike (fine for development only)")
	case s.to.origin.Scheme == "https":
		r.add(CheckSecure, true, "%s is https, so the Secure attribute does not hold the cookie back", to)
	case s.to.secure():
		r.add(CheckSecure, true, "Chrome and Firefox send Secure cookies to %s (a loopback host is a secure context); Safari does not", to)
	default:
		r.add(CheckSecure, false, "%s is plain http: the browser never sends a Secure cookie over http (RFC 6265bis §5.8.3); serve it over https", to)
	}

	// RFC 6265bis §5.2 and §5.8.3: on a cross-site subresource request,
	// only SameSite=None cookies go; Lax ones go only with top-level GET
	// navigations.
	mode := SameSiteName(p.SameSite())
	if s.sameSite {
		r.add(CheckSameSite, true, "%s and %s are same-site (%s, registrable domain %s), so SameSite=%s does not hold the cookie back",
			s.from.host, s.to.host, s.from.origin.Scheme, s.from.site, mode)
		return
	}
	why := fmt.Sprintf("registrable domains %s and %s", s.from.site, s.to.site)
	if s.from.origin.Scheme != s.to.origin.Scheme {
		why = fmt.Sprintf("schemes %s and %s differ, and sites are schemeful", s.from.origin.Scheme, s.to.origin.Scheme)
	}
	if p.SameSite() == http.SameSiteNoneMode {
		// Fails: the agreement test (e2e) shows Chromium holding the
		// cookie back here, as Safari (ITP), Firefox (Total Cookie
		// Protection: another partition), Chrome's Incognito and every
		// browser with third-party cookies blocked do.
		r.add(CheckSameSite, false, "%s and %s are cross-site (%s): SameSite=None allows the cookie, but it is a third-party cookie here, which Safari and Firefox never send, nor Chrome in Incognito or with third-party cookies blocked; serve the page and the API under one registrable domain (and one scheme)",
			s.from.origin, to, why)
		return
	}
	rule := "goes cross-site only with top-level GET navigations, never with fetch"
	if mode == "Strict" {
		rule = "never goes on a cross-site request, not even a navigation"
	}
	r.add(CheckSameSite, false, "%s and %s are cross-site (%s): a SameSite=%s cookie %s; serve the page and the API under one registrable domain",
		s.from.origin, to, why, mode, rule)
}

// corsChecks: will the browser let the page read the answer, and send the
// request at all when it needs a preflight? (Fetch, "CORS protocol".)
func (r *Report) corsChecks(s *scenario) {
	if s.sameOrigin {
		r.add(CheckOrigin, true, "%s is the page's own origin: no CORS involved", s.to.origin)
		r.add(CheckPreflight, true, "same origin: no preflight")
		return
	}
	from := s.from.origin.String()
	policy, setting := s.in.CORS, "SSO_CORS_ORIGINS"
	if s.to.origin == s.loginOrigin && s.in.HubCORS != nil {
		// The hub's own API answers only the hub and the first-party
		// apps: a sibling that could read /api/session could read the
		// CSRF token with it.
		policy, setting = s.in.HubCORS, "SSO_LOGIN_ORIGINS"
	}
	allowed := policy.Allowed(from)
	if allowed {
		via := "sso's /auth answer (nginx copies the headers onto the response)"
		if s.to.origin == s.loginOrigin {
			via = "sso's own answer"
		}
		r.add(CheckOrigin, true, "%s is an allowed origin: %s carries Access-Control-Allow-Origin: %s and Access-Control-Allow-Credentials: true (never *)", from, via, from)
	} else {
		suggest := suggestOrigins(s)
		if setting == "SSO_LOGIN_ORIGINS" {
			// Exact only: a wildcard there trusts every sibling with the
			// user's session at the hub.
			suggest = from + " (if it is a first-party app: a page listed there can act as the user at the hub)"
		}
		r.add(CheckOrigin, false, "%s is not an allowed origin (allowed: %s): the browser hides every answer from the page; add %s to %s",
			from, strings.Join(policy.Config().Origins, ", "), suggest, setting)
	}

	// Fetch, "CORS-preflight fetch": needed for a method that is not
	// CORS-safelisted or any header that is not.
	cfg := policy.Config()
	var reasons, missing []string
	if !safelistedMethod(s.method) {
		reasons = append(reasons, s.method+" is not GET, HEAD or POST")
		if !containsExact(cfg.AllowMethods, s.method) {
			m := fmt.Sprintf("method %s (allowed: %s)", s.method, strings.Join(cfg.AllowMethods, ", "))
			if up := strings.ToUpper(s.method); up != s.method && containsExact(cfg.AllowMethods, up) {
				m = fmt.Sprintf("method %s (methods compare case-sensitively and fetch upper-cases only DELETE, GET, HEAD, OPTIONS, POST and PUT: write %s)", s.method, up)
			}
			missing = append(missing, m)
		}
	}
	unsafe := headerNames(s.in.Headers, func(n string, vs []string) bool {
		if forbiddenHeader(n) {
			return false
		}
		if len(vs) == 0 {
			return !safelistedHeader(n, "")
		}
		for _, v := range vs {
			if !safelistedHeader(n, v) {
				return true
			}
		}
		return false
	})
	var shown, notAllowed []string
	for _, h := range unsafe {
		if h == "Content-Type" {
			shown = append(shown, "Content-Type: "+s.in.Headers.Get(h))
		} else {
			shown = append(shown, h)
		}
		if !containsFold(cfg.AllowHeaders, h) {
			notAllowed = append(notAllowed, h)
		}
	}
	if len(shown) > 0 {
		reasons = append(reasons, strings.Join(shown, ", ")+" "+pick(len(shown) == 1, "is", "are")+" not CORS-safelisted")
	}
	if len(notAllowed) > 0 {
		missing = append(missing, fmt.Sprintf("header %s (allowed: %s)", strings.Join(notAllowed, ", "), strings.Join(cfg.AllowHeaders, ", ")))
	}
	if len(reasons) == 0 {
		r.add(CheckPreflight, true, "%s with only CORS-safelisted headers is sent without a preflight", s.method)
		return
	}
	route := "which nginx must route to sso's OPTIONS /auth, as the sso-protect.conf snippet does"
	if s.to.origin == s.loginOrigin {
		route = "which sso answers itself"
	}
	need := fmt.Sprintf("a preflight is needed (%s): an OPTIONS without cookies, %s", strings.Join(reasons, "; "), route)
	switch {
	case len(missing) > 0:
		r.add(CheckPreflight, false, "%s; sso's answer does not allow %s, so the browser never sends the request: drop it from the request or allow it",
			need, strings.Join(missing, "; "))
	case !allowed:
		r.add(CheckPreflight, false, "%s; sso refuses it with 403 since %s is not an allowed origin", need, from)
	default:
		r.add(CheckPreflight, true, "%s; sso allows this method and these headers", need)
	}
}

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

// suggestOrigins names the SSO_CORS_ORIGINS entries that would allow the
// page: its exact origin, and a wildcard over its cookie domain when it has
// one (never over a foreign domain).
func suggestOrigins(s *scenario) string {
	exact := s.from.origin.String()
	d, err := s.in.Cookies.For(s.from.host)
	if err != nil || d == s.from.host {
		return exact
	}
	return fmt.Sprintf("%s (or %s://*.%s for every sibling)", exact, s.from.origin.Scheme, d)
}

// csrfCheck: sso's forgery checks for unsafe, cookie-authenticated
// requests (CONTRACT: X-CSRF-Token on sso's API; an allowed Origin for
// every upstream behind /auth).
func (r *Report) csrfCheck(s *scenario) {
	if safeMethod(s.method) {
		r.add(CheckCSRF, true, "%s is a safe method: no forgery check", s.method)
		return
	}
	// Fetch, "append a request Origin header": sent on every CORS request
	// and on same-origin requests other than GET and HEAD.
	from := s.from.origin.String()
	originOK := s.in.CORS.Allowed(from)
	if s.to.origin != s.loginOrigin {
		if originOK {
			r.add(CheckCSRF, true, "the Origin %s is allowed, so sso's /auth forgery shield lets this %s through (the upstream may check its own token)", from, s.method)
			return
		}
		same := ""
		if s.sameOrigin {
			same = " (even from the API's own pages: browsers send Origin on same-origin " + s.method + " too)"
		}
		r.add(CheckCSRF, false, "sso's /auth refuses an unsafe %s whose Origin %s is not allowed (403 cross_site_request)%s; add %s to SSO_CORS_ORIGINS", s.method, from, same, from)
		return
	}
	if s.in.HubCORS != nil {
		originOK = s.in.HubCORS.Allowed(from)
	}
	if s.method == "POST" && strings.TrimSuffix(s.to.url.Path, "/") == "/api/session" {
		if !originOK {
			r.add(CheckCSRF, false, "sso refuses a login from %s (403 cross_origin): only the hub and SSO_LOGIN_ORIGINS may log in from a page; add %s to SSO_LOGIN_ORIGINS if it is a first-party app", from, from)
			return
		}
		r.add(CheckCSRF, true, "POST /api/session logs in with a password, not the cookie: no X-CSRF-Token needed")
		return
	}
	var problems []string
	if len(s.in.Headers.Values("X-CSRF-Token")) == 0 {
		problems = append(problems, fmt.Sprintf("sso refuses a cookie-authenticated %s without X-CSRF-Token (403 csrf): send the csrf_token from GET /api/session in an X-CSRF-Token header", s.method))
	}
	if !originOK {
		problems = append(problems, fmt.Sprintf("sso refuses its Origin %s, which may not use the hub's API (403 cross_origin; SSO_LOGIN_ORIGINS)", from))
	}
	if len(problems) > 0 {
		r.add(CheckCSRF, false, "%s", strings.Join(problems, "; "))
		return
	}
	r.add(CheckCSRF, true, "sso's own API gets X-CSRF-Token and the allowed Origin %s: this %s passes its forgery check (if the token is the session's)", from, s.method)
}

func containsExact(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}
