package testproc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "\n"); got != 800 {
		t.Errorf("Buffer has %d lines after 8×100 writes, want 800", got)
	}
}

func TestFreePort(t *testing.T) {
	port := FreePort(t)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("listen on FreePort() = %d: %v", port, err)
	}
	l.Close()
}

func TestEnviron(t *testing.T) {
	t.Setenv("SSO_TESTPROC", "x")
	t.Setenv("DEMOAPI_TESTPROC", "y")
	t.Setenv("KEEP_TESTPROC", "z")
	env := strings.Join(Environ("SSO_", "DEMOAPI_"), "\n")
	for kv, want := range map[string]bool{"SSO_TESTPROC=x": false, "DEMOAPI_TESTPROC=y": false, "KEEP_TESTPROC=z": true} {
		if got := strings.Contains(env, kv); got != want {
			t.Errorf("Environ(SSO_, DEMOAPI_) has %s: %v, want %v", kv, got, want)
		}
	}
}

// fakeTB records Fatal and Skip, which end the goroutine as testing.T's do,
// and Logf and Cleanup, for the test to run.
type fakeTB struct {
	testing.TB
	failed, skipped bool
	msg             string
	logs            []string
	cleanups        []func()
}

func (f *fakeTB) Helper()          {}
func (f *fakeTB) Failed() bool     { return f.failed }
func (f *fakeTB) Cleanup(c func()) { f.cleanups = append(f.cleanups, c) }
func (f *fakeTB) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Fatal(args ...any) {
	f.failed, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// call runs f with a fakeTB in a goroutine of its own, as Goexit needs.
func call(f func(tb testing.TB)) *fakeTB {
	tb := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(tb)
	}()
	<-done
	return tb
}

func TestRequireTool(t *testing.T) {
	const env = "SSO_REQUIRE_TESTPROC"
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skipf("no sh to find: %v", err)
	}
	for _, tc := range []struct {
		name          string
		envValue      string
		names         []string
		want          string
		failed, skips bool
	}{
		{"found", "1", []string{"sh"}, sh, false, false},
		{"second found", "1", []string{"no-such-tool-testproc", "sh"}, sh, false, false},
		{"missing skips", "", []string{"no-such-tool-testproc"}, "", false, true},
		{"missing, required", "1", []string{"no-such-tool-testproc"}, "", true, false},
		{"missing, not 1", "yes", []string{"no-such-tool-testproc", "nor-this-one"}, "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(env, tc.envValue)
			var got string
			tb := call(func(tb testing.TB) { got = RequireTool(tb, env, tc.names...) })
			if got != tc.want || tb.failed != tc.failed || tb.skipped != tc.skips {
				t.Errorf("RequireTool(%q) with %s=%q = %q, failed %v, skipped %v; want %q, %v, %v (%s)",
					tc.names, env, tc.envValue, got, tb.failed, tb.skipped, tc.want, tc.failed, tc.skips, tb.msg)
			}
			if (tb.failed || tb.skipped) && (!strings.Contains(tb.msg, tc.names[0]) || !strings.Contains(tb.msg, env)) {
				t.Errorf("message %q does not name %s and %s", tb.msg, tc.names[0], env)
			}
		})
	}
}

func TestBuildNeedsMain(t *testing.T) {
	builds.mu.Lock()
	saved := builds.dir
	builds.dir = ""
	builds.mu.Unlock()
	defer func() {
		builds.mu.Lock()
		builds.dir = saved
		builds.mu.Unlock()
	}()
	tb := call(func(tb testing.TB) { Build(tb, "./internal/testproc/testdata/child") })
	if !tb.failed || !strings.Contains(tb.msg, "TestMain") {
		t.Errorf("Build outside Main: failed %v, %q; want a failure that names TestMain", tb.failed, tb.msg)
	}
}

func TestBuildError(t *testing.T) {
	tb := call(func(tb testing.TB) { Build(tb, "./internal/testproc/testdata/missing") })
	if !tb.failed || !strings.Contains(tb.msg, "go build ./internal/testproc/testdata/missing") {
		t.Errorf("Build of a missing package: failed %v, %q; want the go build error", tb.failed, tb.msg)
	}
}

const child = "./internal/testproc/testdata/child"

func TestBuildOnce(t *testing.T) {
	bin := Build(t, child)
	if fi, err := os.Stat(bin); err != nil || fi.Mode()&0o111 == 0 {
		t.Fatalf("Build(%s) = %s: %v, want an executable", child, bin, err)
	}
	begin := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if again := Build(t, child); again != bin {
				t.Errorf("Build(%s) again = %s, want the first %s", child, again, bin)
			}
		})
	}
	wg.Wait()
	if took := time.Since(begin); took > time.Second {
		t.Errorf("4 more Builds took %v, want them cached", took)
	}
}

