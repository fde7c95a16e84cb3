// Package docs_test keeps the README honest: it runs the curl walkthrough
// block of README.md against a freshly started dev-mode sso.
package docs_test

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestREADMEWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("SSO_REQUIRE_TOOLS") == "1" {
			t.Fatal("curl is missing and SSO_REQUIRE_TOOLS=1")
		}
		t.Skip("curl is missing")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- walkthrough -->\\s*```sh\\n(.*?)```\\s*<!-- /walkthrough -->").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no walkthrough block between <!-- walkthrough --> markers")
	}
	script := string(m[1])

	dir := t.TempDir()
	bin := filepath.Join(dir, "sso")
	build := exec.Command("go", "build", "-o", bin, "../cmd/sso")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sso := exec.CommandContext(ctx, bin)
	sso.Env = append(os.Environ(), "SSO_LISTEN=127.0.0.1:"+strconv.Itoa(port))
	stderr, err := sso.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sso.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sso.Process.Kill(); _ = sso.Wait() })

	// The banner prints the demo password once; then sso logs that it listens.
	var pw string
	pwRe := regexp.MustCompile(`demo user:\s+demo\s+/\s+(\S+)`)
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		if mm := pwRe.FindStringSubmatch(line); mm != nil {
			pw = mm[1]
		}
		if strings.Contains(line, "sso listening") {
			break
		}
	}
	if pw == "" {
		t.Fatal("no demo password in the dev-mode banner")
	}
	go func() { // keep draining so sso never blocks on a full pipe
		for sc.Scan() {
		}
	}()

	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "PW="+pw)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough failed: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{
		`"csrf_token":`,
		"X-Auth-User: demo",
		"\n200\n",
		"HTTP/1.1 204",
		"Domain=example.test",
		"\n401\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("walkthrough output lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(got, "\n200\n") > strings.LastIndex(got, "\n401\n") {
		t.Errorf("expected 200 before logout and 401 after:\n%s", got)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
