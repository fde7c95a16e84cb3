package main

import (
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/nginx/nginxtest"
)

func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) }

var runningIn = regexp.MustCompile(`^sso demo is running; Ctrl-C stops it and removes (\S+)$`)

// Ctrl-C, SIGTERM and a closed terminal (SIGHUP) all stop the demo
// cleanly: it exits and its directory is gone.
func TestDemoStopsOnSignals(t *testing.T) {
	if _, err := nginxtest.Binary(); err != nil && !testproc.Required(nginxtest.RequireEnv) {
		t.Skipf("%v", err)
	}
	bin := testproc.Build(t, "./cmd/sso-demo")
	sso, demoapi := testproc.Build(t, "./cmd/sso"), testproc.Build(t, "./cmd/demoapi")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "--port", "0", "--no-redis", "--repo", "../..", "--sso", sso, "--demoapi", demoapi)
			p := testproc.Start(t, "sso-demo", cmd)
			m, err := p.WaitLine(60*time.Second, runningIn)
			if err != nil {
				t.Fatal(err)
			}
			dir := m[1]
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("the demo's directory: %v", err)
			}
			_ = cmd.Process.Signal(sig)
			select {
			case <-p.Exited():
			case <-time.After(15 * time.Second):
				t.Fatalf("sso-demo still runs 15s after %v", sig)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("after %v the demo left %s behind (stat: %v)", sig, dir, err)
			}
		})
	}
}
