package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/sso/internal/testproc"
)

// liveUsers writes users files for one test: every user has testPassword,
// hashed once at bcrypt's minimum cost so that logins stay fast.
type liveUsers struct {
	hash string
}

func newLiveUsers(t *testing.T) liveUsers {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return liveUsers{hash: string(h)}
}

func (lu liveUsers) render(names ...string) []byte {
	var b strings.Builder
	b.WriteString("users:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %s:\n    email: %s@example.test\n    password: %q\n", n, n, lu.hash)
	}
	return []byte(b.String())
}

// save writes data next to path and renames it over path, as editors and
// config tools save.
func save(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startBinary runs the built sso with env (and nothing of the developer's
// SSO_* settings) and returns it once it listens, as an instance whose
// helpers (do, login, auth) reach it.
func startBinary(t *testing.T, env map[string]string) (*testproc.Proc, *exec.Cmd, *instance) {
	t.Helper()
	bin := testproc.Build(t, "./cmd/sso")
	cmd := exec.Command(bin)
	cmd.Env = testproc.Environ("SSO_")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := testproc.Start(t, "sso", cmd)
	addr, err := p.WaitListening(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return p, cmd, &instance{addr: addr}
}

// lines returns the complete lines of out that match re.
func lines(out string, re *regexp.Regexp) []string {
	var m []string
	for _, l := range strings.Split(out[:strings.LastIndexByte(out, '\n')+1], "\n") {
		if re.MatchString(l) {
			m = append(m, l)
		}
	}
	return m
}

// poll calls check every 20ms until it returns "" or 2s pass, and returns
// how long that took; on timeout it fails with check's last complaint.
func poll(t *testing.T, check func() string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		problem := check()
		if problem == "" {
			return time.Since(start)
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("not within 2s: %s", problem)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive checks that the process is still there and answers.
func alive(t *testing.T, cmd *exec.Cmd, in *instance) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("sso is gone: %v", err)
	}
	if r := in.do(t, "GET", "http://login.example.test/healthz", "", nil); r.status != http.StatusOK {
		t.Fatalf("GET /healthz = %d, want 200", r.status)
	}
}

var (
	watchingLine = regexp.MustCompile(`msg="watching the users file for changes"`)
	reloadedLine = regexp.MustCompile(`msg="users file reloaded"`)
	refusedLine  = regexp.MustCompile(`level=ERROR msg="users file refused; the previous users stay in force"`)
)

// TestUsersFileRemovalRevokes runs the built binary on a users file with
// alice and bob, takes alice out of the file, and shows that her cookie,
// her API key and her JWT are all refused within 2s while bob goes on;
// then that a broken file is refused with one line and changes nothing;
// then that putting alice back revives her API key but not her session,
// which the removal ended in the store.
func TestUsersFileRemovalRevokes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	lu := newLiveUsers(t)
	path := filepath.Join(t.TempDir(), "users.yml")
	save(t, path, lu.render("alice", "bob"))
	env := prodEnv(t)
	env["SSO_USERS_FILE"] = path
	env["SSO_LOG_LEVEL"] = "info"
	p, cmd, in := startBinary(t, env)
	if _, err := p.WaitLine(5*time.Second, watchingLine); err != nil {
		t.Fatal(err)
	}

	alice, _ := in.login(t, "alice", testPassword)
	bob, _ := in.login(t, "bob", testPassword)
	aliceCookie := map[string]string{"Cookie": "sso_session=" + alice.Session.Value, "X-CSRF-Token": alice.CSRF}
	r := in.do(t, "POST", "http://login.example.test/api/keys", `{"name":"ci"}`, aliceCookie)
	var key struct{ ID, Key string }
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &key) != nil || key.Key == "" {
		t.Fatalf("POST /api/keys = %d %s, want 201 with a key", r.status, r.body)
	}
	r = in.do(t, "POST", "http://login.example.test/api/token", "", aliceCookie)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("POST /api/token = %d %s, want 200 with a token", r.status, r.body)
	}

	creds := map[string]map[string]string{
		"alice's cookie":  {"Cookie": "sso_session=" + alice.Session.Value},
		"alice's API key": {"X-API-Key": key.Key},
		"alice's JWT":     {"Authorization": "Bearer " + tok.AccessToken},
		"bob's cookie":    {"Cookie": "sso_session=" + bob.Session.Value},
	}
	// expect returns "" when each credential gets its status from /auth.
	expect := func(want map[string]int) func() string {
		return func() string {
			var wrong []string
			for name, code := range want {
				r := in.do(t, "GET", "http://api.example.test/auth", "", creds[name])
				if r.status != code {
					wrong = append(wrong, fmt.Sprintf("%s: %d, want %d", name, r.status, code))
				}
			}
			return strings.Join(wrong, "; ")
		}
	}
	allIn := map[string]int{"alice's cookie": 200, "alice's API key": 200, "alice's JWT": 200, "bob's cookie": 200}
	aliceOut := map[string]int{"alice's cookie": 401, "alice's API key": 401, "alice's JWT": 401, "bob's cookie": 200}
	if problem := expect(allIn)(); problem != "" {
		t.Fatalf("before any change: %s", problem)
	}

	save(t, path, lu.render("bob"))
	took := poll(t, expect(aliceOut))
	t.Logf("alice removed: her cookie, API key and JWT refused after %v", took.Round(time.Millisecond))
	if _, err := p.WaitLine(2*time.Second, regexp.MustCompile(`msg="ended the sessions of a user removed from or disabled in the users file" user=alice sessions=1`)); err != nil {
		t.Error(err)
	}
	if l := lines(p.Output(), reloadedLine); len(l) != 1 || !strings.Contains(l[0], "users=1 added=0 removed=1 disabled=0") {
		t.Errorf("reload lines = %q, want one with removed=1", l)
	}
	if r := in.do(t, "POST", "http://login.example.test/api/session", `{"username":"alice","password":"`+testPassword+`"}`, nil); r.status != http.StatusUnauthorized {
		t.Errorf("login of the removed alice = %d, want 401", r.status)
	}

	// A broken file: refused with one line, bob keeps working, alice stays out.
	broken := []byte("users:\n  bob:\n    password: \"" + lu.hash + "\"\n  alice: [\n")
	if err := os.WriteFile(path, broken, 0o600); err != nil {
		t.Fatal(err)
	}
	took = poll(t, func() string {
		if len(lines(p.Output(), refusedLine)) == 0 {
			return "no refusal logged"
		}
		return ""
	})
	t.Logf("broken file refused after %v", took.Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond) // any late event of the same write
	if problem := expect(aliceOut)(); problem != "" {
		t.Errorf("after the broken file: %s", problem)
	}
	refused := lines(p.Output(), refusedLine)
	if len(refused) != 1 || !strings.Contains(refused[0], "path="+path) || strings.Contains(p.Output(), lu.hash) {
		t.Errorf("refusal lines = %q, want one naming %s and no hash", refused, path)
	}
	alive(t, cmd, in)

	// alice is back: her API key works again (keys stay in the store, see
	// the README), her session does not (the removal ended it).
	save(t, path, lu.render("alice", "bob"))
	took = poll(t, expect(map[string]int{"alice's API key": 200, "bob's cookie": 200}))
	t.Logf("alice back after %v", took.Round(time.Millisecond))
	if problem := expect(map[string]int{"alice's cookie": 401})(); problem != "" {
		t.Errorf("after alice is back: %s (the removal should have ended her session)", problem)
	}
	if l := lines(p.Output(), regexp.MustCompile(`msg="users file is valid again|msg="users file reloaded".* added=1 `)); len(l) != 1 {
		t.Errorf("lines after the fix = %q, want one reload adding alice", l)
	}
}

