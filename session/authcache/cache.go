package authcache

import (
	"fmt"
	"sync"
	"time"

	"github.com/example/sso/session"
)

// Options configure a Cache.
type Options struct {
	// TTL is how long an answer may be served from memory after the store
	// read that produced it began; must be positive (SSO_AUTH_CACHE).
	TTL time.Duration
	// Refresh is SSO_SESSION_REFRESH: an entry ends at LastSeen+Refresh
	// (a key's at LastUsed+Refresh), when its last-use write is due. Zero:
	// sessions and keys are read from the store on every request.
	Refresh time.Duration
	// MaxEntries bounds the entries, and so the memory (a session entry
	// is well under 1 KiB); default 10_000. Past it, expired entries go
	// first, then arbitrary ones: they die within TTL anyway.
	MaxEntries int
	// Local: the store has one instance (memstore) and every invalidation
	// is applied synchronously by Store, so the cache is always usable.
	// Otherwise it is usable only while a bus vouches for it (Confirm).
	Local bool
	// Lease is how long a Confirm vouches for the cache after its asOf;
	// default 750ms. The bus must confirm more often than that.
	Lease time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Metrics, when set, are told what happens; any field may be nil.
	Metrics Metrics
}

// Metrics are the hooks a Cache reports through; the server turns them
// into Prometheus series.
type Metrics struct {
	// Lookup: kind "session" or "key"; result "hit", "miss" or "off"
	// (the cache is not usable now).
	Lookup func(kind, result string)
	// Invalidated: kind "session", "key", "user" or "all"; source "local"
	// (this instance's own store call) or "bus" (received).
	Invalidated func(kind, source string)
	// Usable is told when the cache becomes usable or stops being so.
	Usable func(bool)
}

// DefaultMaxEntries and DefaultLease are the zero values' meanings.
const (
	DefaultMaxEntries = 10_000
	DefaultLease      = 750 * time.Millisecond
)

// Cache is a bounded map from a session id or key hash to the store's
// answer. It is a plain map under one lock rather than a library cache
// (otter, ristretto): entries live two seconds, so an eviction policy
// buys little, while what matters (an invalidation and a fill that races
// it being ordered, a whole user's entries dropped at once, a flush when
// the bus is lost) needs one lock around the map and the tombstones
// anyway, which a concurrent library map would make us take twice.
// Lookups share the lock (RWMutex); with a 2-core deployment and a
// read-mostly load that is not where /auth spends its time.
type Cache struct {
	opt Options

	mu      sync.RWMutex
	entries map[string]*entry // "s"+id or "k"+hash
	// tombs: name ("s"+id, "k"+hash, "u"+user) -> generation of its last
	// invalidation. A fill whose read began at an earlier generation is
	// refused; an entry older than its user's tomb is not served.
	tombs map[string]uint64
	queue []tomb // tombs in order of creation, to prune them
	gen   uint64 // last generation handed out
	floor uint64 // fills that began before it are refused (flush)
	until time.Time
}

type entry struct {
	sess    *session.Session
	key     *session.APIKey
	user    string
	gen     uint64
	expires time.Time
}

type tomb struct {
	name string
	gen  uint64
	at   time.Time
}

