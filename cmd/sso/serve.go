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
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/example/sso/authz"
	"github.com/example/sso/config"
	"github.com/example/sso/server"
	"github.com/example/sso/session"
	"github.com/example/sso/session/authcache"
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
	// users is the users file, watched and reloaded on SIGHUP while
	// serving; nil in dev mode without SSO_USERS_FILE.
	users *users.File
}

// The users file serves the login hub and /auth.
var (
	_ server.Users    = (*users.File)(nil)
	_ authz.Directory = (*users.File)(nil)
)

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
	// SIGHUP re-reads the users file. Asked for before anything slow, so
	// that a SIGHUP during start-up waits for serving instead of killing
	// the process (its default action); scoped to serve, so that tests can
	// run serve in-process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
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
	return a.serve(ctx, ln, hup)
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

// serve serves on ln until ctx ends, and meanwhile watches the users file
// and reloads it on each signal from hup.
func (a *app) serve(ctx context.Context, ln net.Listener, hup <-chan os.Signal) error {
	// The watcher and the SIGHUP handler end before serve returns, so
	// before the store they may write to is closed.
	bgCtx, stopBg := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer func() {
		stopBg()
		bg.Wait()
	}()
	bg.Go(func() { a.reloadOnSignal(bgCtx, hup) })
	if a.users != nil {
		bg.Go(func() {
			if err := a.users.Watch(bgCtx); err != nil {
				a.log.Warn("the users file is not watched; send SIGHUP after changing it", "err", err)
			}
		})
	}

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

// reloadOnSignal re-reads the users file on each signal from hup until ctx
// ends. A SIGHUP never stops sso, users file or not.
func (a *app) reloadOnSignal(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if a.users == nil {
			a.log.Info("SIGHUP: no users file to reload (SSO_USERS_FILE is not set)")
			continue
		}
		a.log.Info("SIGHUP: reloading the users file", "path", a.users.Path())
		_ = a.users.Reload() // it logs what it did, or why it refused
	}
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
	if warn := wildLoginOrigins(cfg.LoginOrigins); warn != "" {
		a.log.Warn(warn)
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
	store, newClient, err := newStore(ctx, cfg, a, server.StoreTimeoutCounter(registry))
	if err != nil {
		return nil, err
	}
	// Everything that reads or ends sessions and keys goes through the
	// cache, the users file's hook included; the login counters do not.
	sessions, err := a.authCache(cfg, store, newClient, registry)
	if err != nil {
		return nil, err
	}

	var (
		dir    server.Users
		banner string
	)
	if cfg.UsersFile != "" {
		if a.users, err = openUsers(cfg, a.log, sessions); err != nil {
			return nil, err
		}
		dir = a.users
	} else if cfg.LDAP.Enabled() {
		// Fail closed until the login pipeline takes an ldapusers.Directory:
		// falling through to the demo user would be a back door.
		return nil, fmt.Errorf("SSO_LDAP_ADDRESS=%q: the LDAP users backend is not wired into sso serve yet; use SSO_USERS_FILE", cfg.LDAP.Address)
	} else {
		demo, password, err := demoUsers()
		if err != nil {
			return nil, err
		}
		dir, banner = demo, password
	}

	tokens, err := newIssuer(cfg, keys)
	if err != nil {
		return nil, err
	}

	mfaManager, err := a.secondFactor(cfg, keys, newClient)
	if err != nil {
		return nil, err
	}

	s, err := server.New(server.Options{
		Cookies:         cookies,
		Codec:           codec,
		Store:           sessions,
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
		LoginMemory:     int64(cfg.LoginMemory) << 20,
		Regulation: server.Regulation{
			MaxRetries: cfg.LoginMaxRetries,
			FindTime:   cfg.LoginFindTime,
			BanTime:    cfg.LoginBanTime,
		},
		// The store that shares sessions between instances shares bans too.
		Limiter:           store,
		MFA:               mfaManager,
		MFARequiredGroups: cfg.MFA.RequiredGroups,
		MFATrustOIDCAMR:   cfg.MFA.OIDCAMR,
		Log:               a.log,
		Registry:          registry,
		Version:           buildVersion(),
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

// clusterReloadInterval bounds how long a Redis Cluster client keeps a slot
// map that a failover has made stale.
const clusterReloadInterval = time.Second

// newStore connects to Redis when configured and checks it answers before
// sso listens (a startup probe, as Authelia does); otherwise it uses the
// embedded in-memory store. It returns the Redis client too (nil for the
// in-memory store), for the auth cache's invalidations.
func newStore(ctx context.Context, cfg config.Config, a *app, onTimeout func(op string)) (backend, func() redis.UniversalClient, error) {
	var (
		newClient func() redis.UniversalClient
		setting   string
	)
	switch {
	case cfg.RedisURL != "":
		setting = "SSO_REDIS_URL"
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			// go-redis quotes the whole URL, password included: say it
			// with ours redacted instead.
			return nil, nil, fmt.Errorf("SSO_REDIS_URL=%q: not a valid redis URL", cfg.Redacted()["SSO_REDIS_URL"])
		}
		// Deadlines come from each call's context (SSO_STORE_TIMEOUT);
		// without this go-redis would wait out its own socket timeouts.
		opt.ContextTimeoutEnabled = true
		opt.PoolTimeout = cfg.StoreTimeout
		newClient = func() redis.UniversalClient { return redis.NewClient(opt) }
	case cfg.RedisSentinelMaster != "":
		setting = "SSO_REDIS_SENTINEL_ADDRS"
		newClient = func() redis.UniversalClient {
			return redis.NewUniversalClient(&redis.UniversalOptions{
				MasterName: cfg.RedisSentinelMaster, Addrs: cfg.RedisSentinelAddrs, Password: cfg.RedisPassword,
				ContextTimeoutEnabled: true, PoolTimeout: cfg.StoreTimeout,
			})
		}
	case len(cfg.RedisClusterAddrs) > 0:
		setting = "SSO_REDIS_CLUSTER_ADDRS"
		// go-redis reloads its slot map on MOVED and ASK, but not when a
		// master refuses connections (redis/go-redis#3979): after a
		// master crashes and its replica takes over, every command for
		// its slots fails until the periodic reload, 60 s by default
		// since v9.22. Reloading every second (one CLUSTER SLOTS per
		// second per instance, and only while commands are sent) ends
		// that outage about a second after the cluster itself recovers.
		newClient = func() redis.UniversalClient {
			opt := (&redis.UniversalOptions{
				Addrs: cfg.RedisClusterAddrs, Password: cfg.RedisPassword, IsClusterMode: true,
				ContextTimeoutEnabled: true, PoolTimeout: cfg.StoreTimeout,
			}).Cluster()
			opt.ClusterStateReloadInterval = clusterReloadInterval
			return redis.NewClusterClient(opt)
		}
	default:
		st := memstore.New(memstore.Options{MaxSessionsPerUser: cfg.SessionMaxPerUser})
		a.closers = append(a.closers, st.Close)
		a.log.Info("store: embedded in-memory store; sessions are lost on restart and not shared between instances (set SSO_REDIS_URL to share them)")
		return st, nil, nil
	}
	client := newClient()
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
			return nil, nil, fmt.Errorf("%s: redis refused the credentials (%s): %w", setting, pw, err)
		}
		return nil, nil, fmt.Errorf("%s: redis does not answer: %w", setting, err)
	}
	a.log.Info("store: redis", "via", setting, "deadline", cfg.StoreTimeout)
	// The in-memory store cannot stall; Redis can, so each call on the
	// request path gets SSO_STORE_TIMEOUT.
	st, err := deadline.New(redisstore.New(client, redisstore.Options{MaxSessionsPerUser: cfg.SessionMaxPerUser}), cfg.StoreTimeout, onTimeout)
	if err != nil {
		return nil, nil, err
	}
	return st, newClient, nil
}

// authCache puts the verified-session cache (SSO_AUTH_CACHE) in front of
// store: what the store answered for a session id or key hash may answer
// again from memory for that long, and every call that ends a session or
// key invalidates it.
func (a *app) authCache(cfg config.Config, store backend, newClient func() redis.UniversalClient, reg *prometheus.Registry) (server.Store, error) {
	if cfg.AuthCache == 0 {
		a.log.Info("auth cache: off (SSO_AUTH_CACHE=0): every request reads the store")
		return store, nil
	}
	m := server.AuthCacheMetrics(reg)
	cache, err := authcache.New(authcache.Options{TTL: cfg.AuthCache, Refresh: cfg.SessionRefresh, Local: newClient == nil, Metrics: m})
	if err != nil {
		return nil, fmt.Errorf("SSO_AUTH_CACHE: %w", err)
	}
	m.Usable(cache.Usable())
	if newClient == nil {
		// One instance: Store invalidates synchronously.
		a.log.Info("auth cache: in memory, invalidated synchronously", "ttl", cfg.AuthCache)
		return authcache.NewStore(store, cache, nil)
	}
	// Several instances: invalidations over Redis pub/sub; the cache is
	// used only while the subscription is confirmed. The subscription has
	// a client of its own, whose connections the bus watches (see
	// redisstore.Bus); publishing uses a second one, so that a publish
	// never waits behind the subscription.
	sub, pub := newClient(), newClient()
	a.closers = append(a.closers, sub.Close, pub.Close)
	bus := redisstore.NewBus(pub, sub, redisstore.BusOptions{PublishTimeout: cfg.StoreTimeout, Log: a.log})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		bus.Run(ctx, cache)
	}()
	// Closed before the clients (closers run last first).
	a.closers = append(a.closers, func() error { stop(); <-done; return nil })
	a.log.Info("auth cache: in memory, invalidated over Redis pub/sub", "ttl", cfg.AuthCache, "channel", bus.Channel())
	return authcache.NewStore(store, cache, bus)
}

