package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/internal/testredis"
)

// sessionKeys lists the session records in the Redis at addr, through a
// plain client: what sso wrote, not what sso says it wrote.
func sessionKeys(t *testing.T, addr, password string) []string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := c.Keys(ctx, "sso:s:*").Result()
	if err != nil {
		t.Fatalf("KEYS sso:s:* on %s: %v", addr, err)
	}
	return keys
}

// sessionFlow logs alice in, checks /auth accepts the cookie and that
// exactly one session record landed in the Redis at dataAddr, and returns
// the login.
func sessionFlow(t *testing.T, in *instance, dataAddr, password string) login {
	t.Helper()
	l, _ := in.login(t, "alice", testPassword)
	if code, user := in.auth(t, l.Session.Value); code != http.StatusOK || user != "alice" {
		t.Fatalf("/auth with the session cookie = %d %q, want 200 alice", code, user)
	}
	if keys := sessionKeys(t, dataAddr, password); len(keys) != 1 {
		t.Fatalf("session keys in Redis %s after one login = %q, want one sso:s:<id>", dataAddr, keys)
	}
	return l
}

func TestRedisSentinel(t *testing.T) {
	master, sentinel, masterAddr := testredis.StartSentinel(t)
	env := prodEnv(t)
	env["SSO_REDIS_SENTINEL_MASTER"] = master
	env["SSO_REDIS_SENTINEL_ADDRS"] = sentinel
	in := start(t, env)
	l := sessionFlow(t, in, masterAddr, "")

	// Logout reaches the master too.
	r := in.do(t, "DELETE", "http://login.example.test/api/session", "", map[string]string{
		"Cookie": "sso_session=" + l.Session.Value, "X-CSRF-Token": l.CSRF,
	})
	if r.status != http.StatusNoContent {
		t.Fatalf("DELETE /api/session = %d, want 204; body %s", r.status, r.body)
	}
	if keys := sessionKeys(t, masterAddr, ""); len(keys) != 0 {
		t.Errorf("session keys after logout = %q, want none", keys)
	}
}

// A one-node cluster refuses any command whose keys span hash slots, so
// this checks the wiring and redisstore's key layout together, through
// every endpoint that reads or writes several keys.
func TestRedisCluster(t *testing.T) {
	addr := testredis.StartCluster(t)
	env := prodEnv(t)
	env["SSO_REDIS_CLUSTER_ADDRS"] = addr
	in := start(t, env)
	l := sessionFlow(t, in, addr, "")
	cookie := "sso_session=" + l.Session.Value

	// A second session for the same user, then the list of both: the
	// per-user index and the records it points to.
	l2, _ := in.login(t, "alice", testPassword)
	r := in.do(t, "GET", "http://login.example.test/api/sessions", "", map[string]string{"Cookie": cookie})
	var list struct{ Sessions []json.RawMessage }
	if r.status != http.StatusOK || json.Unmarshal(r.body, &list) != nil || len(list.Sessions) != 2 {
		t.Fatalf("GET /api/sessions = %d %s, want 200 with 2 sessions", r.status, r.body)
	}

	// API keys: created with the session and its CSRF token, then used alone.
	r = in.do(t, "POST", "http://login.example.test/api/keys", `{"name":"ci"}`, map[string]string{
		"Cookie": cookie, "X-CSRF-Token": l.CSRF,
	})
	var key struct{ ID, Key string }
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &key) != nil || key.Key == "" {
		t.Fatalf("POST /api/keys = %d %s, want 201 with a key", r.status, r.body)
	}
	r = in.do(t, "GET", "http://api.example.test/auth", "", map[string]string{"Authorization": "Bearer " + key.Key})
	if r.status != http.StatusOK || r.header.Get("X-Auth-User") != "alice" {
		t.Fatalf("/auth with the API key = %d %q, want 200 alice", r.status, r.header.Get("X-Auth-User"))
	}
	r = in.do(t, "GET", "http://login.example.test/api/keys", "", map[string]string{"Cookie": cookie})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), key.ID) {
		t.Errorf("GET /api/keys = %d %s, want 200 listing %s", r.status, r.body, key.ID)
	}

	// Revoking every other session, then the key.
	r = in.do(t, "DELETE", "http://login.example.test/api/sessions", "", map[string]string{"Cookie": cookie, "X-CSRF-Token": l.CSRF})
	if r.status != http.StatusOK {
		t.Fatalf("DELETE /api/sessions = %d %s, want 200", r.status, r.body)
	}
	if code, _ := in.auth(t, l2.Session.Value); code != http.StatusUnauthorized {
		t.Errorf("/auth with a revoked session = %d, want 401", code)
	}
	r = in.do(t, "DELETE", "http://login.example.test/api/keys/"+key.ID, "", map[string]string{"Cookie": cookie, "X-CSRF-Token": l.CSRF})
	if r.status/100 != 2 {
		t.Fatalf("DELETE /api/keys/%s = %d %s, want 2xx", key.ID, r.status, r.body)
	}
	r = in.do(t, "GET", "http://api.example.test/auth", "", map[string]string{"Authorization": "Bearer " + key.Key})
	if r.status != http.StatusUnauthorized {
		t.Errorf("/auth with a deleted API key = %d, want 401", r.status)
	}
}

