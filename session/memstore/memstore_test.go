package memstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/example/sso/session"
	"github.com/example/sso/session/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, perUser int) storetest.Store {
		s := New(Options{SweepInterval: 50 * time.Millisecond, MaxSessionsPerUser: perUser})
		t.Cleanup(func() { checkIndex(t, s); s.Close() })
		return s
	})
}

// clock is a fake time source safe for the sweeper goroutine.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newSession(c *clock, id, user string, idle, max time.Duration) *session.Session {
	now := c.Now()
	return &session.Session{ID: id, User: user, CreatedAt: now, LastSeen: now, Idle: idle, ExpiresAt: now.Add(max)}
}

// checkIndex verifies that the map, the heap and the per-user indexes
// describe the same sessions, and likewise for keys.
func checkIndex(t *testing.T, s *Store) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.byDL) != len(s.sessions) {
		t.Errorf("heap holds %d entries, map %d", len(s.byDL), len(s.sessions))
	}
	for i, e := range s.byDL {
		if e.index != i || s.sessions[e.s.ID] != e {
			t.Errorf("heap entry %d (index %d) is not the map's", i, e.index)
		}
		if !e.deadline.Equal(e.s.Deadline()) {
			t.Errorf("heap entry %d caches deadline %v, session says %v", i, e.deadline, e.s.Deadline())
		}
		if p := (i - 1) / 2; i > 0 && s.byDL[p].deadline.After(e.deadline) {
			t.Errorf("heap order broken at %d", i)
		}
	}
	n := 0
	for user, ids := range s.byUser {
		if len(ids) == 0 {
			t.Errorf("empty index kept for user %q", user)
		}
		for id := range ids {
			if e, ok := s.sessions[id]; !ok || e.s.User != user {
				t.Errorf("index of %q lists a session it does not own", user)
			}
			n++
		}
	}
	if n != len(s.sessions) {
		t.Errorf("user indexes list %d sessions, map holds %d", n, len(s.sessions))
	}
	n = 0
	for user, ids := range s.keysByID {
		if len(ids) == 0 {
			t.Errorf("empty key index kept for user %q", user)
		}
		for id, h := range ids {
			if k, ok := s.keys[h]; !ok || k.User != user || k.ID != id {
				t.Errorf("key index of %q is stale", user)
			}
			n++
		}
	}
	if n != len(s.keys) {
		t.Errorf("key indexes list %d keys, map holds %d", n, len(s.keys))
	}
	if len(s.limitsByDL) != len(s.limits) {
		t.Errorf("limit heap holds %d entries, map %d", len(s.limitsByDL), len(s.limits))
	}
	for i, l := range s.limitsByDL {
		if l.index != i || s.limits[l.key] != l {
			t.Errorf("limit heap entry %d (index %d) is not the map's", i, l.index)
		}
		if p := (i - 1) / 2; i > 0 && s.limitsByDL[p].deadline.After(l.deadline) {
			t.Errorf("limit heap order broken at %d", i)
		}
	}
}

