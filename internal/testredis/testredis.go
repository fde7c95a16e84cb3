package testredis

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sso/internal/testproc"
)

// RequireEnv names the environment variable that turns a missing
// redis-server from a skip into a failure (set it in CI).
const RequireEnv = "SSO_REQUIRE_REDIS"

const startTimeout = 10 * time.Second

// Start starts redis-server on a free 127.0.0.1 port without persistence
// and returns its address. The server stops when the test ends.
func Start(t testing.TB) (addr string) {
	t.Helper()
	return StartArgs(t)
}

// StartArgs is Start with extra redis-server arguments, such as
// "--maxmemory", "10mb".
func StartArgs(t testing.TB, extra ...string) (addr string) {
	t.Helper()
	return StartServer(t, extra...).Addr
}

// Server is one redis-server that a test can crash (Kill), stop (Stop) and
// start again (Restart) on the same port, with the same arguments and data
// directory, so that what it persisted (with "--appendonly", "yes" or a
// "--save" rule) comes back.
type Server struct {
	// Addr is the server's 127.0.0.1:port; it stays the same over restarts.
	Addr string
	// Dir is the server's working directory: its RDB or AOF files, and a
	// cluster node's nodes.conf.
	Dir string

	t    testing.TB
	bin  string
	port int
	args []string

	mu   sync.Mutex
	proc *testproc.Proc
}

// StartServer is StartArgs returning the Server. Without persistence
// arguments, the server keeps nothing over a restart.
func StartServer(t testing.TB, extra ...string) *Server {
	t.Helper()
	bin := lookPath(t)
	dir := t.TempDir()
	// A free port can be taken between probing and binding: retry.
	var lastErr error
	for range 3 {
		port := testproc.FreePort(t)
		p, err := start(t, bin, dir, port, extra)
		if err == nil {
			return &Server{
				Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir,
				t: t, bin: bin, port: port, args: extra, proc: p,
			}
		}
		lastErr = err
	}
	t.Fatalf("testredis: %v", lastErr)
	return nil
}

// Kill sends SIGKILL, as a crash would, and waits for the server to exit:
// writes it acknowledged but did not yet persist or pass to its replicas
// are gone.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proc.Kill()
}

// Stop shuts the server down as SIGINT does: with AOF on, it flushes and
// fsyncs the AOF; with a "--save" rule, it writes an RDB first.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proc.Stop()
}

// Restart stops the server if it still runs, starts it again on the same
// port with the same arguments and directory, and waits until it answers
// (and has loaded its data: Redis refuses commands with LOADING until
// then). It fails the test when the port was taken in between.
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.proc.Stop()
	p, err := start(s.t, s.bin, s.Dir, s.port, s.args)
	if err != nil {
		s.t.Fatalf("testredis: restart %s: %v", s.Addr, err)
	}
	s.proc = p
}

// Exited is closed once the server's current process has exited.
func (s *Server) Exited() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc.Exited()
}

// StartCluster starts a one-node Redis Cluster that owns all 16384 slots
// and returns its address, for redis.NewClusterClient.
func StartCluster(t testing.TB) (addr string) {
	t.Helper()
	return startCluster(t, "")
}

// StartClusterAuth is StartCluster with a node that requires password
// (requirepass), for testing how clients pass it.
func StartClusterAuth(t testing.TB, password string) (addr string) {
	t.Helper()
	return startCluster(t, password)
}

