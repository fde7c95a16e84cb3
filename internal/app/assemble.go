// Package app is sso's one assembly: it turns a loaded configuration into
// the running service's parts (policies, codec and keys, store, auth cache,
// users, server) and returns every check it made on the way. sso serve and
// sso doctor both call Assemble, so doctor reports exactly what serve would
// refuse, in the same order.
//
// config.Load checks each setting's syntax and range; each deeper rule has
// one owner, the constructor that consumes the value (cookiedomain.New
// refuses a public suffix, ticket.ParseKeys a short key), and Assemble maps
// the owner's error to the setting's name in one place (builder.refuse).
package app

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"github.com/redis/go-redis/v9"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/example/sso/authz"
	"github.com/example/sso/config"
	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/cors"
	"github.com/example/sso/federation"
	"github.com/example/sso/login"
	"github.com/example/sso/mfa"
	"github.com/example/sso/server"
	"github.com/example/sso/ticket"
	"github.com/example/sso/token"
)

// Options are what the command line adds to the configuration.
type Options struct {
	// Log receives the service's log (stderr); nil discards it.
	Log io.Writer
	// Version is reported by the server (/healthz, metrics).
	Version string
	// PingTimeout bounds the store's start-up check; zero: 5s.
	PingTimeout time.Duration
}

// Policies are the browser-facing policies, for sso doctor's explanations.
// A field is nil when its settings were refused.
type Policies struct {
	Cookies *cookiedomain.Policy
	CORS    *cors.Policy // the origins /auth answers, the hub's own included
	HubCORS *cors.Policy // the hub API's: the hub and SSO_LOGIN_ORIGINS
	Login   *url.URL     // SSO_LOGIN_URL, parsed
}

// Result is what Assemble made of a configuration.
type Result struct {
	Checks   Checks
	Policies Policies
	// App is the service ready to serve; nil when any check failed.
	App *App
}

// Err is the refusal serve prints: one line per failed check, most
// fundamental first; nil when the service was built.
func (r Result) Err() error { return r.Checks.Err() }

// builder carries one assembly's state between its steps.
type builder struct {
	cfg    config.Config
	opt    Options
	ref    refusals
	used   map[*config.SettingError]bool
	checks Checks
	app    *App

	pol      Policies
	keys     [][]byte // SSO_SECRET_KEYS, or dev mode's generated key
	codec    *ticket.Codec
	logins   *cors.Policy
	proxies  *authz.Proxies
	tokens   *token.Issuer
	registry *prometheus.Registry
	store    backend
	sessions server.Store
	users    server.Users
	password login.Password         // LDAP; zero: users (or no password sign-in)
	fed      *federation.Federation // OpenID providers; nil: none
	banner   string                 // dev mode's demo password
	// newClient makes a Redis client of the store's kind; nil: in memory.
	newClient func() redis.UniversalClient
	mfa       *mfa.Manager // second factors; nil until secondFactor ran
}

// Assemble builds the service from cfg. loadErr is config.Load's error:
// each setting it refused is reported by the step that consumes the
// setting, and the steps that depend on a refused setting are skipped, so
// that the most fundamental problem comes first and nothing is reported
// twice. Whatever Assemble opened is closed again unless Result.App is set.
func Assemble(ctx context.Context, cfg config.Config, loadErr error, opt Options) Result {
	w := opt.Log
	if w == nil {
		w = io.Discard
	}
	b := &builder{cfg: cfg, opt: opt, ref: newRefusals(loadErr), used: map[*config.SettingError]bool{}}
	b.app = &App{Config: cfg, Log: newLogger(cfg, w)}
	b.run(ctx)
	res := Result{Checks: b.checks, Policies: b.pol}
	if len(b.checks.Failed()) > 0 {
		b.app.Close()
		return res
	}
	for _, c := range b.checks {
		if c.Warn {
			b.app.Log.Warn(c.Why)
		}
	}
	res.App = b.app
	return res
}

