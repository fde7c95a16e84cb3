package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/example/sso/audit"
	"github.com/example/sso/config"
	"github.com/example/sso/login"
	"github.com/example/sso/mfa"
	"github.com/example/sso/server"
	"github.com/example/sso/session"
	"github.com/example/sso/session/authcache"
	"github.com/example/sso/session/deadline"
	"github.com/example/sso/session/memstore"
	"github.com/example/sso/session/redisstore"
	"github.com/example/sso/users"
)

// backend is what the server gets from one store: sessions, API keys and
// the login regulation counters.
type backend interface {
	server.Store
	session.Limiter
}

// The users file serves the login hub and /auth.
var (
	_ server.Users = (*users.File)(nil)
)

// clusterReloadInterval bounds how long a Redis Cluster client keeps a slot
// map that a failover has made stale.
const clusterReloadInterval = time.Second

// storeSettings are the settings the store step consumes.
var storeSettings = []string{
	"SSO_REDIS_URL", "SSO_REDIS_SENTINEL_MASTER", "SSO_REDIS_SENTINEL_ADDRS", "SSO_REDIS_CLUSTER_ADDRS", "SSO_REDIS_PASSWORD",
	"SSO_STORE_TIMEOUT", "SSO_SESSION_MAX_PER_USER", "SSO_AUTH_CACHE", "SSO_SESSION_REFRESH",
}

func storeSetting(s string) bool {
	for _, x := range storeSettings {
		if x == s {
			return true
		}
	}
	return false
}

// openStore connects to Redis when configured and checks it answers before
// sso listens (a startup probe, as Authelia does); otherwise it uses the
// embedded in-memory store. Then the verified-session cache goes in front.
func (b *builder) openStore(ctx context.Context) {
	const label = "store"
	// SSO_AUTH_CACHE out of range is the auth cache's refusal
	// (store.auth-cache in docs/doctor.md), the others the store's.
	var own []string
	for _, s := range storeSettings {
		if s != "SSO_AUTH_CACHE" {
			own = append(own, s)
		}
	}
	storeBad := b.refused(RuleStore, label, own...)
	if b.refused(RuleAuthCache, "auth cache", "SSO_AUTH_CACHE") || storeBad {
		return
	}
	cfg, a := b.cfg, b.app
	b.registry = prometheus.NewRegistry()
	onTimeout := server.StoreTimeoutCounter(b.registry)
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
			b.fail(RuleStore, label, setting, fmt.Sprintf("SSO_REDIS_URL=%q: not a valid redis URL", cfg.Redacted()["SSO_REDIS_URL"]), "want redis://[user:password@]host:port/db or rediss://…")
			return
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
		a.Log.Info("store: embedded in-memory store; sessions are lost on restart and not shared between instances (set SSO_REDIS_URL to share them)")
		b.ok(RuleStore, label, "SSO_REDIS_URL", "embedded in-memory store (no Redis configured): sessions are lost on restart and not shared between instances")
		b.store = st
		b.authCache(nil)
		return
	}
	client := newClient()
	a.closers = append(a.closers, client.Close)
	wait := b.opt.PingTimeout
	if wait <= 0 {
		wait = 5 * time.Second
	}
	pingCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := client.Ping(pingCtx).Err(); err != nil {
		if redis.IsAuthError(err) {
			// Redis did answer: name the password's setting, not the value.
			pw := "SSO_REDIS_PASSWORD"
			if setting == "SSO_REDIS_URL" {
				pw = "the password in the URL"
			}
			b.fail(RuleStore, label, setting, fmt.Sprintf("%s: redis refused the credentials (%s): %v", setting, pw, err), "correct "+pw)
			return
		}
		// The error carries the address only, never the password.
		b.fail(RuleStore, label, setting, fmt.Sprintf("%s: redis does not answer: %v", setting, err), "start Redis, or correct "+setting)
		return
	}
	a.Log.Info("store: redis", "via", setting, "deadline", cfg.StoreTimeout)
	// The in-memory store cannot stall; Redis can, so each call on the
	// request path gets SSO_STORE_TIMEOUT.
	st, err := deadline.New(redisstore.New(client, redisstore.Options{MaxSessionsPerUser: cfg.SessionMaxPerUser}), cfg.StoreTimeout, onTimeout)
	if err != nil {
		b.refuse(RuleStore, label, "SSO_STORE_TIMEOUT", err, "")
		return
	}
	b.store = st
	b.newClient = newClient
	b.ok(RuleStore, label, setting, "Redis answers (%s)", setting)
	b.authCache(newClient)
}

