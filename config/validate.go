package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/example/sso/internal/httptoken"
	"github.com/example/sso/internal/shortdur"
)

// Validate checks the shape of every setting and the rules between them and
// returns one *SettingError per problem, joined with errors.Join, or nil.
// Deeper checks (public-suffix domains, key lengths, origin patterns) belong
// to the constructors that consume the values. Validate opens the users and
// JWT key files to see that they are readable.
func (c Config) Validate() error {
	return errors.Join(c.problems()...)
}

// problems returns one *SettingError per problem, in settings order.
func (c Config) problems() []error {
	var errs []error
	bad := func(env, value, msg string) { errs = append(errs, newError(env, value, msg)) }
	badf := func(env, value, format string, args ...any) { bad(env, value, fmt.Sprintf(format, args...)) }

	if _, port, err := splitHostPort(c.Listen); err != nil {
		bad("SSO_LISTEN", c.Listen, err.Error())
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		bad("SSO_LISTEN", c.Listen, "port must be a number from 0 to 65535")
	}

	domains := strings.Join(c.CookieDomains, ",")
	if len(c.CookieDomains) == 0 && !c.DevMode {
		bad("SSO_COOKIE_DOMAINS", "", "required outside dev mode")
	}
	seen := make(map[string]bool)
	for i, d := range c.CookieDomains {
		key := strings.TrimSuffix(strings.ToLower(d), ".")
		switch {
		case strings.TrimSpace(d) == "":
			badf("SSO_COOKIE_DOMAINS", domains, "entry %d is empty", i+1)
		case strings.ContainsAny(d, "/:@*?#[] \t\r\n"):
			badf("SSO_COOKIE_DOMAINS", domains, "entry %q must be a bare domain such as example.com, without scheme, port, path or wildcard", d)
		case seen[key]:
			badf("SSO_COOKIE_DOMAINS", domains, "entry %q is listed twice", d)
		}
		seen[key] = true
	}

	c.validateCookie(bad)

	if c.SessionIdle <= 0 {
		bad("SSO_SESSION_IDLE", fmtDuration(c.SessionIdle), "must be positive")
	} else {
		if c.SessionMax < c.SessionIdle {
			badf("SSO_SESSION_MAX", fmtDuration(c.SessionMax), "must be at least SSO_SESSION_IDLE (%s)", fmtDuration(c.SessionIdle))
		}
		if c.SessionRefresh < 0 {
			bad("SSO_SESSION_REFRESH", fmtDuration(c.SessionRefresh), "must not be negative")
		} else if c.SessionRefresh >= c.SessionIdle {
			badf("SSO_SESSION_REFRESH", fmtDuration(c.SessionRefresh), "must be less than SSO_SESSION_IDLE (%s)", fmtDuration(c.SessionIdle))
		}
	}

	if c.LoginMemory < 16 || c.LoginMemory > 65536 {
		bad("SSO_LOGIN_MEMORY", strconv.Itoa(c.LoginMemory), "must be from 16 to 65536 (MiB)")
	}
	if c.StoreTimeout < 10*time.Millisecond || c.StoreTimeout > 10*time.Second {
		bad("SSO_STORE_TIMEOUT", fmtDuration(c.StoreTimeout), "must be from 10ms to 10s")
	}
	// A minute at most: the cache is for bursts of requests of one client,
	// and a longer one would only hide store trouble for longer.
	if c.AuthCache < 0 || c.AuthCache > time.Minute {
		bad("SSO_AUTH_CACHE", fmtDuration(c.AuthCache), "must be from 0 (off) to 1m")
	}

	// At least 1, or a login would end its own session; the upper bound
	// keeps the per-login trimming of a store at the cap cheap.
	if c.SessionMaxPerUser < 1 || c.SessionMaxPerUser > 100_000 {
		bad("SSO_SESSION_MAX_PER_USER", strconv.Itoa(c.SessionMaxPerUser), "must be from 1 to 100000")
	}

	// The IP limit is 4 × SSO_LOGIN_MAX_RETRIES: the bound keeps that far
	// from overflow and from a "limit" that limits nothing.
	if c.LoginMaxRetries < 0 || c.LoginMaxRetries > 1000 {
		bad("SSO_LOGIN_MAX_RETRIES", strconv.Itoa(c.LoginMaxRetries), "must be from 0 (regulation off) to 1000")
	}
	if c.LoginFindTime < time.Second || c.LoginFindTime > 24*time.Hour {
		bad("SSO_LOGIN_FIND_TIME", fmtDuration(c.LoginFindTime), "must be from 1s to 24h")
	}
	if c.LoginBanTime < time.Second || c.LoginBanTime > 24*time.Hour {
		bad("SSO_LOGIN_BAN_TIME", fmtDuration(c.LoginBanTime), "must be from 1s to 24h")
	}

	if c.SecretKeys == "" && !c.DevMode {
		bad("SSO_SECRET_KEYS", "", "required outside dev mode; generate a key with: head -c 32 /dev/urandom | base64")
	}

	c.validateRedis(bad)

	if c.UsersFile == "" {
		if !c.DevMode && !c.LDAP.Enabled() && c.ldapURL == "" && len(c.OIDCProviders) == 0 {
			bad("SSO_USERS_FILE", "", "required outside dev mode (or an LDAP directory: SSO_LDAP_URL, or an OpenID provider: SSO_OIDC_ISSUER)")
		}
	} else if msg := readable(c.UsersFile); msg != "" {
		bad("SSO_USERS_FILE", c.UsersFile, msg)
	}

	c.validateLDAP(bad)
	c.validateMFA(bad)

	if msg := checkLoginURL(c.LoginURL, c.CookieSecure); msg != "" {
		bad("SSO_LOGIN_URL", c.LoginURL, msg)
	}
	if msg := checkRedirect(c.DefaultRedirect); msg != "" {
		bad("SSO_DEFAULT_REDIRECT", c.DefaultRedirect, msg)
	}

	origins := strings.Join(c.CORSOrigins, ",")
	for _, o := range c.CORSOrigins {
		if msg := checkOrigin(o); msg != "" {
			badf("SSO_CORS_ORIGINS", origins, "entry %q %s", o, msg)
		}
	}
	logins := strings.Join(c.LoginOrigins, ",")
	for _, o := range c.LoginOrigins {
		if msg := checkOrigin(o); msg != "" {
			badf("SSO_LOGIN_ORIGINS", logins, "entry %q %s", o, msg)
		}
	}
	headers := strings.Join(c.CORSHeaders, ",")
	for _, h := range c.CORSHeaders {
		if h == "*" || h == "" || !httptoken.Valid(h) {
			badf("SSO_CORS_HEADERS", headers, "entry %q is not a header name (a token such as X-Request-Id; * is not allowed with credentials)", h)
		}
	}
	proxies := strings.Join(c.TrustedProxies, ",")
	for _, p := range c.TrustedProxies {
		if _, err := parseProxy(p); err != nil {
			badf("SSO_TRUSTED_PROXIES", proxies, "entry %q is neither an IP address nor a CIDR such as 10.0.0.0/8", p)
		}
	}

	if c.JWTIssuer == "" {
		bad("SSO_JWT_ISSUER", "", "must not be empty (default: SSO_LOGIN_URL)")
	}
	if c.JWTAudience == "" {
		bad("SSO_JWT_AUDIENCE", "", "must not be empty (default: the first cookie domain)")
	}
	if c.JWTTTL < 30*time.Second || c.JWTTTL > time.Hour {
		bad("SSO_JWT_TTL", fmtDuration(c.JWTTTL), "must be from 30s to 1h")
	}
	for _, f := range c.JWTKeyFiles {
		if msg := readable(f); msg != "" {
			badf("SSO_JWT_KEY_FILES", strings.Join(c.JWTKeyFiles, ","), "file %q %s", f, msg)
		}
	}

	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		bad("SSO_LOG_LEVEL", c.LogLevel, "must be one of debug, info, warn, error")
	}
	switch strings.ToLower(c.LogFormat) {
	case "text", "json":
	default:
		bad("SSO_LOG_FORMAT", c.LogFormat, "must be one of text, json")
	}
	return append(errs, c.oidcProblems()...)
}

