//go:build bench

package bench

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/example/sso/internal/testredis"
	"github.com/example/sso/session"
	"github.com/example/sso/session/redisstore"
	"github.com/example/sso/ticket"
)

const (
	// millionEnv runs TestMillion: "1" for a million sessions, or a count
	// (from 1000) for a reduced run, as make bench-smoke makes.
	millionEnv = "SSO_BENCH_MILLION"
	// perUser sessions per user, the default per-user cap: 10k users for
	// a million sessions.
	perUser = 100
	// sampleSize distinct sessions get /auth traffic: more than the auth
	// cache holds (10k entries), so it is full and churning.
	sampleSize = 20_000
	fillers    = 64
)

// TestMillion fills Redis with SSO_BENCH_MILLION sessions (see
// fillSessions),
// reports Redis's memory per session (INFO used_memory, and MEMORY USAGE
// of one session key and one user's index), then starts a built sso on
// that Redis, sends /auth for a sample of the sessions and reports sso's
// resident memory: sessions live in Redis, so it must not grow with them.
func TestMillion(t *testing.T) {
	n := millionCount(t)
	requireTools(t)
	begin := time.Now()
	pin := newPinning(t)
	addr := testredis.Start(t)
	client := redis.NewClient(&redis.Options{Addr: addr, PoolSize: fillers})
	t.Cleanup(func() { _ = client.Close() })
	ctx := context.Background()

	users := (n + perUser - 1) / perUser
	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users.yml")
	writeManyUsers(t, usersFile, users)

	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i + 7)
	}
	codec, err := ticket.New("sso_session", [][]byte{key})
	if err != nil {
		t.Fatal(err)
	}
	before := usedMemory(t, client)
	fillBegin := time.Now()
	sample := fillSessions(t, client, codec, n, users)
	fill := time.Since(fillBegin)
	after := usedMemory(t, client)
	sessKey, err := client.RandomKey(ctx).Result()
	for err == nil && !strings.HasPrefix(sessKey, "sso:s:") {
		sessKey, err = client.RandomKey(ctx).Result()
	}
	if err != nil {
		t.Fatalf("bench: RANDOMKEY: %v", err)
	}
	idxKey := "sso:u:" + base64.RawURLEncoding.EncodeToString([]byte(userName(0))) + ":s"
	sessUsage, err1 := client.MemoryUsage(ctx, sessKey).Result()
	idxUsage, err2 := client.MemoryUsage(ctx, idxKey).Result()
	if err1 != nil || err2 != nil {
		t.Fatalf("bench: MEMORY USAGE: %v, %v", err1, err2)
	}

	sso := startSSO(t, pin, "sso (Redis, many sessions)", 443, usersFile, "redis://"+addr, key)
	rss0, _ := procMem(t, sso.pid)
	authed := authSample(t, sso.addr, sample)
	rss1, hwm := procMem(t, sso.pid)

	fmt.Printf("\n### sso with %d sessions in Redis (%d users × %d)\n\n", n, users, perUser)
	fmt.Printf("| measure | value |\n|---|--:|\n")
	fmt.Printf("| fill (a Create per user, then pipelined copies) | %v (%.0f sessions/s) |\n", fill.Round(time.Millisecond), float64(n)/fill.Seconds())
	fmt.Printf("| Redis used_memory per session, index share included | %d bytes |\n", (after-before)/int64(n))
	fmt.Printf("| MEMORY USAGE of one session key | %d bytes |\n", sessUsage)
	fmt.Printf("| MEMORY USAGE of one user's index (%d sessions) | %d bytes (%d per session) |\n", perUser, idxUsage, idxUsage/perUser)
	fmt.Printf("| Redis used_memory in all | %.1f MiB |\n", float64(after)/(1<<20))
	fmt.Printf("| sso VmRSS after start-up | %.1f MiB |\n", float64(rss0)/(1<<20))
	fmt.Printf("| sso VmRSS after /auth of %d distinct sessions (%d requests) | %.1f MiB |\n", len(sample), authed, float64(rss1)/(1<<20))
	fmt.Printf("| sso VmHWM (peak) | %.1f MiB |\n", float64(hwm)/(1<<20))
	t.Logf("done in %v", time.Since(begin).Round(time.Second))
}

