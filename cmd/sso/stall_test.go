package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/example/sso/internal/testredis"
)

// A Redis that stalls (DEBUG SLEEP holds its only thread) makes /auth answer
// 503 after SSO_STORE_TIMEOUT, not after the stall, and /readyz keep its own
// deadline; a killed Redis gets 503s, never a wrong 200, and service comes
// back by itself once Redis is back. The figures are logged.
func TestStalledAndKilledRedis(t *testing.T) {
	rs := testredis.StartServer(t, "--enable-debug-command", "yes", "--appendonly", "yes", "--appendfsync", "always")
	env := prodEnv(t)
	env["SSO_REDIS_URL"] = "redis://" + rs.Addr + "/0"
	env["SSO_STORE_TIMEOUT"] = "300ms"
	// This is about the store's deadline: every /auth reads the store.
	// TestAuthCacheStalledAndKilledRedis is the same with the cache.
	env["SSO_AUTH_CACHE"] = "0"
	in := start(t, env)
	l, _ := in.login(t, "alice", testPassword)
	if code, _ := in.auth(t, l.Session.Value); code != http.StatusOK {
		t.Fatalf("/auth before the stall = %d, want 200", code)
	}

	const stall = 3 * time.Second
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rc.Close() })
	slept := make(chan error, 1)
	go func() { slept <- rc.Do(context.Background(), "DEBUG", "SLEEP", stall.Seconds()).Err() }()
	time.Sleep(100 * time.Millisecond)

	begin := time.Now()
	code, user := in.auth(t, l.Session.Value)
	authTook := time.Since(begin)
	if code != http.StatusServiceUnavailable || user != "" {
		t.Fatalf("/auth during the stall = %d %q, want 503", code, user)
	}
	begin = time.Now()
	ready := in.do(t, "GET", "http://login.example.test/readyz", "", nil)
	readyTook := time.Since(begin)
	if ready.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the stall = %d, want 503", ready.status)
	}
	t.Logf("during a %v stall: /auth 503 after %v, /readyz 503 after %v", stall, authTook.Round(time.Millisecond), readyTook.Round(time.Millisecond))
	if authTook+readyTook >= stall-100*time.Millisecond {
		t.Errorf("/auth and /readyz waited out the stall (%v, %v)", authTook, readyTook)
	}
	if err := <-slept; err != nil {
		t.Fatalf("DEBUG SLEEP: %v", err)
	}
	if d := recover200(t, in, l.Session.Value, "alice", 5*time.Second); d >= 0 {
		t.Logf("/auth 200 again %v after the stall ended", d.Round(time.Millisecond))
	}
	metrics := in.do(t, "GET", "http://login.example.test/metrics", "", nil)
	if !strings.Contains(string(metrics.body), `sso_store_timeouts_total{op="get"}`) {
		t.Errorf("/metrics does not count the store timeout:\n%s", grepLines(string(metrics.body), "sso_store"))
	}

	// Killed: every answer is 503 (never a 200) until it is back.
	rs.Kill()
	for range 20 {
		if code, _ := in.auth(t, l.Session.Value); code != http.StatusServiceUnavailable {
			t.Fatalf("/auth with Redis killed = %d, want 503", code)
		}
	}
	rs.Restart()
	back := time.Now()
	if d := recover200(t, in, l.Session.Value, "alice", 10*time.Second); d >= 0 {
		t.Logf("/auth 200 again %v after Redis restarted (AOF kept the session)", time.Since(back).Round(time.Millisecond))
	}
}

// recover200 polls /auth until it answers 200 as user and returns how long
// that took; it fails the test after limit, and on any 200 for another user.
func recover200(t *testing.T, in *instance, value, user string, limit time.Duration) time.Duration {
	t.Helper()
	begin := time.Now()
	for {
		code, got := in.auth(t, value)
		if code == http.StatusOK {
			if got != user {
				t.Fatalf("/auth = 200 as %q, want %q", got, user)
			}
			return time.Since(begin)
		}
		if time.Since(begin) > limit {
			t.Fatalf("/auth still %d after %v", code, limit)
			return -1
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
