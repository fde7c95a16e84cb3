package cors

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/example/sso/internal/httptoken"
)

// Defaults for the zero values of Config.
var (
	defaultMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}
	defaultHeaders = []string{"Content-Type", "Authorization", "X-CSRF-Token", "X-Requested-With", "X-API-Key"}
	defaultExpose  = []string{"X-Auth-Login-URL", "X-CSRF-Token"}
)

// DefaultAllowHeaders returns the request headers a preflight allows when
// Config.AllowHeaders is empty: what a credentialed single-page app needs.
// Append to it to allow more.
func DefaultAllowHeaders() []string { return slices.Clone(defaultHeaders) }

// DefaultMaxAge is how long browsers may cache a preflight answer when
// Config.MaxAge is zero. Chromium caps any value at 2 hours, Firefox at 24.
const DefaultMaxAge = 10 * time.Minute

// Config is the origin policy. Credentials are always allowed: that is the
// point of this package, and why "*" is refused everywhere.
type Config struct {
	// Origins lists the allowed origins; at least one is required.
	//   - exact: "https://app.example.com", "http://localhost:3000",
	//     "https://[::1]:8443". Without a port it matches any port; with one,
	//     only that port ("https://a.example.com:443" matches port 443 only).
	//   - wildcard: "https://*.example.com" matches every host under
	//     example.com at any depth (a.example.com, a.b.example.com), on a dot
	//     boundary, but NOT example.com itself: list "https://example.com"
	//     as well (DefaultOrigins does). The part after "*." must not be a
	//     public suffix ("https://*.co.uk", "https://*.github.io").
	// The scheme must match exactly. "*", "null", paths, userinfo, other
	// schemes, "*" anywhere but the first label and empty entries are
	// refused by New, with the bad entry named in the error.
	Origins []string
	// AllowMethods are the methods a preflight may ask for, compared
	// case-sensitively as browsers do (Fetch §4.8); entries are upper-cased.
	// Empty: GET, HEAD, POST, PUT, PATCH, DELETE.
	AllowMethods []string
	// AllowHeaders are the request headers a preflight may ask for,
	// compared case-insensitively. Empty: Content-Type, Authorization,
	// X-CSRF-Token, X-Requested-With, X-API-Key.
	AllowHeaders []string
	// ExposeHeaders are the response headers scripts may read.
	// Empty: X-Auth-Login-URL, X-CSRF-Token.
	ExposeHeaders []string
	// MaxAge is how long a preflight answer may be cached, in whole
	// seconds. Zero: DefaultMaxAge. Negative: refused.
	MaxAge time.Duration
}

// DefaultOrigins returns the origins allowed when none are configured: for
// each cookie domain d, "https://d" and "https://*.d" (d itself and every
// host under it, over https, on any port).
func DefaultOrigins(cookieDomains []string) []string {
	out := make([]string, 0, 2*len(cookieDomains))
	for _, d := range cookieDomains {
		out = append(out, "https://"+d, "https://*."+d)
	}
	return out
}

// site is a scheme and a host, without port.
type site struct{ scheme, host string }

// Policy decides which origins may make credentialed cross-origin requests
// and writes the CORS headers. It is immutable and safe for concurrent use.
type Policy struct {
	cfg Config

	// Matching tables, so that Allowed costs a parse plus a few map
	// lookups however many patterns there are.
	exact       map[Origin]struct{} // exact pattern with a port (default port: Port "")
	exactAny    map[site]struct{}   // exact pattern without a port
	wildcard    map[Origin]struct{} // "*." pattern with a port; Host is the parent
	wildcardAny map[site]struct{}   // "*." pattern without a port; host is the parent

	methods map[string]struct{} // upper-case
	headers map[string]struct{} // lower-case

	allowMethods  string // header values, computed once
	allowHeaders  string
	exposeHeaders string
	maxAge        string

	// Shared header values for Decorate, set on every actual response:
	// built once (per allowed origin for Access-Control-Allow-Origin)
	// rather than per request. Each is full to capacity, so an append by
	// later code copies it and no response writes into another's.
	varyOrigin, allowCreds, expose []string
	seenMu                         sync.RWMutex
	seen                           map[string][]string // allowed Origin value → its ACAO value; bounded by maxSeen
}

// maxSeen bounds the allowed origins whose header value is kept; past it
// the map starts afresh (wildcard patterns allow unboundedly many).
const maxSeen = 1024