// TestUsersFileSIGHUP: the users file is a symbolic link to a file in
// another directory, which the watcher does not see change; SIGHUP makes
// sso read it. SIGHUP never stops sso, with or without a users file.
func TestUsersFileSIGHUP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	lu := newLiveUsers(t)
	target := filepath.Join(t.TempDir(), "users.yml")
	save(t, target, lu.render("alice", "bob"))
	path := filepath.Join(t.TempDir(), "users.yml")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	env := prodEnv(t)
	env["SSO_USERS_FILE"] = path
	env["SSO_LOG_LEVEL"] = "debug"
	p, cmd, in := startBinary(t, env)
	// The watcher reads the file once when it starts (a change made before
	// had no event); change the target only after that.
	if _, err := p.WaitLine(5*time.Second, regexp.MustCompile(`level=DEBUG msg="users file unchanged"`)); err != nil {
		t.Fatal(err)
	}
	alice, _ := in.login(t, "alice", testPassword)
	bob, _ := in.login(t, "bob", testPassword)

	save(t, target, lu.render("bob"))
	time.Sleep(time.Second) // the watcher's chance to (wrongly) see it
	if code, _ := in.auth(t, alice.Session.Value); code != http.StatusOK {
		t.Fatalf("/auth for alice before SIGHUP = %d, want 200 (the watcher is not meant to see this change)", code)
	}

	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitLine(2*time.Second, regexp.MustCompile(`msg="SIGHUP: reloading the users file" path=`+regexp.QuoteMeta(path))); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitLine(2*time.Second, regexp.MustCompile(`msg="users file reloaded".* removed=1 `)); err != nil {
		t.Fatal(err)
	}
	took := poll(t, func() string {
		if code, _ := in.auth(t, alice.Session.Value); code != http.StatusUnauthorized {
			return fmt.Sprintf("/auth for alice = %d, want 401", code)
		}
		return ""
	})
	t.Logf("alice refused %v after SIGHUP (%v after the reload line)", time.Since(sent).Round(time.Millisecond), took.Round(time.Millisecond))
	if code, user := in.auth(t, bob.Session.Value); code != http.StatusOK || user != "bob" {
		t.Errorf("/auth for bob = %d %q, want 200 bob", code, user)
	}

	// Again, with nothing changed: an answer, and still alive.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitLine(2*time.Second, regexp.MustCompile(`level=INFO msg="users file unchanged"`)); err != nil {
		t.Fatal(err)
	}
	alive(t, cmd, in)
}

