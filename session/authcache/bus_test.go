package authcache_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/example/sso/internal/testredis"
	"github.com/example/sso/session"
	"github.com/example/sso/session/authcache"
	"github.com/example/sso/session/redisstore"
)

// watched is a Cache that also counts what its bus told it.
type watched struct {
	*authcache.Cache
	lost, applied atomic.Int64
}

func (w *watched) Apply(msg string) {
	w.Cache.Apply(msg)
	w.applied.Add(1)
}

func (w *watched) Lost() {
	w.Cache.Lost()
	w.lost.Add(1)
}

// node is one instance: a cache fed by its own bus, in front of a
// counting redisstore.
type node struct {
	cache *watched
	count *countingStore
	st    *authcache.Store
}

func newNode(t *testing.T, client, sub redis.UniversalClient) *node {
	t.Helper()
	c, err := authcache.New(authcache.Options{TTL: time.Minute, Refresh: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{cache: &watched{Cache: c}, count: &countingStore{backend: redisstore.New(client, redisstore.Options{})}}
	bus := redisstore.NewBus(client, sub, redisstore.BusOptions{})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		bus.Run(ctx, n.cache)
	}()
	t.Cleanup(func() { stop(); <-done })
	if n.st, err = authcache.NewStore(n.count, c, bus); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !c.Usable() {
		if time.Now().After(deadline) {
			t.Fatal("the cache is not usable 5s after its bus started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return n
}

// reads returns whether id is live through n and how many store reads
// that took.
func (n *node) reads(t *testing.T, id string) (bool, int64) {
	t.Helper()
	before := n.count.gets.Load()
	_, err := n.st.Get(context.Background(), id)
	if err != nil && !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get: %v", err)
	}
	return err == nil, n.count.gets.Load() - before
}

// create logs s in through the first node and waits until every node has
// heard of it (a login invalidates its user everywhere, the echo included).
func create(t *testing.T, s *session.Session, nodes ...*node) {
	t.Helper()
	before := make([]int64, len(nodes))
	for i, n := range nodes {
		before[i] = n.cache.applied.Load()
	}
	if err := nodes[0].st.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		for n.cache.applied.Load() == before[i] {
			time.Sleep(time.Millisecond)
		}
	}
}

// Two instances with their own bus on one Redis (standalone, Cluster,
// Sentinel): a logout through A drops B's cached entry within a second;
// and when the subscriptions are killed (CLIENT KILL TYPE pubsub) the
// caches are flushed before they answer again.
func TestBusOnRealRedis(t *testing.T) {
	// Each mode starts its server and returns how to make clients of it.
	modes := map[string]func(t *testing.T) func() redis.UniversalClient{
		"standalone": func(t *testing.T) func() redis.UniversalClient {
			addr := testredis.Start(t)
			return func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: addr}) }
		},
		"cluster": func(t *testing.T) func() redis.UniversalClient {
			addr := testredis.StartCluster(t)
			return func() redis.UniversalClient {
				return redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}})
			}
		},
		"sentinel": func(t *testing.T) func() redis.UniversalClient {
			master, sentinel, _ := testredis.StartSentinel(t)
			return func() redis.UniversalClient {
				return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: master, SentinelAddrs: []string{sentinel}})
			}
		},
	}
	for name, server := range modes {
		t.Run(name, func(t *testing.T) {
			newClient := server(t)
			clients := make([]redis.UniversalClient, 3)
			for i := range clients {
				clients[i] = newClient()
				t.Cleanup(func() { _ = clients[i].Close() })
			}
			client := clients[0]
			a, b := newNode(t, client, clients[1]), newNode(t, client, clients[2])
			ctx := context.Background()
			now := time.Now()
			s := &session.Session{ID: "bus-" + name, User: "alice", CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour), Idle: time.Hour}
			create(t, s, a, b)
			for _, n := range []*node{a, b} {
				n.reads(t, s.ID)
				if live, r := n.reads(t, s.ID); !live || r != 0 {
					t.Fatalf("second Get = live %v with %d reads, want a cache hit", live, r)
				}
			}
			begin := time.Now()
			if err := a.st.Delete(ctx, s.ID); err != nil {
				t.Fatal(err)
			}
			for {
				live, _ := b.reads(t, s.ID)
				if !live {
					t.Logf("logout through A: gone from B's cache after %v", time.Since(begin))
					break
				}
				if time.Since(begin) > time.Second {
					t.Fatal("B still serves a deleted session 1s after the logout")
				}
				time.Sleep(time.Millisecond)
			}

			// The subscriptions are killed: both caches are flushed, and
			// answer from the store until confirmed again.
			s.ID = "bus2-" + name
			create(t, s, a, b)
			b.reads(t, s.ID)
			if _, r := b.reads(t, s.ID); r != 0 {
				t.Fatalf("B: %d reads, want a cache hit", r)
			}
			lost := b.cache.lost.Load()
			kill := func(ctx context.Context, c *redis.Client) error {
				return c.ClientKillByFilter(ctx, "TYPE", "pubsub").Err()
			}
			var err error
			if cc, ok := client.(*redis.ClusterClient); ok {
				err = cc.ForEachMaster(ctx, kill)
			} else {
				err = client.ClientKillByFilter(ctx, "TYPE", "pubsub").Err()
			}
			if err != nil {
				t.Fatal(err)
			}
			for b.cache.lost.Load() == lost {
				time.Sleep(time.Millisecond)
			}
			if _, r := b.reads(t, s.ID); r != 1 {
				t.Errorf("B after its subscription was killed: %d reads, want 1 (flushed)", r)
			}
			deadline := time.Now().Add(5 * time.Second)
			for !b.cache.Usable() && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			b.reads(t, s.ID)
			if _, r := b.reads(t, s.ID); r != 0 {
				t.Errorf("B subscribed again: %d reads, want a cache hit", r)
			}
		})
	}
}
