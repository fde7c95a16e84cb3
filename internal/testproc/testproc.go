package testproc

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer that a child process (through exec's copying
// goroutines) or a server's goroutines may write to while the test reads
// it. The zero value is ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process can take it before the caller binds it, so a caller that
// cannot bind port 0 itself should retry with a new port.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testproc: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Required reports whether the environment variable env is "1": a missing
// tool must then fail the test rather than skip it (CI and make test set
// SSO_REQUIRE_REDIS, SSO_REQUIRE_NGINX, SSO_REQUIRE_TOOLS and
// SSO_REQUIRE_CHROMIUM).
func Required(env string) bool { return os.Getenv(env) == "1" }

// RequireTool returns the path of the first of names found (exec.LookPath:
// a bare name is searched in $PATH, a path is checked as it is). When none
// is, it skips the test, or fails it when Required(env).
func RequireTool(t testing.TB, env string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	what := "none of " + strings.Join(names, ", ") + " is"
	if len(names) == 1 {
		what = names[0] + " is not"
	}
	if Required(env) {
		t.Fatalf("testproc: %s installed and %s=1", what, env)
	}
	t.Skipf("testproc: %s installed; set %s=1 to fail instead", what, env)
	return ""
}

// Environ is os.Environ without the entries that start with any of drop,
// such as "SSO_" or "HOME=", so that a developer's settings do not leak
// into a child process.
func Environ(drop ...string) []string {
	var env []string
next:
	for _, kv := range os.Environ() {
		for _, d := range drop {
			if strings.HasPrefix(kv, d) {
				continue next
			}
		}
		env = append(env, kv)
	}
	return env
}

// builds is the cache of Build. It is the one piece of package state: a
// binary built once must outlive the test that asked first, so it lives
// as long as the test binary, and Main removes it.
var builds struct {
	mu   sync.Mutex
	dir  string // "" outside Main
	root string // module root, from go env GOMOD
	pkgs map[string]*build
}

type build struct {
	once sync.Once
	bin  string
	err  error
}

// Main runs the tests (m.Run) of a package that calls Build, then removes
// the binaries Build made, and returns the exit code for os.Exit:
//
//	func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) }
func Main(m *testing.M) int {
	dir, err := os.MkdirTemp("", "testproc-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "testproc: %v\n", err)
		return 1
	}
	builds.mu.Lock()
	builds.dir, builds.pkgs = dir, map[string]*build{}
	builds.mu.Unlock()
	defer func() {
		builds.mu.Lock()
		builds.dir, builds.pkgs = "", nil
		builds.mu.Unlock()
		_ = os.RemoveAll(dir)
	}()
	return m.Run()
}

// Build builds the main package pkg of this module ("./cmd/sso", relative
// to the module root that go env GOMOD names) and returns the binary's
// path. The first call per package builds it, later calls (from any test,
// also in parallel) return the same binary, so calling it in every test
// is cheap. It needs Main in the package's TestMain.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	builds.mu.Lock()
	if builds.dir == "" {
		builds.mu.Unlock()
		t.Fatal("testproc: Build needs func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) } in the test package")
	}
	b := builds.pkgs[pkg]
	if b == nil {
		b = &build{}
		builds.pkgs[pkg] = b
	}
	builds.mu.Unlock()
	b.once.Do(func() { b.bin, b.err = goBuild(pkg) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

// goBuild runs go build for pkg into a directory of its own under
// builds.dir.
func goBuild(pkg string) (string, error) {
	builds.mu.Lock()
	root, cache := builds.root, builds.dir
	builds.mu.Unlock()
	if root == "" {
		out, err := exec.Command("go", "env", "GOMOD").Output()
		gomod := strings.TrimSpace(string(out))
		if err != nil || gomod == "" || gomod == os.DevNull {
			return "", fmt.Errorf("testproc: go env GOMOD = %q, %v: want the module's go.mod", gomod, err)
		}
		root = filepath.Dir(gomod)
		builds.mu.Lock()
		builds.root = root
		builds.mu.Unlock()
	}
	dir, err := os.MkdirTemp(cache, "bin-")
	if err != nil {
		return "", fmt.Errorf("testproc: build %s: %w", pkg, err)
	}
	bin := filepath.Join(dir, path.Base(pkg))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("testproc: go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// stopGrace is how long Stop waits after SIGINT before it kills.
const stopGrace = 10 * time.Second

// pollEvery is how often Wait asks whether the process is ready.
const pollEvery = 20 * time.Millisecond

// Proc is a running child process started by Start.
type Proc struct {
	name   string
	cmd    *exec.Cmd
	out    Buffer
	exited chan struct{} // closed when Wait has returned; err is set then
	err    error
	stop   sync.Once
}

// Start starts cmd, with its stdout and stderr (which it overwrites) going
// to Output. When t ends it stops the process and, if t failed, logs its
// output under name. It fails the test when cmd does not start.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{name: name, cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("testproc: start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.Output())
		}
	})
	return p
}

// Output is what the process wrote to stdout and stderr so far.
func (p *Proc) Output() string { return p.out.String() }

// Stop sends SIGINT, kills the process if it has not exited after 10s,
// and waits for it. Calling it again does nothing.
func (p *Proc) Stop() {
	p.stop.Do(func() {
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.exited:
		case <-time.After(stopGrace):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
}

// Kill sends SIGKILL and waits for the process to exit: a crash, with no
// chance to save or say goodbye. Calling Stop afterwards does nothing.
func (p *Proc) Kill() {
	p.stop.Do(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
}

// Exited is closed once the process has exited, for whatever reason.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Wait calls ready until it returns nil, and fails when the process exits
// first or timeout passes. The error holds the process's output. It does
// not stop the process.
func (p *Proc) Wait(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("testproc: %s exited (%v) before it was ready: %v\n%s", p.name, p.err, err, p.Output())
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testproc: %s not ready after %v: %v\n%s", p.name, timeout, err, p.Output())
		}
	}
}

// WaitLine waits until a complete line of output matches re and returns
// the submatches, as Wait does.
func (p *Proc) WaitLine(timeout time.Duration, re *regexp.Regexp) ([]string, error) {
	var m []string
	err := p.Wait(timeout, func() error {
		out := p.Output()
		// Only whole lines: a half-written line could match too little.
		for _, line := range strings.Split(out[:strings.LastIndexByte(out, '\n')+1], "\n") {
			if m = re.FindStringSubmatch(line); m != nil {
				return nil
			}
		}
		return fmt.Errorf("no line matches %s", re)
	})
	return m, err
}

// listening matches the start-up log line of sso and demoapi (slog text):
// msg="sso listening" addr=127.0.0.1:41234.
var listening = regexp.MustCompile(`msg="\w+ listening" addr=(\S+)`)

// WaitListening waits for the "listening" log line of sso or demoapi and
// returns the address it names, the one actually bound (with
// SSO_LISTEN=127.0.0.1:0, the port chosen).
func (p *Proc) WaitListening(timeout time.Duration) (string, error) {
	m, err := p.WaitLine(timeout, listening)
	if err != nil {
		return "", err
	}
	return m[1], nil
}

// HTTPOK is a ready function for Wait: GET url answers 200.
func HTTPOK(url string) func() error {
	client := &http.Client{Timeout: time.Second}
	return func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s = %d, want 200", url, resp.StatusCode)
		}
		return nil
	}
}

// demoPassword matches the line of sso's dev-mode banner with the demo
// user's password, which is printed once.
var demoPassword = regexp.MustCompile(`demo user:\s+demo\s+/\s+(\S+)`)

// DemoPassword returns the demo user's password from the output of sso in
// dev mode, or "" when the banner is not (yet) there.
func DemoPassword(output string) string {
	if m := demoPassword.FindStringSubmatch(output); m != nil {
		return m[1]
	}
	return ""
}
