package examples_test

import (
	"bytes"
	"context"
	"crypto/rand"
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
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/example/sso/apikey"
	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/internal/testredis"
	"github.com/example/sso/users"
)

// requireToolsEnv turns a missing python3-requests or curl from a skip into
// a failure (set it in CI).
const requireToolsEnv = "SSO_REQUIRE_TOOLS"

const python = "/usr/bin/python3" // Debian's, where python3-requests installs

// The user every flow logs in as. The password has a quote, a backslash and
// a space, which both scripts must escape correctly in the JSON they send.
const (
	testUser   = "alice"
	testEmail  = "alice@example.test"
	testGroups = "dev,ops" // as X-Auth-Groups carries them
)

// TestMain lets testproc.Build build cmd/sso once for every test.
func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) }

// TestClients runs the example clients end to end, each step in a process of
// its own, against a real sso binary: first one process on the in-memory
// store, then two processes sharing one Redis, where every credential made
// through one must work, and stop working, through the other.
func TestClients(t *testing.T) {
	havePython := checkPython(t)
	haveCurl := checkCurl(t)
	if !havePython && !haveCurl {
		t.Skip("neither python3-requests nor curl is installed")
	}

	bin := testproc.Build(t, "./cmd/sso")
	password := "pw " + randomHex(t, 12) + ` "q" \b`
	usersFile := writeUsers(t, password)

	t.Run("memory", func(t *testing.T) {
		srv := startSSO(t, bin, ssoConfig{users: usersFile, secret: randomKey(t)})
		t.Run("python", func(t *testing.T) {
			if !havePython {
				t.Skip("python3-requests is not installed")
			}
			pythonFlow(t, password, srv, srv)
		})
		t.Run("curl", func(t *testing.T) {
			if !haveCurl {
				t.Skip("curl is not installed")
			}
			curlFlow(t, password, srv)
		})
	})

	t.Run("redis", func(t *testing.T) {
		addr := testredis.Start(t)
		// Two replicas behind one public login URL: same keys, same store.
		cfg := ssoConfig{users: usersFile, secret: randomKey(t), redis: "redis://" + addr + "/0"}
		a := startSSO(t, bin, cfg)
		cfg.loginURL = a.loginURL
		b := startSSO(t, bin, cfg)
		t.Run("python", func(t *testing.T) {
			if !havePython {
				t.Skip("python3-requests is not installed")
			}
			pythonFlow(t, password, a, b)
		})
		t.Run("curl", func(t *testing.T) {
			if !haveCurl {
				t.Skip("curl is not installed")
			}
			curlFlow(t, password, b)
		})
	})
}

