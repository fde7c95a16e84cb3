package soak

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
)

// TestMain lets testproc.Build build cmd/sso once for every test.
func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) }

// password is every test user's. Not a secret: the users file lives in a
// temporary directory and sso listens on loopback only while a test runs.
const password = "soak-password"

// requestTimeout bounds every request a client sends: an answer later than
// this is a hang, which the tests count and fail on. sso's own store calls
// give up within seconds (go-redis: 5 s to dial, 3 s per read), so only a
// stall no one bounds reaches it.
const requestTimeout = 15 * time.Second

// userName is the i-th test user. Each client logs in as a user of its
// own, so that one user's sessions stay well under
// SSO_SESSION_MAX_PER_USER (100): 50 clients of one user, each holding a
// few sessions, would have sso end the oldest ones, which the run would
// count as lost. (Parallel correct logins of one name are fine: 20 at once
// all get 201 since regulation counts only real failures.)
func userName(i int) string { return fmt.Sprintf("user%03d", i) }

// writeUsers writes a users file with n users (userName(0)…) and alice,
// all with password (bcrypt at its minimum cost, so that logins are
// cheap), and returns its path.
func writeUsers(t *testing.T, n int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("users:\n")
	add := func(name string) {
		fmt.Fprintf(&b, "  %s:\n    displayname: %s\n    email: %s@example.test\n    password: %q\n", name, name, name, h)
	}
	add("alice")
	for i := range n {
		add(userName(i))
	}
	p := filepath.Join(t.TempDir(), "users.yml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// baseEnv is a production configuration on plain HTTP for users file
// users; the caller adds the store.
func baseEnv(users string) map[string]string {
	return map[string]string{
		"SSO_LISTEN":         "127.0.0.1:0",
		"SSO_COOKIE_DOMAINS": "example.test",
		"SSO_COOKIE_SECURE":  "false",
		"SSO_LOGIN_URL":      "http://login.example.test",
		"SSO_SECRET_KEYS":    base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
		"SSO_USERS_FILE":     users,
	}
}

// instance is one built sso binary running with its own environment, and
// an HTTP client that reaches it under any *.example.test name.
type instance struct {
	name   string
	addr   string
	proc   *testproc.Proc
	client *http.Client
}

// startSSO builds cmd/sso (once per test binary, without the race
// detector) and runs it with env and nothing else of the caller's SSO_
// settings. It returns once sso listens.
func startSSO(t *testing.T, name string, env map[string]string, conns int) *instance {
	t.Helper()
	cmd := exec.Command(testproc.Build(t, "./cmd/sso"))
	cmd.Env = testproc.Environ("SSO_")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := testproc.Start(t, name, cmd)
	addr, err := p.WaitListening(30 * time.Second)
	if err != nil {
		t.Fatalf("soak: %v", err)
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		MaxIdleConnsPerHost: conns,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &instance{name: name, addr: addr, proc: p, client: &http.Client{
		Transport: tr,
		Timeout:   requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// answer is one request's outcome: status 0 when there was none.
type answer struct {
	status   int
	header   http.Header
	body     []byte
	err      error
	timedOut bool
	took     time.Duration
}

// do sends one request to the instance: host is the name it is addressed
// to (login.example.test for the API, api.example.test for /auth).
func (in *instance) do(ctx context.Context, method, host, path, body string, header map[string]string) answer {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequestWithContext(ctx, method, "http://"+host+path, rd)
	if err != nil {
		return answer{err: err}
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	begin := time.Now()
	resp, err := in.client.Do(r)
	if err != nil {
		var ne net.Error
		return answer{err: err, took: time.Since(begin),
			timedOut: errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: b, took: time.Since(begin)}
	if err != nil {
		var ne net.Error
		a.err, a.timedOut = err, errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil
	}
	return a
}

// cookie is a session as a client holds it.
type cookie struct {
	user, value, csrf string
}

// login is POST /api/session; ok when the answer is 201 with a cookie.
func (in *instance) login(ctx context.Context, user, pw string) (cookie, answer) {
	a := in.do(ctx, http.MethodPost, "login.example.test", "/api/session",
		fmt.Sprintf(`{"username":%q,"password":%q}`, user, pw), nil)
	if a.status != http.StatusCreated {
		return cookie{}, a
	}
	var out struct {
		Session struct {
			Value string `json:"value"`
		} `json:"session"`
		CSRF string `json:"csrf_token"`
	}
	if err := json.Unmarshal(a.body, &out); err != nil || out.Session.Value == "" {
		a.err = fmt.Errorf("login answer %q has no cookie value (%v)", a.body, err)
		return cookie{}, a
	}
	return cookie{user: user, value: out.Session.Value, csrf: out.CSRF}, a
}

// auth is GET /auth with the session cookie, as nginx's subrequest asks.
func (in *instance) auth(ctx context.Context, c cookie) answer {
	return in.do(ctx, http.MethodGet, "api.example.test", "/auth", "", map[string]string{"Cookie": "sso_session=" + c.value})
}

// logout is DELETE /api/session with the cookie and its CSRF token.
func (in *instance) logout(ctx context.Context, c cookie) answer {
	return in.do(ctx, http.MethodDelete, "login.example.test", "/api/session", "", map[string]string{
		"Cookie": "sso_session=" + c.value, "X-CSRF-Token": c.csrf,
	})
}

// api is a JSON API call with the session cookie (and its CSRF token for
// an unsafe method).
func (in *instance) api(ctx context.Context, method, path, body string, c cookie) answer {
	h := map[string]string{"Cookie": "sso_session=" + c.value}
	if method != http.MethodGet {
		h["X-CSRF-Token"] = c.csrf
	}
	return in.do(ctx, method, "login.example.test", path, body, h)
}

func (a answer) String() string {
	if a.status == 0 {
		return fmt.Sprintf("no answer (%v)", a.err)
	}
	return fmt.Sprintf("%d %s", a.status, bytes.TrimSpace(a.body))
}