// allowOrigin reports whether origin is allowed and returns the shared
// Access-Control-Allow-Origin value for it: origin verbatim.
func (p *Policy) allowOrigin(origin string) ([]string, bool) {
	p.seenMu.RLock()
	v, ok := p.seen[origin]
	p.seenMu.RUnlock()
	if ok {
		return v, true
	}
	if !p.Allowed(origin) {
		return nil, false
	}
	v = slices.Clip([]string{origin})
	p.seenMu.Lock()
	if p.seen == nil || len(p.seen) >= maxSeen {
		p.seen = make(map[string][]string)
	}
	p.seen[origin] = v
	p.seenMu.Unlock()
	return v, true
}

// New validates cfg, fills in the defaults and returns the policy. Every
// problem is reported, each naming the bad entry.
func New(cfg Config) (*Policy, error) {
	p := &Policy{
		exact:       make(map[Origin]struct{}),
		exactAny:    make(map[site]struct{}),
		wildcard:    make(map[Origin]struct{}),
		wildcardAny: make(map[site]struct{}),
		methods:     make(map[string]struct{}),
		headers:     make(map[string]struct{}),
	}
	var errs []error
	if len(cfg.Origins) == 0 {
		errs = append(errs, errors.New("cors: no origins configured; use DefaultOrigins(cookieDomains) for the cookie domains and their subdomains"))
	}
	for _, pat := range cfg.Origins {
		if err := p.addPattern(pat); err != nil {
			errs = append(errs, fmt.Errorf("cors: origin pattern %q: %w", pat, err))
		}
	}

	if len(cfg.AllowMethods) == 0 {
		cfg.AllowMethods = defaultMethods
	}
	var methods []string
	for _, m := range cfg.AllowMethods {
		switch u := strings.ToUpper(m); {
		case m == "*":
			errs = append(errs, errors.New(`cors: allowed method "*" means any method only without credentials; list the methods`))
		case !httptoken.Valid(m):
			errs = append(errs, fmt.Errorf("cors: allowed method %q is not an HTTP token", m))
		case u == "CONNECT" || u == "TRACE" || u == "TRACK":
			errs = append(errs, fmt.Errorf("cors: allowed method %q is forbidden by Fetch; browsers never send it", m))
		default:
			if _, dup := p.methods[u]; !dup {
				p.methods[u] = struct{}{}
				methods = append(methods, u)
			}
		}
	}

	if len(cfg.AllowHeaders) == 0 {
		cfg.AllowHeaders = defaultHeaders
	}
	allow, err := headerList("allowed", cfg.AllowHeaders)
	errs = append(errs, err...)
	for _, h := range allow {
		p.headers[strings.ToLower(h)] = struct{}{}
	}

	if len(cfg.ExposeHeaders) == 0 {
		cfg.ExposeHeaders = defaultExpose
	}
	expose, err := headerList("exposed", cfg.ExposeHeaders)
	errs = append(errs, err...)

	switch {
	case cfg.MaxAge < 0:
		errs = append(errs, fmt.Errorf("cors: max age %v is negative", cfg.MaxAge))
	case cfg.MaxAge == 0:
		cfg.MaxAge = DefaultMaxAge
	}

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p.cfg = Config{
		Origins:       slices.Clone(cfg.Origins),
		AllowMethods:  methods,
		AllowHeaders:  allow,
		ExposeHeaders: expose,
		MaxAge:        cfg.MaxAge,
	}
	p.allowMethods = strings.Join(methods, ", ")
	p.allowHeaders = strings.Join(allow, ", ")
	p.exposeHeaders = strings.Join(expose, ", ")
	p.varyOrigin = slices.Clip([]string{hOrigin})
	p.allowCreds = slices.Clip([]string{"true"})
	p.expose = slices.Clip([]string{p.exposeHeaders})
	p.maxAge = fmt.Sprint(int64(cfg.MaxAge / time.Second))
	return p, nil
}

// headerList checks and de-duplicates header names (case-insensitively,
// keeping the first spelling).
func headerList(what string, names []string) ([]string, []error) {
	var out []string
	var errs []error
	seen := make(map[string]bool)
	for _, h := range names {
		switch {
		case h == "*":
			errs = append(errs, fmt.Errorf(`cors: %s header "*" is a wildcard only without credentials; list the headers`, what))
		case !httptoken.Valid(h):
			errs = append(errs, fmt.Errorf("cors: %s header %q is not an HTTP token", what, h))
		case !seen[strings.ToLower(h)]:
			seen[strings.ToLower(h)] = true
			out = append(out, h)
		}
	}
	return out, errs
}

