package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/example/sso/internal/shortdur"
	"github.com/example/sso/users"
)

// Regulation is login throttling after Authelia's, made so that it cannot
// be turned against the owner (OWASP's device cookies, see device.go): too
// many failed logins within FindTime lock a bucket for BanTime. A client
// with a valid device cookie for the login has a bucket of its own; every
// other client counts against the login's untrusted-clients bucket and its
// own address. The counts live in the Limiter, so with Redis every sso
// instance shares them.
type Regulation struct {
	// MaxRetries is how many failed logins within FindTime lock a bucket
	// (a device, or a login's untrusted clients); one client address may
	// fail IPFactor times as often. Zero: regulation off.
	MaxRetries int
	// FindTime is the window in which failures are counted; it starts
	// with the first failure.
	FindTime time.Duration
	// BanTime is how long a lock lasts.
	BanTime time.Duration
}

// IPFactor is how many times Regulation.MaxRetries one client IP may fail:
// many people may share an address (an office behind NAT), and one of them
// mistyping should not lock out the rest.
const IPFactor = 4

// regulationTimeout bounds the limiter calls that follow a password check.
const regulationTimeout = 5 * time.Second

// regKey is one limiter key that a login counts against.
type regKey struct {
	key  string
	kind string // for logs: "untrusted clients", "one device", "one client address"
	max  int
}

// userKey is the limiter key of a user: a login is first resolved to its
// user's name, so that name and email share one count, then trimmed and
// lower-cased ("Alice " and "alice" share a count too), then MACed with key,
// so that no user name (or password typed into the name field) is written
// to the store and a store dump cannot be checked against a list of names.
func userKey(key []byte, name string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.ToLower(strings.TrimSpace(name))))
	return "u:" + hex.EncodeToString(m.Sum(nil))
}

// ipKey is the limiter key of a client address. An IPv6 client counts by
// its /64: that is what one household or host is handed, and counting
// single addresses would give it 2^64 tries.
func ipKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:" + ip
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + a.String()
}

// regulationKeys are the buckets a login attempt counts against: its
// device's alone when it brings a valid device cookie for this login,
// otherwise the login's untrusted clients and the client address.
func (s *Server) regulationKeys(c *gin.Context, login string) []regKey {
	n := s.opt.Regulation.MaxRetries
	if dev := s.device(c, login); dev != "" {
		return []regKey{{key: dev, kind: "one device", max: n}}
	}
	return []regKey{
		{key: userKey(s.limiterKey, login), kind: "untrusted clients", max: n},
		// ClientIP believes X-Forwarded-For only from trusted proxies.
		{key: ipKey(c.ClientIP()), kind: "one client address", max: n * IPFactor},
	}
}

// login checks a password under login regulation and, on success, gives
// the client a device cookie. A locked bucket is refused before the password
// check, so a locked-out guesser costs no argon2 work and learns nothing.
// Only real failures count, after the check: a correct password is never
// refused because other logins were in flight. What bounds a burst of
// concurrent guesses is a reservation taken before the check: a bucket lets
// at most MaxRetries minus its failures so far run at once (in this
// instance); the others wait for them, and are refused if the ban lands
// meanwhile. A success clears its bucket, not the address's (one success
// must not open the door for a whole NAT's worth of guessing).
func (s *Server) login(c *gin.Context, login, password string) (users.User, error) {
	reg := s.opt.Regulation
	if reg.MaxRetries <= 0 {
		return s.checkPassword(c, login, password, nil)
	}
	keys := s.regulationKeys(c, login)
	if err := s.refuseBlocked(c, keys); err != nil {
		return users.User{}, err
	}
	release, err := s.reserve(c, keys)
	if err != nil {
		return users.User{}, err
	}
	// Released only after the outcome is counted: a waiter must see the
	// failure before it sees the free place.
	defer release()

	u, err := s.checkPassword(c, login, password, func() error { return s.refuseBlocked(c, keys) })
	// Counting must not depend on the client waiting for the answer.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), regulationTimeout)
	defer cancel()
	switch {
	case errors.Is(err, users.ErrInvalidCredentials):
		if cerr := s.countFailure(ctx, c, keys); cerr != nil {
			// A failure that could not be counted is not answered: the
			// guesser learns nothing from a try the ban would not see.
			return users.User{}, cerr
		}
	case err == nil:
		if cerr := s.opt.Limiter.Clear(ctx, keys[0].key); cerr != nil {
			s.opt.Log.Warn("login regulation: could not clear the count of a successful login", "err", cerr)
		}
		s.setDeviceCookie(c, u)
	}
	return u, err
}

