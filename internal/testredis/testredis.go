package testredis

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	bin := lookPath(t)
	dir := t.TempDir()
	// A free port can be taken between probing and binding: retry.
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("testredis: %v", err)
		}
		addr, err := start(t, bin, dir, port, extra)
		if err == nil {
			return addr
		}
		lastErr = err
	}
	t.Fatalf("testredis: %v", lastErr)
	return ""
}

// StartCluster starts a one-node Redis Cluster that owns all 16384 slots
// and returns its address, for redis.NewClusterClient.
func StartCluster(t testing.TB) (addr string) {
	t.Helper()
	dir := t.TempDir()
	addr = StartArgs(t, "--cluster-enabled", "yes",
		"--cluster-config-file", filepath.Join(dir, "nodes.conf"))
	if _, err := command(addr, "CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil {
		t.Fatalf("testredis: cluster addslots: %v", err)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		info, err := command(addr, "CLUSTER", "INFO")
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("testredis: cluster at %s not ok after %v: %q, %v", addr, startTimeout, info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lookPath(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("testredis: redis-server not found and %s=1: %v", RequireEnv, err)
		}
		t.Skipf("testredis: redis-server not found (install redis-server, or set %s=1 to fail instead): %v", RequireEnv, err)
	}
	return bin
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs one redis-server and waits for PING. On failure it has
// already stopped the process.
func start(t testing.TB, bin, dir string, port int, extra []string) (string, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := append([]string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--protected-mode", "no",
		"--dir", dir,
	}, extra...)
	cmd := exec.Command(bin, args...)
	var out lockedBuffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	deadline := time.Now().Add(startTimeout)
	for {
		if reply, err := command(addr, "PING"); err == nil && reply == "PONG" {
			break
		}
		select {
		case <-exited:
			return "", fmt.Errorf("redis-server on port %d exited (%v):\n%s", port, waitErr, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", fmt.Errorf("redis-server on port %d did not answer PING within %v:\n%s", port, startTimeout, out.String())
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("testredis: redis-server %s output:\n%s", addr, out.String())
		}
	})
	return addr, nil
}

// command sends one command in RESP and returns a simple, bulk or integer
// reply as a string. It is enough for PING and CLUSTER set-up, and keeps
// this package free of a client library.
func command(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("bad bulk reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
