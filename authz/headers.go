package authz

import (
	"iter"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/example/sso/cookiedomain"
)

// Header names in canonical form (textproto.CanonicalMIMEHeaderKey), so
// that /auth reads and writes the header maps directly: Header.Get and Set
// canonicalise their key on every call, which allocates for names such as
// X-Original-URL whose canonical form differs.
const (
	hOriginalMethod  = "X-Original-Method"
	hOriginalURL     = "X-Original-Url"
	hAPIKey          = "X-Api-Key"
	hSecFetchSite    = "Sec-Fetch-Site"
	hOrigin          = "Origin"
	hCacheControl    = "Cache-Control"
	hAuthUser        = "X-Auth-User"
	hAuthEmail       = "X-Auth-Email"
	hAuthGroups      = "X-Auth-Groups"
	hAuthAMR         = "X-Auth-Amr"
	hAuthToken       = "X-Auth-Token"
	hAuthError       = "X-Auth-Error"
	hContentLength   = "Content-Length"
	hLoginURL        = "X-Auth-Login-Url"
	hWWWAuthenticate = "Www-Authenticate"
)

// get is r.Header.Get for a canonical name, without canonicalising it.
func get(h http.Header, canonical string) string {
	if v := h[canonical]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// value is a header value that is set on many responses: the slice is
// shared, never written to, and full to capacity, so that an Add by later
// code copies it instead of writing into another response's header.
type value []string

func newValue(v string) value { return value(slices.Clip([]string{v})) }

var (
	noStore         = newValue("no-store")
	bearerChallenge = newValue(`Bearer realm="sso"`)
	zeroLength      = newValue("0")
	errorValues     sync.Map // code → value, a handful of constant codes
	emptyGroups     = newValue("")
	maxRendered     = 50_000 // bound of renderCache, as maxCachedTokens
	unauthorized    = newValue("unauthorized")
)

// errorValue is the shared X-Auth-Error value of code (a constant).
func errorValue(code string) value {
	if code == "unauthorized" {
		return unauthorized
	}
	if v, ok := errorValues.Load(code); ok {
		return v.(value)
	}
	v, _ := errorValues.LoadOrStore(code, newValue(code))
	return v.(value)
}

// rendered holds the identity headers of one user as last rendered: the
// values are built once per user and state of the users file instead of on
// every request (the groups join was the largest).
type rendered struct {
	email        string
	groups       []string // what groupsV was joined from
	user, emailV value
	groupsV      value
}

// renderCache maps a user name to its rendered identity headers. An entry
// is used only while the user's email and groups are still what it was
// rendered from, so a change in the users file shows at once.
type renderCache struct {
	mu sync.RWMutex
	m  map[string]*rendered
}

// headers returns the values of X-Auth-User, -Email and -Groups for id.
func (c *renderCache) headers(id *Identity) *rendered {
	c.mu.RLock()
	r := c.m[id.User]
	c.mu.RUnlock()
	if r != nil && r.email == id.Email && slices.Equal(r.groups, id.Groups) {
		return r
	}
	r = &rendered{
		email: id.Email, groups: slices.Clone(id.Groups),
		user: newValue(id.User), emailV: newValue(id.Email), groupsV: newValue(strings.Join(id.Groups, ",")),
	}
	if len(id.Groups) == 0 {
		r.groupsV = emptyGroups
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxRendered {
		c.m = make(map[string]*rendered)
	}
	c.m[id.User] = r
	c.mu.Unlock()
	return r
}

// audienceCache maps the scheme and authority of an X-Original-URL
// ("https://app.example.com") to the upstream token's audience, so that
// the URL is parsed once per upstream, not once per request. Bounded: past
// maxAudiences it starts afresh.
type audienceCache struct {
	mu sync.RWMutex
	m  map[string]string // "" value: no audience (an unusable URL)
}

const maxAudiences = 1024

// audience is upstreamAudience(originalURL), cached by the URL's prefix up
// to its path. URLs with userinfo ("@") or without "://" are not cached.
func (c *audienceCache) audience(originalURL string) (string, bool) {
	prefix, ok := originPrefix(originalURL)
	if !ok {
		return upstreamAudience(originalURL)
	}
	c.mu.RLock()
	aud, hit := c.m[prefix]
	c.mu.RUnlock()
	if hit {
		return aud, aud != ""
	}
	aud, ok = upstreamAudience(prefix)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxAudiences {
		c.m = make(map[string]string)
	}
	c.m[prefix] = aud
	c.mu.Unlock()
	return aud, ok
}

// originPrefix returns u up to (not including) the path, query or
// fragment that follows its authority: the part that decides the
// audience. ok is false, and upstreamAudience judges the whole URL, when u
// has no "://", its authority holds "@" or "\\", or the rest could make
// url.Parse fail ('%' escapes, control characters): the cached answer must
// be the one the whole URL gets.
func originPrefix(u string) (string, bool) {
	i := strings.Index(u, "://")
	if i <= 0 {
		return "", false
	}
	end := len(u)
	if j := strings.IndexAny(u[i+3:], "/?#"); j >= 0 {
		end = i + 3 + j
	}
	if strings.ContainsAny(u[:end], "@\\") {
		return "", false
	}
	for k := end; k < len(u); k++ {
		if b := u[k]; b == '%' || b < 0x20 || b == 0x7f {
			return "", false
		}
	}
	return u[:end], true
}

// cookieValues yields the values of the cookies called name in h's Cookie
// lines, in order, as r.CookiesNamed(name) would return them (names and
// parts trimmed, surrounding double quotes removed, values with bytes RFC
// 6265 forbids skipped, nothing past net/http's default limit of
// maxCookies), but without building a Cookie per pair: /auth reads one
// cookie per request.
func cookieValues(h http.Header, name string) iter.Seq[string] {
	return func(yield func(string) bool) {
		lines := h["Cookie"]
		n := 0
		for _, line := range lines {
			n += strings.Count(line, ";") + 1
		}
		if n > maxCookies {
			return
		}
		for _, line := range lines {
			for part := range strings.SplitSeq(line, ";") {
				k, v, _ := strings.Cut(strings.Trim(part, " \t\r\n"), "=")
				if strings.Trim(k, " \t\r\n") != name {
					continue
				}
				if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
					v = v[1 : len(v)-1]
				}
				if !validCookieValue(v) {
					continue
				}
				if !yield(v) {
					return
				}
			}
		}
	}
}

// maxCookies is net/http's default limit on the cookies of a request
// (GODEBUG httpcookiemaxnum): past it, CookiesNamed returns none.
const maxCookies = 3000

// validCookieValue is net/http's test of a cookie value's bytes.
func validCookieValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < 0x20 || b >= 0x7f || b == '"' || b == ';' || b == '\\' {
			return false
		}
	}
	return true
}

// hostCache remembers the cookie policy's answer per host of an rd
// target: canonicalising a host (IDNA, IP parsing) allocates, and the
// anonymous 401s behind nginx name the same few hosts over and over.
// Bounded: past maxHosts it starts afresh.
type hostCache struct {
	mu     sync.RWMutex
	m      map[string]bool
	policy *cookiedomain.Policy
}

const maxHosts = 1024

// contains returns p.Contains, answered from the cache when it can.
func (c *hostCache) contains(p *cookiedomain.Policy) func(string) bool {
	return func(host string) bool {
		c.mu.RLock()
		ok, hit := c.m[host]
		hit = hit && c.policy == p
		c.mu.RUnlock()
		if hit {
			return ok
		}
		ok = p.Contains(host)
		c.mu.Lock()
		if c.m == nil || len(c.m) >= maxHosts || c.policy != p {
			c.m, c.policy = make(map[string]bool), p
		}
		c.m[host] = ok
		c.mu.Unlock()
		return ok
	}
}
