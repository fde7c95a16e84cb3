//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sso/internal/testredis"
	"github.com/example/sso/nginx/nginxtest"
	"github.com/example/sso/users"
)

const (
	domain   = "example.test"
	evilHost = "evil.test"          // another site
	sibling  = "other.example.test" // same site, not in SSO_CORS_ORIGINS
	username = "alice"
	email    = "alice@example.test"
)

// stack is everything the browser talks to: nginx in front of sso (with
// redis) and of the demo API, plus two static hostile pages.
type stack struct {
	nginx    *nginxtest.Server
	port     int    // nginx https port, in every URL
	caFile   string // PEM of the test CA, for curl
	spki     string // base64 SHA-256 of the leaf's SubjectPublicKeyInfo, for Chromium
	password string // alice's
	api      *recorder
	logs     map[string]*logBuffer // "sso", "demoapi"
}

// url returns https://<host>:<port><path>; host is a full name ("evil.test")
// or a label under the domain ("app").
func (s *stack) url(host, path string) string {
	if !strings.Contains(host, ".") {
		host += "." + domain
	}
	return "https://" + host + ":" + strconv.Itoa(s.port) + path
}

func (s *stack) origin(host string) string { return s.url(host, "") }

// startStack builds cmd/sso and cmd/demoapi and starts redis-server, sso,
// demoapi (behind a recording proxy) and nginx. Everything stops when t ends.
func startStack(t *testing.T) *stack {
	t.Helper()
	begin := time.Now()
	bins := buildBinaries(t)
	redisAddr := testredis.Start(t)

	// The https port is needed before nginx starts: sso's login URL names it.
	port := freePort(t)
	s := &stack{port: port, password: "correct horse battery staple", logs: map[string]*logBuffer{}}

	hash, err := users.HashPassword(s.password)
	if err != nil {
		t.Fatal(err)
	}
	cfgDir := t.TempDir()
	usersFile := filepath.Join(cfgDir, "users.yml")
	writeFile(t, usersFile, fmt.Sprintf("users:\n  %s:\n    displayname: Alice Doe\n    email: %s\n    password: %q\n    groups: [admins, dev]\n", username, email, hash))
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}

	apiAddr, apiLog := startProcess(t, "demoapi", filepath.Join(bins, "demoapi"), []string{"DEMOAPI_LISTEN=127.0.0.1:0"})
	s.logs["demoapi"] = apiLog
	s.api = startRecorder(t, apiAddr)

	ssoEnv := []string{
		"SSO_LISTEN=127.0.0.1:0",
		"SSO_COOKIE_DOMAINS=" + domain,
		"SSO_COOKIE_SECURE=true",
		"SSO_LOGIN_URL=" + s.origin("login"),
		"SSO_REDIS_URL=redis://" + redisAddr,
		"SSO_SECRET_KEYS=" + base64.StdEncoding.EncodeToString(key),
		"SSO_USERS_FILE=" + usersFile,
		"SSO_CORS_ORIGINS=" + s.origin("app") + "," + s.origin("login"),
		"SSO_TRUSTED_PROXIES=127.0.0.1/32",
	}
	ssoAddr, ssoLog := startProcess(t, "sso", filepath.Join(bins, "sso"), ssoEnv)
	s.logs["sso"] = ssoLog

	// The same page compose serves, and one hostile page for the two other
	// hosts: it reports in the DOM what its credentialed requests to the API
	// could read, and post.html submits a cross-site form to the API.
	appPage, err := os.ReadFile(filepath.Join("..", "deploy", "app", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	web := t.TempDir()
	writeFile(t, filepath.Join(web, "app", "index.html"), string(appPage))
	writeFile(t, filepath.Join(web, "sites", "index.html"), hostilePage)
	writeFile(t, filepath.Join(web, "sites", "post.html"), hostileForm)

	s.nginx = nginxtest.Start(t, nginxtest.Options{
		Vars: map[string]string{
			"SSO_UPSTREAM": ssoAddr,
			"API_UPSTREAM": s.api.addr,
			"HTTPS_PORT":   strconv.Itoa(port),
			"APP_ROOT":     filepath.Join(web, "app"),
		},
		Hosts: []string{domain, "*." + domain, evilHost},
		ExtraHTTP: `
server {
    listen ${LISTEN_ADDR}:${HTTPS_PORT} ssl;
    server_name ` + evilHost + ` ` + sibling + `;
    root ` + filepath.Join(web, "sites") + `;
    location / { try_files $uri =404; }
}`,
	})
	s.caFile = filepath.Join(s.nginx.Dir, "tls", "ca.pem")
	s.spki = leafSPKIHash(t, s.nginx.TLS.CertPEM)
	t.Logf("stack up in %v: nginx https on %d, sso %s, demoapi %s (via recorder %s), redis %s",
		time.Since(begin).Round(time.Millisecond), port, ssoAddr, apiAddr, s.api.addr, redisAddr)
	return s
}

// hostilePage runs on evil.test (another site) and on other.example.test (a
// sibling that SSO_CORS_ORIGINS does not list). It tries to read the API with
// the user's cookie and to send a preflighted PUT, and writes what happened
// into the DOM: "read <status> <body>" or the rejection ("TypeError: ...").
const hostilePage = `<!doctype html>
<meta charset="utf-8"><title>hostile</title>
<body data-state="loading">
<pre id="fetch-result"></pre>
<pre id="put-result"></pre>
<script>
"use strict";
const api = "https://api.example.test" + (location.port ? ":" + location.port : "");
async function attempt(path, init) {
  try {
    const resp = await fetch(api + path, init);
    return "read " + resp.status + " " + await resp.text();
  } catch (e) {
    return e.name + ": " + e.message;
  }
}
Promise.all([
  attempt("/me", { credentials: "include" }),
  attempt("/items/1", {
    method: "PUT", credentials: "include",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": "guessed" },
    body: JSON.stringify({ name: "forged" }),
  }),
]).then(([me, put]) => {
  document.getElementById("fetch-result").textContent = me;
  document.getElementById("put-result").textContent = put;
  document.body.dataset.state = "done";
});
</script>
</body>
`

// hostileForm submits a classic cross-site form POST to the API on load: no
// preflight, and the browser navigates to whatever the API answers.
const hostileForm = `<!doctype html>
<meta charset="utf-8"><title>hostile form</title>
<body>
<form id="forged" method="post">
<input type="hidden" name="name" value="forged">
</form>
<script>
"use strict";
const f = document.getElementById("forged");
f.action = "https://api.example.test" + (location.port ? ":" + location.port : "") + "/items/1";
f.submit();
</script>
</body>
`

// buildBinaries builds cmd/sso and cmd/demoapi once per run into a temporary
// directory (the go build cache makes repeated runs fast).
func buildBinaries(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("e2e: the go command is needed to build cmd/sso: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	begin := time.Now()
	cmd := exec.Command(goBin, "build", "-o", dir+string(filepath.Separator), "./cmd/sso", "./cmd/demoapi")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("e2e: go build ./cmd/sso ./cmd/demoapi: %v\n%s", err, out)
	}
	t.Logf("built cmd/sso and cmd/demoapi in %v", time.Since(begin).Round(time.Millisecond))
	return dir
}

// listening matches the start-up log line of sso and demoapi (slog text):
// msg="sso listening" addr=127.0.0.1:41234.
var listening = regexp.MustCompile(`msg="\w+ listening" addr=(\S+)`)

// startProcess runs bin with env (on top of an environment without any SSO_
// variable of the caller), waits for its "listening" log line and returns the
// bound address. The process gets SIGINT when t ends.
func startProcess(t *testing.T, name, bin string, env []string) (string, *logBuffer) {
	t.Helper()
	cmd := exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSO_") && !strings.HasPrefix(kv, "DEMOAPI_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	log := &logBuffer{}
	cmd.Stdout = log
	if err := cmd.Start(); err != nil {
		t.Fatalf("e2e: start %s: %v", name, err)
	}
	addrc := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = log.Write([]byte(line + "\n"))
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(log, stderr)
	}()
	exited := make(chan error, 1)
	go func() {
		<-copied // Wait closes the pipe: read everything first
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, log.String())
		}
	})
	select {
	case addr := <-addrc:
		return addr, log
	case err := <-exited:
		t.Fatalf("e2e: %s exited before listening: %v\n%s", name, err, log.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("e2e: %s not listening after 20s:\n%s", name, log.String())
	}
	return "", nil
}