// addPattern parses one Config.Origins entry into the matching tables.
func (p *Policy) addPattern(pat string) error {
	switch {
	case pat == "":
		return errors.New("empty entry")
	case pat == "*":
		return errors.New(`"*" would allow every origin; browsers refuse it with credentials anyway: list the origins, or use "https://*.example.com"`)
	case pat == "null":
		return errors.New(`"null" is sent by sandboxed frames, file: pages and redirects: anyone can send it`)
	case strings.TrimSpace(pat) != pat:
		return errors.New("leading or trailing space")
	}
	i := strings.Index(pat, "://")
	if i < 0 {
		return errors.New(`no "://": write the scheme, as in "https://app.example.com"`)
	}
	wild := false
	switch rest := pat[i+3:]; {
	case strings.HasPrefix(rest, "*."):
		wild = true
		pat = pat[:i+3] + rest[2:]
	case rest == "*" || strings.HasPrefix(rest, "*:"):
		return errors.New(`a wildcard needs a parent domain, as in "https://*.example.com"`)
	case strings.HasPrefix(rest, "*"):
		return errors.New(`"*" must be followed by ".": "https://*example.com" would allow "https://evilexample.com"`)
	}
	if strings.Contains(pat, "*") {
		return errors.New(`"*" is allowed only as the whole first label, as in "https://*.example.com"`)
	}
	o, explicitPort, err := parseOrigin(pat)
	if err != nil {
		return err
	}
	if !wild {
		if explicitPort {
			p.exact[o] = struct{}{}
		} else {
			p.exactAny[site{o.Scheme, o.Host}] = struct{}{}
		}
		return nil
	}
	if isIP(o.Host) {
		return errors.New("a wildcard needs a domain name, not an IP address")
	}
	// A wildcard over a public suffix allows any site registered under it
	// (publicsuffix covers private suffixes such as github.io too).
	if ps, _ := publicsuffix.PublicSuffix(o.Host); ps == o.Host {
		return fmt.Errorf("%q is a public suffix: the wildcard would allow sites of anyone who registers a name under it", o.Host)
	}
	if explicitPort {
		p.wildcard[o] = struct{}{}
	} else {
		p.wildcardAny[site{o.Scheme, o.Host}] = struct{}{}
	}
	return nil
}

// WithOrigins returns a policy like p (methods, headers, max age) that
// allows only origins: sso's own API answers fewer origins than the APIs
// behind /auth.
func (p *Policy) WithOrigins(origins ...string) (*Policy, error) {
	c := p.Config()
	c.Origins = origins
	return New(c)
}

// Config returns the effective configuration: the defaults filled in,
// methods upper-cased, duplicates dropped. The slices are copies.
func (p *Policy) Config() Config {
	c := p.cfg
	c.Origins = slices.Clone(c.Origins)
	c.AllowMethods = slices.Clone(c.AllowMethods)
	c.AllowHeaders = slices.Clone(c.AllowHeaders)
	c.ExposeHeaders = slices.Clone(c.ExposeHeaders)
	return c
}

// Allowed reports whether origin, the value of a request's Origin header,
// parses (see ParseOrigin) and matches one of the configured patterns.
func (p *Policy) Allowed(origin string) bool {
	o, _, err := parseOrigin(origin)
	return err == nil && p.match(o)
}

func (p *Policy) match(o Origin) bool {
	if _, ok := p.exact[o]; ok {
		return true
	}
	if _, ok := p.exactAny[site{o.Scheme, o.Host}]; ok {
		return true
	}
	if len(p.wildcard) == 0 && len(p.wildcardAny) == 0 {
		return false
	}
	// Look up each proper parent of the host: a.b.example.com tries
	// b.example.com, example.com, com. Matching on label boundaries is what
	// keeps "evilexample.com" out of "*.example.com". IPv6 hosts have no
	// dots, and the parents of an IPv4 address end in a number, which no
	// wildcard parent does (New refuses them).
	h := o.Host
	for i := 0; i < len(h); i++ {
		if h[i] != '.' {
			continue
		}
		parent := h[i+1:]
		if _, ok := p.wildcardAny[site{o.Scheme, parent}]; ok {
			return true
		}
		if _, ok := p.wildcard[Origin{o.Scheme, parent, o.Port}]; ok {
			return true
		}
	}
	return false
}
