package main

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/example/sso/authz"
	"github.com/example/sso/config"
	"github.com/example/sso/server"
	"github.com/example/sso/session"
	"github.com/example/sso/session/deadline"
	"github.com/example/sso/session/memstore"
	"github.com/example/sso/session/redisstore"
	"github.com/example/sso/ticket"
	"github.com/example/sso/token"
	"github.com/example/sso/users"
)

// app is the wired service: everything built from one configuration.
type app struct {
	cfg     config.Config
	log     *slog.Logger
	handler http.Handler
	closers []func() error
	banner  string
}

// serve loads the configuration, builds the service, listens and serves until
// ctx ends. onListen, when set, is told the bound address (tests use :0).
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, onListen func(net.Addr)) error {
	cfg, err := config.Load(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, config.Usage())
		return nil
	}
	if err != nil {
		return err
	}
	// Gin's debug mode prints routes and warnings to stdout; sso logs
	// through slog instead.
	gin.SetMode(gin.ReleaseMode)

	// Listen before building, so that a taken port fails here,
	// synchronously, and so that a login URL derived from SSO_LISTEN gets
	// the port actually bound when that is 0.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("SSO_LISTEN=%q: %w", cfg.Listen, err)
	}
	cfg = withBoundPort(cfg, ln.Addr())
	a, err := build(ctx, cfg, stderr)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer a.close()
	if a.banner != "" {
		fmt.Fprint(stderr, a.banner)
	}
	a.log.Info("sso listening", "addr", ln.Addr().String(), "version", buildVersion(), "login_url", cfg.LoginURL, "cookie_domains", cfg.CookieDomains)
	if onListen != nil {
		onListen(ln.Addr())
	}
	return a.serve(ctx, ln)
}

// withBoundPort replaces port 0 in SSO_LISTEN, and in a login URL that dev
// mode derived from it ("http://login.example.test:0"), with the port bound,
// which the browser, the CORS policy, the JWT issuer and the banner need.
func withBoundPort(cfg config.Config, addr net.Addr) config.Config {
	_, port, err := net.SplitHostPort(cfg.Listen)
	tcp, ok := addr.(*net.TCPAddr)
	if err != nil || port != "0" || !ok {
		return cfg
	}
	cfg.Listen = addr.String()
	if cfg.Source("SSO_LOGIN_URL") != "derived" || !strings.HasSuffix(cfg.LoginURL, ":0") {
		return cfg
	}
	old := cfg.LoginURL
	cfg.LoginURL = strings.TrimSuffix(old, ":0") + ":" + strconv.Itoa(tcp.Port)
	if cfg.JWTIssuer == old {
		cfg.JWTIssuer = cfg.LoginURL
	}
	notes := make([]string, len(cfg.Notes))
	for i, n := range cfg.Notes {
		notes[i] = strings.ReplaceAll(n, old, cfg.LoginURL)
	}
	cfg.Notes = notes
	return cfg
}

func (a *app) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	a.log.Info("sso shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.log.Warn("close", "err", err)
		}
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