func TestSweep(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := New(Options{Now: c.Now, SweepInterval: -1})
	defer s.Close()
	for i, idle := range []time.Duration{time.Minute, 2 * time.Minute, time.Hour} {
		if err := s.Create(ctx, newSession(c, fmt.Sprint(i), "alice", idle, 2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateKey(ctx, &session.APIKey{ID: "k1", Hash: "h1", User: "alice", ExpiresAt: c.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctx, &session.APIKey{ID: "k2", Hash: "h2", User: "alice"}); err != nil {
		t.Fatal(err)
	}
	c.Add(90 * time.Second)
	if err := s.Touch(ctx, "1", c.Now()); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	// Session 0 (idle 1m) and key k1 are expired but still held.
	if got := s.Len(); got != 3 {
		t.Errorf("Len() before Sweep = %d, want 3", got)
	}
	if got := s.Sweep(); got != 2 {
		t.Errorf("Sweep() = %d, want 2 (one session, one key)", got)
	}
	if got := s.Len(); got != 2 {
		t.Errorf("Len() after Sweep = %d, want 2", got)
	}
	checkIndex(t, s)
	c.Add(3 * time.Hour)
	if got := s.Sweep(); got != 2 {
		t.Errorf("Sweep() after 3h = %d, want 2", got)
	}
	checkIndex(t, s)
	if _, err := s.KeyByHash(ctx, "h2"); err != nil {
		t.Errorf("KeyByHash(never-expiring key) after Sweep: %v", err)
	}
}

func TestSweeper(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := New(Options{Now: c.Now, SweepInterval: 5 * time.Millisecond})
	defer s.Close()
	if err := s.Create(ctx, newSession(c, "a", "alice", time.Minute, time.Hour)); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for s.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("background sweeper left %d expired sessions after 5s", s.Len())
		}
		time.Sleep(5 * time.Millisecond)
	}
	checkIndex(t, s)
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v", err)
	}
}

func TestEvictEarliestDeadline(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := New(Options{Now: c.Now, SweepInterval: -1, MaxSessions: 3})
	defer s.Close()
	// Deadlines: a +30m, b +10m (dies first), c +20m.
	for _, x := range []struct {
		id   string
		idle time.Duration
	}{{"a", 30 * time.Minute}, {"b", 10 * time.Minute}, {"c", 20 * time.Minute}} {
		if err := s.Create(ctx, newSession(c, x.id, "u"+x.id, x.idle, time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Create(ctx, newSession(c, "d", "ud", time.Minute, time.Hour)); err != nil {
		t.Fatalf("Create when full: %v", err)
	}
	if _, err := s.Get(ctx, "b"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get(b) after eviction error = %v, want ErrNotFound (earliest deadline)", err)
	}
	for _, id := range []string{"a", "c", "d"} {
		if _, err := s.Get(ctx, id); err != nil {
			t.Errorf("Get(%s) after eviction: %v", id, err)
		}
	}
	if got, _ := s.List(ctx, "ub"); len(got) != 0 {
		t.Errorf("List(ub) after eviction = %d sessions, want 0", len(got))
	}
	checkIndex(t, s)

	// Touching c moves its deadline past a's: a goes next.
	c.Add(time.Minute)
	if err := s.Touch(ctx, "c", c.Now().Add(15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, newSession(c, "e", "ue", time.Hour, time.Hour)); err != nil {
		t.Fatal(err)
	}
	// d (deadline +1m from start) has expired by now: it goes instead of a live one.
	if _, err := s.Get(ctx, "a"); err != nil {
		t.Errorf("Get(a): %v; want it kept while an expired session could go", err)
	}
	if err := s.Create(ctx, newSession(c, "f", "uf", time.Hour, time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get(a) error = %v, want ErrNotFound (earliest deadline after c was touched)", err)
	}
	if s.Len() != 3 {
		t.Errorf("Len() = %d, want MaxSessions 3", s.Len())
	}
	checkIndex(t, s)
}

func TestMaxKeys(t *testing.T) {
	ctx := context.Background()
	s := New(Options{SweepInterval: -1, MaxKeys: 1})
	defer s.Close()
	if err := s.CreateKey(ctx, &session.APIKey{ID: "1", Hash: "h1", User: "u"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctx, &session.APIKey{ID: "2", Hash: "h2", User: "u"}); err == nil {
		t.Error("CreateKey beyond MaxKeys = nil, want error")
	}
	if _, err := s.KeyByHash(ctx, "h1"); err != nil {
		t.Errorf("KeyByHash(existing) after a refused create: %v", err)
	}
}

func TestIndexAfterDeletes(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := New(Options{Now: c.Now, SweepInterval: -1})
	defer s.Close()
	for i := range 10 {
		if err := s.Create(ctx, newSession(c, fmt.Sprint(i), fmt.Sprint("u", i%3), time.Duration(i+1)*time.Minute, time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "4"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteUser(ctx, "u0", "3"); err != nil || n != 3 {
		t.Errorf("DeleteUser(u0, keep 3) = %d, %v; want 3", n, err)
	}
	c.Add(150 * time.Second) // sessions 0 and 1 idle out
	// Touch of an expired session removes it at once.
	if err := s.Touch(ctx, "1", c.Now()); !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Touch(expired) error = %v, want ErrNotFound", err)
	}
	checkIndex(t, s)
	if n := s.Sweep(); n != 0 {
		t.Errorf("Sweep() = %d, want 0 (0 was deleted by DeleteUser, 1 by Touch)", n)
	}
	got, _ := s.List(ctx, "u2")
	var ids []string
	for _, x := range got {
		ids = append(ids, x.ID)
	}
	if fmt.Sprint(ids) != "[2 5 8]" {
		t.Errorf("List(u2) ids = %v, want [2 5 8]", ids)
	}
	checkIndex(t, s)
}

// Limiter keys expire by the injected clock, are swept when both their
// count and their block have ended, and are bounded by MaxLimits.
func TestLimits(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := New(Options{Now: c.Now, SweepInterval: -1, MaxLimits: 3})
	defer s.Close()
	hit := func(key string, window time.Duration) int {
		t.Helper()
		n, err := s.Hit(ctx, key, window)
		if err != nil {
			t.Fatalf("Hit(%q): %v", key, err)
		}
		return n
	}
	blocked := func(key string) time.Duration {
		t.Helper()
		d, err := s.Blocked(ctx, key)
		if err != nil {
			t.Fatalf("Blocked(%q): %v", key, err)
		}
		return d
	}
	hit("a", time.Minute)
	hit("a", time.Minute)
	if err := s.Block(ctx, "a", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	hit("b", 2*time.Minute)
	c.Add(90 * time.Second)
	if got := hit("a", time.Minute); got != 1 {
		t.Errorf("Hit(a) 90s into a 1m window = %d, want 1", got)
	}
	if got := blocked("a"); got != 210*time.Second {
		t.Errorf("Blocked(a) 90s into a 5m block = %v, want 3m30s", got)
	}
	c.Add(time.Minute) // a's new window and b's window have ended; a's block has not
	if n := s.Sweep(); n != 1 {
		t.Errorf("Sweep() = %d, want 1 (b)", n)
	}
	if got := s.Limits(); got != 1 {
		t.Errorf("Limits() after Sweep = %d, want 1", got)
	}
	checkIndex(t, s)
	c.Add(3 * time.Minute)
	if got := blocked("a"); got != 0 {
		t.Errorf("Blocked(a) after its block ended = %v, want 0", got)
	}
	if n := s.Sweep(); n != 1 {
		t.Errorf("Sweep() after the block ended = %d, want 1", n)
	}

	// Full: the key closest to its end goes to make room.
	if err := s.Block(ctx, "long", time.Hour); err != nil {
		t.Fatal(err)
	}
	hit("short", time.Minute)
	hit("mid", 10*time.Minute)
	hit("new", time.Minute)
	if got := s.Limits(); got != 3 {
		t.Errorf("Limits() = %d, want MaxLimits 3", got)
	}
	if got := hit("short", time.Minute); got != 1 {
		t.Errorf("Hit(short) after eviction = %d, want 1 (it was the one evicted)", got)
	}
	if got := blocked("long"); got != time.Hour {
		t.Errorf("Blocked(long) = %v, want 1h: a block outlives counters under pressure", got)
	}
	checkIndex(t, s)
	if err := s.Clear(ctx, "long"); err != nil {
		t.Fatal(err)
	}
	checkIndex(t, s)
}

// The per-user cap holds exactly under concurrent logins (Create trims
// under the same lock), and another user's sessions are never touched.
func TestCapConcurrentExact(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := New(Options{Now: c.Now, SweepInterval: -1, MaxSessionsPerUser: 5})
	defer s.Close()
	if err := s.Create(ctx, newSession(c, "bob", "bob", time.Hour, time.Hour)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for r := range 4 {
				if err := s.Create(ctx, newSession(c, fmt.Sprint(w, "-", r), "alice", time.Hour, time.Hour)); err != nil {
					t.Errorf("Create: %v", err)
				}
				if got, _ := s.List(ctx, "alice"); len(got) > 5 {
					t.Errorf("List(alice) during concurrent logins = %d sessions, want at most the cap 5", len(got))
				}
			}
		})
	}
	wg.Wait()
	if got, _ := s.List(ctx, "alice"); len(got) != 5 {
		t.Errorf("List(alice) = %d sessions, want the cap 5", len(got))
	}
	if _, err := s.Get(ctx, "bob"); err != nil {
		t.Errorf("Get(bob's session) after alice's logins: %v", err)
	}
	if s.Len() != 6 {
		t.Errorf("Len() = %d, want 6 (alice's 5, bob's 1)", s.Len())
	}
	checkIndex(t, s)
}

// Expired sessions that the sweeper has not dropped yet make room before a
// live one goes; the default cap is 100; ties in CreatedAt go by ID.
func TestCapDetails(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s := New(Options{Now: c.Now, SweepInterval: -1, MaxSessionsPerUser: 2})
	defer s.Close()
	create := func(id string, idle time.Duration) {
		t.Helper()
		if err := s.Create(ctx, newSession(c, id, "alice", idle, time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	list := func() string {
		t.Helper()
		got, _ := s.List(ctx, "alice")
		var ids []string
		for _, x := range got {
			ids = append(ids, x.ID)
		}
		return fmt.Sprint(ids)
	}
	create("b", time.Hour) // same CreatedAt as a: the smaller ID goes first
	create("a", time.Hour)
	c.Add(time.Second)
	create("c", time.Hour)
	if got := list(); got != "[b c]" {
		t.Errorf("List after a tie = %s, want [b c]", got)
	}
	c.Add(time.Second)
	create("d", time.Minute)
	c.Add(2 * time.Minute) // d idles out but stays held
	create("e", time.Hour)
	if got := list(); got != "[c e]" {
		t.Errorf("List = %s, want [c e]: the expired d should have gone before the live c", got)
	}
	if s.Len() != 2 {
		t.Errorf("Len() = %d, want 2", s.Len())
	}
	checkIndex(t, s)

	d := New(Options{Now: c.Now, SweepInterval: -1})
	defer d.Close()
	for i := range 101 {
		if err := d.Create(ctx, newSession(c, fmt.Sprint(i), "alice", time.Hour, time.Hour)); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Millisecond)
	}
	if got, _ := d.List(ctx, "alice"); len(got) != 100 || got[0].ID != "1" {
		t.Errorf("default cap: List = %d sessions, want 100 from \"1\" on", len(got))
	}
	checkIndex(t, d)
}
