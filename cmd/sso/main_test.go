package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/ticket"
	"github.com/example/sso/users"
)

const testPassword = "hunter2 hunter2"

// TestMain lets testproc.Build build the binary once for every test.
func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) }

func envFunc(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func b64Key(b byte, n int) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, n))
}

// usersFile writes a users file with alice (bcrypt at minimum cost, so
// that logins are fast) and returns its path.
func usersFile(t *testing.T) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "users.yml")
	data := "users:\n  alice:\n    displayname: Alice\n    email: alice@example.test\n    password: \"" + string(h) + "\"\n    groups: [admins, dev]\n"
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// prodEnv is a complete, valid production configuration on plain HTTP.
func prodEnv(t *testing.T) map[string]string {
	return map[string]string{
		"SSO_LISTEN":         "127.0.0.1:0",
		"SSO_COOKIE_DOMAINS": "example.test",
		"SSO_COOKIE_SECURE":  "false",
		"SSO_LOGIN_URL":      "http://login.example.test",
		"SSO_SECRET_KEYS":    b64Key(1, 32),
		"SSO_USERS_FILE":     usersFile(t),
		"SSO_LOG_LEVEL":      "warn",
	}
}

type refusal struct {
	name    string
	set     map[string]string
	setting string // the line must name it
}

func refusals(t *testing.T) []refusal {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("users: [not, a, map]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []refusal{
		{"public suffix domain", map[string]string{"SSO_COOKIE_DOMAINS": "co.uk", "SSO_LOGIN_URL": "http://login.co.uk"}, "SSO_COOKIE_DOMAINS"},
		{"SameSite=None without Secure", map[string]string{"SSO_COOKIE_SAMESITE": "none"}, "SSO_COOKIE_SAMESITE"},
		{"short secret key", map[string]string{"SSO_SECRET_KEYS": b64Key(2, 16)}, "SSO_SECRET_KEYS"},
		{"short second key", map[string]string{"SSO_SECRET_KEYS": b64Key(1, 32) + "," + b64Key(2, 31)}, "SSO_SECRET_KEYS"},
		{"missing users file", map[string]string{"SSO_USERS_FILE": filepath.Join(dir, "missing.yml")}, "SSO_USERS_FILE"},
		{"users file is a directory", map[string]string{"SSO_USERS_FILE": dir}, "SSO_USERS_FILE"},
		{"malformed users file", map[string]string{"SSO_USERS_FILE": bad}, "SSO_USERS_FILE"},
		{"login origin outside CORS", map[string]string{"SSO_LOGIN_ORIGINS": "https://app.example.org"}, "SSO_LOGIN_ORIGINS"},
		{"login origin star", map[string]string{"SSO_LOGIN_ORIGINS": "*"}, "SSO_LOGIN_ORIGINS"},
		{"auth cache not a duration", map[string]string{"SSO_AUTH_CACHE": "2"}, "SSO_AUTH_CACHE"},
		{"auth cache too long", map[string]string{"SSO_AUTH_CACHE": "1h"}, "SSO_AUTH_CACHE"},
		{"mfa group with a blank", map[string]string{"SSO_MFA_REQUIRED_GROUPS": "admins,two words"}, "SSO_MFA_REQUIRED_GROUPS"},
		{"mfa issuer with a colon", map[string]string{"SSO_MFA_ISSUER": "a:b"}, "SSO_MFA_ISSUER"},
		{"oidc amr without oidc", map[string]string{"SSO_MFA_OIDC_AMR": "true"}, "SSO_MFA_OIDC_AMR"},
	}
}

func checkOneLine(t *testing.T, msg, setting string) {
	t.Helper()
	msg = strings.TrimSuffix(msg, "\n")
	if strings.Contains(msg, "\n") {
		t.Errorf("error is more than one line:\n%s", msg)
	}
	if !strings.Contains(msg, setting) {
		t.Errorf("error %q does not name %s", msg, setting)
	}
}