func (c Config) validateCookie(bad func(env, value, msg string)) {
	switch {
	case c.CookieName == "":
		bad("SSO_COOKIE_NAME", "", "must not be empty")
	case !httptoken.Valid(c.CookieName):
		bad("SSO_COOKIE_NAME", c.CookieName, "must be a cookie name token: letters, digits and !#$%&'*+-.^_`|~")
	case hasPrefixFold(c.CookieName, "__Host-"):
		// RFC 6265bis §4.1.3.2: __Host- cookies must not carry Domain, and
		// ours exists to carry one.
		bad("SSO_COOKIE_NAME", c.CookieName, "the __Host- prefix forbids the Domain attribute this cookie needs; use __Secure- instead")
	case hasPrefixFold(c.CookieName, "__Secure-") && !c.CookieSecure:
		bad("SSO_COOKIE_NAME", c.CookieName, "the __Secure- prefix requires SSO_COOKIE_SECURE=true: browsers drop such cookies without Secure")
	}
	switch strings.ToLower(c.CookieSameSite) {
	case "lax", "strict":
	case "none":
		if !c.CookieSecure {
			bad("SSO_COOKIE_SAMESITE", c.CookieSameSite, "none requires SSO_COOKIE_SECURE=true: browsers refuse SameSite=None cookies without Secure")
		}
	default:
		bad("SSO_COOKIE_SAMESITE", c.CookieSameSite, "must be one of lax, strict, none")
	}
}