// run makes the checks in order, most fundamental first: what the cookie
// is and where it may go decides everything else.
func (b *builder) run(ctx context.Context) {
	cfg := b.cfg
	if len(cfg.CookieDomains) == 0 && (len(b.ref.other) > 0 || len(b.ref.order) > 0) {
		// Load stopped before reading the settings (a bad flag or
		// configuration file): nothing else can be checked.
		for _, err := range b.ref.other {
			b.fail(RuleConfig, "configuration", "", oneLine(err), "correct the command line or the SSO_CONFIG file; sso serve -h lists every setting")
		}
		for _, se := range b.ref.order {
			b.settingFail(RuleConfig, "configuration", se)
		}
		return
	}
	for _, err := range b.ref.other {
		b.fail(RuleConfig, "configuration", "", oneLine(err), "correct the command line or the SSO_CONFIG file; sso serve -h lists every setting")
	}
	if len(b.ref.order) == 0 && len(b.ref.other) == 0 {
		mode := ""
		if cfg.DevMode {
			mode = " (DEV MODE: SSO_COOKIE_DOMAINS is not set)"
		}
		b.ok(RuleConfig, "configuration", "", "cookie domains %s, login hub %s%s", strings.Join(cfg.CookieDomains, ", "), cfg.LoginURL, mode)
	}
	for _, n := range cfg.Notes {
		b.app.Log.Info("config: " + n)
	}

	b.cookies()
	b.loginURL()
	b.corsPolicy()
	b.loginOrigins()
	b.secretKeys()
	b.trustedProxies()
	b.jwt()
	// Every setting no step owns: durations, limits, logging.
	for _, se := range b.ref.order {
		if !b.used[se] && !storeSetting(se.Setting) && se.Setting != "SSO_USERS_FILE" {
			b.settingFail(RuleSetting, "setting", se)
		}
	}
	b.openStore(ctx)
	b.openUsers(ctx)
	b.oidc(ctx)
	b.secondFactor()
	b.regulation()
	if len(b.checks.Failed()) == 0 {
		b.server()
	}
}

// refuse maps a constructor's error to the setting it came from: the one
// place where a rule's owner meets the setting's name.
func (b *builder) refuse(rule, label, setting string, err error, fix string) {
	se := &config.SettingError{Setting: setting, Value: b.cfg.Redacted()[setting], Msg: oneLine(err)}
	b.fail(rule, label, setting, se.Error(), fix)
}

// refused reports config.Load's refusals of settings as failures of this
// step, and whether there were any: the step is then skipped.
func (b *builder) refused(rule, label string, settings ...string) bool {
	found := false
	for _, s := range settings {
		for _, se := range b.ref.bySetting[s] {
			found = true
			b.settingFail(rule, label, se)
		}
	}
	return found
}

func (b *builder) settingFail(rule, label string, se *config.SettingError) {
	if b.used[se] {
		return
	}
	b.used[se] = true
	b.fail(rule, label, se.Setting, se.Error(), "set "+se.Setting+" to a valid value: "+se.Msg+" (sso serve -h describes it)")
}

func (b *builder) fail(rule, label, setting, why, fix string) {
	b.checks = append(b.checks, Check{Rule: rule, Label: label, Setting: setting, Why: why, Fix: fix})
}

func (b *builder) ok(rule, label, setting, format string, args ...any) {
	b.checks = append(b.checks, Check{Rule: rule, Label: label, OK: true, Setting: setting, Why: fmt.Sprintf(format, args...)})
}

func (b *builder) warn(rule, label, setting, why, fix string) {
	b.checks = append(b.checks, Check{Rule: rule, Label: label, OK: true, Warn: true, Setting: setting, Why: why, Fix: fix})
}

// DeriveKey makes a key for one purpose from a configured secret, so that
// one secret can serve several purposes without one use weakening another.
// Every key sso derives from SSO_SECRET_KEYS outside the packages that own
// a scheme of their own (token.DeriveKeys) comes from here.
func DeriveKey(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// SameSite maps SSO_COOKIE_SAMESITE (validated by config) to its mode.
func SameSite(s string) http.SameSite {
	switch strings.ToLower(s) {
	case "strict":
		return http.SameSiteStrictMode
	case "none":
		return http.SameSiteNoneMode
	default:
		return http.SameSiteLaxMode
	}
}

func (b *builder) secretKeys() {
	const label, setting = "secret keys", "SSO_SECRET_KEYS"
	if b.refused(RuleSecretKeys, label, setting) {
		return
	}
	fix := "give one or more base64 keys of at least 32 bytes each; generate one with: head -c 32 /dev/urandom | base64"
	if b.cfg.SecretKeys == "" && b.cfg.DevMode {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			b.fail(RuleSecretKeys, label, setting, fmt.Sprintf("generate dev secret key: %v", err), "")
			return
		}
		b.keys = [][]byte{k}
	} else {
		keys, err := ticket.ParseKeys(b.cfg.SecretKeys)
		if err != nil {
			b.refuse(RuleSecretKeys, label, setting, err, fix)
			return
		}
		b.keys = keys
	}
	codec, err := ticket.New(b.cfg.CookieName, b.keys)
	if err != nil {
		b.refuse(RuleSecretKeys, label, setting, err, fix)
		b.keys = nil
		return
	}
	b.codec = codec
	if b.cfg.SecretKeys == "" {
		b.ok(RuleSecretKeys, label, setting, "none set; dev mode generates one at start-up, so sessions end when sso stops")
		return
	}
	b.ok(RuleSecretKeys, label, setting, "%d %s; the first signs, all verify", len(b.keys), plural(len(b.keys), "key"))
}