// TestSIGHUPWithoutUsersFile: in dev mode there is nothing to reload;
// SIGHUP says so and sso goes on.
func TestSIGHUPWithoutUsersFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	p, cmd, in := startBinary(t, map[string]string{"SSO_LISTEN": "127.0.0.1:0"})
	password := testproc.DemoPassword(p.Output())
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitLine(2*time.Second, regexp.MustCompile(`msg="SIGHUP: no users file to reload`)); err != nil {
		t.Fatal(err)
	}
	alive(t, cmd, in)
	in.login(t, "demo", password) // fails the test unless 201
}

// A password reset in the users file (a new hash for alice) ends her
// sessions and API keys: after a compromise, the attacker's session, and
// the key it could have minted, stop working at the reload. Bob, whose
// entry did not change, keeps his; alice signs in again with the new
// password and that session lives.
func TestPasswordChangeEndsSessionsAndKeys(t *testing.T) {
	lu := newLiveUsers(t)
	path := filepath.Join(t.TempDir(), "users.yml")
	save(t, path, lu.render("alice", "bob"))
	env := prodEnv(t)
	env["SSO_USERS_FILE"] = path
	env["SSO_LOG_LEVEL"] = "info"
	in := start(t, env)
	la, _ := in.login(t, "alice", testPassword)
	lb, _ := in.login(t, "bob", testPassword)
	r := in.do(t, "POST", "http://login.example.test/api/keys", `{"name":"ci"}`, withCSRF(la))
	var key struct{ ID, Key string }
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &key) != nil {
		t.Fatalf("POST /api/keys = %d %s", r.status, r.body)
	}
	apiKey := map[string]string{"X-API-Key": key.Key}
	for what, h := range map[string]map[string]string{"alice's session": cookie(la), "alice's key": apiKey, "bob's session": cookie(lb)} {
		if code := in.authWith(t, h); code != http.StatusOK {
			t.Fatalf("%s before the reset: /auth = %d", what, code)
		}
	}

	const newPassword = "a-new-password-after-the-reset"
	h, err := bcrypt.GenerateFromPassword([]byte(newPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	data := strings.Replace(string(lu.render("alice", "bob")), fmt.Sprintf("%q", lu.hash), fmt.Sprintf("%q", string(h)), 1)
	save(t, path, []byte(data))
	deadline := time.Now().Add(10 * time.Second)
	for in.authWith(t, cookie(la)) != http.StatusUnauthorized || in.authWith(t, apiKey) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatalf("alice's session %d, key %d 10s after her password changed; want 401 for both",
				in.authWith(t, cookie(la)), in.authWith(t, apiKey))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := in.authWith(t, cookie(lb)); code != http.StatusOK {
		t.Errorf("bob's session after alice's reset: /auth = %d, want 200", code)
	}
	la2, _ := in.login(t, "alice", newPassword)
	if code := in.authWith(t, cookie(la2)); code != http.StatusOK {
		t.Errorf("alice's new session: /auth = %d, want 200", code)
	}
	logs := in.stderr.String()
	for _, want := range []string{"event=session_revoked", "event=key_revoked", "via=users_file", "password_changed=[alice]"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}
