package cookiedomain

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/example/sso/internal/httptoken"
)

// ErrNoDomain is wrapped by every error about a host that belongs to none of
// the configured parent domains (or is no valid host at all).
var ErrNoDomain = errors.New("cookiedomain: host is under no cookie domain")

// DefaultName is the cookie name used when Config.Name is empty.
const DefaultName = "sso_session"

// Config describes the session cookie. New validates it.
type Config struct {
	// Domains are the parent domains, e.g. "example.com". At least one is
	// required; each must pass ValidateParent. Duplicates (after
	// canonicalising) are dropped.
	Domains []string
	// Name is the cookie name, an RFC 6265 token. Zero value: DefaultName.
	// "__Host-" names are refused (the cookie carries Domain); "__Secure-"
	// names require Secure.
	Name string
	// SameSite is Lax, Strict or None; None requires Secure. Zero value and
	// http.SameSiteDefaultMode: Lax, which is what browsers assume anyway,
	// written out so that every browser agrees.
	SameSite http.SameSite
	// Secure sets the Secure attribute. Zero value: false (plain-HTTP dev
	// mode); production configuration sets it.
	Secure bool
}

// Policy is a validated Config. It is immutable and safe for concurrent use.
type Policy struct {
	domains  []string // canonical, deduplicated, in configured order
	name     string
	sameSite http.SameSite
	secure   bool
}

// New validates cfg and returns its Policy. The error names the field.
func New(cfg Config) (*Policy, error) {
	p := &Policy{name: cfg.Name, sameSite: cfg.SameSite, secure: cfg.Secure}
	if len(cfg.Domains) == 0 {
		return nil, errors.New("cookiedomain: Domains: no cookie domain configured")
	}
	for _, d := range cfg.Domains {
		c, err := validateParent(d)
		if err != nil {
			return nil, fmt.Errorf("cookiedomain: Domains: %w", err)
		}
		if !slices.Contains(p.domains, c) {
			p.domains = append(p.domains, c)
		}
	}

	if p.name == "" {
		p.name = DefaultName
	}
	if !httptoken.Valid(p.name) {
		return nil, fmt.Errorf("cookiedomain: Name: %q is not an RFC 6265 token (letters, digits and !#$%%&'*+-.^_`|~)", p.name)
	}
	// RFC 6265bis §4.1.3: browsers reject a __Host- cookie that carries a
	// Domain, and a __Secure- cookie without Secure. Chrome and Firefox
	// match the prefixes case-insensitively.
	lower := strings.ToLower(p.name)
	if strings.HasPrefix(lower, "__host-") {
		return nil, fmt.Errorf("cookiedomain: Name: %q: a __Host- cookie cannot carry the Domain attribute a shared session needs", p.name)
	}
	if strings.HasPrefix(lower, "__secure-") && !p.secure {
		return nil, fmt.Errorf("cookiedomain: Name: %q: a __Secure- cookie requires Secure", p.name)
	}

	switch p.sameSite {
	case 0, http.SameSiteDefaultMode:
		p.sameSite = http.SameSiteLaxMode
	case http.SameSiteLaxMode, http.SameSiteStrictMode:
	case http.SameSiteNoneMode:
		if !p.secure {
			return nil, errors.New("cookiedomain: SameSite: None requires Secure: browsers drop SameSite=None cookies without it")
		}
	default:
		return nil, fmt.Errorf("cookiedomain: SameSite: unknown mode %d: want Lax, Strict or None", p.sameSite)
	}
	return p, nil
}

// Domains returns the canonical parent domains, without duplicates, in the
// configured order. The slice is a copy.
func (p *Policy) Domains() []string { return slices.Clone(p.domains) }

// Name returns the cookie name.
func (p *Policy) Name() string { return p.name }

// SameSite returns the SameSite mode the cookies carry (never the default mode).
func (p *Policy) SameSite() http.SameSite { return p.sameSite }

// Secure reports whether the cookies carry the Secure attribute.
func (p *Policy) Secure() bool { return p.secure }