func (b *builder) trustedProxies() {
	const label, setting = "trusted proxies", "SSO_TRUSTED_PROXIES"
	if b.refused(RuleProxies, label, setting) {
		return
	}
	p, err := authz.NewProxies(b.cfg.TrustedProxies)
	if err != nil {
		b.refuse(RuleProxies, label, setting, err, "list IP addresses or CIDRs such as 10.0.0.0/8")
		return
	}
	b.proxies = p
	b.ok(RuleProxies, label, setting, "%s", strings.Join(b.cfg.TrustedProxies, ", "))
	if w := proxyReach(b.cfg.Listen, b.cfg.TrustedProxies); w != "" {
		b.warn(RuleProxyReach, label, "SSO_LISTEN,SSO_TRUSTED_PROXIES", w, "add nginx's address to SSO_TRUSTED_PROXIES, or listen on loopback")
	}
}

func (b *builder) jwt() {
	const label = "JWT"
	if b.refused(RuleJWT, label, "SSO_JWT_ISSUER", "SSO_JWT_AUDIENCE", "SSO_JWT_TTL", "SSO_JWT_KEY_FILES") {
		return
	}
	cfg := b.cfg
	var keys []ed25519.PrivateKey
	if len(cfg.JWTKeyFiles) > 0 {
		for _, f := range cfg.JWTKeyFiles {
			k, err := token.LoadKeyFile(f)
			if err != nil {
				b.refuse(RuleJWT, label, "SSO_JWT_KEY_FILES", err, "give PKCS#8 PEM Ed25519 private keys (openssl genpkey -algorithm ed25519)")
				return
			}
			keys = append(keys, k)
		}
	} else {
		if b.keys == nil {
			return // SSO_SECRET_KEYS was refused above
		}
		keys = token.DeriveKeys(b.keys)
	}
	iss, err := token.New(token.Config{Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, TTL: cfg.JWTTTL, Keys: keys})
	if err != nil {
		b.refuse(RuleJWT, label, "SSO_JWT_ISSUER", err, "check SSO_JWT_ISSUER, SSO_JWT_AUDIENCE and SSO_JWT_TTL")
		return
	}
	b.tokens = iss
	b.ok(RuleJWT, label, "SSO_JWT_ISSUER", "issuer %s, audience %s, lifetime %s", cfg.JWTIssuer, cfg.JWTAudience, iss.TTL())
}

func (b *builder) regulation() {
	if b.cfg.LoginMaxRetries == 0 && !b.ref.has("SSO_LOGIN_MAX_RETRIES") {
		b.warn(RuleRegulation, "login regulation", "SSO_LOGIN_MAX_RETRIES",
			"login regulation is off (SSO_LOGIN_MAX_RETRIES=0): nothing limits password guessing",
			"set SSO_LOGIN_MAX_RETRIES to a positive number, such as the default 5")
	}
}

// server builds the HTTP server from the parts. All of server.Options is
// filled here and only here.
func (b *builder) server() {
	cfg := b.cfg
	// Gin's debug mode prints routes and warnings to stdout; sso logs
	// through slog instead.
	gin.SetMode(gin.ReleaseMode)
	s, err := server.New(server.Options{
		Cookies:         b.pol.Cookies,
		Codec:           b.codec,
		Store:           b.sessions,
		Users:           b.users,
		Password:        b.password,
		Federation:      b.fed,
		Tokens:          b.tokens,
		CORS:            b.pol.CORS,
		Proxies:         b.proxies,
		LoginURL:        strings.TrimRight(cfg.LoginURL, "/"),
		LoginOrigins:    b.logins,
		DefaultRedirect: cfg.DefaultRedirect,
		SessionIdle:     cfg.SessionIdle,
		SessionMax:      cfg.SessionMax,
		SessionRefresh:  cfg.SessionRefresh,
		FormKey:         DeriveKey(b.keys[0], "sso login form v1"),
		LoginMemory:     int64(cfg.LoginMemory) << 20,
		Regulation: server.Regulation{
			MaxRetries: cfg.LoginMaxRetries,
			FindTime:   cfg.LoginFindTime,
			BanTime:    cfg.LoginBanTime,
		},
		// The store that shares sessions between instances shares bans too.
		Limiter:           b.store,
		MFA:               b.mfa,
		MFARequiredGroups: cfg.MFA.RequiredGroups,
		MFATrustOIDCAMR:   cfg.MFA.OIDCAMR,
		Log:               b.app.Log,
		Registry:          b.registry,
		Version:           b.opt.Version,
	})
	if err != nil {
		b.fail(RuleServer, "server", "", oneLine(err), "")
		return
	}
	b.app.Handler = s.Handler()
	if cfg.DevMode {
		b.app.Banner = devBanner(cfg, b.banner)
	}
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// oneLine prints an error on one line: YAML decoders report each problem
// on a line of its own, and serve prints every line of its refusal as a
// refusal of its own.
func oneLine(err error) string {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "; ")
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
