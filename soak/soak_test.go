package soak

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/example/sso/internal/testredis"
)

// The soak's parameters. make test runs the defaults; make soak sets them.
const (
	clientsEnv      = "SSO_SOAK_CLIENTS"  // concurrent clients, default 8
	durationEnv     = "SSO_SOAK_DURATION" // the run, default 6s; Redis is killed after a third of it
	downtimeEnv     = "SSO_SOAK_DOWNTIME" // how long Redis stays down, default 1s
	defaultClients  = 8
	defaultDuration = 6 * time.Second
	defaultDowntime = time.Second
)

// TestSoak runs many clients through two sso instances on one Redis, and
// kills Redis (SIGKILL) a third of the way through, then starts it again on
// the same port. Redis runs with AOF and appendfsync always: it writes and
// fsyncs every write before it answers, so nothing it acknowledged is lost
// in the crash, and every session made and not logged out must still
// answer 200 afterwards, and every one logged out must still be refused. (A
// SIGKILL spares the kernel's page cache, so appendfsync everysec survives
// it too; always also survives the machine's crash. RDB snapshots do not:
// run with --save "1 1" instead, this test sees logged-out sessions come
// back, wrong 200s, and lost logins.) A request that takes longer than
// requestTimeout is a hang and fails the test.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and two sso processes and runs them under load")
	}
	clients := envInt(t, clientsEnv, defaultClients)
	dur := envDuration(t, durationEnv, defaultDuration)
	down := envDuration(t, downtimeEnv, defaultDowntime)
	began := time.Now()

	srv := testredis.StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
	env := baseEnv(writeUsers(t, clients))
	env["SSO_REDIS_URL"] = "redis://" + srv.Addr + "/0"
	a := startSSO(t, "sso A", env, clients)
	b := startSSO(t, "sso B", env, clients)

	// The hard deadline: the run, the check after it, and a minute.
	ctx, cancel := context.WithTimeout(context.Background(), dur+2*time.Minute)
	defer cancel()
	w := newWorkload(t, []*instance{a, b}, clients)
	runStart := time.Now()
	w.start(ctx)
	time.Sleep(dur / 3)
	srv.Kill()
	w.markNow()
	time.Sleep(down)
	srv.Restart()
	restarted := time.Since(w.mark)
	if rest := dur - time.Since(runStart); rest > 0 {
		time.Sleep(rest)
	}
	// Past the run's length, wait (under load) for both instances to be
	// back, so that the check below sees a store that answers.
	if !w.waitRecovered(time.Minute) {
		t.Errorf("an instance still answers no 200 a minute after Redis came back")
	}
	halted := make(chan struct{})
	go func() { w.halt(); close(halted) }()
	select {
	case <-halted:
	case <-ctx.Done():
		t.Fatalf("clients still running at the deadline: a request hangs")
	}
	f := w.verify(ctx)

	t.Logf("soak: %s", f)
	t.Logf("soak: %d clients for %v; Redis (AOF, appendfsync always) killed at %v and answering again %v later; in all %v",
		clients, dur, (dur / 3).Round(time.Millisecond), restarted.Round(10*time.Millisecond), time.Since(began).Round(100*time.Millisecond))
	f.check(t)
	if lost := f.LostBefore + f.LostAfter; lost != 0 {
		t.Errorf("%d sessions lost (%d made before the crash), want none with appendfsync always", lost, f.LostBefore)
	}
	if f.Refused != 0 {
		t.Errorf("%d 401s for sessions never logged out during the run, want none", f.Refused)
	}
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 60s", name, v)
	}
	return d
}