// authCache puts the verified-session cache (SSO_AUTH_CACHE) in front of
// the store: what the store answered for a session id or key hash may
// answer again from memory for that long, and every call that ends a
// session or key invalidates it. newClient is nil for the in-memory store.
func (b *builder) authCache(newClient func() redis.UniversalClient) {
	const label, setting = "auth cache", "SSO_AUTH_CACHE"
	cfg, a := b.cfg, b.app
	if cfg.AuthCache == 0 {
		a.Log.Info("auth cache: off (SSO_AUTH_CACHE=0): every request reads the store")
		b.sessions = b.store
		return
	}
	m := server.AuthCacheMetrics(b.registry)
	cache, err := authcache.New(authcache.Options{TTL: cfg.AuthCache, Refresh: cfg.SessionRefresh, Local: newClient == nil, Metrics: m})
	if err != nil {
		b.refuse(RuleAuthCache, label, setting, err, "")
		return
	}
	m.Usable(cache.Usable())
	if newClient == nil {
		// One instance: Store invalidates synchronously.
		a.Log.Info("auth cache: in memory, invalidated synchronously", "ttl", cfg.AuthCache)
		st, err := authcache.NewStore(b.store, cache, nil)
		if err != nil {
			b.refuse(RuleAuthCache, label, setting, err, "")
			return
		}
		b.sessions = st
		return
	}
	// Several instances: invalidations over Redis pub/sub; the cache is
	// used only while the subscription is confirmed. The subscription has
	// a client of its own, whose connections the bus watches (see
	// redisstore.Bus); publishing uses a second one, so that a publish
	// never waits behind the subscription.
	sub, pub := newClient(), newClient()
	a.closers = append(a.closers, sub.Close, pub.Close)
	bus := redisstore.NewBus(pub, sub, redisstore.BusOptions{PublishTimeout: cfg.StoreTimeout, Log: a.Log})
	// Every login, logout and revocation publishes: a Redis user that may
	// not (an ACL without +publish) would answer 503 to all of them, and
	// its revocations would reach other instances only as their entries
	// expire. The probe invalidates the user "", whom nobody is.
	if err := bus.Publish(context.Background(), authcache.Message('u', "")); err != nil {
		b.fail(RuleAuthCache, label, setting, fmt.Sprintf("%s: the Redis user cannot publish invalidations on %s: %v", setting, bus.Channel(), err),
			"allow PUBLISH on "+bus.Channel()+" (ACL: +publish &"+bus.Channel()+"), or turn the cache off with SSO_AUTH_CACHE=0")
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		bus.Run(ctx, cache)
	}()
	// Closed before the clients (closers run last first).
	a.closers = append(a.closers, func() error { stop(); <-done; return nil })
	a.Log.Info("auth cache: in memory, invalidated over Redis pub/sub", "ttl", cfg.AuthCache, "channel", bus.Channel())
	st, err := authcache.NewStore(b.store, cache, bus)
	if err != nil {
		b.refuse(RuleAuthCache, label, setting, err, "")
		return
	}
	// Failed publishes are retried in the background; stopped before the
	// clients close (closers run last first).
	st.Log = a.Log
	a.closers = append(a.closers, st.Close)
	b.sessions = st
}