// build turns a loaded configuration into the running service's parts. Every
// error names the setting it comes from, so that start-up stops with one line
// a person can act on.
func build(ctx context.Context, cfg config.Config, stderr io.Writer) (_ *app, err error) {
	// a is not the named result: "return nil, err" would set that to nil
	// before the deferred close runs on it.
	a := &app{cfg: cfg, log: newLogger(cfg, stderr)}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	for _, n := range cfg.Notes {
		a.log.Info("config: " + n)
	}

	keys, err := secretKeys(cfg)
	if err != nil {
		return nil, err
	}
	if keys == nil {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("generate dev secret key: %w", err)
		}
		keys = [][]byte{k}
	}
	cookies, corsPolicy, login, err := webPolicies(cfg)
	if err != nil {
		return nil, err
	}
	logins, err := loginOrigins(cfg, corsPolicy)
	if err != nil {
		return nil, err
	}
	if warn := nestedLoginDomain(cookies, login.Hostname()); warn != "" {
		a.log.Warn(warn)
	}
	codec, err := ticket.New(cfg.CookieName, keys)
	if err != nil {
		return nil, fmt.Errorf("SSO_SECRET_KEYS: %w", err)
	}

	proxies, err := authz.NewProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("SSO_TRUSTED_PROXIES: %w", err)
	}

	registry := prometheus.NewRegistry()
	store, err := newStore(ctx, cfg, a, server.StoreTimeoutCounter(registry))
	if err != nil {
		return nil, err
	}

	dir, banner, err := loadUsers(cfg)
	if err != nil {
		return nil, err
	}

	tokens, err := newIssuer(cfg, keys)
	if err != nil {
		return nil, err
	}

	s, err := server.New(server.Options{
		Cookies:         cookies,
		Codec:           codec,
		Store:           store,
		Users:           dir,
		Tokens:          tokens,
		CORS:            corsPolicy,
		Proxies:         proxies,
		LoginURL:        strings.TrimRight(cfg.LoginURL, "/"),
		LoginOrigins:    logins,
		DefaultRedirect: cfg.DefaultRedirect,
		SessionIdle:     cfg.SessionIdle,
		SessionMax:      cfg.SessionMax,
		SessionRefresh:  cfg.SessionRefresh,
		FormKey:         derive(keys[0], "sso login form v1"),
		Regulation: server.Regulation{
			MaxRetries: cfg.LoginMaxRetries,
			FindTime:   cfg.LoginFindTime,
			BanTime:    cfg.LoginBanTime,
		},
		// The store that shares sessions between instances shares bans too.
		Limiter:  store,
		Log:      a.log,
		Registry: registry,
		Version:  buildVersion(),
	})
	if err != nil {
		return nil, err
	}
	a.handler = s.Handler()
	if cfg.LoginMaxRetries == 0 {
		a.log.Warn("login regulation is off (SSO_LOGIN_MAX_RETRIES=0): nothing limits password guessing")
	}
	if cfg.DevMode {
		a.banner = devBanner(cfg, banner)
	}
	return a, nil
}

func sameSite(s string) http.SameSite {
	switch s {
	case "strict":
		return http.SameSiteStrictMode
	case "none":
		return http.SameSiteNoneMode
	default:
		return http.SameSiteLaxMode
	}
}

// derive makes a key for one purpose from a configured secret, so the same
// secret can serve several purposes without one use weakening another.
func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// backend is what the server gets from one store: sessions, API keys and
// the login regulation counters.
type backend interface {
	server.Store
	session.Limiter
}

// newStore connects to Redis when configured and checks it answers before
// sso listens (a startup probe, as Authelia does); otherwise it uses the
// embedded in-memory store.
func newStore(ctx context.Context, cfg config.Config, a *app, onTimeout func(op string)) (backend, error) {
	var (
		client  redis.UniversalClient
		setting string
	)
	switch {
	case cfg.RedisURL != "":
		setting = "SSO_REDIS_URL"
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			// go-redis quotes the whole URL, password included: say it
			// with ours redacted instead.
			return nil, fmt.Errorf("SSO_REDIS_URL=%q: not a valid redis URL", cfg.Redacted()["SSO_REDIS_URL"])
		}
		// Deadlines come from each call's context (SSO_STORE_TIMEOUT);
		// without this go-redis would wait out its own socket timeouts.
		opt.ContextTimeoutEnabled = true
		opt.PoolTimeout = cfg.StoreTimeout
		client = redis.NewClient(opt)
	case cfg.RedisSentinelMaster != "":
		setting = "SSO_REDIS_SENTINEL_ADDRS"
		client = redis.NewUniversalClient(&redis.UniversalOptions{
			MasterName: cfg.RedisSentinelMaster, Addrs: cfg.RedisSentinelAddrs, Password: cfg.RedisPassword,
			ContextTimeoutEnabled: true, PoolTimeout: cfg.StoreTimeout,
		})
	case len(cfg.RedisClusterAddrs) > 0:
		setting = "SSO_REDIS_CLUSTER_ADDRS"
		client = redis.NewUniversalClient(&redis.UniversalOptions{
			Addrs: cfg.RedisClusterAddrs, Password: cfg.RedisPassword, IsClusterMode: true,
			ContextTimeoutEnabled: true, PoolTimeout: cfg.StoreTimeout,
		})
	default:
		st := memstore.New(memstore.Options{MaxSessionsPerUser: cfg.SessionMaxPerUser})
		a.closers = append(a.closers, st.Close)
		a.log.Info("store: embedded in-memory store; sessions are lost on restart and not shared between instances (set SSO_REDIS_URL to share them)")
		return st, nil
	}
	a.closers = append(a.closers, client.Close)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		if redis.IsAuthError(err) {
			// Redis did answer: name the password's setting, not the value.
			pw := "SSO_REDIS_PASSWORD"
			if setting == "SSO_REDIS_URL" {
				pw = "the password in the URL"
			}
			return nil, fmt.Errorf("%s: redis refused the credentials (%s): %w", setting, pw, err)
		}
		return nil, fmt.Errorf("%s: redis does not answer: %w", setting, err)
	}
	a.log.Info("store: redis", "via", setting, "deadline", cfg.StoreTimeout)
	// The in-memory store cannot stall; Redis can, so each call on the
	// request path gets SSO_STORE_TIMEOUT.
	return deadline.New(redisstore.New(client, redisstore.Options{MaxSessionsPerUser: cfg.SessionMaxPerUser}), cfg.StoreTimeout, onTimeout)
}