// millionCount is the session count SSO_BENCH_MILLION asks for; the test
// skips without it.
func millionCount(t *testing.T) int {
	t.Helper()
	s := os.Getenv(millionEnv)
	switch s {
	case "":
		t.Skipf("bench: %s not set (make bench-million: 1 for a million sessions, or a count)", millionEnv)
	case "1":
		return 1_000_000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1000 || n > 10_000_000 {
		t.Fatalf("bench: %s=%q: want 1 (a million) or a count from 1000 to 10000000", millionEnv, s)
	}
	return n
}

func userName(i int) string { return "u" + strconv.Itoa(i) }

// writeManyUsers writes a users file of n users sharing one bcrypt hash
// at the lowest cost (nobody logs in: the sessions are made in Redis).
func writeManyUsers(t *testing.T, name string, n int) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("users:\n")
	for i := range n {
		fmt.Fprintf(&b, "  %s:\n    displayname: U\n    email: %s@%s\n    password: %q\n    groups: [dev]\n", userName(i), userName(i), domain, hash)
	}
	writeFile(t, name, b.String())
}

// usedMemory is INFO memory's used_memory.
func usedMemory(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatalf("bench: INFO memory: %v", err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatalf("bench: used_memory %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatal("bench: INFO memory has no used_memory")
	return 0
}

// authSample sends /auth, as nginx would, for every cookie of sample,
// twice (a miss, then the cache or a miss again once it is full), and
// fails unless each is a 200. It returns the number of requests.
func authSample(t *testing.T, ssoAddr string, sample []string) int {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: loginWorkers}}
	defer client.CloseIdleConnections()
	var (
		next   atomic.Int64
		wg     sync.WaitGroup
		failed atomic.Value
	)
	total := 2 * len(sample)
	for range loginWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= total || failed.Load() != nil {
					return
				}
				req, err := http.NewRequest(http.MethodGet, "http://"+ssoAddr+"/auth", nil)
				if err != nil {
					failed.Store(err)
					return
				}
				req.Host = "app." + domain
				req.Header.Set("Cookie", sample[i%len(sample)])
				req.Header.Set("X-Original-Method", "GET")
				req.Header.Set("X-Original-URL", "https://app."+domain+"/")
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Store(fmt.Errorf("/auth = %d, want 200", resp.StatusCode))
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("bench: /auth of the sample: %v", err)
	}
	return total
}

// fillSessions stores n sessions of users users (perUser each) and returns
// the cookies of about sampleSize of them. Each user's first session goes
// through redisstore's Create; the others are copies of its record (the
// record holds no id: the key does) written with SET and ZADD in one
// pipeline per user, as Create would index them, so that a million
// sessions take seconds rather than minutes of round trips.
func fillSessions(t *testing.T, client *redis.Client, codec *ticket.Codec, n, users int) []string {
	t.Helper()
	ctx := context.Background()
	store := redisstore.New(client, redisstore.Options{MaxSessionsPerUser: -1})
	sampleEvery := max(1, n/sampleSize)
	now := time.Now()
	var (
		next   atomic.Int64
		mu     sync.Mutex
		sample []string
		wg     sync.WaitGroup
		failed atomic.Value
	)
	fail := func(err error) { failed.CompareAndSwap(nil, err) }
	for range fillers {
		wg.Go(func() {
			for {
				u := int(next.Add(1) - 1)
				if u >= users || failed.Load() != nil {
					return
				}
				count := min(perUser, n-u*perUser)
				raws := make([]string, count)
				for j := range raws {
					raw, err := ticket.NewID()
					if err != nil {
						fail(err)
						return
					}
					raws[j] = raw
				}
				first := &session.Session{
					ID: ticket.Hash(raws[0]), User: userName(u), Email: userName(u) + "@" + domain,
					Groups: []string{"dev"}, Domain: domain, CreatedAt: now, LastSeen: now,
					ExpiresAt: now.Add(12 * time.Hour), Idle: 12 * time.Hour,
					IP: "192.0.2." + strconv.Itoa(u%250+1), UserAgent: "Firefox on Linux",
				}
				if err := store.Create(ctx, first); err != nil {
					fail(fmt.Errorf("create: %w", err))
					return
				}
				rec, err := client.Get(ctx, "sso:s:"+first.ID).Bytes()
				if err != nil {
					fail(fmt.Errorf("GET the first record: %w", err))
					return
				}
				idx := "sso:u:" + base64.RawURLEncoding.EncodeToString([]byte(first.User)) + ":s"
				pipe := client.Pipeline()
				for _, raw := range raws[1:] {
					id := ticket.Hash(raw)
					pipe.SetArgs(ctx, "sso:s:"+id, rec, redis.SetArgs{Mode: "NX", ExpireAt: first.Deadline()})
					pipe.ZAdd(ctx, idx, redis.Z{Score: float64(first.ExpiresAt.UnixMilli()), Member: id})
				}
				if _, err := pipe.Exec(ctx); err != nil {
					fail(fmt.Errorf("pipeline: %w", err))
					return
				}
				mu.Lock()
				for j, raw := range raws {
					if (u*perUser+j)%sampleEvery == 0 {
						sample = append(sample, "sso_session="+codec.Encode(raw))
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("bench: fill: %v", err)
	}
	return sample
}