// reserve takes a place for a password check in every bucket of keys: one
// is free while the bucket's failures plus the checks under way stay below
// its limit. It waits up to LoginWait for places (503 busy after that), and
// refuses when a bucket reached its limit meanwhile.
func (s *Server) reserve(c *gin.Context, keys []regKey) (release func(), err error) {
	ctx := c.Request.Context()
	timer := time.NewTimer(s.opt.LoginWait)
	defer timer.Stop()
	for {
		failures := make([]int, len(keys))
		for i, k := range keys {
			n, err := s.opt.Limiter.Count(ctx, k.key)
			if err != nil {
				return nil, fmt.Errorf("server: login regulation: %w", err)
			}
			if n >= k.max {
				// The ban is being set by the check that failed last.
				s.metrics.logins.WithLabelValues("blocked").Inc()
				return nil, &blockedError{wait: s.opt.Regulation.BanTime}
			}
			failures[i] = n
		}
		release, wait := s.inflight.acquire(keys, failures)
		if release != nil {
			return release, nil
		}
		select {
		case <-wait:
		case <-timer.C:
			c.Header("Retry-After", "1")
			s.metrics.logins.WithLabelValues("busy").Inc()
			return nil, errBusy
		case <-ctx.Done():
			return nil, errBusy
		}
	}
}

// inflight counts the password checks under way per limiter key, in this
// instance.
type inflight struct {
	mu sync.Mutex
	n  map[string]int
	// freed is closed, and replaced, whenever a place is given back.
	freed chan struct{}
}

// acquire takes a place in every key, when each has failures+n < max, and
// returns its release; otherwise it takes none and returns a channel closed
// at the next release.
func (f *inflight) acquire(keys []regKey, failures []int) (func(), <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n == nil {
		f.n, f.freed = map[string]int{}, make(chan struct{})
	}
	for i, k := range keys {
		if failures[i]+f.n[k.key] >= k.max {
			return nil, f.freed
		}
	}
	for _, k := range keys {
		f.n[k.key]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, k := range keys {
				if f.n[k.key]--; f.n[k.key] <= 0 {
					delete(f.n, k.key)
				}
			}
			close(f.freed)
			f.freed = make(chan struct{})
		})
	}, nil
}

// refuseBlocked answers a blockedError when any of keys is locked. A
// limiter that cannot be asked is an error, never a pass: an outage must
// not lift every ban.
func (s *Server) refuseBlocked(c *gin.Context, keys []regKey) error {
	var wait time.Duration
	for _, k := range keys {
		d, err := s.opt.Limiter.Blocked(c.Request.Context(), k.key)
		if err != nil {
			return fmt.Errorf("server: login regulation: %w", err)
		}
		wait = max(wait, d)
	}
	if wait > 0 {
		s.metrics.logins.WithLabelValues("blocked").Inc()
		s.opt.Log.Info("login blocked", "client", c.ClientIP(), "retry_after", wait.Round(time.Second))
		return &blockedError{wait: wait}
	}
	return nil
}

// countFailure counts a failure against each key, locking those that reach
// their limit.
func (s *Server) countFailure(ctx context.Context, c *gin.Context, keys []regKey) error {
	for _, k := range keys {
		n, err := s.opt.Limiter.Hit(ctx, k.key, s.opt.Regulation.FindTime)
		if err != nil {
			return fmt.Errorf("server: login regulation: %w", err)
		}
		if n >= k.max {
			if err := s.ban(ctx, c, k, n); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) ban(ctx context.Context, c *gin.Context, k regKey, n int) error {
	reg := s.opt.Regulation
	if err := s.opt.Limiter.Block(ctx, k.key, reg.BanTime); err != nil {
		return fmt.Errorf("server: login regulation: %w", err)
	}
	s.opt.Log.Warn(fmt.Sprintf("login regulation: locked for %s: %d failures in %s from %s", shortdur.String(reg.BanTime), n, shortdur.String(reg.FindTime), k.kind),
		"client", c.ClientIP())
	return nil
}