// pythonFlow drives examples/python/session_login.py. Credentials are made
// through a and used through b; with a == b it is one process.
func pythonFlow(t *testing.T, password string, a, b *ssoProc) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	keyFile := filepath.Join(dir, "key.txt")
	env := []string{"SSO_USER=" + testUser, "SSO_PASSWORD=" + password}
	py := func(srv *ssoProc, args ...string) result {
		t.Helper()
		full := append([]string{script(t, "python/session_login.py"),
			"--base", srv.base, "--connect", srv.addr, "--state", state, "--key-file", keyFile}, args...)
		return run(t, env, python, full...)
	}

	r := py(a, "login")
	r.wantOK(t, "login")
	r.wantStdout(t, "logged in as "+testUser+" ")
	wantPrivate(t, state)
	var st map[string]string
	readJSON(t, state, &st)
	for _, k := range []string{"name", "value", "csrf_token"} {
		if st[k] == "" {
			t.Fatalf("state file %s: field %q is empty in %v", state, k, st)
		}
	}

	r = py(b, "whoami")
	r.wantOK(t, "whoami")
	r.wantStdout(t, "user: "+testUser+"\n")
	r.wantStdout(t, "email: "+testEmail+"\n")
	r.wantStdout(t, "groups: "+testGroups+"\n")

	r = py(a, "create-key", "--name", "examples test")
	r.wantOK(t, "create-key")
	keyID := r.field(t, "key_id")
	key := r.field(t, "key")
	if !strings.HasPrefix(key, "sso_") {
		t.Fatalf("create-key printed key %q, want the sso_ prefix", key)
	}
	wantPrivate(t, keyFile)
	if b, err := os.ReadFile(keyFile); err != nil || strings.TrimSpace(string(b)) != key {
		t.Fatalf("key file %s = %q, %v; want the printed key", keyFile, b, err)
	}

	r = py(b, "use-key")
	r.wantOK(t, "use-key")
	r.wantStdout(t, "bearer: 200 user="+testUser+" groups="+testGroups+"\n")
	r.wantStdout(t, "x-api-key: 200 user="+testUser+" ")

	r = py(b, "token")
	r.wantOK(t, "token")
	tok := strings.TrimSpace(r.stdout)
	verifyJWT(t, tok, a, apikey.Hash(key))
	if got := authStatus(t, b, "Authorization", "Bearer "+tok); got != http.StatusOK {
		t.Fatalf("GET /auth with the JWT = %d, want 200", got)
	}

	r = py(a, "delete-key", keyID)
	r.wantOK(t, "delete-key")
	r = py(b, "use-key")
	r.wantFail(t, "use-key after delete-key", "HTTP 401", `"error": "unauthorized"`)
	// A JWT dies with the key it was minted from, on every instance sharing
	// the store, long before its exp. This is what docs/clients.md promises.
	if got := authStatus(t, b, "Authorization", "Bearer "+tok); got != http.StatusUnauthorized {
		t.Fatalf("GET /auth with a JWT of the deleted key = %d, want 401", got)
	}

	r = py(a, "logout", "--keep-state")
	r.wantOK(t, "logout")
	r = py(b, "whoami")
	r.wantFail(t, "whoami after logout", "HTTP 401", `"error": "unauthorized"`)

	r = py(a, "logout")
	r.wantOK(t, "second logout")
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after logout without --keep-state, stat %s: %v, want it removed", state, err)
	}

	bad := run(t, []string{"SSO_USER=" + testUser, "SSO_PASSWORD=wrong"}, python, script(t, "python/session_login.py"),
		"--base", a.base, "--connect", a.addr, "--state", state, "login")
	bad.wantFail(t, "login with a wrong password", "HTTP 401", "invalid_credentials")
}

// curlFlow runs examples/curl/session.sh, which asserts each step itself;
// here its exit status and its report are checked.
func curlFlow(t *testing.T, password string, srv *ssoProc) {
	env := []string{"SSO_BASE=" + srv.base, "SSO_CONNECT=127.0.0.1", "SSO_USER=" + testUser, "SSO_PASSWORD=" + password}
	r := run(t, env, "sh", script(t, "curl/session.sh"))
	r.wantOK(t, "session.sh")
	want := []string{
		"login: ok, cookie sso_session saved in the jar",
		"whoami (jar): " + testUser,
		"whoami (cookie header): " + testUser,
		"create key: ",
		"use key (bearer): " + testUser,
		"use key (x-api-key): " + testUser,
		"use token: " + testUser,
		"delete key: ok, the key and its JWT are refused now",
		"logout: ok, the old cookie value and its JWT are refused now",
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("session.sh printed %d lines, want %d:\n%s", len(lines), len(want), r.stdout)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("session.sh line %d = %q, want it to start with %q", i+1, lines[i], w)
		}
	}

	env[len(env)-1] = "SSO_PASSWORD=wrong"
	bad := run(t, env, "sh", script(t, "curl/session.sh"))
	bad.wantFail(t, "session.sh with a wrong password", "HTTP 401, want 201", "invalid_credentials")
}