// refuseRedis runs serve with env and checks that it refuses to start,
// soon, with one line that names setting and shows none of secrets. It
// returns the line.
func refuseRedis(t *testing.T, env map[string]string, setting string, secrets ...string) string {
	t.Helper()
	var stderr testproc.Buffer
	listened := false
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := serve(ctx, nil, envFunc(env), &stderr, &stderr, func(net.Addr) { listened = true })
	took := time.Since(began)
	if err == nil {
		t.Fatal("serve returned nil, want a refusal")
	}
	t.Logf("refused after %v: %v", took.Round(time.Millisecond), err)
	if listened {
		t.Error("serve announced listening before refusing")
	}
	// The start-up probe allows Redis 5s; a refusal much later means
	// something waits longer than the probe does.
	if took > 8*time.Second {
		t.Errorf("refusal took %v, want a few seconds", took)
	}
	checkOneLine(t, err.Error(), setting)
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) || strings.Contains(stderr.String(), s) {
			t.Errorf("the refusal shows the password %q: %q; stderr %q", s, err, stderr.String())
		}
	}
	return err.Error()
}

func TestRedisPassword(t *testing.T) {
	const (
		pw    = "correct-horse-battery"
		wrong = "wrong-staple-pw"
	)
	t.Run("url", func(t *testing.T) {
		addr := testredis.StartArgs(t, "--requirepass", pw)
		env := prodEnv(t)
		env["SSO_REDIS_URL"] = "redis://:" + pw + "@" + addr + "/0"
		in := start(t, env)
		sessionFlow(t, in, addr, pw)
		if strings.Contains(in.stderr.String(), pw) {
			t.Errorf("the log shows the password:\n%s", in.stderr.String())
		}
		in.stop(t)

		env["SSO_REDIS_URL"] = "redis://:" + wrong + "@" + addr + "/0"
		refuseRedis(t, env, "SSO_REDIS_URL", wrong, pw)
		env["SSO_REDIS_URL"] = "redis://" + addr + "/0"
		refuseRedis(t, env, "SSO_REDIS_URL", pw)
	})
	t.Run("cluster", func(t *testing.T) {
		addr := testredis.StartClusterAuth(t, pw)
		env := prodEnv(t)
		env["SSO_REDIS_CLUSTER_ADDRS"] = addr
		env["SSO_REDIS_PASSWORD"] = pw
		in := start(t, env)
		sessionFlow(t, in, addr, pw)
		in.stop(t)

		env["SSO_REDIS_PASSWORD"] = wrong
		if msg := refuseRedis(t, env, "SSO_REDIS_CLUSTER_ADDRS", wrong, pw); !strings.Contains(msg, "SSO_REDIS_PASSWORD") {
			t.Errorf("refusal %q does not name SSO_REDIS_PASSWORD", msg)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		master, sentinel, masterAddr := testredis.StartSentinelAuth(t, pw)
		env := prodEnv(t)
		env["SSO_REDIS_SENTINEL_MASTER"] = master
		env["SSO_REDIS_SENTINEL_ADDRS"] = sentinel
		env["SSO_REDIS_PASSWORD"] = pw
		in := start(t, env)
		sessionFlow(t, in, masterAddr, pw)
		in.stop(t)

		env["SSO_REDIS_PASSWORD"] = wrong
		if msg := refuseRedis(t, env, "SSO_REDIS_SENTINEL", wrong, pw); !strings.Contains(msg, "SSO_REDIS_PASSWORD") {
			t.Errorf("refusal %q does not name SSO_REDIS_PASSWORD", msg)
		}
	})
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(testproc.FreePort(t)))
}

// silentAddr returns a loopback address that accepts connections and never
// answers, like a Redis behind a dead network path: only the start-up
// probe's own timeout ends the wait.
func silentAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		var conns []net.Conn
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				close(done)
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

func TestRedisDown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		set     func(t *testing.T) map[string]string
		setting string
	}{
		{"url closed", func(t *testing.T) map[string]string {
			return map[string]string{"SSO_REDIS_URL": "redis://" + closedAddr(t) + "/0"}
		}, "SSO_REDIS_URL"},
		{"url silent", func(t *testing.T) map[string]string {
			return map[string]string{"SSO_REDIS_URL": "redis://" + silentAddr(t) + "/0"}
		}, "SSO_REDIS_URL"},
		{"cluster closed", func(t *testing.T) map[string]string {
			return map[string]string{"SSO_REDIS_CLUSTER_ADDRS": closedAddr(t)}
		}, "SSO_REDIS_CLUSTER_ADDRS"},
		{"sentinel closed", func(t *testing.T) map[string]string {
			return map[string]string{"SSO_REDIS_SENTINEL_MASTER": "mymaster", "SSO_REDIS_SENTINEL_ADDRS": closedAddr(t)}
		}, "SSO_REDIS_SENTINEL"},
		{"sentinel up, master closed", func(t *testing.T) map[string]string {
			// The sentinel answers, but the master it names is gone.
			_, sentinel, masterAddr := testredis.StartSentinel(t)
			c := redis.NewClient(&redis.Options{Addr: masterAddr})
			defer c.Close()
			_ = c.ShutdownNoSave(context.Background()).Err() // the connection drops: no reply
			if err := c.Ping(context.Background()).Err(); err == nil {
				t.Fatalf("master %s still answers after SHUTDOWN", masterAddr)
			}
			return map[string]string{"SSO_REDIS_SENTINEL_MASTER": testredis.SentinelMaster, "SSO_REDIS_SENTINEL_ADDRS": sentinel}
		}, "SSO_REDIS_SENTINEL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := prodEnv(t)
			for k, v := range tc.set(t) {
				env[k] = v
			}
			refuseRedis(t, env, tc.setting)
		})
	}
}