func startCluster(t testing.TB, password string) string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf")}
	if password != "" {
		args = append(args, "--requirepass", password)
	}
	addr := StartArgs(t, args...)
	if _, err := roundTrip(addr, password, "CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil {
		t.Fatalf("testredis: cluster addslots: %v", err)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		info, err := roundTrip(addr, password, "CLUSTER", "INFO")
		if s, ok := info.(string); err == nil && ok && strings.Contains(s, "cluster_state:ok") {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("testredis: cluster at %s not ok after %v: %q, %v", addr, startTimeout, info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SentinelMaster is the master name StartSentinel's sentinel monitors.
const SentinelMaster = "testmaster"

// StartSentinel starts a Redis master (as Start does) and one Sentinel
// monitoring it with quorum 1, and returns the master name, the sentinel's
// address and the master's address, for redis.NewFailoverClient or
// redis.UniversalOptions{MasterName: master, Addrs: []string{sentinelAddr}}.
// It returns once the sentinel reports the master. Both stop when the test
// ends.
//
// The master has no replicas, so the sentinel never fails over: this checks
// that a client finds the master through Sentinel, not failover itself.
func StartSentinel(t testing.TB) (master, sentinelAddr, masterAddr string) {
	t.Helper()
	return startSentinel(t, "")
}

// StartSentinelAuth is StartSentinel with a master that requires password;
// the sentinel knows it (sentinel auth-pass) and needs none itself.
func StartSentinelAuth(t testing.TB, password string) (master, sentinelAddr, masterAddr string) {
	t.Helper()
	return startSentinel(t, password)
}

func startSentinel(t testing.TB, password string) (master, sentinelAddr, masterAddr string) {
	t.Helper()
	bin := lookPath(t)
	if password != "" {
		masterAddr = StartArgs(t, "--requirepass", password)
	} else {
		masterAddr = Start(t)
	}
	addr := startSentinelProc(t, bin, sentinelConf{
		masterAddr: masterAddr, quorum: 1, downAfter: 5 * time.Second, password: password,
	})
	return SentinelMaster, addr, masterAddr
}

// sentinelConf is what one Sentinel is told about the master it monitors.
type sentinelConf struct {
	masterAddr      string
	quorum          int
	downAfter       time.Duration
	failoverTimeout time.Duration // 0: Sentinel's default, 3 minutes
	password        string
}

// startSentinelProc starts one Sentinel monitoring SentinelMaster and
// returns its address once it reports the master.
func startSentinelProc(t testing.TB, bin string, c sentinelConf) string {
	t.Helper()
	_, masterPort, err := net.SplitHostPort(c.masterAddr)
	if err != nil {
		t.Fatalf("testredis: %v", err)
	}
	var lastErr error
	for range 3 {
		port := testproc.FreePort(t)
		// Sentinel rewrites its configuration file at start and on every
		// change of state, so the file lives in a directory of its own.
		dir := t.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		var b strings.Builder
		fmt.Fprintf(&b, "bind 127.0.0.1\nprotected-mode no\ndir %q\n", dir)
		fmt.Fprintf(&b, "sentinel resolve-hostnames no\n")
		fmt.Fprintf(&b, "sentinel monitor %s 127.0.0.1 %s %d\n", SentinelMaster, masterPort, c.quorum)
		fmt.Fprintf(&b, "sentinel down-after-milliseconds %s %d\n", SentinelMaster, c.downAfter.Milliseconds())
		if c.failoverTimeout > 0 {
			fmt.Fprintf(&b, "sentinel failover-timeout %s %d\n", SentinelMaster, c.failoverTimeout.Milliseconds())
		}
		if c.password != "" {
			fmt.Fprintf(&b, "sentinel auth-pass %s %s\n", SentinelMaster, c.password)
		}
		if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
			t.Fatalf("testredis: %v", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		ready := func() error {
			reply, err := roundTrip(addr, "", "SENTINEL", "get-master-addr-by-name", SentinelMaster)
			if err != nil {
				return err
			}
			hp, ok := reply.([]string)
			if !ok || len(hp) != 2 || net.JoinHostPort(hp[0], hp[1]) != c.masterAddr {
				return fmt.Errorf("sentinel reports master %q, want %s", reply, c.masterAddr)
			}
			return nil
		}
		_, err = launch(t, bin, []string{conf, "--sentinel", "--port", strconv.Itoa(port)}, "redis-sentinel on port "+strconv.Itoa(port), ready)
		if err == nil {
			return addr
		}
		lastErr = err
	}
	t.Fatalf("testredis: %v", lastErr)
	return ""
}

func lookPath(t testing.TB) string {
	t.Helper()
	return testproc.RequireTool(t, RequireEnv, "redis-server")
}

// start runs one redis-server and waits until it answers. On failure it
// has already stopped the process.
func start(t testing.TB, bin, dir string, port int, extra []string) (*testproc.Proc, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := append([]string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--protected-mode", "no",
		"--dir", dir,
	}, extra...)
	ready := func() error {
		reply, err := roundTrip(addr, "", "PING")
		// With requirepass, NOAUTH is an answer too: the server is up.
		if err != nil && strings.Contains(err.Error(), "NOAUTH") {
			return nil
		}
		if err == nil && reply != "PONG" {
			err = fmt.Errorf("PING = %q", reply)
		}
		return err
	}
	return launch(t, bin, args, "redis-server on port "+strconv.Itoa(port), ready)
}

// launch runs bin with args until the test ends, and waits until ready
// returns nil. On failure it has already stopped the process.
func launch(t testing.TB, bin string, args []string, name string, ready func() error) (*testproc.Proc, error) {
	p := testproc.Start(t, name, exec.Command(bin, args...))
	if err := p.Wait(startTimeout, ready); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

// command sends one command in RESP and returns a simple, bulk or integer
// reply as a string. It is enough for PING and CLUSTER set-up, and keeps
// this package free of a client library.
func command(addr string, args ...string) (string, error) {
	reply, err := roundTrip(addr, "", args...)
	if err != nil {
		return "", err
	}
	s, ok := reply.(string)
	if !ok {
		return "", fmt.Errorf("reply %q is not a string", reply)
	}
	return s, nil
}

// roundTrip sends one command, after AUTH when password is set, and
// returns its reply: a string, or a []string for an array of strings
// (SENTINEL get-master-addr-by-name).
func roundTrip(addr, password string, args ...string) (any, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(c)
	if password != "" {
		if err := send(c, "AUTH", password); err != nil {
			return nil, err
		}
		if _, err := readReply(r); err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	if err := send(c, args...); err != nil {
		return nil, err
	}
	return readReply(r)
}

func send(w io.Writer, args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return nil, fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad bulk reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 || n > 1024 {
			// *-1 is a null array, such as an unknown sentinel master.
			return nil, fmt.Errorf("bad or null array reply %q", line)
		}
		elems := make([]string, 0, n)
		for range n {
			e, err := readReply(r)
			if err != nil {
				return nil, err
			}
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("nested array reply")
			}
			elems = append(elems, s)
		}
		return elems, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}
