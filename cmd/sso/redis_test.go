package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/example/sso/internal/testredis"
)

// Two instances on one Redis share sessions; a session outlives a restart;
// removing its key from SSO_SECRET_KEYS ends it.
func TestRedisSharedSessions(t *testing.T) {
	addr := testredis.Start(t)
	env := prodEnv(t)
	env["SSO_REDIS_URL"] = "redis://" + addr + "/0"
	oldKey, newKey := b64Key(1, 32), b64Key(7, 32)
	env["SSO_SECRET_KEYS"] = oldKey

	a := start(t, env)
	b := start(t, env)

	// Logged in through A, known to B at once; logged out through B, gone
	// from A at once.
	l, _ := a.login(t, "alice", testPassword)
	if code, user := b.auth(t, l.Session.Value); code != http.StatusOK || user != "alice" {
		t.Fatalf("B: /auth with A's session = %d %q, want 200 alice", code, user)
	}
	r := b.do(t, "DELETE", "http://login.example.test/api/session", "", map[string]string{
		"Cookie": "sso_session=" + l.Session.Value, "X-CSRF-Token": l.CSRF,
	})
	if r.status != http.StatusNoContent {
		t.Fatalf("B: DELETE /api/session = %d, want 204; body %s", r.status, r.body)
	}
	if code, _ := a.auth(t, l.Session.Value); code != http.StatusUnauthorized {
		t.Fatalf("A: /auth after logout through B = %d, want 401", code)
	}

	// A restart keeps the session.
	l, _ = a.login(t, "alice", testPassword)
	a.stop(t)
	a = start(t, env)
	if code, user := a.auth(t, l.Session.Value); code != http.StatusOK || user != "alice" {
		t.Fatalf("A after a restart: /auth = %d %q, want 200 alice", code, user)
	}

	// A new signing key with the old one still listed: still fine.
	a.stop(t)
	env["SSO_SECRET_KEYS"] = newKey + "," + oldKey
	a = start(t, env)
	if code, _ := a.auth(t, l.Session.Value); code != http.StatusOK {
		t.Fatalf("A with keys new,old: /auth = %d, want 200", code)
	}
	// The old key removed: its cookies are refused, while B, still on the
	// old key, accepts the very same session.
	a.stop(t)
	env["SSO_SECRET_KEYS"] = newKey
	a = start(t, env)
	if code, _ := a.auth(t, l.Session.Value); code != http.StatusUnauthorized {
		t.Errorf("A without the old key: /auth = %d, want 401", code)
	}
	if code, _ := b.auth(t, l.Session.Value); code != http.StatusOK {
		t.Errorf("B with the old key: /auth = %d, want 200", code)
	}
	// A session made with the new key works on A.
	l2, _ := a.login(t, "alice", testPassword)
	if code, _ := a.auth(t, l2.Session.Value); code != http.StatusOK {
		t.Errorf("A: /auth with a new-key session = %d, want 200", code)
	}
}

// Two instances on one Redis share login bans: failures counted by one ban
// the name on the other, and the keys in Redis carry no user name.
func TestRedisSharedBans(t *testing.T) {
	for _, mode := range []string{"standalone", "cluster"} {
		t.Run(mode, func(t *testing.T) {
			env := prodEnv(t)
			var addr string
			if mode == "cluster" {
				addr = testredis.StartCluster(t)
				env["SSO_REDIS_CLUSTER_ADDRS"] = addr
			} else {
				addr = testredis.Start(t)
				env["SSO_REDIS_URL"] = "redis://" + addr + "/0"
			}
			env["SSO_LOGIN_MAX_RETRIES"] = "3"
			env["SSO_LOGIN_BAN_TIME"] = "10m"
			a := start(t, env)
			b := start(t, env)
			try := func(in *instance, user, pw string) result {
				t.Helper()
				return in.do(t, "POST", "http://login.example.test/api/session", `{"username":"`+user+`","password":"`+pw+`"}`, nil)
			}
			for i, in := range []*instance{a, b, a} {
				if r := try(in, "alice", "wrong"); r.status != http.StatusUnauthorized {
					t.Fatalf("failure %d: POST /api/session = %d, want 401; body %s", i+1, r.status, r.body)
				}
			}
			for name, in := range map[string]*instance{"A": a, "B": b} {
				r := try(in, "alice", testPassword)
				if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), `"too_many_attempts"`) {
					t.Errorf("%s: right password after 3 failures = %d %s, want 429 too_many_attempts", name, r.status, r.body)
				}
				if ra := r.header.Get("Retry-After"); ra != "600" && ra != "599" {
					t.Errorf("%s: Retry-After = %q, want about 600", name, ra)
				}
			}

			c := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}, IsClusterMode: mode == "cluster"})
			t.Cleanup(func() { c.Close() })
			var keys []string
			scan := func(ctx context.Context, c *redis.Client) error {
				k, err := c.Keys(ctx, "sso:rl:*").Result()
				keys = append(keys, k...)
				return err
			}
			var err error
			if cc, ok := c.(*redis.ClusterClient); ok {
				err = cc.ForEachMaster(context.Background(), scan)
			} else {
				err = scan(context.Background(), c.(*redis.Client))
			}
			if err != nil {
				t.Fatal(err)
			}
			// A count and a ban for the name, a count for the IP (3 of its 12).
			if len(keys) != 3 {
				t.Errorf("regulation keys = %q, want 3", keys)
			}
			for _, k := range keys {
				if strings.Contains(strings.ToLower(k), "alice") {
					t.Errorf("Redis key %q holds the user name", k)
				}
			}
		})
	}
}