func (c Config) validateRedis(bad func(env, value, msg string)) {
	sentinel := c.RedisSentinelMaster != "" || len(c.RedisSentinelAddrs) > 0
	cluster := len(c.RedisClusterAddrs) > 0
	const one = "; set only one of SSO_REDIS_URL, SSO_REDIS_SENTINEL_MASTER with SSO_REDIS_SENTINEL_ADDRS, or SSO_REDIS_CLUSTER_ADDRS"
	if c.RedisURL != "" && sentinel {
		bad("SSO_REDIS_SENTINEL_MASTER", c.RedisSentinelMaster, "Sentinel cannot be combined with SSO_REDIS_URL"+one)
	}
	if cluster && (c.RedisURL != "" || sentinel) {
		bad("SSO_REDIS_CLUSTER_ADDRS", strings.Join(c.RedisClusterAddrs, ","), "Cluster cannot be combined with another Redis setting"+one)
	}

	if c.RedisURL != "" {
		if msg := checkRedisURL(c.RedisURL); msg != "" {
			bad("SSO_REDIS_URL", c.RedisURL, msg)
		}
	}
	if c.RedisSentinelMaster != "" && len(c.RedisSentinelAddrs) == 0 {
		bad("SSO_REDIS_SENTINEL_ADDRS", "", "required with SSO_REDIS_SENTINEL_MASTER")
	}
	if c.RedisSentinelMaster == "" && len(c.RedisSentinelAddrs) > 0 {
		bad("SSO_REDIS_SENTINEL_MASTER", "", "required with SSO_REDIS_SENTINEL_ADDRS")
	}
	for _, list := range []struct {
		env   string
		addrs []string
	}{{"SSO_REDIS_SENTINEL_ADDRS", c.RedisSentinelAddrs}, {"SSO_REDIS_CLUSTER_ADDRS", c.RedisClusterAddrs}} {
		for _, a := range list.addrs {
			if msg := checkAddr(a); msg != "" {
				bad(list.env, strings.Join(list.addrs, ","), fmt.Sprintf("entry %q %s", a, msg))
			}
		}
	}
}

