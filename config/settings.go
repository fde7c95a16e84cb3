package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/example/sso/federation"
	"github.com/example/sso/ldapusers"
)

// Config is the validated, typed configuration of sso. Load fills it from
// flags, environment and an optional YAML file; each field names the
// environment variable it comes from.
type Config struct {
	Listen              string           // SSO_LISTEN, host:port
	CookieDomains       []string         // SSO_COOKIE_DOMAINS; ["example.test"] in dev mode
	CookieName          string           // SSO_COOKIE_NAME
	CookieSameSite      string           // SSO_COOKIE_SAMESITE: "lax", "strict" or "none"
	CookieSecure        bool             // SSO_COOKIE_SECURE
	SessionIdle         time.Duration    // SSO_SESSION_IDLE
	SessionMax          time.Duration    // SSO_SESSION_MAX
	SessionRefresh      time.Duration    // SSO_SESSION_REFRESH: least interval between last-seen writes
	SessionMaxPerUser   int              // SSO_SESSION_MAX_PER_USER: sessions one user may hold; logins beyond it end the oldest
	LoginMaxRetries     int              // SSO_LOGIN_MAX_RETRIES: failed logins per user within LoginFindTime before a ban; 0: off
	LoginFindTime       time.Duration    // SSO_LOGIN_FIND_TIME: window in which failed logins count
	LoginBanTime        time.Duration    // SSO_LOGIN_BAN_TIME: how long a ban lasts
	LoginMemory         int              // SSO_LOGIN_MEMORY: MiB that password checks under way may take
	SecretKeys          string           // SSO_SECRET_KEYS, raw; cmd/sso parses it with ticket.ParseKeys
	RedisURL            string           // SSO_REDIS_URL
	RedisSentinelMaster string           // SSO_REDIS_SENTINEL_MASTER
	RedisSentinelAddrs  []string         // SSO_REDIS_SENTINEL_ADDRS
	RedisClusterAddrs   []string         // SSO_REDIS_CLUSTER_ADDRS
	RedisPassword       string           // SSO_REDIS_PASSWORD, for sentinel and cluster
	StoreTimeout        time.Duration    // SSO_STORE_TIMEOUT: deadline of each Redis call on the request path
	AuthCache           time.Duration    // SSO_AUTH_CACHE: how long a verified session or key may answer from memory; 0: off
	UsersFile           string           // SSO_USERS_FILE
	LDAP                ldapusers.Config // SSO_LDAP_*: LDAP users backend instead of UsersFile (ldap.go); ldapusers.New(c.LDAP)
	MFA                 MFA              // SSO_MFA_*: the second factor (mfa.go)
	LoginURL            string           // SSO_LOGIN_URL, without trailing slash
	DefaultRedirect     string           // SSO_DEFAULT_REDIRECT; "" means the login hub page
	CORSOrigins         []string         // SSO_CORS_ORIGINS; nil means the caller derives them
	CORSHeaders         []string         // SSO_CORS_HEADERS: request headers allowed in preflights besides the defaults
	LoginOrigins        []string         // SSO_LOGIN_ORIGINS: origins besides the hub's own from which POST /api/session may log in
	TrustedProxies      []string         // SSO_TRUSTED_PROXIES, as masked CIDR prefixes
	JWTIssuer           string           // SSO_JWT_ISSUER
	JWTAudience         string           // SSO_JWT_AUDIENCE
	JWTTTL              time.Duration    // SSO_JWT_TTL
	JWTKeyFiles         []string         // SSO_JWT_KEY_FILES; nil means keys derived from SSO_SECRET_KEYS
	LogLevel            string           // SSO_LOG_LEVEL: "debug", "info", "warn" or "error"
	LogFormat           string           // SSO_LOG_FORMAT: "text" or "json"

	// OIDC holds the flat SSO_OIDC_* settings; OIDCProviders every upstream
	// OpenID provider (that one first, then the file's oidc_providers),
	// with RedirectURL derived from LoginURL, for federation.New.
	OIDC          OIDCEnv
	OIDCProviders []federation.Provider
	oidcOrigins   []oidcOrigin // parallel to OIDCProviders, for messages

	// ldapURL is SSO_LDAP_URL, merged into LDAP.Address (SSO_LDAP_ADDRESS,
	// its alias) by Load; LDAPSetting says which name was used.
	ldapURL string

	// DevMode is true when no source set SSO_COOKIE_DOMAINS.
	DevMode bool

	// Notes are start-up notices about values Load derived rather than
	// read, for cmd/sso to log (e.g. the LoginURL it made up).
	Notes []string

	// sources maps each setting's env name to where its value came from.
	sources map[string]string
}