// openUsers reads the users file. When a reload removes or disables users,
// their sessions are ended in the store.
func openUsers(cfg config.Config, log *slog.Logger, sessions session.Store) (*users.File, error) {
	f, err := users.OpenFile(cfg.UsersFile, users.FileOptions{Log: log, OnChange: endSessions(sessions, log)})
	if err != nil {
		return nil, fmt.Errorf("SSO_USERS_FILE=%q: %w", cfg.UsersFile, oneLine{err})
	}
	return f, nil
}

// endSessionsTimeout bounds the store calls of one reload.
const endSessionsTimeout = 10 * time.Second

// endSessions is the users file's change hook: it deletes the sessions of
// the users a reload revoked. They are refused already, since every
// request looks its user up; deleting them keeps them from coming back if
// the user is put back in the file. A user's API keys stay in the store,
// refused while the user is absent, and work again if the user returns.
func endSessions(sessions session.Store, log *slog.Logger) func(users.Change) {
	return func(c users.Change) {
		if len(c.Revoked) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), endSessionsTimeout)
		defer cancel()
		for _, name := range c.Revoked {
			n, err := sessions.DeleteUser(ctx, name, "")
			if err != nil {
				log.Warn("could not end the sessions of a user removed from or disabled in the users file; they are refused while the user is absent", "user", name, "err", err)
				continue
			}
			log.Info("ended the sessions of a user removed from or disabled in the users file", "user", name, "sessions", n)
		}
	}
}

// demoUsers makes dev mode's demo user with a fresh password, which the
// banner prints once.
func demoUsers() (*users.Directory, string, error) {
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