// splitHostPort is net.SplitHostPort with an error message fit for a user.
func splitHostPort(s string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(s)
	if err != nil {
		return "", "", errors.New("must be host:port, such as 127.0.0.1:8080 or :8080")
	}
	return host, port, nil
}

// checkAddr checks a host:port with a host and a numeric port.
func checkAddr(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		return "must be host:port, such as redis-1:26379"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "must have a port from 1 to 65535"
	}
	return ""
}

func checkRedisURL(s string) string {
	u, err := url.Parse(s)
	// The *url.Error would quote the whole URL, password included: never
	// pass it on.
	if err != nil {
		return "is not a valid URL; want redis://[user:password@]host:port/db or rediss://…"
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return "must start with redis:// or rediss://"
	}
	if u.Hostname() == "" {
		return "must name a host, such as redis://localhost:6379/0"
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return "port must be a number from 1 to 65535"
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if _, err := strconv.ParseUint(db, 10, 32); err != nil {
			return "path must be a database number such as /0"
		}
	}
	if u.Fragment != "" {
		return "must not have a #fragment"
	}
	return ""
}

func checkLoginURL(s string, secure bool) string {
	if s == "" {
		return "required outside dev mode"
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return "must be an absolute URL such as https://login.example.com"
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "must be an http or https URL such as https://login.example.com"
	case u.Host == "" || u.Hostname() == "":
		return "must name a host, such as https://login.example.com"
	case u.User != nil:
		return "must not contain user:password@"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return "must have no query or fragment"
	case u.Scheme == "http" && secure:
		return "must be https while SSO_COOKIE_SECURE=true: the browser would not send the Secure cookie to it"
	}
	return ""
}

func checkRedirect(s string) string {
	const want = "must be a path such as /welcome or an absolute http(s) URL"
	if s == "" {
		return ""
	}
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) >= 0 {
		return want + ", without control characters or backslashes"
	}
	if strings.HasPrefix(s, "/") {
		if strings.HasPrefix(s, "//") {
			return want + "; //host is not a path"
		}
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Hostname() == "" || u.User != nil {
		return want
	}
	return ""
}

// checkOrigin checks the shape of a CORS origin pattern; cors.New does the
// rest.
func checkOrigin(o string) string {
	const want = "must be an origin such as https://app.example.com or https://*.example.com"
	if o == "*" {
		return "is not allowed: credentialed CORS needs explicit origins; " + want
	}
	lo := strings.ToLower(o)
	rest, ok := strings.CutPrefix(lo, "https://")
	if !ok {
		rest, ok = strings.CutPrefix(lo, "http://")
	}
	if !ok || rest == "" || strings.ContainsAny(rest, "/?#@ \t") {
		return want + ", with scheme and without path"
	}
	return ""
}

// parseProxy accepts a CIDR or a single address (as a /32 or /128) and
// returns the masked prefix.
func parseProxy(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		// Prefix would drop the zone silently; a proxy list has no use for one.
		return netip.Prefix{}, errors.New("zoned address")
	}
	return a.Prefix(a.BitLen())
}

// readable opens path and closes it again, returning what is wrong or "".
// Only a regular file will do: a FIFO or device (/dev/zero) would be read
// without end, or block the start-up.
func readable(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "cannot be opened: " + pathErrMsg(err)
	}
	if fi.IsDir() {
		return "is a directory, want a file"
	}
	if !fi.Mode().IsRegular() {
		return "is not a regular file"
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "cannot be opened: " + pathErrMsg(err)
	}
	defer f.Close()
	return ""
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// fmtDuration prints 8h rather than 8h0m0s.
func fmtDuration(d time.Duration) string { return shortdur.String(d) }