// New returns an empty Cache. Unless opt.Local, it is not usable before
// the first Confirm.
func New(opt Options) (*Cache, error) {
	if opt.TTL <= 0 {
		return nil, fmt.Errorf("authcache: TTL %v is not positive", opt.TTL)
	}
	if opt.Refresh < 0 {
		return nil, fmt.Errorf("authcache: Refresh %v is negative", opt.Refresh)
	}
	if opt.MaxEntries <= 0 {
		opt.MaxEntries = DefaultMaxEntries
	}
	if opt.Lease <= 0 {
		opt.Lease = DefaultLease
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	c := &Cache{opt: opt, entries: make(map[string]*entry), tombs: make(map[string]uint64)}
	if opt.Local {
		c.until = time.Unix(1<<62, 0)
	}
	return c, nil
}

// usableLocked reports whether the cache may be used at now.
func (c *Cache) usableLocked(now time.Time) bool { return now.Before(c.until) }

// Usable reports whether the cache answers now.
func (c *Cache) Usable() bool {
	now := c.opt.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.usableLocked(now)
}

// Len returns the number of entries held, expired ones included.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// Confirm tells the cache that every invalidation published before asOf
// has been applied: it is usable until asOf+Lease. If it had stopped
// being usable in the meantime (Lost, or a lapsed lease), it is flushed
// first: invalidations may have been missed while nobody vouched for it.
func (c *Cache) Confirm(asOf time.Time) {
	now := c.opt.Now()
	c.mu.Lock()
	was := c.usableLocked(now)
	if !was {
		c.flushLocked()
	}
	if u := asOf.Add(c.opt.Lease); u.After(c.until) {
		c.until = u
	}
	is := c.usableLocked(now)
	c.mu.Unlock()
	if was != is && c.opt.Metrics.Usable != nil {
		c.opt.Metrics.Usable(is)
	}
}

// Lost tells the cache that the bus is down: it is flushed and unused
// until the next Confirm.
func (c *Cache) Lost() {
	now := c.opt.Now()
	c.mu.Lock()
	was := c.usableLocked(now)
	c.flushLocked()
	c.until = time.Time{}
	c.mu.Unlock()
	if was {
		if c.opt.Metrics.Usable != nil {
			c.opt.Metrics.Usable(false)
		}
		// Counted once per outage, not once per attempt to resubscribe.
		c.count(c.opt.Metrics.Invalidated, "all", "bus")
	}
}

// flushLocked drops every entry and refuses every fill already begun.
func (c *Cache) flushLocked() {
	c.gen++
	c.floor = c.gen
	clear(c.entries)
	clear(c.tombs)
	c.queue = nil
}

func (c *Cache) count(f func(a, b string), a, b string) {
	if f != nil {
		f(a, b)
	}
}

// Invalidation kinds, the first byte of a message.
const (
	kindSession = 's'
	kindKey     = 'k'
	kindUser    = 'u'
)

// Message encodes an invalidation for the bus. Messages are "<kind>:<value>",
// kind s (session id), k (key hash) or u (user name).
func Message(kind byte, value string) string { return string(kind) + ":" + value }

// Apply applies a message received from the bus. A message it does not
// understand (from a newer version, or damaged) flushes the cache: that is
// always safe.
func (c *Cache) Apply(msg string) {
	if len(msg) >= 2 && msg[1] == ':' {
		switch msg[0] {
		case kindSession, kindKey, kindUser:
			c.invalidate(msg[0], msg[2:], "bus")
			return
		}
	}
	c.mu.Lock()
	c.flushLocked()
	c.mu.Unlock()
	c.count(c.opt.Metrics.Invalidated, "all", "bus")
}

var kindNames = map[byte]string{kindSession: "session", kindKey: "key", kindUser: "user"}

// invalidate drops what is cached under (kind, value) and refuses fills
// that began before now. A user's entries are not looked for: the user's
// tomb hides them until they expire.
func (c *Cache) invalidate(kind byte, value, source string) {
	name := string(kind) + value
	now := c.opt.Now()
	c.mu.Lock()
	c.gen++
	c.tombs[name] = c.gen
	c.queue = append(c.queue, tomb{name: name, gen: c.gen, at: now})
	if kind != kindUser {
		delete(c.entries, name)
	}
	c.pruneLocked(now)
	c.mu.Unlock()
	c.count(c.opt.Metrics.Invalidated, kindNames[kind], source)
}

// pruneLocked forgets tombs older than TTL: every fill or entry they could
// refuse began before them and so has expired. Too many tombs at once (a
// flood of logins) flush the cache instead, which is always safe.
func (c *Cache) pruneLocked(now time.Time) {
	i := 0
	for ; i < len(c.queue) && now.Sub(c.queue[i].at) > c.opt.TTL; i++ {
		t := c.queue[i]
		if c.tombs[t.name] == t.gen {
			delete(c.tombs, t.name)
		}
	}
	c.queue = c.queue[i:]
	if len(c.queue) > 4*c.opt.MaxEntries {
		c.flushLocked()
	}
}

// fill is the state of a store read that may fill the cache.
type fill struct {
	gen   uint64
	start time.Time
	ok    bool
}

// begin is called before a store read whose answer may be cached.
func (c *Cache) begin() fill {
	now := c.opt.Now()
	c.mu.RLock()
	defer c.mu.RUnlock()
	return fill{gen: c.gen, start: now, ok: c.usableLocked(now)}
}

// lookup returns the entry under kind+value when it may be served at now.
// The name is kind followed by value, assembled in an array: a map index
// with string(bytes) makes no copy, so a hit allocates nothing.
func (c *Cache) lookup(metric string, kind byte, value string) (*entry, bool) {
	var buf [1 + 64 + 16]byte // a hex SHA-256 id or hash fits; longer values spill to the heap
	name := append(append(buf[:0], kind), value...)
	now := c.opt.Now()
	c.mu.RLock()
	ok := c.usableLocked(now)
	var e *entry
	if ok {
		e = c.entries[string(name)]
		if e != nil && (!now.Before(e.expires) || c.tombs["u"+e.user] > e.gen) {
			e = nil
		}
	}
	c.mu.RUnlock()
	switch {
	case !ok:
		c.count(c.opt.Metrics.Lookup, metric, "off")
	case e == nil:
		c.count(c.opt.Metrics.Lookup, metric, "miss")
	default:
		c.count(c.opt.Metrics.Lookup, metric, "hit")
	}
	return e, e != nil
}

// put stores e under name unless an invalidation of name or of e's user,
// or a flush, happened since f began, or the cache is not usable now.
func (c *Cache) put(f fill, name string, e *entry) {
	if !f.ok {
		return
	}
	now := c.opt.Now()
	if !now.Before(e.expires) {
		return
	}
	e.gen = f.gen
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.usableLocked(now) || f.gen < c.floor || c.tombs[name] > f.gen || c.tombs["u"+e.user] > f.gen {
		return
	}
	if _, ok := c.entries[name]; !ok && len(c.entries) >= c.opt.MaxEntries {
		c.evictLocked(now)
	}
	c.entries[name] = e
}

// evictLocked makes room for one entry: expired entries first, then an
// eighth of the map, in Go's arbitrary map order.
func (c *Cache) evictLocked(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	n := len(c.entries) - c.opt.MaxEntries + max(1, c.opt.MaxEntries/8)
	for k := range c.entries {
		if n <= 0 {
			break
		}
		delete(c.entries, k)
		n--
	}
}

// earliest returns the earliest of t and the non-zero times in more.
func earliest(t time.Time, more ...time.Time) time.Time {
	for _, m := range more {
		if !m.IsZero() && m.Before(t) {
			t = m
		}
	}
	return t
}

// sessionEntry is what a live session read at f may be cached as.
func (c *Cache) sessionEntry(f fill, s *session.Session) *entry {
	exp := earliest(f.start.Add(c.opt.TTL), s.Deadline(), s.LastSeen.Add(c.opt.Refresh))
	return &entry{sess: s.Clone(), user: s.User, expires: exp}
}

// keyEntry is what a live API key read at f may be cached as.
func (c *Cache) keyEntry(f fill, k *session.APIKey) *entry {
	exp := earliest(f.start.Add(c.opt.TTL), k.ExpiresAt, k.LastUsed.Add(c.opt.Refresh))
	return &entry{key: k.Clone(), user: k.User, expires: exp}
}