// verifyJWT checks the client token tok with go-jose, a library sso does not
// use to sign, against the JWKS that srv publishes: its signature, its type
// and claims, and that it names the API key (by keyHash) it was minted
// from.
func verifyJWT(t *testing.T, tok string, srv *ssoProc, keyHash string) {
	t.Helper()
	resp := srv.get(t, "/.well-known/jwks.json", nil)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /.well-known/jwks.json = %d, %v", resp.StatusCode, err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS %s: %v", body, err)
	}

	type extraClaims struct {
		Use    string   `json:"token_use"`
		Key    string   `json:"key"`
		SID    string   `json:"sid"`
		Groups []string `json:"groups"`
	}
	parse := func(tok string) (jwt.Claims, extraClaims, error) {
		parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA})
		if err != nil {
			return jwt.Claims{}, extraClaims{}, fmt.Errorf("parse: %w", err)
		}
		if typ := parsed.Headers[0].ExtraHeaders[jose.HeaderType]; typ != "sso-access+jwt" {
			return jwt.Claims{}, extraClaims{}, fmt.Errorf("typ %v, want sso-access+jwt", typ)
		}
		keys := set.Key(parsed.Headers[0].KeyID)
		if len(keys) != 1 {
			return jwt.Claims{}, extraClaims{}, fmt.Errorf("kid %q: %d keys in the JWKS, want 1", parsed.Headers[0].KeyID, len(keys))
		}
		var std jwt.Claims
		var extra extraClaims
		if err := parsed.Claims(keys[0].Key, &std, &extra); err != nil {
			return jwt.Claims{}, extraClaims{}, fmt.Errorf("verify: %w", err)
		}
		return std, extra, nil
	}

	claims, extra, err := parse(tok)
	if err != nil {
		t.Fatalf("JWT from token: %v", err)
	}
	if extra.Use != "access" || extra.Key != keyHash || extra.SID != "" {
		t.Errorf("JWT token_use %q, key %q, sid %q; want access, the key's hash %q, no sid", extra.Use, extra.Key, extra.SID, keyHash)
	}
	groups := extra.Groups
	now := time.Now()
	err = claims.ValidateWithLeeway(jwt.Expected{
		Issuer:      srv.loginURL,
		AnyAudience: jwt.Audience{"example.test"},
		Subject:     testUser,
		Time:        now,
	}, 0)
	if err != nil {
		t.Fatalf("JWT claims %+v: %v", claims, err)
	}
	if claims.Expiry == nil || claims.IssuedAt == nil {
		t.Fatalf("JWT claims %+v: want exp and iat", claims)
	}
	if ttl := claims.Expiry.Time().Sub(claims.IssuedAt.Time()); ttl != 5*time.Minute {
		t.Errorf("JWT exp - iat = %v, want the default 5m", ttl)
	}
	if exp := claims.Expiry.Time(); exp.Before(now) || exp.After(now.Add(5*time.Minute+time.Minute)) {
		t.Errorf("JWT exp = %v, want within 5m of now (%v)", exp, now)
	}
	if strings.Join(groups, ",") != testGroups {
		t.Errorf("JWT groups = %q, want %q", groups, testGroups)
	}

	// The verifier must be able to say no: flip one byte of the payload.
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := bytes.Replace(payload, []byte(`"sub":"`+testUser+`"`), []byte(`"sub":"mallory"`), 1)
	if bytes.Equal(forged, payload) {
		t.Fatalf("JWT payload %s has no sub %q to forge", payload, testUser)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(forged)
	if _, _, err := parse(strings.Join(parts, ".")); err == nil {
		t.Errorf("a JWT with a forged sub verified against the JWKS")
	}
}

// authStatus is GET /auth with one credential header.
func authStatus(t *testing.T, srv *ssoProc, name, value string) int {
	t.Helper()
	resp := srv.get(t, "/auth", http.Header{name: {value}})
	resp.Body.Close()
	return resp.StatusCode
}

// ssoProc is one running sso binary.
type ssoProc struct {
	addr     string // 127.0.0.1:port, where to connect
	base     string // http://login.example.test:port, what to address
	loginURL string // SSO_LOGIN_URL, the JWT issuer
}

// get sends a request to the process with the Host header of its base URL.
func (p *ssoProc) get(t *testing.T, path string, h http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+p.addr+path, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	req.Host = strings.TrimPrefix(p.base, "http://")
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp
}

type ssoConfig struct {
	users    string
	secret   string
	redis    string // SSO_REDIS_URL, or "" for the in-memory store
	loginURL string // "" for http://login.example.test:<its own port>
}

// startSSO runs the binary on a free loopback port and waits for /healthz.
// A port can be taken between probing and binding: it retries.
func startSSO(t *testing.T, bin string, cfg ssoConfig) *ssoProc {
	t.Helper()
	var lastErr error
	for range 3 {
		p, err := tryStartSSO(t, bin, cfg)
		if err == nil {
			return p
		}
		lastErr = err
	}
	t.Fatalf("start sso: %v", lastErr)
	return nil
}

