package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/example/sso/internal/testredis"
)

const keyHits = `sso_auth_cache_lookups_total{kind="key",result="hit"}`

// hits is how many look-ups the instance's cache has answered.
func (in *instance) hits(t *testing.T) float64 {
	t.Helper()
	s, _ := in.metric(t, sessionHits)
	k, _ := in.metric(t, keyHits)
	return s + k
}

// waitUsable waits until the instance's cache is confirmed by its
// subscription.
func waitUsable(t *testing.T, in *instance) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, _ := in.metric(t, "sso_auth_cache_usable"); v == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the auth cache is not usable 5s after start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// authWith asks /auth with the given headers.
func (in *instance) authWith(t *testing.T, h map[string]string) int {
	t.Helper()
	return in.do(t, "GET", "http://api.example.test/auth", "", h).status
}

// warm makes the instance answer h from its cache: 200, then a cache hit.
func warm(t *testing.T, in *instance, what string, h map[string]string) {
	t.Helper()
	before := in.hits(t)
	for range 4 {
		if code := in.authWith(t, h); code != http.StatusOK {
			t.Fatalf("%s: /auth = %d, want 200", what, code)
		}
		if in.hits(t) > before {
			return
		}
	}
	t.Fatalf("%s: /auth never answered from the cache", what)
}

