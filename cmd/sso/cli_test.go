package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/internal/app"
	"github.com/example/sso/internal/testproc"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = run(context.Background(), args, envFunc(env), strings.NewReader(""), &o, &e)
	return o.String(), e.String(), err
}

func TestHelpListsEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, _, err := runCLI(t, nil, args...)
		if err != nil {
			t.Fatalf("sso %q = %v", args, err)
		}
		for _, c := range commands() {
			if !strings.Contains(out, "\n  "+c.name+" ") || !strings.Contains(out, c.summary) {
				t.Errorf("sso %q does not list %s with its summary:\n%s", args, c.name, out)
			}
			for _, e := range c.examples {
				if !strings.Contains(out, e) {
					t.Errorf("sso %q lacks the example %q", args, e)
				}
			}
		}
	}
}

func TestVersionFlagAndCommandAgree(t *testing.T) {
	a, _, err := runCLI(t, nil, "--version")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := runCLI(t, nil, "version")
	if err != nil {
		t.Fatal(err)
	}
	if a != b || !strings.HasPrefix(a, "sso ") {
		t.Errorf("--version printed %q, version %q; want the same \"sso <version>\"", a, b)
	}
	old := version
	t.Cleanup(func() { version = old })
	version = "v1.2.3-4-gabcdef"
	if out, _, _ := runCLI(t, nil, "--version"); out != "sso v1.2.3-4-gabcdef\n" {
		t.Errorf("with a stamped version, --version printed %q", out)
	}
}

func TestDevelVersion(t *testing.T) {
	for _, tc := range []struct {
		bi   debug.BuildInfo
		want string
	}{
		{debug.BuildInfo{}, "devel"},
		{debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"}}, "devel (go1.26.1)"},
		{debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v0.0.0-20261206-0123456789ab"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}}},
			"devel (v0.0.0-20261206-0123456789ab, vcs 0123456789ab-dirty, go1.26.1)"},
	} {
		if got := develVersion(&tc.bi); got != tc.want {
			t.Errorf("develVersion(%+v) = %q, want %q", tc.bi, got, tc.want)
		}
	}
}

// Every command's -h and --help print its usage on stdout and succeed; an
// unknown flag is a usage error (exit 2) with the usage on stderr.
func TestEveryCommandHelpAndBadFlag(t *testing.T) {
	for _, c := range commands() {
		for _, h := range []string{"-h", "--help"} {
			out, errOut, err := runCLI(t, nil, c.name, h)
			if err != nil || exitCode(err) != 0 {
				t.Errorf("sso %s %s = %v, want success", c.name, h, err)
			}
			if !strings.Contains(out, "usage: ") || errOut != "" {
				t.Errorf("sso %s %s: stdout %q, stderr %q; want the usage on stdout only", c.name, h, out, errOut)
			}
		}
		out, errOut, err := runCLI(t, nil, c.name, "--no-such-flag")
		if !errors.Is(err, errUsage) || exitCode(err) != 2 {
			t.Errorf("sso %s --no-such-flag = %v, want a usage error", c.name, err)
		}
		if out != "" || !strings.Contains(errOut, "no-such-flag") || !strings.Contains(errOut, "usage: ") {
			t.Errorf("sso %s --no-such-flag: stdout %q, stderr %q; want the error and the usage on stderr", c.name, out, errOut)
		}
	}
	if _, errOut, err := runCLI(t, nil, "--no-such-flag"); exitCode(err) != 2 || !strings.Contains(errOut, "usage: sso [serve]") {
		t.Errorf("sso --no-such-flag = %v (exit %d), stderr %q; want exit 2 and serve's usage", err, exitCode(err), errOut)
	}
}

// The most fundamental problem comes first: a public-suffix cookie domain,
// not the keys and users file that a production configuration also lacks.
func TestRefusalOrder(t *testing.T) {
	env := map[string]string{"SSO_COOKIE_DOMAINS": "co.uk"}
	_, _, err := runCLI(t, env, "serve")
	if err == nil {
		t.Fatal("serve with SSO_COOKIE_DOMAINS=co.uk started")
	}
	lines := strings.Split(err.Error(), "\n")
	if !strings.HasPrefix(lines[0], `SSO_COOKIE_DOMAINS="co.uk"`) || !strings.Contains(lines[0], "public suffix") {
		t.Errorf("first refusal %q, want the public suffix; all:\n%s", lines[0], err)
	}
	if len(lines) < 2 || !strings.Contains(err.Error(), "SSO_SECRET_KEYS") {
		t.Errorf("the missing keys are not reported after it:\n%s", err)
	}
	// doctor reports the same failures, in the same order.
	out, _, derr := runCLI(t, env, "doctor", "--json")
	if exitCode(derr) != 1 {
		t.Errorf("doctor exit %d (%v), want 1", exitCode(derr), derr)
	}
	var rep struct{ Checks []app.Check }
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("doctor --json: %v\n%s", err, out)
	}
	var failed []string
	for _, c := range rep.Checks {
		if !c.OK {
			failed = append(failed, c.Why)
		}
	}
	if strings.Join(failed, "\n") != err.Error() {
		t.Errorf("doctor's failures differ from serve's refusal:\ndoctor:\n%s\nserve:\n%s", strings.Join(failed, "\n"), err)
	}
}