type kind int

const (
	kindString kind = iota
	kindList
	kindBool
	kindDuration
	kindInt
)

// setting describes one configuration value. The raw default is parsed like
// any other source, so Usage and Load cannot disagree about it.
type setting struct {
	env    string
	kind   kind
	def    string // raw default; "" when none or derived
	defDoc string // default as Usage shows it, when def alone would mislead
	help   string
	secret bool                // never shown in errors, String or Redacted
	field  func(c *Config) any // pointer to the Config field
}

// DevDomain is the cookie domain used in dev mode.
const DevDomain = "example.test"

// settings returns the table of every setting, in Usage order. It is a
// function rather than a package variable so that nothing can mutate it.
func settings() []setting {
	return append([]setting{
		{env: "SSO_LISTEN", kind: kindString, def: "127.0.0.1:8080",
			help:  "listen address, host:port (empty host: all interfaces)",
			field: func(c *Config) any { return &c.Listen }},
		{env: "SSO_COOKIE_DOMAINS", kind: kindList,
			defDoc: "none: dev mode with " + DevDomain,
			help:   "comma-separated parent domains of the session cookie, e.g. example.com,example.org",
			field:  func(c *Config) any { return &c.CookieDomains }},
		{env: "SSO_COOKIE_NAME", kind: kindString, def: "sso_session",
			help:  "session cookie name",
			field: func(c *Config) any { return &c.CookieName }},
		{env: "SSO_COOKIE_SAMESITE", kind: kindString, def: "lax",
			help:  "SameSite attribute: lax, strict or none (none requires SSO_COOKIE_SECURE=true)",
			field: func(c *Config) any { return &c.CookieSameSite }},
		{env: "SSO_COOKIE_SECURE", kind: kindBool,
			defDoc: "true; dev mode: false",
			help:   "Secure attribute of the session cookie",
			field:  func(c *Config) any { return &c.CookieSecure }},
		{env: "SSO_SESSION_IDLE", kind: kindDuration, def: "8h",
			help:  "idle timeout of a session (Go duration)",
			field: func(c *Config) any { return &c.SessionIdle }},
		{env: "SSO_SESSION_MAX", kind: kindDuration, def: "168h",
			help:  "absolute lifetime of a session, at least SSO_SESSION_IDLE",
			field: func(c *Config) any { return &c.SessionMax }},
		{env: "SSO_SESSION_REFRESH", kind: kindDuration, def: "1m",
			help:  "least interval between writes of a session's last-seen time, below SSO_SESSION_IDLE",
			field: func(c *Config) any { return &c.SessionRefresh }},
		{env: "SSO_SESSION_MAX_PER_USER", kind: kindInt, def: "100",
			help:  "sessions one user may hold at once, from 1 to 100000; a login beyond it ends that user's oldest sessions",
			field: func(c *Config) any { return &c.SessionMaxPerUser }},
		{env: "SSO_LOGIN_MAX_RETRIES", kind: kindInt, def: "5",
			help:  "failed logins for one user name within SSO_LOGIN_FIND_TIME that ban it for SSO_LOGIN_BAN_TIME; a client IP may fail 4 times as often; 0 turns login regulation off",
			field: func(c *Config) any { return &c.LoginMaxRetries }},
		{env: "SSO_LOGIN_FIND_TIME", kind: kindDuration, def: "2m",
			help:  "window in which failed logins are counted (Go duration)",
			field: func(c *Config) any { return &c.LoginFindTime }},
		{env: "SSO_LOGIN_BAN_TIME", kind: kindDuration, def: "5m",
			help:  "how long a user name or client IP is refused logins after too many failures",
			field: func(c *Config) any { return &c.LoginBanTime }},
		{env: "SSO_LOGIN_MEMORY", kind: kindInt, def: "256",
			help:  "MiB that the password checks under way may take together, from 16 to 65536; each takes what the costliest hash of the users file needs (argon2id m), logins beyond it wait up to 3s, then get 503 busy",
			field: func(c *Config) any { return &c.LoginMemory }},
		{env: "SSO_SECRET_KEYS", kind: kindString, secret: true,
			defDoc: "none; generated in dev mode",
			help:   "comma-separated base64 keys of at least 32 bytes; the first signs, all verify",
			field:  func(c *Config) any { return &c.SecretKeys }},
		{env: "SSO_REDIS_URL", kind: kindString,
			defDoc: "none: in-memory store",
			help:   "redis:// or rediss:// URL of a standalone Redis",
			field:  func(c *Config) any { return &c.RedisURL }},
		{env: "SSO_REDIS_SENTINEL_MASTER", kind: kindString,
			help:  "Redis Sentinel master name (with SSO_REDIS_SENTINEL_ADDRS)",
			field: func(c *Config) any { return &c.RedisSentinelMaster }},
		{env: "SSO_REDIS_SENTINEL_ADDRS", kind: kindList,
			help:  "comma-separated host:port of the Redis Sentinels",
			field: func(c *Config) any { return &c.RedisSentinelAddrs }},
		{env: "SSO_REDIS_CLUSTER_ADDRS", kind: kindList,
			help:  "comma-separated host:port seed nodes of a Redis Cluster",
			field: func(c *Config) any { return &c.RedisClusterAddrs }},
		{env: "SSO_REDIS_PASSWORD", kind: kindString, secret: true,
			help:  "password for Sentinel or Cluster (a URL carries its own)",
			field: func(c *Config) any { return &c.RedisPassword }},
		{env: "SSO_STORE_TIMEOUT", kind: kindDuration, def: "500ms",
			help:  "deadline of each Redis call on the request path, from 10ms to 10s: a stalled Redis makes /auth answer 503 after this long instead of holding requests",
			field: func(c *Config) any { return &c.StoreTimeout }},
		{env: "SSO_AUTH_CACHE", kind: kindDuration, def: "2s",
			help:  "how long each instance may answer /auth from memory for a session, API key or JWT source it has verified against the store, from 0 (off) to 1m; revocations reach every instance at once (Redis pub/sub), and the cache is unused while that cannot be vouched for",
			field: func(c *Config) any { return &c.AuthCache }},
		{env: "SSO_USERS_FILE", kind: kindString,
			defDoc: "none; dev mode: a demo user",
			help:   "users file (Authelia file-backend YAML); outside dev mode this, SSO_LDAP_URL or an OpenID provider (SSO_OIDC_ISSUER, oidc_providers) is required",
			field:  func(c *Config) any { return &c.UsersFile }},
		{env: "SSO_LOGIN_URL", kind: kindString,
			defDoc: "https://login.<first cookie domain>; dev mode: http://login." + DevDomain + ":<listen port>",
			help:   "public URL of the login hub, absolute http(s), no query or fragment",
			field:  func(c *Config) any { return &c.LoginURL }},
		{env: "SSO_DEFAULT_REDIRECT", kind: kindString,
			defDoc: "none: the login hub page",
			help:   "where a login without a valid rd lands: a path (/x) or an absolute URL",
			field:  func(c *Config) any { return &c.DefaultRedirect }},
		{env: "SSO_CORS_ORIGINS", kind: kindList,
			defDoc: "https://<d> and https://*.<d> for each cookie domain",
			help:   "comma-separated allowed origins, exact or wildcard (https://*.example.com)",
			field:  func(c *Config) any { return &c.CORSOrigins }},
		{env: "SSO_CORS_HEADERS", kind: kindList,
			defDoc: "none: Content-Type, Authorization, X-CSRF-Token, X-Requested-With, X-API-Key only",
			help:   "comma-separated extra request headers that preflights allow, for upstream APIs that need them",
			field:  func(c *Config) any { return &c.CORSHeaders }},
		{env: "SSO_LOGIN_ORIGINS", kind: kindList,
			defDoc: "none: browsers log in only at the login hub itself",
			help:   "comma-separated origins, exact or wildcard, besides the hub's own, whose pages may log in with POST /api/session (and so set the session cookie); each must also be allowed by SSO_CORS_ORIGINS",
			field:  func(c *Config) any { return &c.LoginOrigins }},
		{env: "SSO_TRUSTED_PROXIES", kind: kindList, def: "127.0.0.1/32,::1/128",
			help:  "comma-separated CIDRs or IPs whose X-Forwarded-* and X-Original-* headers are believed",
			field: func(c *Config) any { return &c.TrustedProxies }},
		{env: "SSO_JWT_ISSUER", kind: kindString,
			defDoc: "SSO_LOGIN_URL",
			help:   "iss claim of issued JWTs",
			field:  func(c *Config) any { return &c.JWTIssuer }},
		{env: "SSO_JWT_AUDIENCE", kind: kindString,
			defDoc: "the first cookie domain",
			help:   "aud claim of client JWTs from /api/token (an upstream's X-Auth-Token has its origin)",
			field:  func(c *Config) any { return &c.JWTAudience }},
		{env: "SSO_JWT_TTL", kind: kindDuration, def: "5m",
			help:  "lifetime of issued JWTs, from 30s to 1h",
			field: func(c *Config) any { return &c.JWTTTL }},
		{env: "SSO_JWT_KEY_FILES", kind: kindList,
			defDoc: "none: Ed25519 keys derived from SSO_SECRET_KEYS",
			help:   "comma-separated PEM private key files; the first signs, all are published",
			field:  func(c *Config) any { return &c.JWTKeyFiles }},
		{env: "SSO_LOG_LEVEL", kind: kindString, def: "info",
			help:  "log level: debug, info, warn or error",
			field: func(c *Config) any { return &c.LogLevel }},
		{env: "SSO_LOG_FORMAT", kind: kindString, def: "text",
			help:  "log format: text or json",
			field: func(c *Config) any { return &c.LogFormat }},
	}, append(append(oidcSettings(), ldapSettings()...), mfaSettings()...)...)
}