// loadUsers reads the users file, or in dev mode makes a demo user with a
// fresh password that is printed once.
func loadUsers(cfg config.Config) (*users.Directory, string, error) {
	if cfg.UsersFile != "" {
		d, err := users.LoadFile(cfg.UsersFile)
		if err != nil {
			return nil, "", fmt.Errorf("SSO_USERS_FILE=%q: %w", cfg.UsersFile, oneLine{err})
		}
		return d, "", nil
	}
	pw := make([]byte, 12)
	if _, err := rand.Read(pw); err != nil {
		return nil, "", fmt.Errorf("generate demo password: %w", err)
	}
	password := fmt.Sprintf("%x", pw)
	d, err := users.Demo("demo", "demo@"+config.DevDomain, password)
	if err != nil {
		return nil, "", fmt.Errorf("demo user: %w", err)
	}
	return d, password, nil
}

// oneLine prints an error on one line and keeps its chain: YAML decoders
// report each problem on a line of its own, and main prints every line of a
// start-up error as a refusal of its own.
type oneLine struct{ err error }

func (e oneLine) Error() string {
	lines := strings.Split(e.err.Error(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "; ")
}

func (e oneLine) Unwrap() error { return e.err }

func newIssuer(cfg config.Config, secrets [][]byte) (*token.Issuer, error) {
	var keys []ed25519.PrivateKey
	if len(cfg.JWTKeyFiles) > 0 {
		for _, f := range cfg.JWTKeyFiles {
			k, err := token.LoadKeyFile(f)
			if err != nil {
				return nil, fmt.Errorf("SSO_JWT_KEY_FILES: %w", err)
			}
			keys = append(keys, k)
		}
	} else {
		keys = token.DeriveKeys(secrets)
	}
	iss, err := token.New(token.Config{Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, TTL: cfg.JWTTTL, Keys: keys})
	if err != nil {
		return nil, fmt.Errorf("SSO_JWT_*: %w", err)
	}
	return iss, nil
}

func devBanner(cfg config.Config, password string) string {
	var b strings.Builder
	line := strings.Repeat("=", 72)
	fmt.Fprintln(&b, line)
	fmt.Fprintln(&b, "  sso is running in DEV MODE (SSO_COOKIE_DOMAINS is not set)")
	fmt.Fprintln(&b, "  - cookie domain "+config.DevDomain+", cookies over plain HTTP, in-memory store unless SSO_REDIS_URL is set")
	fmt.Fprintln(&b, "  - secret keys are generated: sessions end when sso stops")
	if password != "" {
		fmt.Fprintln(&b, "  - demo user:  demo  /  "+password+"   (printed once)")
	}
	fmt.Fprintln(&b, "  Point a browser at it: add to /etc/hosts")
	fmt.Fprintln(&b, "      127.0.0.1 login."+config.DevDomain+" app."+config.DevDomain+" api."+config.DevDomain)
	fmt.Fprintln(&b, "  and open "+cfg.LoginURL+"/login")
	_, port, _ := net.SplitHostPort(cfg.Listen)
	fmt.Fprintf(&b, "  Or with curl: curl --resolve login.%s:%s:127.0.0.1 %s/api/session ...\n", config.DevDomain, port, cfg.LoginURL)
	fmt.Fprintln(&b, "  Do not use dev mode in production.")
	fmt.Fprintln(&b, line)
	return b.String()
}