func tryStartSSO(t *testing.T, bin string, cfg ssoConfig) (*ssoProc, error) {
	port := testproc.FreePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	base := "http://login.example.test:" + strconv.Itoa(port)
	p := &ssoProc{addr: addr, base: base, loginURL: cfg.loginURL}
	if p.loginURL == "" {
		p.loginURL = base
	}
	env := []string{
		"SSO_LISTEN=" + addr,
		"SSO_COOKIE_DOMAINS=example.test",
		"SSO_COOKIE_SECURE=false",
		"SSO_LOGIN_URL=" + p.loginURL,
		"SSO_SECRET_KEYS=" + cfg.secret,
		"SSO_USERS_FILE=" + cfg.users,
	}
	if cfg.redis != "" {
		env = append(env, "SSO_REDIS_URL="+cfg.redis)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(cleanEnv(), env...)
	proc := testproc.Start(t, "sso on "+addr, cmd)
	if err := proc.Wait(15*time.Second, testproc.HTTPOK("http://"+addr+"/healthz")); err != nil {
		proc.Stop()
		return nil, err
	}
	return p, nil
}

func writeUsers(t *testing.T, password string) string {
	t.Helper()
	hash, err := users.HashPassword(password)
	if err != nil {
		t.Fatalf("users.HashPassword: %v", err)
	}
	yaml := fmt.Sprintf("users:\n  %s:\n    displayname: Alice Doe\n    email: %s\n    password: %q\n    groups: [%s]\n",
		testUser, testEmail, hash, strings.ReplaceAll(testGroups, ",", ", "))
	path := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatalf("write users file: %v", err)
	}
	return path
}

// result is what one script run did.
type result struct {
	name           string
	code           int
	stdout, stderr string
}

func (r result) wantOK(t *testing.T, step string) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: %s exited %d, want 0\nstdout:\n%s\nstderr:\n%s", step, r.name, r.code, r.stdout, r.stderr)
	}
}

// wantFail wants exit status 1 and every one of msgs on stderr.
func (r result) wantFail(t *testing.T, step string, msgs ...string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("%s: %s exited %d, want 1\nstdout:\n%s\nstderr:\n%s", step, r.name, r.code, r.stdout, r.stderr)
	}
	for _, m := range msgs {
		if !strings.Contains(r.stderr, m) {
			t.Errorf("%s: stderr = %q, want it to contain %q", step, r.stderr, m)
		}
	}
}

func (r result) wantStdout(t *testing.T, s string) {
	t.Helper()
	if !strings.Contains(r.stdout, s) {
		t.Errorf("%s: stdout = %q, want it to contain %q", r.name, r.stdout, s)
	}
}

// field is the value of a "name: value" line of stdout.
func (r result) field(t *testing.T, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `: (\S+)$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("%s: no %q line in stdout %q", r.name, name, r.stdout)
	}
	return m[1]
}

// run runs one command in a process of its own, with a clean environment
// plus env, and a deadline.
func run(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(cleanEnv(), "HOME="+t.TempDir()), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{name: filepath.Base(name) + " " + strings.Join(lastArgs(args), " "), stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	default:
		t.Fatalf("run %s: %v", name, err)
	}
	return r
}

// lastArgs names a script run by its subcommand, not its long option list.
func lastArgs(args []string) []string {
	if len(args) > 2 {
		return args[len(args)-2:]
	}
	return args
}

// cleanEnv is the test's environment without SSO_* and HOME, so neither a
// developer's settings nor their saved sessions leak into a run.
func cleanEnv() []string { return testproc.Environ("SSO_", "HOME=") }

func script(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(rel)
	if err != nil {
		t.Fatalf("script %s: %v", rel, err)
	}
	return p
}

func wantPrivate(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, mode)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// missingTool skips, or fails under SSO_REQUIRE_TOOLS=1, and reports false.
func missingTool(t *testing.T, format string, args ...any) bool {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if testproc.Required(requireToolsEnv) {
		t.Fatalf("%s and %s=1", msg, requireToolsEnv)
	}
	t.Logf("%s (set %s=1 to fail instead)", msg, requireToolsEnv)
	return false
}

func checkPython(t *testing.T) bool {
	t.Helper()
	if out, err := exec.Command(python, "-c", "import requests").CombinedOutput(); err != nil {
		return missingTool(t, "%s cannot import requests (apt-get install python3-requests): %v %s", python, err, out)
	}
	return true
}

func checkCurl(t *testing.T) bool {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		return missingTool(t, "curl not found (apt-get install curl): %v", err)
	}
	if _, err := exec.LookPath("sh"); err != nil {
		return missingTool(t, "sh not found: %v", err)
	}
	return true
}

func randomKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random key: %v", err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return fmt.Sprintf("%x", b)
}
