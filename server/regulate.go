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
	"time"

	"github.com/gin-gonic/gin"

	"github.com/example/sso/users"
)

// Regulation is login throttling after Authelia's: too many failed logins
// within FindTime ban the user name, or the client IP, for BanTime. The
// counts live in the Limiter, so with Redis every sso instance shares them.
type Regulation struct {
	// MaxRetries is how many failed logins for one user name within
	// FindTime ban it; one client IP may fail IPFactor times as often.
	// Zero: regulation off.
	MaxRetries int
	// FindTime is the window in which failures are counted; it starts
	// with the first failure.
	FindTime time.Duration
	// BanTime is how long a ban lasts.
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
	kind string // "user" or "ip", for logs
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

func (s *Server) regulationKeys(c *gin.Context, login string) []regKey {
	n := s.opt.Regulation.MaxRetries
	return []regKey{
		{key: userKey(s.limiterKey, login), kind: "user", max: n},
		// ClientIP believes X-Forwarded-For only from trusted proxies.
		{key: ipKey(c.ClientIP()), kind: "ip", max: n * IPFactor},
	}
}

// login checks a password under login regulation. A blocked user name or
// client IP is refused before the password check, so a banned guesser costs
// no argon2 work and learns nothing, whether the user exists or not. The
// attempt counts against the name before the check, so that a burst of
// concurrent guesses cannot outrun the ban: at most MaxRetries checks run
// per name and window, however many arrive at once. A failure also counts
// against the client IP, which is checked again once a password-check slot
// is free. A success clears the name's count (not the IP's: one success
// must not open the door for a whole NAT's worth of guessing).
func (s *Server) login(c *gin.Context, login, password string) (users.User, error) {
	reg := s.opt.Regulation
	if reg.MaxRetries <= 0 {
		return s.checkPassword(c, login, password, nil)
	}
	keys := s.regulationKeys(c, login)
	user := keys[0]
	if err := s.refuseBlocked(c, keys); err != nil {
		return users.User{}, err
	}
	// Counting must not depend on the client waiting for the answer.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), regulationTimeout)
	defer cancel()
	n, err := s.opt.Limiter.Hit(ctx, user.key, reg.FindTime)
	if err != nil {
		return users.User{}, fmt.Errorf("server: login regulation: %w", err)
	}
	if n > user.max {
		// More attempts than the limit arrived together: the ones past it
		// are refused unchecked, and the name is banned.
		if err := s.ban(ctx, c, user, n); err != nil {
			return users.User{}, err
		}
		s.metrics.logins.WithLabelValues("blocked").Inc()
		return users.User{}, &blockedError{wait: reg.BanTime}
	}

	u, err := s.checkPassword(c, login, password, func() error { return s.refuseBlocked(c, keys[1:]) })
	switch {
	case errors.Is(err, users.ErrInvalidCredentials):
		if cerr := s.countFailure(ctx, c, user, n, keys[1:]); cerr != nil {
			// A failure that could not be counted is not answered: the
			// guesser learns nothing from a try the ban would not see.
			return users.User{}, cerr
		}
	case err == nil:
		if cerr := s.opt.Limiter.Clear(ctx, user.key); cerr != nil {
			s.opt.Log.Warn("login regulation: could not clear the count of a successful login", "err", cerr)
		}
	}
	return u, err
}

// refuseBlocked answers a blockedError when any of keys is banned. A
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

// countFailure bans the user name when its count (taken before the check,
// n) reached the limit, and counts the failure against each other key,
// banning those that reach theirs.
func (s *Server) countFailure(ctx context.Context, c *gin.Context, user regKey, n int, others []regKey) error {
	if n >= user.max {
		if err := s.ban(ctx, c, user, n); err != nil {
			return err
		}
	}
	for _, k := range others {
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
	s.opt.Log.Warn("login regulation: banned after too many failed logins",
		"kind", k.kind, "client", c.ClientIP(), "attempts", n, "within", reg.FindTime, "for", reg.BanTime)
	return nil
}