func TestStartupRefusals(t *testing.T) {
	for _, tc := range refusals(t) {
		t.Run(tc.name, func(t *testing.T) {
			env := prodEnv(t)
			for k, v := range tc.set {
				env[k] = v
			}
			var stdout, stderr testproc.Buffer
			listened := false
			err := serve(context.Background(), nil, envFunc(env), &stdout, &stderr, func(net.Addr) { listened = true })
			if err == nil {
				t.Fatal("serve returned nil, want a refusal")
			}
			if listened {
				t.Error("serve listened before refusing")
			}
			checkOneLine(t, err.Error(), tc.setting)
			for _, secret := range strings.Split(env["SSO_SECRET_KEYS"], ",") {
				if strings.Contains(err.Error(), secret) || strings.Contains(stderr.String(), secret) {
					t.Errorf("the refusal shows a secret key: %q / %q", err, stderr.String())
				}
			}
		})
	}
}

func TestBinaryStartupRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := testproc.Build(t, "./cmd/sso")
	for _, tc := range refusals(t) {
		t.Run(tc.name, func(t *testing.T) {
			env := prodEnv(t)
			for k, v := range tc.set {
				env[k] = v
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			cmd.Stdout = io.Discard
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("sso exited with %v, want a non-zero exit; stderr:\n%s", err, stderr.String())
			}
			var lines []string
			for _, l := range strings.Split(stderr.String(), "\n") {
				if strings.HasPrefix(l, "sso: ") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.Contains(lines[0], tc.setting) {
				t.Errorf("stderr has error lines %q, want one naming %s; stderr:\n%s", lines, tc.setting, stderr.String())
			}
		})
	}
}

// instance is one sso serving in a goroutine.
type instance struct {
	addr   string
	stderr *testproc.Buffer
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, env map[string]string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{stderr: &testproc.Buffer{}, cancel: cancel, done: make(chan error, 1)}
	addrc := make(chan string, 1)
	go func() {
		in.done <- serve(ctx, nil, envFunc(env), io.Discard, in.stderr, func(a net.Addr) { addrc <- a.String() })
	}()
	select {
	case in.addr = <-addrc:
	case err := <-in.done:
		cancel()
		t.Fatalf("serve returned before listening: %v\nstderr:\n%s", err, in.stderr.String())
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatalf("serve did not listen within 20s; stderr:\n%s", in.stderr.String())
	}
	t.Cleanup(func() { in.stop(t) })
	return in
}

// stop cancels the instance and waits for serve to return; it is safe to
// call twice.
func (in *instance) stop(t *testing.T) {
	t.Helper()
	in.cancel()
	select {
	case err, ok := <-in.done:
		if ok && err != nil {
			t.Errorf("serve returned %v after cancel, want nil", err)
		}
		if ok {
			close(in.done)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not return within 15s of cancel")
	}
}

// client reaches the instance under any *.example.test name.
func (in *instance) client(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, in.addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type result struct {
	status int
	header http.Header
	body   []byte
	cookie []*http.Cookie
}

func (in *instance) do(t *testing.T, method, url, body string, header map[string]string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	resp, err := in.client(t).Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, b, resp.Cookies()}
}

type login struct {
	Session struct{ Name, Value string }
	CSRF    string `json:"csrf_token"`
	User    struct{ Name string }
}

func (in *instance) login(t *testing.T, user, password string) (login, result) {
	t.Helper()
	r := in.do(t, "POST", "http://login.example.test/api/session", `{"username":"`+user+`","password":"`+password+`"}`, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("POST /api/session = %d, want 201; body %s", r.status, r.body)
	}
	var l login
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatal(err)
	}
	return l, r
}

// auth asks /auth with the cookie value and returns status and user.
func (in *instance) auth(t *testing.T, value string) (int, string) {
	t.Helper()
	h := map[string]string{}
	if value != "" {
		h["Cookie"] = "sso_session=" + value
	}
	r := in.do(t, "GET", "http://api.example.test/auth", "", h)
	return r.status, r.header.Get("X-Auth-User")
}

