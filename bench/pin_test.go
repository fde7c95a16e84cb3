//go:build bench

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/example/sso/nginx/nginxtest"
)

// pinning puts the server side (sso, its Redis, nginx, the baselines) on
// CPU 0 and wrk on CPU 1 with taskset, so that the load generator does not
// take the measured processes' CPU time, as the figures of issue 10 were
// measured. Off with fewer than 2 CPUs, without taskset, or with
// SSO_BENCH_PIN=0; the tables say which.
type pinning struct {
	taskset string // "" when off
	why     string // when off
}

const pinEnv = "SSO_BENCH_PIN"

func newPinning(t *testing.T) pinning {
	t.Helper()
	switch {
	case os.Getenv(pinEnv) == "0":
		return pinning{why: pinEnv + "=0"}
	case runtime.NumCPU() < 2:
		return pinning{why: "fewer than 2 CPUs"}
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return pinning{why: "no taskset (Debian: util-linux)"}
	}
	return pinning{taskset: ts}
}

func (p pinning) String() string {
	if p.taskset == "" {
		return "not pinned: " + p.why
	}
	return "server side pinned to CPU 0, wrk to CPU 1"
}

// server returns a command running bin on the server's CPU.
func (p pinning) server(bin string, args ...string) *exec.Cmd {
	if p.taskset == "" {
		return exec.Command(bin, args...)
	}
	// taskset execs bin: the pid stays the one /proc is read for.
	return exec.Command(p.taskset, append([]string{"-c", "0", bin}, args...)...)
}

// client returns a command running bin (wrk) on the client's CPU.
func (p pinning) client(ctx context.Context, bin string, args ...string) *exec.Cmd {
	if p.taskset == "" {
		return exec.CommandContext(ctx, bin, args...)
	}
	return exec.CommandContext(ctx, p.taskset, append([]string{"-c", "1", bin}, args...)...)
}

// pid moves a running process, every thread of it, to the server's CPU.
func (p pinning) pid(t *testing.T, what string, pid int) {
	t.Helper()
	if p.taskset == "" {
		return
	}
	if out, err := exec.Command(p.taskset, "-a", "-p", "-c", "0", strconv.Itoa(pid)).CombinedOutput(); err != nil {
		t.Fatalf("bench: pin %s (pid %d): %v\n%s", what, pid, err, out)
	}
}

// redis pins the redis-server at addr, found by its INFO process_id.
func (p pinning) redis(t *testing.T, addr string) {
	t.Helper()
	if p.taskset == "" {
		return
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		t.Fatalf("bench: INFO server: %v", err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("bench: INFO process_id %q: %v", v, err)
			}
			p.pid(t, "redis-server", pid)
			return
		}
	}
	t.Fatal("bench: INFO server has no process_id")
}

// nginx pins the master process of s (its pid file) and its workers (the
// master's children).
func (p pinning) nginx(t *testing.T, s *nginxtest.Server) {
	t.Helper()
	if p.taskset == "" {
		return
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, "nginx.pid"))
	if err != nil {
		t.Fatalf("bench: nginx pid: %v", err)
	}
	master, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("bench: nginx pid %q: %v", b, err)
	}
	p.pid(t, "nginx", master)
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", master, master))
	if err != nil {
		t.Fatalf("bench: nginx workers: %v", err)
	}
	for _, f := range strings.Fields(string(kids)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("bench: nginx worker %q: %v", f, err)
		}
		p.pid(t, "nginx worker", pid)
	}
}

// redisSizes reports MEMORY USAGE of one session key and of the bench
// user's session index (whose size grows with the user's sessions), as
// markdown. It runs after the logins of measureSessions.
func redisSizes(t *testing.T, addr string) string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := c.Keys(ctx, "sso:s:*").Result()
	if err != nil || len(sess) == 0 {
		t.Fatalf("bench: KEYS sso:s:*: %v (%d keys)", err, len(sess))
	}
	idx, err := c.Keys(ctx, "sso:u:*:s").Result()
	if err != nil || len(idx) == 0 {
		t.Fatalf("bench: KEYS sso:u:*:s: %v (%d keys)", err, len(idx))
	}
	usage := func(key string) int64 {
		n, err := c.MemoryUsage(ctx, key).Result()
		if err != nil {
			t.Fatalf("bench: MEMORY USAGE %s: %v", key, err)
		}
		return n
	}
	n, err := c.ZCard(ctx, idx[0]).Result()
	if err != nil {
		t.Fatalf("bench: ZCARD: %v", err)
	}
	return fmt.Sprintf("Redis `MEMORY USAGE`: one session key %d bytes; the user's session index %d bytes with %d sessions (the per-user cap).\n",
		usage(sess[0]), usage(idx[0]), n)
}