// openUsers reads the users file, opens the LDAP directory, or makes dev
// mode's demo user: the password backend (at most one; none with OpenID
// providers only). When a reload of the file removes or disables users,
// their file sessions are ended in the store.
func (b *builder) openUsers(ctx context.Context) {
	const setting = "SSO_USERS_FILE"
	if b.refused(RuleUsers, "users file", setting) {
		return
	}
	cfg, a := b.cfg, b.app
	if cfg.UsersFile == "" && (cfg.LDAP.Enabled() || b.ref.has(config.LDAPURLSetting) || b.ref.has(config.LDAPAddressSetting)) {
		b.openLDAP(ctx)
		return
	}
	if cfg.UsersFile == "" && cfg.DevMode {
		d, password, err := demoUsers()
		if err != nil {
			b.fail(RuleUsers, "users", setting, err.Error(), "")
			return
		}
		b.users, b.banner = d, password
		b.ok(RuleUsers, "users", setting, "dev mode demo user (sso serve prints its password once)")
		return
	}
	if cfg.UsersFile == "" {
		// config.Validate refuses this without a provider.
		b.ok(RuleUsers, "users", setting, "no password sign-in (no users file, no LDAP directory): the login page shows only the OpenID providers")
		return
	}
	if b.sessions == nil {
		// The store was refused: the file is still worth checking, but
		// there is nothing to end sessions in.
		d, err := users.LoadFile(cfg.UsersFile)
		if err != nil {
			b.refuse(RuleUsers, "users file", setting, err, "fix the file (sso hash-password makes a hash), or point SSO_USERS_FILE at the right one")
			return
		}
		b.ok(RuleUsers, "users file "+cfg.UsersFile, setting, "%d %s", len(d.Users()), plural(len(d.Users()), "user"))
		return
	}
	f, err := users.OpenFile(cfg.UsersFile, users.FileOptions{Log: a.Log, OnChange: endSessions(b.sessions, a.Log, func() passwordlessMarks {
		if b.mfa == nil {
			return nil
		}
		return b.mfa
	})})
	if err != nil {
		b.refuse(RuleUsers, "users file", setting, err, "fix the file (sso hash-password makes a hash), or point SSO_USERS_FILE at the right one")
		return
	}
	a.Users, b.users = f, f
	n := len(f.Directory().Users())
	b.ok(RuleUsers, "users file "+cfg.UsersFile, setting, "%d %s", n, plural(n, "user"))
}

// endSessionsTimeout bounds the store calls of one reload.
const endSessionsTimeout = 10 * time.Second

// endSessions is the users file's change hook: it deletes the sessions of
// the users a reload revoked. They are refused already, since every
// request looks its user up; deleting them keeps them from coming back if
// the user is put back in the file. A revoked user's API keys stay in the
// store, refused while the user is absent, and work again if the user
// returns. A user whose password hash changed (a reset, perhaps after a
// compromise) loses their sessions and their API keys: a stolen session
// can mint keys (POST /api/keys), so a reset that kept them would not shut
// the attacker out. Only the file's own sessions and keys (Source "") end:
// an LDAP or OIDC user of the same name is someone else, whom the file
// does not speak for. For the same reason a reset unmarks the user's
// passwordless passkeys (marks returns the second-factor manager, or nil
// without one): a stolen session or password can register one, and it
// would sign in without the new password; the passkeys stay as second
// factors, and the user marks them again after signing in.
func endSessions(sessions fileStore, log *slog.Logger, marks func() passwordlessMarks) func(users.Change) {
	return func(c users.Change) {
		if len(c.Revoked)+len(c.Rekeyed)+len(c.Removed) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), endSessionsTimeout)
		defer cancel()
		for _, name := range c.Revoked {
			n, err := endFileSessions(ctx, sessions, name, log)
			if err != nil {
				log.Warn("could not end the sessions of a user removed from or disabled in the users file; they are refused while the user is absent", "user", name, "err", err)
				continue
			}
			log.Info("ended the sessions of a user removed from or disabled in the users file", "user", name, "sessions", n)
		}
		// A removed name may be given to someone else later: the old
		// holder's passwordless passkeys must not sign into that account.
		// (They stay as second factors, which the new holder cannot pass:
		// an administrator removes them, or the name is not reused.)
		if marks != nil {
			if m := marks(); m != nil {
				for _, name := range c.Removed {
					p, err := unmarkPasswordless(ctx, m, name)
					if err != nil {
						log.Error("could not unmark the passwordless passkeys of a user removed from the users file; they would sign in if the name came back", "user", name, "err", err)
						continue
					}
					if p > 0 {
						log.Info("unmarked the passwordless passkeys of a user removed from the users file", "user", name, "passkeys", p)
					}
				}
			}
		}
		for _, name := range c.Rekeyed {
			n, err := endFileSessions(ctx, sessions, name, log)
			var k int
			if err == nil {
				k, err = endFileKeys(ctx, sessions, name, log)
			}
			if err != nil {
				log.Error("could not end the sessions and API keys of a user whose password changed in the users file; they stay valid: revoke them with a reload that disables the user", "user", name, "err", err)
				continue
			}
			log.Info("ended the sessions and API keys of a user whose password changed in the users file", "user", name, "sessions", n, "keys", k)
			var m passwordlessMarks
			if marks != nil {
				m = marks()
			}
			if m == nil {
				continue
			}
			p, err := unmarkPasswordless(ctx, m, name)
			if err != nil {
				log.Error("could not unmark the passwordless passkeys of a user whose password changed in the users file; they still sign in without a password: remove them on the account security page", "user", name, "err", err)
				continue
			}
			if p > 0 {
				log.Info("unmarked the passwordless passkeys of a user whose password changed in the users file", "user", name, "passkeys", p)
			}
		}
	}
}