func TestDevMode(t *testing.T) {
	in := start(t, map[string]string{"SSO_LISTEN": "127.0.0.1:0"})
	password := testproc.DemoPassword(in.stderr.String())
	if password == "" {
		t.Fatalf("no demo password on stderr:\n%s", in.stderr.String())
	}
	if !strings.Contains(in.stderr.String(), "DEV MODE") {
		t.Errorf("dev mode is not announced loudly:\n%s", in.stderr.String())
	}

	l, r := in.login(t, "demo", password)
	var ck *http.Cookie
	for _, c := range r.cookie {
		if c.Name == "sso_session" {
			ck = c
		}
	}
	if ck == nil {
		t.Fatalf("no session cookie in %q", r.header.Values("Set-Cookie"))
	}
	if ck.Domain != "example.test" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Value != l.Session.Value {
		t.Errorf("session cookie = %q, want Domain=example.test; HttpOnly; SameSite=Lax and the value of the body", ck.String())
	}
	if code, user := in.auth(t, l.Session.Value); code != http.StatusOK || user != "demo" {
		t.Errorf("/auth with the cookie = %d %q, want 200 demo", code, user)
	}

	other, err := ticket.New("sso_session", [][]byte{bytes.Repeat([]byte{9}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := ticket.NewID()
	for name, v := range map[string]string{
		"none":    "",
		"forged":  other.Encode(id),
		"garbled": l.Session.Value[:len(l.Session.Value)-3] + "xyz",
		"junk":    "%%%;;,,",
	} {
		if code, user := in.auth(t, v); code != http.StatusUnauthorized || user != "" {
			t.Errorf("/auth with %s cookie = %d %q, want 401", name, code, user)
		}
	}
	if code, _ := in.auth(t, l.Session.Value); code != http.StatusOK {
		t.Errorf("/auth with the real cookie after the forgeries = %d, want 200", code)
	}

	// Listening on port 0, the login URL dev mode derives names the port
	// bound, not ":0".
	_, port, _ := net.SplitHostPort(in.addr)
	r = in.do(t, "GET", "http://api.example.test/auth", "", nil)
	if want := "http://login.example.test:" + port + "/login"; r.header.Get("X-Auth-Login-URL") != want {
		t.Errorf("X-Auth-Login-URL = %q, want %q", r.header.Get("X-Auth-Login-URL"), want)
	}
	if strings.Contains(in.stderr.String(), ":0/") || strings.Contains(in.stderr.String(), "example.test:0") {
		t.Errorf("the banner names port 0:\n%s", in.stderr.String())
	}
}

func TestHashPassword(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"hash-password"}, envFunc(nil), strings.NewReader("s3cret pass\n"), &out, &errb); err != nil {
		t.Fatalf("hash-password: %v (stderr %q)", err, errb.String())
	}
	h := strings.TrimSpace(out.String())
	if strings.Contains(h, "\n") || h == "" {
		t.Fatalf("hash-password printed %q, want one line", out.String())
	}
	for pw, want := range map[string]bool{"s3cret pass": true, "s3cret pass\n": false, "wrong": false} {
		ok, err := users.VerifyPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("VerifyPassword(%q, %q) = %v, %v; want %v", h, pw, ok, err, want)
		}
	}
	if strings.Contains(errb.String(), "s3cret") {
		t.Errorf("stderr shows the password: %q", errb.String())
	}

	for name, tc := range map[string]struct {
		args  []string
		stdin string
	}{
		"empty":       {nil, ""},
		"empty line":  {nil, "\n"},
		"an argument": {[]string{"s3cret"}, ""},
	} {
		out.Reset()
		if err := run(context.Background(), append([]string{"hash-password"}, tc.args...), envFunc(nil), strings.NewReader(tc.stdin), &out, io.Discard); err == nil {
			t.Errorf("hash-password with %s: nil error, want one", name)
		}
		if out.Len() != 0 {
			t.Errorf("hash-password with %s printed %q", name, out.String())
		}
	}
}

func TestVersionAndUsage(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, envFunc(nil), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "sso ") || len(strings.TrimSpace(out.String())) <= len("sso") {
		t.Errorf("version printed %q, want \"sso <version>\"", out.String())
	}
	var errb bytes.Buffer
	if err := run(context.Background(), []string{"frobnicate"}, envFunc(nil), nil, io.Discard, &errb); !errors.Is(err, errUsage) {
		t.Errorf("unknown command: err = %v, want errUsage", err)
	}
	if !strings.Contains(errb.String(), "frobnicate") || !strings.Contains(errb.String(), "usage") {
		t.Errorf("unknown command: stderr %q, want the command and the usage", errb.String())
	}
}
