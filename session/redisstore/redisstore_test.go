package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/sso/internal/testredis"
	"github.com/example/sso/session"
	"github.com/example/sso/session/storetest"
	"github.com/redis/go-redis/v9"
)

func newClient(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// run runs the suite with one Store per subtest, each under its own prefix
// of one shared client.
func run(t *testing.T, client redis.UniversalClient) {
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T, perUser int) storetest.Store {
		return New(client, Options{Prefix: fmt.Sprintf("t%d:", n.Add(1)), MaxSessionsPerUser: perUser})
	})
}

func TestConformance(t *testing.T) {
	t.Parallel()
	run(t, newClient(t, testredis.Start(t)))
}

// TestConformanceCluster runs the suite on a one-node cluster, which
// refuses any command whose keys span hash slots (CROSSSLOT), as a real
// cluster does.
func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{testredis.StartCluster(t)}})
	t.Cleanup(func() { c.Close() })
	run(t, c)
}

func newSession(user string, idle, max time.Duration) *session.Session {
	now := time.Now()
	return &session.Session{ID: strings.Repeat("ab", 32), User: user, CreatedAt: now, LastSeen: now, Idle: idle, ExpiresAt: now.Add(max)}
}

func TestLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, testredis.Start(t))
	st := New(c, Options{})
	s := newSession("a:b", time.Minute, time.Hour)
	if err := st.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateKey(ctx, &session.APIKey{ID: "k1", Hash: "h1", User: "a:b"}); err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	if err := st.CreateKey(ctx, &session.APIKey{ID: "k2", Hash: "h2", User: "a:b", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	user := "YTpi" // base64url("a:b")
	tests := []struct {
		key     string
		wantTTL time.Duration // -1: none; else roughly this
	}{
		{"sso:s:" + s.ID, time.Minute},
		{"sso:u:" + user + ":s", time.Hour},
		{"sso:k:h1", -1},
		{"sso:k:h2", time.Hour},
		{"sso:u:" + user + ":k", -1},
	}
	for _, tc := range tests {
		ttl, err := c.PTTL(ctx, tc.key).Result()
		if err != nil {
			t.Errorf("PTTL(%s): %v", tc.key, err)
			continue
		}
		switch {
		case ttl == -2*time.Nanosecond:
			t.Errorf("key %s missing", tc.key)
		case tc.wantTTL < 0 && ttl != -1*time.Nanosecond:
			t.Errorf("PTTL(%s) = %v, want no TTL", tc.key, ttl)
		case tc.wantTTL > 0 && (ttl <= tc.wantTTL-5*time.Second || ttl > tc.wantTTL):
			t.Errorf("PTTL(%s) = %v, want about %v", tc.key, ttl, tc.wantTTL)
		}
	}
	if n, _ := c.DBSize(ctx).Result(); n != int64(len(tests)) {
		keys, _ := c.Keys(ctx, "*").Result()
		t.Errorf("DBSIZE = %d, want %d: %q", n, len(tests), keys)
	}
	// Touch moves the session's TTL with its idle deadline.
	if err := st.Touch(ctx, s.ID, time.Now().Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if ttl := c.PTTL(ctx, "sso:s:"+s.ID).Val(); ttl < 85*time.Second || ttl > 90*time.Second {
		t.Errorf("PTTL after Touch(+30s) with a 1m idle timeout = %v, want about 90s", ttl)
	}
}

func TestIndexExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, testredis.Start(t))
	st := New(c, Options{Prefix: "x:"})
	long := newSession("u", time.Hour, time.Hour)
	if err := st.Create(ctx, long); err != nil {
		t.Fatal(err)
	}
	short := newSession("u", time.Hour, 10*time.Minute)
	short.ID = "short"
	if err := st.Create(ctx, short); err != nil {
		t.Fatal(err)
	}
	// The index lives as long as its longest-lived member, not the newest.
	if ttl := c.PTTL(ctx, "x:u:dQ:s").Val(); ttl < 59*time.Minute {
		t.Errorf("index PTTL = %v, want about 1h", ttl)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, testredis.Start(t))
	st := New(c, Options{})
	if err := c.Set(ctx, "sso:s:junk", "{not json", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := st.Get(ctx, "junk")
	if err == nil || errors.Is(err, session.ErrNotFound) || !strings.HasPrefix(err.Error(), "redisstore: get: ") {
		t.Errorf("Get(corrupt record) error = %v, want a redisstore: get: error that is not ErrNotFound", err)
	}

	// A server that is not there: callers must tell "Redis down" from "missing".
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { down.Close() })
	st = New(down, Options{})
	_, err = st.Get(ctx, "x")
	if err == nil || errors.Is(err, session.ErrNotFound) || !strings.HasPrefix(err.Error(), "redisstore: get: ") {
		t.Errorf("Get with Redis down error = %v, want a redisstore: get: error that is not ErrNotFound", err)
	}
	if err := st.Ping(ctx); err == nil {
		t.Error("Ping with Redis down = nil, want error")
	}
	if err := st.Touch(ctx, "x", time.Now()); err == nil || errors.Is(err, session.ErrNotFound) {
		t.Errorf("Touch with Redis down error = %v, want one that is not ErrNotFound", err)
	}
	if _, err := st.KeyByHash(ctx, "x"); err == nil || errors.Is(err, session.ErrNotFound) {
		t.Errorf("KeyByHash with Redis down error = %v, want one that is not ErrNotFound", err)
	}
}