// refusedWithin polls /auth with h until it answers 401 and returns how
// long after since that was; it fails the test past limit.
func refusedWithin(t *testing.T, in *instance, what string, h map[string]string, since time.Time, limit time.Duration) time.Duration {
	t.Helper()
	for {
		code := in.authWith(t, h)
		took := time.Since(since)
		if code == http.StatusUnauthorized {
			if took > limit {
				t.Errorf("%s: refused after %v, want within %v", what, took, limit)
			}
			return took
		}
		if code != http.StatusOK {
			t.Fatalf("%s: /auth = %d, want 200 or 401", what, code)
		}
		if took > limit+2*time.Second {
			t.Fatalf("%s: still 200 %v after the revocation", what, took)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func cookie(l login) map[string]string {
	return map[string]string{"Cookie": "sso_session=" + l.Session.Value}
}

func withCSRF(l login) map[string]string {
	return map[string]string{"Cookie": "sso_session=" + l.Session.Value, "X-CSRF-Token": l.CSRF}
}

// currentID returns the store id of l's session, as GET /api/sessions
// lists it.
func currentID(t *testing.T, in *instance, l login) string {
	t.Helper()
	r := in.do(t, "GET", "http://login.example.test/api/sessions", "", cookie(l))
	var list struct {
		Sessions []struct {
			ID      string
			Current bool
		}
	}
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatalf("GET /api/sessions = %d %s: %v", r.status, r.body, err)
	}
	for _, s := range list.Sessions {
		if s.Current {
			return s.ID
		}
	}
	t.Fatalf("GET /api/sessions lists no current session: %s", r.body)
	return ""
}

// Two instances on one Redis, each caching for a minute: whatever is
// revoked through A, B has cached and refuses within one second, which
// only the invalidation can explain. B's own copy of the users file keeps
// alice and bob throughout: the removal reaches B through the store and
// the invalidation alone.
func TestAuthCacheRevocationAcrossInstances(t *testing.T) {
	for _, mode := range []string{"standalone", "cluster"} {
		t.Run(mode, func(t *testing.T) { revocationAcrossInstances(t, mode) })
	}
}

func revocationAcrossInstances(t *testing.T, mode string) {
	lu := newLiveUsers(t)
	dir := t.TempDir()
	pathA, pathB := filepath.Join(dir, "a.yml"), filepath.Join(dir, "b.yml")
	save(t, pathA, lu.render("alice", "bob"))
	save(t, pathB, lu.render("alice", "bob"))
	env := prodEnv(t)
	if mode == "cluster" {
		env["SSO_REDIS_CLUSTER_ADDRS"] = testredis.StartCluster(t)
	} else {
		env["SSO_REDIS_URL"] = "redis://" + testredis.Start(t) + "/0"
	}
	env["SSO_AUTH_CACHE"] = "1m"
	envB := maps(env)
	env["SSO_USERS_FILE"], envB["SSO_USERS_FILE"] = pathA, pathB
	a, b := start(t, env), start(t, envB)
	waitUsable(t, a)
	waitUsable(t, b)
	const limit = time.Second
	var worst time.Duration
	note := func(what string, d time.Duration) {
		t.Logf("%s through A: refused by B after %v", what, d.Round(100*time.Microsecond))
		worst = max(worst, d)
	}

	// Logout, and the client JWT minted from that session.
	l1, _ := a.login(t, "alice", testPassword)
	r := a.do(t, "POST", "http://login.example.test/api/token", "", withCSRF(l1))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &tok) != nil {
		t.Fatalf("POST /api/token = %d %s", r.status, r.body)
	}
	jwt := map[string]string{"Authorization": "Bearer " + tok.AccessToken}
	warm(t, b, "cookie", cookie(l1))
	warm(t, b, "JWT", jwt)
	begin := time.Now()
	if r := a.do(t, "DELETE", "http://login.example.test/api/session", "", withCSRF(l1)); r.status != http.StatusNoContent {
		t.Fatalf("A: DELETE /api/session = %d", r.status)
	}
	note("logout", refusedWithin(t, b, "logout", cookie(l1), begin, limit))
	note("logout (JWT)", refusedWithin(t, b, "JWT after logout", jwt, begin, limit))

	// One session revoked by another of the same user.
	l2, _ := a.login(t, "alice", testPassword)
	l3, _ := a.login(t, "alice", testPassword)
	warm(t, b, "second session", cookie(l3))
	id := currentID(t, a, l3)
	begin = time.Now()
	if r := a.do(t, "DELETE", "http://login.example.test/api/sessions/"+id, "", withCSRF(l2)); r.status != http.StatusNoContent {
		t.Fatalf("A: DELETE /api/sessions/{id} = %d %s", r.status, r.body)
	}
	note("revoke one session", refusedWithin(t, b, "revoked session", cookie(l3), begin, limit))

	// All sessions but the current one.
	l4, _ := a.login(t, "alice", testPassword)
	warm(t, b, "other session", cookie(l4))
	warm(t, b, "current session", cookie(l2))
	begin = time.Now()
	if r := a.do(t, "DELETE", "http://login.example.test/api/sessions", "", withCSRF(l2)); r.status != http.StatusOK && r.status != http.StatusNoContent {
		t.Fatalf("A: DELETE /api/sessions = %d %s", r.status, r.body)
	}
	note("revoke all but current", refusedWithin(t, b, "other session", cookie(l4), begin, limit))
	if code := b.authWith(t, cookie(l2)); code != http.StatusOK {
		t.Errorf("B: the kept session = %d, want 200", code)
	}

	// An API key deleted.
	r = a.do(t, "POST", "http://login.example.test/api/keys", `{"name":"ci"}`, withCSRF(l2))
	var key struct{ ID, Key string }
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &key) != nil {
		t.Fatalf("POST /api/keys = %d %s", r.status, r.body)
	}
	apiKey := map[string]string{"X-API-Key": key.Key}
	warm(t, b, "API key", apiKey)
	begin = time.Now()
	if r := a.do(t, "DELETE", "http://login.example.test/api/keys/"+key.ID, "", withCSRF(l2)); r.status != http.StatusNoContent {
		t.Fatalf("A: DELETE /api/keys/{id} = %d %s", r.status, r.body)
	}
	note("delete API key", refusedWithin(t, b, "deleted key", apiKey, begin, limit))

	// bob removed from A's users file: A ends his sessions; B's file
	// still lists him.
	lb, _ := a.login(t, "bob", testPassword)
	warm(t, b, "bob", cookie(lb))
	save(t, pathA, lu.render("alice"))
	for a.authWith(t, cookie(lb)) != http.StatusUnauthorized {
		time.Sleep(5 * time.Millisecond)
	}
	begin = time.Now() // A reloaded: its DeleteUser follows at once
	note("remove a user from the users file", refusedWithin(t, b, "removed user", cookie(lb), begin, limit))
	t.Logf("slowest: %v (limit %v)", worst.Round(100*time.Microsecond), limit)
}

