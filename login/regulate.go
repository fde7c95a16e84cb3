package login

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

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
func (p *Pipeline) regulationKeys(req Request, login string) []regKey {
	n := p.opt.Regulation.MaxRetries
	if dev := p.device(req.DeviceCookies, login); dev != "" {
		return []regKey{{key: dev, kind: "one device", max: n}}
	}
	return []regKey{
		{key: userKey(p.limiterKey, login), kind: "untrusted clients", max: n},
		{key: ipKey(req.ClientIP), kind: "one client address", max: n * IPFactor},
	}
}

// regulated checks a password under login regulation and, on success,
// returns a device cookie for the client. A locked bucket is refused
// before the password check, so a locked-out guesser costs no argon2 work
// and learns nothing. Only real failures count, after the check: a correct
// password is never refused because other logins were in flight. What
// bounds a burst of concurrent guesses is a reservation taken before the
// check: a bucket lets at most MaxRetries minus its failures so far run at
// once (in this instance); the others wait for them, and are refused if
// the ban lands meanwhile. A success clears its bucket, not the address's
// (one success must not open the door for a whole NAT's worth of
// guessing).
func (p *Pipeline) regulated(ctx context.Context, req Request, ev Event, login, password string) (users.User, []*http.Cookie, error) {
	if p.opt.Regulation.MaxRetries <= 0 {
		u, err := p.checkPassword(ctx, ev, login, password, nil)
		return u, nil, err
	}
	keys := p.regulationKeys(req, login)
	if err := p.refuseBlocked(ctx, ev, keys); err != nil {
		return users.User{}, nil, err
	}
	release, err := p.reserve(ctx, ev, keys)
	if err != nil {
		return users.User{}, nil, err
	}
	// Released only after the outcome is counted: a waiter must see the
	// failure before it sees the free place.
	defer release()

	u, err := p.checkPassword(ctx, ev, login, password, func() error { return p.refuseBlocked(ctx, ev, keys) })
	// Counting must not depend on the client waiting for the answer.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), regulationTimeout)
	defer cancel()
	switch {
	case errors.Is(err, users.ErrInvalidCredentials):
		if cerr := p.countFailure(cctx, ev, keys); cerr != nil {
			// A failure that could not be counted is not answered: the
			// guesser learns nothing from a try the ban would not see.
			return users.User{}, nil, cerr
		}
	case err == nil:
		if cerr := p.opt.Limiter.Clear(cctx, keys[0].key); cerr != nil {
			p.opt.Log.Warn("login regulation: could not clear the count of a successful login", "err", cerr)
		}
		var cookies []*http.Cookie
		if ck := p.deviceCookie(u); ck != nil {
			cookies = append(cookies, ck)
		}
		return u, cookies, nil
	}
	return u, nil, err
}

// reserve takes a place for a password check in every bucket of keys: one
// is free while the bucket's failures plus the checks under way stay below
// its limit. It waits up to Wait for places (ErrBusy after that), and
// refuses when a bucket reached its limit meanwhile.
func (p *Pipeline) reserve(ctx context.Context, ev Event, keys []regKey) (release func(), err error) {
	timer := time.NewTimer(p.opt.Wait)
	defer timer.Stop()
	for {
		failures := make([]int, len(keys))
		for i, k := range keys {
			n, err := p.opt.Limiter.Count(ctx, k.key)
			if err != nil {
				return nil, fmt.Errorf("login: regulation: %w", err)
			}
			if n >= k.max {
				// The ban is being set by the check that failed last.
				ev.Kind, ev.RetryAfter = EventBlocked, p.opt.Regulation.BanTime
				p.opt.Observer.Observe(ctx, ev)
				return nil, &BlockedError{Wait: p.opt.Regulation.BanTime}
			}
			failures[i] = n
		}
		release, wait := p.inflight.acquire(keys, failures)
		if release != nil {
			return release, nil
		}
		select {
		case <-wait:
		case <-timer.C:
			ev.Kind = EventBusy
			p.opt.Observer.Observe(ctx, ev)
			return nil, ErrBusy
		case <-ctx.Done():
			return nil, ErrBusy
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

// refuseBlocked answers a *BlockedError when any of keys is locked. A
// limiter that cannot be asked is an error, never a pass: an outage must
// not lift every ban.
func (p *Pipeline) refuseBlocked(ctx context.Context, ev Event, keys []regKey) error {
	var wait time.Duration
	for _, k := range keys {
		d, err := p.opt.Limiter.Blocked(ctx, k.key)
		if err != nil {
			return fmt.Errorf("login: regulation: %w", err)
		}
		wait = max(wait, d)
	}
	if wait > 0 {
		ev.Kind, ev.RetryAfter = EventBlocked, wait
		p.opt.Observer.Observe(ctx, ev)
		p.opt.Log.Info("login blocked", "client", ev.ClientIP, "retry_after", wait.Round(time.Second))
		return &BlockedError{Wait: wait}
	}
	return nil
}

// countFailure counts a failure against each key, locking those that reach
// their limit.
func (p *Pipeline) countFailure(ctx context.Context, ev Event, keys []regKey) error {
	reg := p.opt.Regulation
	for _, k := range keys {
		n, err := p.opt.Limiter.Hit(ctx, k.key, reg.FindTime)
		if err != nil {
			return fmt.Errorf("login: regulation: %w", err)
		}
		if n < k.max {
			continue
		}
		if err := p.opt.Limiter.Block(ctx, k.key, reg.BanTime); err != nil {
			return fmt.Errorf("login: regulation: %w", err)
		}
		p.opt.Log.Warn(fmt.Sprintf("login regulation: locked for %s: %d failures in %s from %s", shortdur.String(reg.BanTime), n, shortdur.String(reg.FindTime), k.kind),
			"client", ev.ClientIP)
		ev.Kind, ev.Lock = EventLocked, &Lock{Bucket: k.kind, Failures: n, Window: reg.FindTime, Ban: reg.BanTime}
		p.opt.Observer.Observe(ctx, ev)
	}
	return nil
}
