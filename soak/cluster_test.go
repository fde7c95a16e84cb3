package soak

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/internal/testredis"
)

// TestCluster runs two sso instances on a cluster of three masters, each
// with a replica. First every endpoint that reads or writes several keys
// (which live in different slots, on different masters): logins, the
// per-user index, revocation, API keys, login regulation. Then, with
// clients logging in and out through both instances, the slot of a live
// session moves to another master (ASK while its keys move, MOVED after),
// so does the slot of its user's index, the master holding it fails over
// to its replica (CLUSTER FAILOVER, which loses nothing), and finally that
// master is killed and its replica takes over. The session answers
// throughout, as go-redis follows MOVED and ASK and reloads the slot map.
//
// The crash at the end is an asynchronous failover like Sentinel's (see
// TestSentinelFailover): writes acknowledged just before it may be lost,
// so sessions made before it are counted, not asserted.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six redis-servers and two sso processes")
	}
	began := time.Now()
	c := testredis.StartClusterOf(t, 3, 1)
	const clients = 6
	victim := userName(clients) // regulation bans this one, no client logs in as it
	env := baseEnv(writeUsers(t, clients+1))
	env["SSO_REDIS_CLUSTER_ADDRS"] = strings.Join(c.Addrs(), ",")
	env["SSO_LOGIN_MAX_RETRIES"] = "3"
	a := startSSO(t, "sso A", env, clients)
	b := startSSO(t, "sso B", env, clients)
	ins := []*instance{a, b}
	setup := time.Since(began)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Every instance answers /auth for c with want (and alice for a 200).
	expect := func(what string, c cookie, want int) {
		t.Helper()
		for _, in := range ins {
			r := in.auth(ctx, c)
			// A revocation through the other instance may take the
			// documented window to reach this one's auth cache.
			for end := time.Now().Add(RevocationWindow); want == http.StatusUnauthorized && r.status == http.StatusOK && time.Now().Before(end); {
				time.Sleep(10 * time.Millisecond)
				r = in.auth(ctx, c)
			}
			if r.status != want || (want == http.StatusOK && r.header.Get("X-Auth-User") != "alice") {
				t.Errorf("%s: %s /auth = %d X-Auth-User %q, want %d", what, in.name, r.status, r.header.Get("X-Auth-User"), want)
			}
		}
	}
	type listed struct {
		ID      string `json:"id"`
		Current bool   `json:"current"`
	}
	// The sessions GET /api/sessions lists through in for c.
	list := func(what string, in *instance, c cookie) []listed {
		t.Helper()
		r := in.api(ctx, http.MethodGet, "/api/sessions", "", c)
		var out struct{ Sessions []listed }
		if r.status != http.StatusOK || json.Unmarshal(r.body, &out) != nil {
			t.Fatalf("%s: %s GET /api/sessions = %s, want 200 with a list", what, in.name, r)
		}
		return out.Sessions
	}
	current := func(what string, in *instance, c cookie) string {
		t.Helper()
		for _, s := range list(what, in, c) {
			if s.Current {
				return s.ID
			}
		}
		t.Fatalf("%s: GET /api/sessions marks no session current", what)
		return ""
	}

	// Logins through both instances; each session answers through both.
	var alice []cookie
	for i := range 3 {
		s, r := ins[i%2].login(ctx, "alice", password)
		if r.status != http.StatusCreated {
			t.Fatalf("%s: login %d = %s, want 201", ins[i%2].name, i+1, r)
		}
		alice = append(alice, s)
	}
	for i, s := range alice {
		expect("login "+string(rune('1'+i)), s, http.StatusOK)
	}
	if got := list("three logins", b, alice[0]); len(got) != 3 {
		t.Fatalf("GET /api/sessions after three logins lists %d, want 3", len(got))
	}

	// Revoking one by id through A, logging out another through B: both
	// are refused everywhere, and the index forgets them.
	id0, id1 := current("first", a, alice[0]), current("second", a, alice[1])
	if r := a.api(ctx, http.MethodDelete, "/api/sessions/"+id1, "", alice[0]); r.status != http.StatusNoContent {
		t.Fatalf("A: DELETE /api/sessions/{id} = %s, want 204", r)
	}
	expect("revoked by id", alice[1], http.StatusUnauthorized)
	if r := b.logout(ctx, alice[2]); r.status != http.StatusNoContent {
		t.Fatalf("B: DELETE /api/session = %s, want 204", r)
	}
	expect("logged out through B", alice[2], http.StatusUnauthorized)
	if got := list("after revocation", b, alice[0]); len(got) != 1 || got[0].ID != id0 {
		t.Fatalf("GET /api/sessions after revocation = %+v, want only %s", got, id0)
	}

	// An API key made through A works through B.
	r := a.api(ctx, http.MethodPost, "/api/keys", `{"name":"soak"}`, alice[0])
	var key struct{ ID, Key string }
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &key) != nil || key.Key == "" {
		t.Fatalf("A: POST /api/keys = %s, want 201 with a key", r)
	}
	bearer := func(what string) {
		t.Helper()
		for _, in := range ins {
			r := in.do(ctx, http.MethodGet, "api.example.test", "/auth", "", map[string]string{"Authorization": "Bearer " + key.Key})
			if r.status != http.StatusOK || r.header.Get("X-Auth-User") != "alice" {
				t.Errorf("%s: %s /auth with the API key = %d %q, want 200 alice", what, in.name, r.status, r.header.Get("X-Auth-User"))
			}
		}
	}
	bearer("new key")

	// Regulation: failures counted through A and B ban the name on both.
	for i := range 3 {
		if _, r := ins[i%2].login(ctx, victim, "wrong"); r.status != http.StatusUnauthorized {
			t.Fatalf("%s: wrong password %d = %s, want 401", ins[i%2].name, i+1, r)
		}
	}
	for _, in := range ins {
		if _, r := in.login(ctx, victim, password); r.status != http.StatusTooManyRequests {
			t.Errorf("%s: right password after 3 failures = %s, want 429", in.name, r)
		}
	}

	// From here on, clients log in and out through both instances.
	w := newWorkload(t, ins, clients)
	w.start(ctx)
	defer func() {
		select {
		case <-w.stop:
		default:
			w.halt()
		}
	}()
	time.Sleep(time.Second)

	// Move the slot of alice's session to another master. Half-way, the
	// key is on the new master and the old one answers ASK for it.
	// The key names are redisstore's layout (sso:s:<id>, sso:u:<user>:s).
	sessKey := "sso:s:" + id0
	indexKey := "sso:u:" + base64.RawURLEncoding.EncodeToString([]byte("alice")) + ":s"
	move := func(key string, half bool) *testredis.Server {
		t.Helper()
		slot, err := c.KeySlot(key)
		if err != nil {
			t.Fatal(err)
		}
		owner, err := c.Owner(slot)
		if err != nil {
			t.Fatal(err)
		}
		to := c.Masters[0]
		for _, m := range c.Masters {
			if m != owner {
				to = m
				break
			}
		}
		m, err := c.Migrate(slot, to)
		if err != nil {
			t.Fatal(err)
		}
		moved, err := m.MoveKeys(0)
		if err != nil {
			t.Fatal(err)
		}
		if moved == 0 {
			t.Fatalf("slot %d of %s held no key to move: has redisstore's key layout changed?", slot, key)
		}
		if half {
			expect("slot migrating (ASK)", alice[0], http.StatusOK)
			list("slot migrating (ASK)", a, alice[0])
			bearer("slot migrating (ASK)")
		}
		if err := m.Finish(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		t.Logf("moved slot %d (%d keys, %s among them) from %s to %s", slot, moved, key, owner.Addr, to.Addr)
		return to
	}
	owner := move(sessKey, true)
	expect("slot moved (MOVED)", alice[0], http.StatusOK)
	move(indexKey, false)
	if got := list("index moved", b, alice[0]); len(got) != 1 || got[0].ID != id0 {
		t.Errorf("GET /api/sessions after its slot moved = %+v, want only %s", got, id0)
	}
	bearer("slots moved")

	// The master holding the session hands over to its replica.
	replica, err := c.ReplicaOf(owner)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Failover(replica, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("manual failover from %s to %s", owner.Addr, replica.Addr)
	expect("after CLUSTER FAILOVER", alice[0], http.StatusOK)
	bearer("after CLUSTER FAILOVER")

	// Then that master crashes; its replica (the old master) takes over
	// after cluster-node-timeout. Until then, /auth answers 503 for every
	// session, not only that master's: with cluster-require-full-coverage
	// (the default) the whole cluster refuses commands.
	replica.Kill()
	w.markNow()
	if err := c.WaitHealthy(time.Minute); err != nil {
		t.Fatalf("after the crash of %s: %v", replica.Addr, err)
	}
	promoted := time.Since(w.mark)
	// Each instance must learn who owns the crashed master's slots now;
	// until then /auth answers 503 for sessions there. go-redis alone
	// would take up to a minute (see cmd/sso's clusterReloadInterval).
	for _, in := range ins {
		deadline := time.Now().Add(30 * time.Second)
		for {
			r := in.auth(ctx, alice[0])
			if r.status != http.StatusServiceUnavailable {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: /auth for a session on the crashed master's slots still answers 503 30 s after the cluster recovered", in.name)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !w.waitRecovered(time.Minute) {
		t.Errorf("an instance still answers no 200 a minute after the failover")
	}
	time.Sleep(2 * time.Second)
	w.halt()
	expect("after the crash", alice[0], http.StatusOK)
	bearer("after the crash")

	// The index and revocation still work on the new topology: a new
	// session, then every other revoked through B.
	s, r := a.login(ctx, "alice", password)
	if r.status != http.StatusCreated {
		t.Fatalf("A: login after the crash = %s, want 201", r)
	}
	if got := list("after the crash", b, s); len(got) != 2 {
		t.Errorf("GET /api/sessions after the crash lists %d, want 2", len(got))
	}
	if r := b.api(ctx, http.MethodDelete, "/api/sessions", "", s); r.status != http.StatusOK || !strings.Contains(string(r.body), `"revoked":1`) {
		t.Errorf("B: DELETE /api/sessions = %s, want 200 revoked 1", r)
	}
	expect("revoked after the crash", alice[0], http.StatusUnauthorized)
	if r := a.api(ctx, http.MethodDelete, "/api/keys/"+key.ID, "", s); r.status/100 != 2 {
		t.Errorf("A: DELETE /api/keys/{id} = %s, want 2xx", r)
	}
	for _, in := range ins {
		ask := func() answer {
			return in.do(ctx, http.MethodGet, "api.example.test", "/auth", "", map[string]string{"Authorization": "Bearer " + key.Key})
		}
		r := ask()
		for end := time.Now().Add(RevocationWindow); r.status == http.StatusOK && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
			r = ask()
		}
		if r.status != http.StatusUnauthorized {
			t.Errorf("%s: /auth with a deleted API key = %d, want 401 within %v", in.name, r.status, RevocationWindow)
		}
	}

	f := w.verify(ctx)
	t.Logf("cluster: %s", f)
	t.Logf("cluster: the crashed master's replica took over %v after the crash; set-up %v, in all %v",
		promoted.Round(10*time.Millisecond), setup.Round(100*time.Millisecond), time.Since(began).Round(100*time.Millisecond))
	f.check(t)
	if f.LostAfter != 0 {
		t.Errorf("%d sessions made after the crash were lost, want none", f.LostAfter)
	}
}