func TestProcServe(t *testing.T) {
	p := Start(t, "child", exec.Command(Build(t, child), "serve"))
	addr, err := p.WaitListening(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		t.Fatalf("WaitListening() = %q: %v", addr, err)
	}
	if err := p.Wait(5*time.Second, HTTPOK("http://"+addr+"/healthz")); err != nil {
		t.Fatal(err)
	}
	if err := HTTPOK("http://" + addr + "/nothing")(); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("HTTPOK(/nothing)() = %v, want the 404", err)
	}
	if want := "s3cret-" + strconv.Itoa(p.cmd.Process.Pid); DemoPassword(p.Output()) != want {
		t.Errorf("DemoPassword(%q) = %q, want %q", p.Output(), DemoPassword(p.Output()), want)
	}
	p.Stop()
	p.Stop()
	if p.err != nil || !strings.Contains(p.Output(), "child: stopped") {
		t.Errorf("after Stop: exit %v, output %q; want a clean exit on SIGINT", p.err, p.Output())
	}
}

func TestProcKill(t *testing.T) {
	p := Start(t, "child", exec.Command(Build(t, child), "serve"))
	if _, err := p.WaitListening(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	select {
	case <-p.Exited():
	default:
		t.Fatal("Kill returned before the process exited")
	}
	if p.err == nil || !strings.Contains(p.err.Error(), "killed") || strings.Contains(p.Output(), "child: stopped") {
		t.Errorf("after Kill: exit %v, output %q; want killed, with no clean stop", p.err, p.Output())
	}
	p.Stop() // nothing left to stop
}

func TestProcExitsEarly(t *testing.T) {
	p := Start(t, "child", exec.Command(Build(t, child), "exit"))
	began := time.Now()
	_, err := p.WaitListening(20 * time.Second)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "child: giving up") {
		t.Errorf("WaitListening on a process that exits = %v, want its exit status and output", err)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("WaitListening took %v to see the exit", took)
	}
}

func TestStartCleanup(t *testing.T) {
	bin := Build(t, child)
	for _, failed := range []bool{false, true} {
		tb := &fakeTB{failed: failed}
		p := Start(tb, "child", exec.Command(bin, "serve"))
		if _, err := p.WaitListening(20 * time.Second); err != nil {
			t.Fatal(err)
		}
		if len(tb.cleanups) != 1 {
			t.Fatalf("Start registered %d cleanups, want 1", len(tb.cleanups))
		}
		tb.cleanups[0]()
		select {
		case <-p.exited:
		default:
			t.Errorf("failed=%v: the process runs on after the cleanup", failed)
		}
		logged := strings.Join(tb.logs, "\n")
		if want := failed; strings.Contains(logged, "child output:") != want || strings.Contains(logged, "child: stopped") != want {
			t.Errorf("failed=%v: cleanup logged %q, want the output logged only when the test failed", failed, logged)
		}
	}
}

func TestStartFails(t *testing.T) {
	tb := call(func(tb testing.TB) { Start(tb, "nothing", exec.Command("/nonexistent/testproc")) })
	if !tb.failed || !strings.Contains(tb.msg, "start nothing") {
		t.Errorf("Start of a missing binary: failed %v, %q; want a failure naming it", tb.failed, tb.msg)
	}
}

func TestWaitLineWholeLines(t *testing.T) {
	p := &Proc{name: "fake", exited: make(chan struct{})}
	re := regexp.MustCompile(`addr=(\S+)`)
	fmt.Fprint(&p.out, "first line\naddr=127.0.0.1:4")
	if m, err := p.WaitLine(50*time.Millisecond, re); err == nil {
		t.Fatalf("WaitLine on a half-written line = %q, want a timeout", m)
	} else if !strings.Contains(err.Error(), "not ready after") || !strings.Contains(err.Error(), "first line") {
		t.Errorf("WaitLine timeout error = %q, want the timeout and the output", err)
	}
	fmt.Fprint(&p.out, "321\n")
	if m, err := p.WaitLine(time.Second, re); err != nil || m[1] != "127.0.0.1:4321" {
		t.Errorf("WaitLine = %q, %v; want the whole address", m, err)
	}
}

func ExampleDemoPassword() {
	banner := "sso: DEV MODE\n  - demo user:  demo  /  tulip-7   (printed once)\n"
	fmt.Printf("%q %q\n", DemoPassword(banner), DemoPassword("no banner"))
	// Output: "tulip-7" ""
}