// doctorJSON is the documented schema (docs/doctor.md), decoded strictly.
type doctorJSON struct {
	Schema   int    `json:"schema"`
	Version  string `json:"version"`
	OK       bool   `json:"ok"`
	Failed   int    `json:"failed"`
	Warnings int    `json:"warnings"`
	Checks   []struct {
		Rule    string `json:"rule"`
		Label   string `json:"label"`
		OK      bool   `json:"ok"`
		Warn    bool   `json:"warn"`
		Setting string `json:"setting"`
		Why     string `json:"why"`
		Fix     string `json:"fix"`
		URL     string `json:"url"`
	} `json:"checks"`
}

func decodeDoctor(t *testing.T, out string) doctorJSON {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	var d doctorJSON
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("doctor --json output does not parse: %v\n%s", err, out)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Errorf("doctor --json printed more than one document:\n%s", out)
	}
	// Every entry carries the fields scripts rely on.
	for _, c := range d.Checks {
		if c.Rule == "" || c.Why == "" || c.Label == "" {
			t.Errorf("entry without rule, label or why: %+v", c)
		}
		if !c.OK && c.Fix == "" && c.Rule != "browser.cors-preflight" {
			t.Errorf("failed entry without fix: %+v", c)
		}
	}
	for _, key := range []string{`"ok":`, `"rule":`, `"why":`, `"fix":`, `"setting":`} {
		if !strings.Contains(strings.ReplaceAll(out, `": `, `":`), key) {
			t.Errorf("output lacks %s:\n%s", key, out)
		}
	}
	return d
}