func maps(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// A Redis that stalls: cached 200s only while the last confirmation of the
// subscription vouches for them (under a second), then 503 from the store's
// deadline. A Redis killed: 503 at once, never a cached 200; the cache is
// used again once Redis is back. The figures are logged.
func TestAuthCacheStalledAndKilledRedis(t *testing.T) {
	rs := testredis.StartServer(t, "--enable-debug-command", "yes", "--appendonly", "yes", "--appendfsync", "always")
	env := prodEnv(t)
	env["SSO_REDIS_URL"] = "redis://" + rs.Addr + "/0"
	env["SSO_STORE_TIMEOUT"] = "300ms"
	env["SSO_AUTH_CACHE"] = "1m"
	in := start(t, env)
	waitUsable(t, in)
	l, _ := in.login(t, "alice", testPassword)
	warm(t, in, "before the stall", cookie(l))

	const stall = 3 * time.Second
	rc := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { _ = rc.Close() })
	slept := make(chan error, 1)
	begin := time.Now()
	go func() { slept <- rc.Do(context.Background(), "DEBUG", "SLEEP", stall.Seconds()).Err() }()
	var last200, first503 time.Duration
	for time.Since(begin) < stall-500*time.Millisecond {
		code, _ := in.auth(t, l.Session.Value)
		switch {
		case code == http.StatusOK && first503 == 0:
			last200 = time.Since(begin)
		case code == http.StatusServiceUnavailable && first503 == 0:
			first503 = time.Since(begin)
		case code != http.StatusServiceUnavailable:
			t.Fatalf("/auth during the stall, after a 503 = %d, want 503", code)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("stall of %v: cached 200 until %v into it, 503 from %v", stall, last200.Round(time.Millisecond), first503.Round(time.Millisecond))
	if first503 == 0 || last200 >= time.Second {
		t.Errorf("/auth answered from the cache %v into a stall, want under 1s", last200)
	}
	if err := <-slept; err != nil {
		t.Fatalf("DEBUG SLEEP: %v", err)
	}
	if d := recover200(t, in, l.Session.Value, "alice", 5*time.Second); d >= 0 {
		t.Logf("/auth 200 again %v after the stall ended", d.Round(time.Millisecond))
	}
	waitUsable(t, in)
	warm(t, in, "after the stall", cookie(l))

	// Killed: every answer is 503, never a cached 200.
	off := func() float64 {
		v, _ := in.metric(t, `sso_auth_cache_lookups_total{kind="session",result="off"}`)
		return v
	}
	offBefore := off()
	rs.Kill()
	begin = time.Now()
	n := 0
	for time.Since(begin) < 1500*time.Millisecond {
		if code, _ := in.auth(t, l.Session.Value); code != http.StatusServiceUnavailable {
			t.Fatalf("/auth %v after Redis was killed = %d, want 503", time.Since(begin), code)
		}
		n++
	}
	if v, _ := in.metric(t, "sso_auth_cache_usable"); v != 0 {
		t.Errorf("sso_auth_cache_usable with Redis killed = %v, want 0", v)
	}
	if d := off() - offBefore; d < float64(n) {
		t.Errorf("look-ups with the cache off = %v, want %d (every /auth)", d, n)
	}
	t.Logf("Redis killed: %d /auth in 1.5s, all 503", n)
	rs.Restart()
	back := time.Now()
	if d := recover200(t, in, l.Session.Value, "alice", 10*time.Second); d >= 0 {
		t.Logf("/auth 200 again %v after Redis restarted", time.Since(back).Round(time.Millisecond))
	}
	waitUsable(t, in)
	warm(t, in, "after the restart", cookie(l))
}

// Store reads as Redis counts them (INFO commandstats): ten /auth with one
// cookie cost one GET with the cache, ten with SSO_AUTH_CACHE=0.
func TestAuthCacheStoreReads(t *testing.T) {
	for _, tc := range []struct {
		cache string
		want  int
	}{{"1m", 1}, {"0", 10}} {
		t.Run("SSO_AUTH_CACHE="+tc.cache, func(t *testing.T) {
			addr := testredis.Start(t)
			env := prodEnv(t)
			env["SSO_REDIS_URL"] = "redis://" + addr + "/0"
			env["SSO_AUTH_CACHE"] = tc.cache
			in := start(t, env)
			if tc.cache != "0" {
				waitUsable(t, in)
			}
			l, _ := in.login(t, "alice", testPassword)
			time.Sleep(100 * time.Millisecond) // the login's own invalidation comes back
			rc := redis.NewClient(&redis.Options{Addr: addr})
			t.Cleanup(func() { _ = rc.Close() })
			ctx := context.Background()
			if err := rc.ConfigResetStat(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			for range 10 {
				if code, _ := in.auth(t, l.Session.Value); code != http.StatusOK {
					t.Fatalf("/auth = %d, want 200", code)
				}
			}
			info, err := rc.Info(ctx, "commandstats").Result()
			if err != nil {
				t.Fatal(err)
			}
			gets := 0
			if _, rest, ok := strings.Cut(info, "cmdstat_get:calls="); ok {
				gets, _ = strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
			}
			if gets != tc.want {
				t.Errorf("10 /auth: %d GETs in Redis, want %d", gets, tc.want)
			}
		})
	}
}

// A login beyond SSO_SESSION_MAX_PER_USER through A ends the user's oldest
// session, which B has cached: B refuses it within one second.
func TestAuthCacheCapEvictionAcrossInstances(t *testing.T) {
	env := prodEnv(t)
	env["SSO_REDIS_URL"] = "redis://" + testredis.Start(t) + "/0"
	env["SSO_AUTH_CACHE"] = "1m"
	env["SSO_SESSION_MAX_PER_USER"] = "1"
	a, b := start(t, env), start(t, env)
	waitUsable(t, a)
	waitUsable(t, b)
	l1, _ := a.login(t, "alice", testPassword)
	warm(t, b, "first session", cookie(l1))
	begin := time.Now()
	l2, _ := a.login(t, "alice", testPassword)
	d := refusedWithin(t, b, "evicted session", cookie(l1), begin, time.Second)
	t.Logf("login beyond the cap through A: the evicted session refused by B after %v", d.Round(100*time.Microsecond))
	if code := b.authWith(t, cookie(l2)); code != http.StatusOK {
		t.Errorf("B: the new session = %d, want 200", code)
	}
}

// Instance A's Redis user may not PUBLISH (an ACL): its logout, session
// revocation and key deletion end the session or key in the store but
// cannot tell B, which has them cached for a minute. A answers 503, and so
// does a retry (which publishes again rather than answering 204 or 404 on
// what is gone). Once A may publish again, its background retry reaches B,
// which refuses all three within seconds, not the minute of its cache.
func TestAuthCacheUnpublishedInvalidationRetried(t *testing.T) {
	addr := testredis.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rc.Close() })
	ctx := context.Background()
	// A may publish at start-up (it refuses to start otherwise:
	// TestAssembleRedisWithoutPublish); the right goes after.
	if err := rc.Do(ctx, "ACL", "SETUSER", "nopub", "on", ">nopubpw", "~*", "&*", "+@all").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	env := prodEnv(t)
	env["SSO_AUTH_CACHE"] = "1m"
	envA := maps(env)
	env["SSO_REDIS_URL"] = "redis://" + addr + "/0"
	envA["SSO_REDIS_URL"] = "redis://nopub:nopubpw@" + addr + "/0"
	a, b := start(t, envA), start(t, env)
	waitUsable(t, a)
	waitUsable(t, b)
	if err := rc.Do(ctx, "ACL", "SETUSER", "nopub", "-publish").Err(); err != nil {
		t.Fatalf("ACL SETUSER -publish: %v", err)
	}

	// Logins through B: A's own would fail to publish their invalidation.
	l1, _ := b.login(t, "alice", testPassword)
	l2, _ := b.login(t, "alice", testPassword)
	l3, _ := b.login(t, "alice", testPassword)
	r := b.do(t, "POST", "http://login.example.test/api/keys", `{"name":"ci"}`, withCSRF(l2))
	var key struct{ ID, Key string }
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &key) != nil {
		t.Fatalf("POST /api/keys = %d %s", r.status, r.body)
	}
	apiKey := map[string]string{"X-API-Key": key.Key}
	id3 := currentID(t, b, l3)
	warm(t, b, "logged out", cookie(l1))
	warm(t, b, "revoked", cookie(l3))
	warm(t, b, "API key", apiKey)

	revoke := []struct {
		what, method, url string
		h                 map[string]string
		done              int
	}{
		{"logout", "DELETE", "http://login.example.test/api/session", withCSRF(l1), http.StatusNoContent},
		{"revoke a session", "DELETE", "http://login.example.test/api/sessions/" + id3, withCSRF(l2), http.StatusNotFound},
		{"delete a key", "DELETE", "http://login.example.test/api/keys/" + key.ID, withCSRF(l2), http.StatusNotFound},
	}
	for _, rv := range revoke {
		for _, try := range []string{"first", "retry"} {
			if r := a.do(t, rv.method, rv.url, "", rv.h); r.status != http.StatusServiceUnavailable {
				t.Errorf("A: %s (%s) without PUBLISH = %d %s, want 503", rv.what, try, r.status, r.body)
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	for what, h := range map[string]map[string]string{"logged out": cookie(l1), "revoked": cookie(l3), "API key": apiKey} {
		if code := b.authWith(t, h); code != http.StatusOK {
			t.Fatalf("B: %s before A could publish = %d, want the cached 200 (the test shows nothing otherwise)", what, code)
		}
	}

	if err := rc.Do(ctx, "ACL", "SETUSER", "nopub", "+publish").Err(); err != nil {
		t.Fatalf("ACL SETUSER +publish: %v", err)
	}
	begin := time.Now()
	const limit = 3 * time.Second // the retry backs off to 1s between rounds
	for what, h := range map[string]map[string]string{"logged out": cookie(l1), "revoked": cookie(l3), "API key": apiKey} {
		d := refusedWithin(t, b, what, h, begin, limit)
		t.Logf("%s through A, published by its retry: refused by B %v after A could publish", what, d.Round(time.Millisecond))
	}
	// Now that A publishes, a retry gets the final answers.
	for _, rv := range revoke {
		if r := a.do(t, rv.method, rv.url, "", rv.h); r.status != rv.done {
			t.Errorf("A: %s retried with PUBLISH allowed = %d %s, want %d", rv.what, r.status, r.body, rv.done)
		}
	}
}