// recorder is a reverse proxy in front of the demo API that remembers what
// reached the upstream, so tests can prove that a request never got there.
type recorder struct {
	addr string
	mu   sync.Mutex
	reqs []apiRequest
}

// apiRequest is what the upstream API received.
type apiRequest struct {
	Method, Path, Origin, User string
	Cookie                     bool // a Cookie header reached the upstream
}

func (r apiRequest) String() string {
	return fmt.Sprintf("%s %s origin=%q user=%q cookie=%v", r.Method, r.Path, r.Origin, r.User, r.Cookie)
}

func startRecorder(t *testing.T, upstream string) *recorder {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: upstream}
	rec := &recorder{}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec.addr = ln.Addr().String()
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec.mu.Lock()
			rec.reqs = append(rec.reqs, apiRequest{
				Method: r.Method, Path: r.URL.RequestURI(), Origin: r.Header.Get("Origin"),
				User: r.Header.Get("X-Auth-User"), Cookie: r.Header.Get("Cookie") != "",
			})
			rec.mu.Unlock()
			proxy.ServeHTTP(w, r)
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return rec
}

// mark returns a position; since(mark) lists the requests after it.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reqs)
}

func (r *recorder) since(mark int) []apiRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]apiRequest(nil), r.reqs[mark:]...)
}

// leafSPKIHash returns what --ignore-certificate-errors-spki-list wants: the
// base64 SHA-256 of the leaf certificate's SubjectPublicKeyInfo. Chromium then
// accepts this one key and nothing else; --ignore-certificate-errors would
// accept anything.
func leafSPKIHash(t *testing.T, certPEM []byte) string {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("e2e: no PEM block in the leaf certificate")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("e2e: leaf certificate: %v", err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
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

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// logBuffer collects a process's output while tests read it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// required reports whether env is "1": a missing tool then fails the test.
func required(env string) bool { return os.Getenv(env) == "1" }

// requireTool skips (or fails, when env=1) when name is not installed.
func requireTool(t *testing.T, env string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if required(env) {
		t.Fatalf("e2e: none of %v installed and %s=1", names, env)
	}
	t.Skipf("e2e: none of %v installed; set %s=1 to fail instead", names, env)
	return ""
}

// withTimeout is context.WithTimeout on Background, for steps outside the
// browser.
func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
