// Package docs_test keeps the README honest: it runs the curl walkthrough
// block of README.md against a freshly started dev-mode sso.
package docs_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/internal/testproc"
)

// TestMain lets testproc.Build build cmd/sso.
func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) }

func TestREADMEWalkthrough(t *testing.T) {
	testproc.RequireTool(t, "SSO_REQUIRE_TOOLS", "curl")
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
	bin := testproc.Build(t, "./cmd/sso")
	port := testproc.FreePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sso := exec.Command(bin)
	// Dev defaults, as the README promises: none of the caller's SSO_* settings.
	sso.Env = append(testproc.Environ("SSO_"), "SSO_LISTEN=127.0.0.1:"+strconv.Itoa(port))
	proc := testproc.Start(t, "sso", sso)

	// The banner prints the demo password once; then sso logs that it listens.
	if _, err := proc.WaitListening(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	pw := testproc.DemoPassword(proc.Output())
	if pw == "" {
		t.Fatal("no demo password in the dev-mode banner")
	}

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
