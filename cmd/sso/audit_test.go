package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/internal/testproc"
)

// The sso binary with SSO_LOG_FORMAT=json: every line on stderr is one
// JSON object; a login, a failed login, a logout and a users-file reload
// are events with their fields; no password, cookie or CSRF token is in
// the output.
func TestBinaryAuditJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := testproc.Build(t, "./cmd/sso")
	env := prodEnv(t)
	env["SSO_LOG_FORMAT"] = "json"
	env["SSO_LOG_LEVEL"] = "info"
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := testproc.Start(t, "sso", cmd)
	m, err := p.WaitLine(30*time.Second, regexp.MustCompile(`"msg":"sso listening".*"addr":"([^"]+)"`))
	if err != nil {
		t.Fatal(err)
	}
	addr := m[1]
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	send := func(method, body string, h map[string]string) (int, []byte) {
		t.Helper()
		r, _ := http.NewRequest(method, "http://login.example.test/api/session", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		for k, v := range h {
			r.Header.Set(k, v)
		}
		resp, err := client.Do(r)
		if err != nil {
			t.Fatalf("%s /api/session: %v", method, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	const ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	code, body := send("POST", `{"username":"alice","password":"`+testPassword+`"}`, map[string]string{"User-Agent": ua})
	var l login
	if err := json.Unmarshal(body, &l); code != http.StatusCreated || err != nil {
		t.Fatalf("login = %d %s", code, body)
	}
	const wrong = "hunter3 wrong"
	if code, body := send("POST", `{"username":"alice","password":"`+wrong+`"}`, map[string]string{"User-Agent": "curl/8.5.0"}); code != http.StatusUnauthorized {
		t.Fatalf("failed login = %d %s, want 401", code, body)
	}
	if code, body := send("DELETE", "", map[string]string{"User-Agent": ua, "Cookie": "sso_session=" + l.Session.Value, "X-CSRF-Token": l.CSRF}); code != http.StatusNoContent {
		t.Fatalf("logout = %d %s, want 204", code, body)
	}
	// The watcher reloads the users file after an edit: bob is added.
	data, err := os.ReadFile(env["SSO_USERS_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	bob := strings.Replace(strings.SplitN(string(data), "\n", 2)[1], "alice", "bob", 1)
	bob = strings.Replace(bob, "alice@example.test", "bob@example.test", 1)
	if err := os.WriteFile(env["SSO_USERS_FILE"], append(data, bob...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WaitLine(20*time.Second, regexp.MustCompile(`"event":"users_reloaded"`)); err != nil {
		t.Fatal(err)
	}
	p.Stop()

	var events []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.Output()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("stderr line is not one JSON object: %q", sc.Text())
		}
		if _, ok := rec["event"]; ok {
			events = append(events, rec)
		}
	}
	var got []string
	for _, e := range events {
		got = append(got, e["event"].(string))
	}
	if strings.Join(got, " ") != "login login_failed logout users_reloaded" {
		t.Fatalf("events %q, want login login_failed logout users_reloaded; output:\n%s", got, p.Output())
	}
	for i, want := range []map[string]any{
		{"user": "alice", "client": "127.0.0.1", "user_agent": "Chrome 131 · Windows", "outcome": "ok", "via": "api", "method": "pwd"},
		{"client": "127.0.0.1", "user_agent": "curl 8", "outcome": "invalid_credentials", "via": "api"},
		{"user": "alice", "client": "127.0.0.1", "user_agent": "Chrome 131 · Windows", "outcome": "ok", "via": "api"},
		{"outcome": "ok", "added": float64(1), "users": float64(2)},
	} {
		for k, v := range want {
			if events[i][k] != v {
				t.Errorf("%s event: %s = %#v, want %#v", got[i], k, events[i][k], v)
			}
		}
	}
	if s, _ := events[0]["session"].(string); len(s) != 16 || events[2]["session"] != s {
		t.Errorf("session hashes: login %v, logout %v; want the same 16 hex digits", events[0]["session"], events[2]["session"])
	}
	if _, ok := events[1]["user"]; ok {
		t.Errorf("the failed login names a user: %v", events[1])
	}
	for what, secret := range map[string]string{"password": testPassword, "wrong password": wrong, "cookie value": l.Session.Value, "CSRF token": l.CSRF} {
		if strings.Contains(p.Output(), secret) {
			t.Errorf("the output holds the %s", what)
		}
	}
}