// For returns the longest configured parent domain that host (a Host header
// value: any case, optional port and trailing dot) is under: with
// example.com and sub.example.com configured, a.sub.example.com gets
// sub.example.com. The error wraps ErrNoDomain when there is none, and also
// when host is no valid host; there is no host-only fallback.
func (p *Policy) For(host string) (string, error) {
	h, err := canonical(host)
	if err != nil {
		return "", fmt.Errorf("%w: invalid host %q: %w", ErrNoDomain, host, err)
	}
	best := ""
	for _, d := range p.domains {
		if len(d) > len(best) && Under(h.name, d) {
			best = d
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w: %q (configured: %s)", ErrNoDomain, h.name, strings.Join(p.domains, ", "))
	}
	return best, nil
}

// Contains reports whether host is under one of the parent domains.
func (p *Policy) Contains(host string) bool {
	_, err := p.For(host)
	return err == nil
}

// SessionCookie returns the cookie that sets the session value for the
// parent domain of host: Path=/, HttpOnly, Max-Age rounded up to whole
// seconds. maxAge must be positive. The cookie has passed (*http.Cookie).Valid,
// since http.SetCookie would silently drop an invalid Domain and so turn a
// shared cookie into a host-only one.
func (p *Policy) SessionCookie(host, value string, maxAge time.Duration) (*http.Cookie, error) {
	if maxAge <= 0 {
		return nil, fmt.Errorf("cookiedomain: session cookie max age %v is not positive", maxAge)
	}
	parent, err := p.For(host)
	if err != nil {
		return nil, err
	}
	c := p.cookie(value)
	c.Domain = parent
	c.MaxAge = int((maxAge + time.Second - 1) / time.Second)
	if err := c.Valid(); err != nil {
		// Do not quote the value: it is a session secret.
		return nil, fmt.Errorf("cookiedomain: session cookie for %q: %w", parent, err)
	}
	return c, nil
}

// ClearCookies returns the cookies that delete the session cookie for host:
// first one with Domain=<parent>, then a host-only one (no Domain). The
// host-only copy removes a cookie left by an earlier configuration that
// would otherwise keep the user half logged in. Both have an empty value,
// Max-Age=0 (MaxAge -1) and Expires in 1970 for old user agents.
//
// When host is under no parent domain the host-only cookie alone is returned,
// together with an error wrapping ErrNoDomain: the caller may still send it,
// since clearing never harms.
func (p *Policy) ClearCookies(host string) ([]*http.Cookie, error) {
	hostOnly := p.clearing()
	if err := hostOnly.Valid(); err != nil {
		return nil, fmt.Errorf("cookiedomain: host-only clearing cookie: %w", err)
	}
	parent, err := p.For(host)
	if err != nil {
		return []*http.Cookie{hostOnly}, err
	}
	shared := p.clearing()
	shared.Domain = parent
	if err := shared.Valid(); err != nil {
		return []*http.Cookie{hostOnly}, fmt.Errorf("cookiedomain: clearing cookie for %q: %w", parent, err)
	}
	return []*http.Cookie{shared, hostOnly}, nil
}

func (p *Policy) clearing() *http.Cookie {
	c := p.cookie("")
	c.MaxAge = -1
	c.Expires = time.Unix(0, 0).UTC()
	return c
}

// cookie holds the attributes that setting and clearing share; a clearing
// cookie must match Name, Domain and Path of the one it deletes.
func (p *Policy) cookie(value string) *http.Cookie {
	return &http.Cookie{
		Name:     p.name,
		Value:    value,
		Path:     "/",
		Secure:   p.secure,
		HttpOnly: true,
		SameSite: p.sameSite,
	}
}

// MaxClearPaths bounds the paths ClearAtPaths clears the cookie at.
const MaxClearPaths = 16

// ClearAtPaths returns cookies that delete a session cookie of our name set
// for the parent domain of host at any Path a browser would send with a
// request for one of the given URL paths, other than "/" (ClearCookies covers
// that). A sibling host can set such a cookie (cookie tossing: a longer Path
// is sent first), and the Cookie header does not say its Path; but a cookie
// sent with a request for /a/b has a Path that is a prefix of it: /a, /a/ or
// /a/b. At most MaxClearPaths cookies are returned; paths with bytes a
// cookie Path cannot hold are skipped.
func (p *Policy) ClearAtPaths(host string, urlPaths ...string) ([]*http.Cookie, error) {
	parent, err := p.For(host)
	if err != nil {
		return nil, err
	}
	var out []*http.Cookie
	for _, path := range PathPrefixes(urlPaths...) {
		if len(out) == MaxClearPaths {
			break
		}
		c := p.clearing()
		c.Domain, c.Path = parent, path
		if c.Valid() != nil {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// PathPrefixes returns, without duplicates and in order, every cookie Path
// other than "/" that path-matches (RFC 6265 §5.1.4) one of the request paths:
// for /a/b that is /a, /a/ and /a/b. Paths that do not start with "/", or hold
// bytes outside printable ASCII or a ";", are skipped.
func PathPrefixes(paths ...string) []string {
	var out []string
	add := func(s string) {
		if s != "/" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, path := range paths {
		if !strings.HasPrefix(path, "/") || !validCookiePath(path) {
			continue
		}
		for i := 1; i < len(path); i++ {
			if path[i] == '/' {
				add(path[:i])
				add(path[:i+1])
			}
		}
		add(path)
	}
	return out
}

func validCookiePath(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b > 0x7e || b == ';' {
			return false
		}
	}
	return true
}