// Limiter keys sit under <prefix>rl:, counts expire with their window and
// blocks with their end, so nothing is left behind.
func TestLimiterLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, testredis.Start(t))
	st := New(c, Options{})
	for range 3 {
		if _, err := st.Hit(ctx, "ip:192.0.2.1", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Block(ctx, "ip:192.0.2.1", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]time.Duration{"sso:rl:n:ip:192.0.2.1": time.Minute, "sso:rl:b:ip:192.0.2.1": 5 * time.Minute} {
		if ttl := c.PTTL(ctx, key).Val(); ttl <= want-5*time.Second || ttl > want {
			t.Errorf("PTTL(%s) = %v, want about %v", key, ttl, want)
		}
	}
	if n := c.Get(ctx, "sso:rl:n:ip:192.0.2.1").Val(); n != "3" {
		t.Errorf("count = %q, want 3", n)
	}
	if keys, _ := c.Keys(ctx, "*").Result(); len(keys) != 2 {
		t.Errorf("keys = %q, want only the count and the block", keys)
	}
	// A count that lost its TTL (written by hand) gets one on the next hit
	// instead of counting forever.
	if err := c.Set(ctx, "sso:rl:n:x", "7", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := st.Hit(ctx, "x", time.Minute); err != nil || n != 8 {
		t.Errorf("Hit on a count without TTL = %d, %v; want 8", n, err)
	}
	if ttl := c.PTTL(ctx, "sso:rl:n:x").Val(); ttl <= 0 {
		t.Errorf("PTTL after Hit on a count without TTL = %v, want a TTL", ttl)
	}
	// A block set by hand without a TTL is a ban until someone deletes it.
	if err := c.Set(ctx, "sso:rl:b:ip:203.0.113.9", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if d, err := st.Blocked(ctx, "ip:203.0.113.9"); err != nil || d < 24*time.Hour {
		t.Errorf("Blocked(hand-made ban without TTL) = %v, %v; want blocked for long", d, err)
	}

	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { down.Close() })
	st = New(down, Options{})
	if _, err := st.Blocked(ctx, "x"); err == nil || !strings.HasPrefix(err.Error(), "redisstore: blocked: ") {
		t.Errorf("Blocked with Redis down error = %v, want a redisstore: blocked: error", err)
	}
	if _, err := st.Hit(ctx, "x", time.Minute); err == nil {
		t.Error("Hit with Redis down = nil error, want one")
	}
}

// The cap leaves no stale entries in the index, applies 100 by default, and
// never lets a login evict a newer session: of two concurrent logins under
// a cap of 1, the older cannot take the newer with it.
func TestCapLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, testredis.Start(t))
	at := func(id string, created time.Time) *session.Session {
		return &session.Session{ID: id, User: "u", CreatedAt: created, LastSeen: created, Idle: 2 * time.Hour, ExpiresAt: created.Add(2 * time.Hour)}
	}
	base := time.Now().Add(-time.Hour)
	members := func(st *Store) []string {
		t.Helper()
		m, err := c.ZRange(ctx, st.userSessions("u"), 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	st := New(c, Options{Prefix: "def:"})
	for i := range 101 {
		if err := st.Create(ctx, at(fmt.Sprint(i), base.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	if m := members(st); len(m) != 100 || m[0] != "1" {
		t.Errorf("default cap: index = %d members, want 100 from \"1\" on", len(m))
	}
	if n := c.Exists(ctx, "def:s:0").Val(); n != 0 {
		t.Errorf("EXISTS of the evicted session = %d, want 0", n)
	}

	st = New(c, Options{Prefix: "one:", MaxSessionsPerUser: 1})
	newer, older := at("newer", base.Add(2*time.Second)), at("older", base.Add(time.Second))
	// As if both logins raced and the newer one trimmed first.
	for _, s := range []*session.Session{newer, older} {
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if m := members(st); fmt.Sprint(m) != "[older newer]" {
		t.Errorf("index after an older login = %q, want both: it must not evict a newer session", m)
	}
	// A dead entry (its record gone) and the two over the cap: the next
	// login trims them all, from the index too.
	if err := c.ZAdd(ctx, st.userSessions("u"), redis.Z{Score: float64(base.Add(3 * time.Hour).UnixMilli()), Member: "ghost"}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := st.Create(ctx, at("last", base.Add(3*time.Second))); err != nil {
		t.Fatal(err)
	}
	if m := members(st); fmt.Sprint(m) != "[last ghost]" {
		// ghost scores above last: not a candidate, so it stays until a
		// List prunes it.
		t.Errorf("index after the next login = %q, want [last ghost]", m)
	}
	if got, err := st.List(ctx, "u"); err != nil || len(got) != 1 || got[0].ID != "last" {
		t.Errorf("List = %d sessions, %v; want only the last", len(got), err)
	}
	if m := members(st); fmt.Sprint(m) != "[last]" {
		t.Errorf("index after List = %q, want [last]", m)
	}
	for _, id := range []string{"newer", "older"} {
		if n := c.Exists(ctx, "one:s:"+id).Val(); n != 0 {
			t.Errorf("EXISTS one:s:%s = %d, want 0 (evicted)", id, n)
		}
	}
}