// passwordlessMarks is what endSessions changes in the second factors
// (*mfa.Manager): the passwordless marks of passkeys.
type passwordlessMarks interface {
	Credentials(ctx context.Context, user string) ([]mfa.CredentialInfo, error)
	SetPasswordless(ctx context.Context, user, id string, on bool) error
}

// unmarkPasswordless clears the passwordless mark of every passkey of the
// users-file user name and returns how many it cleared.
func unmarkPasswordless(ctx context.Context, m passwordlessMarks, name string) (int, error) {
	key := login.MFAUser(name, "")
	list, err := m.Credentials(ctx, key)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range list {
		if !c.Passwordless {
			continue
		}
		if err := m.SetPasswordless(ctx, key, c.ID, false); err != nil && !errors.Is(err, mfa.ErrNotFound) {
			return n, err
		}
		n++
	}
	return n, nil
}

// fileStore is what endSessions changes: sessions and API keys.
type fileStore interface {
	session.Store
	session.KeyStore
}

// endFileKeys deletes the users-file API keys (Source "") of name and
// returns how many it deleted. Each is a key_revoked audit event (via
// users_file).
func endFileKeys(ctx context.Context, keys session.KeyStore, name string, log *slog.Logger) (int, error) {
	list, err := keys.ListKeys(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("list API keys: %w", err)
	}
	n := 0
	for _, k := range list {
		if k.Source != "" {
			continue
		}
		if err := keys.DeleteKey(ctx, name, k.ID); err != nil && !errors.Is(err, session.ErrNotFound) {
			return n, fmt.Errorf("delete API key: %w", err)
		}
		audit.Log(ctx, log, audit.Event{Name: audit.KeyRevoked, User: name, Outcome: audit.OK, Via: "users_file",
			Attrs: []slog.Attr{slog.String("key_id", k.ID)}})
		n++
	}
	return n, nil
}

// endFileSessions deletes the users-file sessions (Source "") of name and
// returns how many it deleted.
// Each is a session_revoked audit event (via users_file).
func endFileSessions(ctx context.Context, sessions session.Store, name string, log *slog.Logger) (int, error) {
	list, err := sessions.List(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("list sessions: %w", err)
	}
	n := 0
	for _, s := range list {
		if s.Source != "" {
			continue
		}
		if err := sessions.Delete(ctx, s.ID); err != nil {
			return n, fmt.Errorf("delete session: %w", err)
		}
		audit.Log(ctx, log, audit.Event{Name: audit.SessionRevoked, User: name, Session: audit.SessionRef(s.ID),
			UserAgent: s.UserAgent, Outcome: audit.OK, Via: "users_file"})
		n++
	}
	return n, nil
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
