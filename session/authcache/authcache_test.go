package authcache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/example/sso/internal/testredis"
	"github.com/example/sso/session"
	"github.com/example/sso/session/authcache"
	"github.com/example/sso/session/memstore"
	"github.com/example/sso/session/redisstore"
	"github.com/example/sso/session/storetest"
)

// clock is a settable time source shared by the store and the cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// backend is what the tests wrap: a real store and its limiter.
type backend interface {
	authcache.Backend
	session.Limiter
}

// countingStore is a real store that counts the reads the cache is meant
// to spare, and can hold a Get back (gate) to race it with a revocation.
type countingStore struct {
	backend
	gets, keyGets atomic.Int64
	gate          chan chan struct{} // when set, Get sends on it a channel it then waits on
}

func (s *countingStore) Get(ctx context.Context, id string) (*session.Session, error) {
	s.gets.Add(1)
	sess, err := s.backend.Get(ctx, id)
	if s.gate != nil {
		release := make(chan struct{})
		s.gate <- release
		<-release
	}
	return sess, err
}

func (s *countingStore) KeyByHash(ctx context.Context, hash string) (*session.APIKey, error) {
	s.keyGets.Add(1)
	return s.backend.KeyByHash(ctx, hash)
}

// cached is a wrapped store, as the conformance suite wants it.
type cached struct {
	*authcache.Store
	session.Limiter
}

// The wrapper is a store like any other: the conformance suite passes
// through it on memstore and on a real Redis.
func TestConformance(t *testing.T) {
	wrap := func(t *testing.T, b backend) storetest.Store {
		c, err := authcache.New(authcache.Options{TTL: time.Minute, Refresh: time.Minute, Local: true})
		if err != nil {
			t.Fatal(err)
		}
		st, err := authcache.NewStore(b, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return cached{st, b}
	}
	t.Run("memstore", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, perUser int) storetest.Store {
			m := memstore.New(memstore.Options{MaxSessionsPerUser: perUser})
			t.Cleanup(func() { _ = m.Close() })
			return wrap(t, m)
		})
	})
	t.Run("redis", func(t *testing.T) {
		client := redis.NewClient(&redis.Options{Addr: testredis.Start(t)})
		t.Cleanup(func() { _ = client.Close() })
		var n atomic.Int64
		storetest.Run(t, func(t *testing.T, perUser int) storetest.Store {
			prefix := "t" + string(rune('a'+n.Add(1)%26)) + time.Now().Format("150405.000000000") + ":"
			return wrap(t, redisstore.New(client, redisstore.Options{Prefix: prefix, MaxSessionsPerUser: perUser}))
		})
	})
}

type fixture struct {
	clock *clock
	mem   *memstore.Store
	count *countingStore
	cache *authcache.Cache
	st    *authcache.Store
}