// flagName turns SSO_COOKIE_DOMAINS into cookie-domains.
func flagName(env string) string {
	return strings.ReplaceAll(fileKey(env), "_", "-")
}

// fileKey turns SSO_COOKIE_DOMAINS into cookie_domains.
func fileKey(env string) string {
	return strings.ToLower(strings.TrimPrefix(env, "SSO_"))
}

// Usage returns the help text listing every setting with its flag,
// environment variable, YAML key, default and meaning.
func Usage() string {
	var b strings.Builder
	b.WriteString("Settings: flag, environment variable, key in the YAML file named by --config or SSO_CONFIG.\n")
	b.WriteString("Flags beat environment beat file beat defaults. List settings are comma-separated\n")
	b.WriteString("(in the file also a YAML list); durations are Go durations such as 90s, 8h.\n\n")
	b.WriteString("  --config, SSO_CONFIG\n        YAML file with any of the settings below (default: none)\n")
	for _, s := range settings() {
		def := s.def
		if s.defDoc != "" {
			def = s.defDoc
		}
		if def == "" {
			def = "none"
		}
		help := s.help
		if s.secret {
			help += "; secret: prefer the environment or the file, as other users can read flags in ps"
		}
		fmt.Fprintf(&b, "  --%s, %s, %s\n        %s (default: %s)\n", flagName(s.env), s.env, fileKey(s.env), help, def)
	}
	return b.String()
}