func TestDoctorJSON(t *testing.T) {
	t.Run("good", func(t *testing.T) {
		out, _, err := runCLI(t, doctorEnv(t), "doctor", "--json", "--from", "https://app.example.com/", "--to", "https://api.example.com/items")
		if err != nil {
			t.Fatalf("doctor --json = %v\n%s", err, out)
		}
		d := decodeDoctor(t, out)
		if !d.OK || d.Failed != 0 || d.Schema != 1 || d.Version == "" {
			t.Errorf("good configuration: %+v", d)
		}
		rules := map[string]bool{}
		for _, c := range d.Checks {
			rules[c.Rule] = true
		}
		for _, r := range []string{app.RuleConfig, app.RuleCookie, app.RuleSecretKeys, app.RuleStore, app.RuleUsers, "browser.cookie-samesite", "browser.cors-origin"} {
			if !rules[r] {
				t.Errorf("no check with rule %q: %v", r, rules)
			}
		}
	})
	t.Run("bad browser pair", func(t *testing.T) {
		out, _, err := runCLI(t, doctorEnv(t), "doctor", "--json", "--from", "https://www.example.org/", "--to", "https://api.example.com/items")
		if exitCode(err) != 1 {
			t.Fatalf("exit %d (%v), want 1", exitCode(err), err)
		}
		d := decodeDoctor(t, out)
		if d.OK || d.Failed == 0 {
			t.Errorf("a cross-site pair passed: %+v", d)
		}
		for _, c := range d.Checks {
			if c.Rule == "browser.cors-origin" && (c.OK || c.URL != "https://api.example.com/items" || !strings.Contains(c.Fix, "SSO_CORS_ORIGINS")) {
				t.Errorf("CORS origin check: %+v", c)
			}
		}
	})
	t.Run("bad setting", func(t *testing.T) {
		env := doctorEnv(t)
		env["SSO_COOKIE_SAMESITE"] = "sideways"
		out, _, err := runCLI(t, env, "doctor", "--json")
		if exitCode(err) != 1 {
			t.Fatalf("exit %d (%v), want 1", exitCode(err), err)
		}
		d := decodeDoctor(t, out)
		if d.OK || d.Failed != 1 {
			t.Errorf("want exactly one failure: %+v", d)
		}
		for _, c := range d.Checks {
			if !c.OK && (c.Setting != "SSO_COOKIE_SAMESITE" || c.Rule != app.RuleCookie) {
				t.Errorf("failure %+v, want rule %s on SSO_COOKIE_SAMESITE", c, app.RuleCookie)
			}
		}
	})
	t.Run("unreadable configuration file", func(t *testing.T) {
		env := doctorEnv(t)
		env["SSO_CONFIG"] = filepath.Join(t.TempDir(), "missing.yaml")
		out, _, err := runCLI(t, env, "doctor", "--json")
		if exitCode(err) != 2 {
			t.Fatalf("exit %d (%v), want 2", exitCode(err), err)
		}
		d := decodeDoctor(t, out)
		if len(d.Checks) != 1 || d.Checks[0].Rule != app.RuleConfig || d.Checks[0].Setting != "SSO_CONFIG" {
			t.Errorf("want one config failure naming SSO_CONFIG: %+v", d)
		}
	})
	t.Run("usage error", func(t *testing.T) {
		out, errOut, err := runCLI(t, doctorEnv(t), "doctor", "--json", "--from", "https://app.example.com/")
		if exitCode(err) != 2 || out != "" || !strings.Contains(errOut, "usage: ") {
			t.Errorf("--from without --to: exit %d, stdout %q, stderr %q", exitCode(err), out, errOut)
		}
	})
}

func TestExitCodes(t *testing.T) {
	if exitCode(nil) != 0 || exitCode(errors.New("x")) != 1 || exitCode(errUsage) != 2 || exitCode(errors.Join(errors.New("x"), errConfig)) != 2 {
		t.Error("exit codes are not 0 ok, 1 failure, 2 usage or unreadable configuration")
	}
}

// The binary's exit statuses, as a script sees them.
func TestBinaryExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := testproc.Build(t, "./cmd/sso")
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--version"}, 0},
		{[]string{"--help"}, 0},
		{[]string{"hash-password", "-h"}, 0},
		{[]string{"doctor", "--help"}, 0},
		{[]string{"--no-such-flag"}, 2},
		{[]string{"doctor", "--no-such-flag"}, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"doctor", "--cookie-domains", "co.uk"}, 1},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, bin, tc.args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		cancel()
		got := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			got = exit.ExitCode()
		} else if err != nil {
			t.Fatalf("sso %q: %v", tc.args, err)
		}
		if got != tc.want {
			t.Errorf("sso %q exited %d, want %d; output:\n%s", tc.args, got, tc.want, out)
		}
	}
}

// Ctrl-C at hash-password's prompt ends it: main turns SIGINT into the end
// of ctx, so a read that ignored ctx left the prompt waiting.
func TestReadPasswordInterrupted(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	blocked := func(int) ([]byte, error) { <-block; return nil, io.EOF }
	ctx, cancel := context.WithCancel(t.Context())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	start := time.Now()
	// fd -1 is no terminal: there is no state to restore.
	if b, err := readPassword(ctx, -1, blocked); err == nil || b != nil {
		t.Errorf("readPassword after Ctrl-C = %q, %v; want an error", b, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("readPassword returned %v after Ctrl-C", d)
	}
	got, err := readPassword(t.Context(), -1, func(int) ([]byte, error) { return []byte("pw"), nil })
	if err != nil || string(got) != "pw" {
		t.Errorf("readPassword = %q, %v; want pw", got, err)
	}
}