// newFixture wraps a memstore on a fake clock in a cache of ttl; local
// says whether the cache is Local (else the test drives Confirm and Lost).
func newFixture(t *testing.T, ttl time.Duration, local bool, perUser int) *fixture {
	t.Helper()
	f := &fixture{clock: newClock()}
	f.mem = memstore.New(memstore.Options{Now: f.clock.Now, SweepInterval: -1, MaxSessionsPerUser: perUser})
	t.Cleanup(func() { _ = f.mem.Close() })
	f.count = &countingStore{backend: f.mem}
	var err error
	f.cache, err = authcache.New(authcache.Options{TTL: ttl, Refresh: time.Minute, Local: local, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var pub authcache.Publisher
	if !local {
		pub = loopback{f.cache}
	}
	f.st, err = authcache.NewStore(f.count, f.cache, pub)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// loopback is a bus of one instance: what is published is applied, as the
// echo of a Redis subscription would be.
type loopback struct{ c *authcache.Cache }

func (l loopback) Publish(_ context.Context, msg string) error {
	l.c.Apply(msg)
	return nil
}

var idN atomic.Int64

func (f *fixture) login(t *testing.T, user string, idle, max time.Duration) *session.Session {
	t.Helper()
	now := f.clock.Now()
	s := &session.Session{
		ID: user + "-" + time.Duration(idN.Add(1)).String(), User: user, Groups: []string{"dev"},
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(max), Idle: idle,
	}
	if err := f.st.Create(context.Background(), s); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return s
}

func (f *fixture) key(t *testing.T, user string, expires time.Time) *session.APIKey {
	t.Helper()
	n := time.Duration(idN.Add(1)).String()
	k := &session.APIKey{ID: "id" + n, Hash: "hash" + n, User: user, CreatedAt: f.clock.Now(), LastUsed: f.clock.Now(), ExpiresAt: expires}
	if err := f.st.CreateKey(context.Background(), k); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return k
}

// get reads id through the cache and returns whether it is live and how
// many store reads that took.
func (f *fixture) get(t *testing.T, id string) (live bool, reads int64) {
	t.Helper()
	before := f.count.gets.Load()
	s, err := f.st.Get(context.Background(), id)
	switch {
	case err == nil:
		if s.ID != id {
			t.Fatalf("Get(%s) = session %s", id, s.ID)
		}
		live = true
	case !errors.Is(err, session.ErrNotFound):
		t.Fatalf("Get: %v", err)
	}
	return live, f.count.gets.Load() - before
}

func (f *fixture) wantGet(t *testing.T, what, id string, live bool, reads int64) {
	t.Helper()
	if l, r := f.get(t, id); l != live || r != reads {
		t.Errorf("%s: Get = live %v with %d store reads, want live %v with %d", what, l, r, live, reads)
	}
}

func TestHitSparesTheStore(t *testing.T) {
	f := newFixture(t, 2*time.Second, true, 0)
	s := f.login(t, "alice", time.Hour, 24*time.Hour)
	f.wantGet(t, "first", s.ID, true, 1)
	f.wantGet(t, "second", s.ID, true, 0)
	f.clock.Advance(1900 * time.Millisecond)
	f.wantGet(t, "within TTL", s.ID, true, 0)
	f.clock.Advance(100 * time.Millisecond)
	f.wantGet(t, "at TTL", s.ID, true, 1)
	f.wantGet(t, "after the refill", s.ID, true, 0)

	// Copies out: a caller that changes its session changes nothing cached.
	got, _ := f.st.Get(context.Background(), s.ID)
	got.Groups[0], got.User = "admins", "mallory"
	if again, _ := f.st.Get(context.Background(), s.ID); again.User != "alice" || again.Groups[0] != "dev" {
		t.Errorf("cached session changed by a caller: %+v", again)
	}

	// Not-found is never cached: a session created later is found.
	f.wantGet(t, "missing", "nope", false, 1)
	f.wantGet(t, "missing again", "nope", false, 1)

	k := f.key(t, "alice", time.Time{})
	before := f.count.keyGets.Load()
	for range 3 {
		if _, err := f.st.KeyByHash(context.Background(), k.Hash); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count.keyGets.Load() - before; n != 1 {
		t.Errorf("3 KeyByHash = %d store reads, want 1", n)
	}
}

// A cached entry never outlives what the store would answer: the idle
// deadline from the LastSeen the store had, the absolute expiry, a key's
// expiry; nor LastSeen+Refresh, when /auth must write last-seen (and so
// read the store first).
func TestNeverPastDeadlines(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		f := newFixture(t, time.Minute, true, 0)
		s := f.login(t, "alice", 10*time.Second, time.Hour)
		f.wantGet(t, "fill", s.ID, true, 1)
		f.clock.Advance(9 * time.Second)
		f.wantGet(t, "before idle", s.ID, true, 0)
		f.clock.Advance(time.Second)
		f.wantGet(t, "at idle deadline", s.ID, false, 1)
	})
	t.Run("absolute", func(t *testing.T) {
		f := newFixture(t, time.Minute, true, 0)
		s := f.login(t, "alice", time.Hour, 5*time.Second)
		f.wantGet(t, "fill", s.ID, true, 1)
		f.clock.Advance(5 * time.Second)
		f.wantGet(t, "at absolute deadline", s.ID, false, 1)
	})
	t.Run("refresh", func(t *testing.T) {
		f := newFixture(t, 5*time.Minute, true, 0)
		s := f.login(t, "alice", time.Hour, 24*time.Hour)
		f.clock.Advance(50 * time.Second)
		f.wantGet(t, "fill", s.ID, true, 1)
		f.clock.Advance(10 * time.Second) // LastSeen + 1m: a touch is due
		f.wantGet(t, "touch due", s.ID, true, 1)
		if err := f.st.Touch(context.Background(), s.ID, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		f.wantGet(t, "after the touch", s.ID, true, 1)
		got, _ := f.st.Get(context.Background(), s.ID)
		if !got.LastSeen.Equal(f.clock.Now()) {
			t.Errorf("LastSeen after Touch = %v, want %v", got.LastSeen, f.clock.Now())
		}
	})
	t.Run("key expiry", func(t *testing.T) {
		f := newFixture(t, time.Minute, true, 0)
		k := f.key(t, "alice", f.clock.Now().Add(5*time.Second))
		ctx := context.Background()
		if _, err := f.st.KeyByHash(ctx, k.Hash); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(5 * time.Second)
		if _, err := f.st.KeyByHash(ctx, k.Hash); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("KeyByHash at its expiry = %v, want ErrNotFound", err)
		}
	})
}

// Every call that ends a session or a key drops what is cached of it.
func TestRevocationInvalidates(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, time.Minute, true, 2)
	a1 := f.login(t, "alice", time.Hour, 24*time.Hour)
	f.clock.Advance(time.Second)
	a2 := f.login(t, "alice", time.Hour, 24*time.Hour)
	b := f.login(t, "bob", time.Hour, 24*time.Hour)
	for _, s := range []*session.Session{a1, a2, b} {
		f.wantGet(t, "fill "+s.ID, s.ID, true, 1)
	}

	// Logout.
	if err := f.st.Delete(ctx, a2.ID); err != nil {
		t.Fatal(err)
	}
	f.wantGet(t, "deleted", a2.ID, false, 1)
	f.wantGet(t, "bob after alice's logout", b.ID, true, 0)

	// A login over the cap of 2 evicts alice's oldest session.
	f.clock.Advance(time.Second)
	a3 := f.login(t, "alice", time.Hour, 24*time.Hour)
	f.clock.Advance(time.Second)
	f.login(t, "alice", time.Hour, 24*time.Hour)
	f.wantGet(t, "evicted at the cap", a1.ID, false, 1)
	f.wantGet(t, "bob after alice's logins", b.ID, true, 0)

	// DeleteUser (revoke all, users file removal).
	f.wantGet(t, "fill a3", a3.ID, true, 1)
	if _, err := f.st.DeleteUser(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	f.wantGet(t, "after DeleteUser", a3.ID, false, 1)

	// Key deletion.
	k := f.key(t, "bob", time.Time{})
	if _, err := f.st.KeyByHash(ctx, k.Hash); err != nil {
		t.Fatal(err)
	}
	if err := f.st.DeleteKey(ctx, "bob", k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.KeyByHash(ctx, k.Hash); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("KeyByHash after DeleteKey = %v, want ErrNotFound", err)
	}
}

// A read that began before a revocation must not fill the cache after it:
// it would serve the revoked session for a whole TTL.
func TestReadRacingRevocation(t *testing.T) {
	f := newFixture(t, time.Minute, true, 0)
	s := f.login(t, "alice", time.Hour, 24*time.Hour)
	f.count.gate = make(chan chan struct{})
	done := make(chan bool)
	go func() {
		_, err := f.st.Get(context.Background(), s.ID)
		done <- err == nil
	}()
	release := <-f.count.gate // the read has the live session, not yet cached
	f.count.gate = nil
	if err := f.st.Delete(context.Background(), s.ID); err != nil {
		t.Fatal(err)
	}
	close(release)
	if !<-done {
		t.Fatal("the racing read did not see the live session")
	}
	f.wantGet(t, "after the racing read", s.ID, false, 1)

	// The same with a revocation by user, received from the bus.
	s = f.login(t, "alice", time.Hour, 24*time.Hour)
	f.count.gate = make(chan chan struct{})
	go func() {
		_, err := f.st.Get(context.Background(), s.ID)
		done <- err == nil
	}()
	release = <-f.count.gate
	f.count.gate = nil
	if _, err := f.mem.DeleteUser(context.Background(), "alice", ""); err != nil {
		t.Fatal(err)
	}
	f.cache.Apply(authcache.Message('u', "alice"))
	close(release)
	<-done
	f.wantGet(t, "after the racing read (user)", s.ID, false, 1)
}

// A cache fed by a bus is used only while the bus vouches for it, and is
// emptied whenever it stopped doing so.
func TestUsableOnlyWhileConfirmed(t *testing.T) {
	f := newFixture(t, time.Minute, false, 0)
	s := f.login(t, "alice", time.Hour, 24*time.Hour)
	f.wantGet(t, "never confirmed", s.ID, true, 1)
	f.wantGet(t, "never confirmed, again", s.ID, true, 1)

	f.cache.Confirm(f.clock.Now())
	f.wantGet(t, "confirmed: fill", s.ID, true, 1)
	f.wantGet(t, "confirmed: hit", s.ID, true, 0)

	f.cache.Lost()
	f.wantGet(t, "lost", s.ID, true, 1)
	f.cache.Confirm(f.clock.Now())
	f.wantGet(t, "confirmed again: flushed", s.ID, true, 1)
	f.wantGet(t, "confirmed again: hit", s.ID, true, 0)

	// The lease lapses without a word from the bus: unused, then flushed.
	f.clock.Advance(authcache.DefaultLease)
	f.wantGet(t, "lease lapsed", s.ID, true, 1)
	if f.cache.Usable() {
		t.Error("Usable after the lease lapsed")
	}
	f.cache.Confirm(f.clock.Now())
	f.wantGet(t, "after a lapse: flushed", s.ID, true, 1)
	f.wantGet(t, "after a lapse: hit", s.ID, true, 0)

	// Messages from the bus, and one it cannot read (a flush).
	f.cache.Apply(authcache.Message('s', s.ID))
	f.wantGet(t, "after s:", s.ID, true, 1)
	f.cache.Apply(authcache.Message('u', "alice"))
	f.wantGet(t, "after u:", s.ID, true, 1)
	f.cache.Apply(authcache.Message('u', "bob"))
	f.wantGet(t, "after u:bob", s.ID, true, 0)
	f.cache.Apply("x:what is this")
	f.wantGet(t, "after a message not understood", s.ID, true, 1)
	if f.cache.Len() != 1 {
		t.Errorf("Len = %d, want 1", f.cache.Len())
	}
}

func TestBounded(t *testing.T) {
	f := &fixture{clock: newClock()}
	f.mem = memstore.New(memstore.Options{Now: f.clock.Now, SweepInterval: -1})
	t.Cleanup(func() { _ = f.mem.Close() })
	f.count = &countingStore{backend: f.mem}
	var err error
	f.cache, err = authcache.New(authcache.Options{TTL: time.Minute, Refresh: time.Minute, Local: true, MaxEntries: 100, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if f.st, err = authcache.NewStore(f.count, f.cache, nil); err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		s := f.login(t, "alice"+time.Duration(idN.Add(1)).String(), time.Hour, time.Hour)
		f.get(t, s.ID)
		if n := f.cache.Len(); n > 100 {
			t.Fatalf("Len = %d, want at most 100", n)
		}
	}
}

func TestOptions(t *testing.T) {
	if _, err := authcache.New(authcache.Options{}); err == nil {
		t.Error("New with TTL 0: no error")
	}
	c, err := authcache.New(authcache.Options{TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authcache.NewStore(memstore.New(memstore.Options{SweepInterval: -1}), c, nil); err == nil {
		t.Error("NewStore of a shared cache without a Publisher: no error")
	}
}

// flaky is a bus whose publishes fail while down; what it delivers is
// recorded.
type flaky struct {
	mu   sync.Mutex
	down bool
	sent []string
}

func (p *flaky) Publish(_ context.Context, msg string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return errors.New("NOPERM this user has no permissions to run the 'publish' command")
	}
	p.sent = append(p.sent, msg)
	return nil
}

func (p *flaky) set(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

func (p *flaky) delivered() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.sent...)
}

// waitPending waits until st has no invalidation left to publish.
func waitPending(t *testing.T, st *authcache.Store) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for st.Pending() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d invalidations still unpublished after 10s", st.Pending())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A failed publish is an error, and is not lost: it is published again in
// the background once the bus takes it. A delete that finds nothing (the
// retry of a logout or key deletion) publishes too.
func TestUnpublishedInvalidationsAreRetried(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, time.Minute, false, 0)
	pub := &flaky{}
	st, err := authcache.NewStore(f.count, f.cache, pub)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s := &session.Session{ID: "s1", User: "alice", CreatedAt: f.clock.Now(), LastSeen: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Hour)}
	if err := st.Create(ctx, s); err != nil {
		t.Fatal(err)
	}

	pub.set(true)
	if err := st.Delete(ctx, "s1"); err == nil {
		t.Error("Delete with the bus refusing publishes = nil, want an error")
	}
	// The retry of the same logout: the session is gone, and still the
	// publish is tried (and fails again: an error, not a quiet success).
	if err := st.Delete(ctx, "s1"); err == nil {
		t.Error("Delete again with the bus refusing publishes = nil, want an error")
	}
	// A key deletion that finds nothing: the publish failure, not 404.
	if err := st.DeleteKey(ctx, "bob", "nokey"); err == nil || errors.Is(err, session.ErrNotFound) {
		t.Errorf("DeleteKey of a missing key with the bus refusing = %v, want the publish error", err)
	}
	if n := st.Pending(); n != 2 {
		t.Errorf("Pending = %d, want 2 (s:s1 once, u:bob)", n)
	}
	time.Sleep(300 * time.Millisecond) // a few failed rounds
	if got := pub.delivered(); len(got) != 1 || got[0] != "u:alice" {
		t.Errorf("delivered while down = %q, want only the login's u:alice", got)
	}

	pub.set(false)
	waitPending(t, st)
	got := pub.delivered()
	want := map[string]bool{"s:s1": true, "u:bob": true}
	for _, m := range got[1:] {
		delete(want, m)
	}
	if len(want) != 0 {
		t.Errorf("delivered after the bus came back = %q; missing %v", got, want)
	}

	// Missing things still publish: with the bus up, DeleteKey says
	// ErrNotFound after publishing.
	if err := st.DeleteKey(ctx, "bob", "nokey"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("DeleteKey of a missing key = %v, want ErrNotFound", err)
	}
	if got := pub.delivered(); got[len(got)-1] != "u:bob" {
		t.Errorf("last delivered = %q, want u:bob", got[len(got)-1])
	}
}

// An invalidation still unpublished TTL after its store call is given up:
// every entry it could end has expired by then. Close stops the retries.
func TestUnpublishedInvalidationGivenUpAfterTTL(t *testing.T) {
	f := newFixture(t, time.Minute, false, 0)
	pub := &flaky{down: true}
	st, err := authcache.NewStore(f.count, f.cache, pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(context.Background(), "gone"); err == nil {
		t.Fatal("Delete with the bus refusing publishes = nil, want an error")
	}
	time.Sleep(200 * time.Millisecond)
	if st.Pending() != 1 {
		t.Fatalf("Pending = %d before TTL, want 1", st.Pending())
	}
	f.clock.Advance(time.Minute + time.Second)
	waitPending(t, st)
	if got := pub.delivered(); len(got) != 0 {
		t.Errorf("delivered = %q, want nothing", got)
	}
	if err := st.Delete(context.Background(), "gone2"); err == nil {
		t.Fatal("Delete with the bus refusing publishes = nil, want an error")
	}
	done := make(chan struct{})
	go func() { _ = st.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
}
