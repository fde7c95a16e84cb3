//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/internal/testredis"
	"github.com/example/sso/nginx/nginxtest"
)

const (
	domain     = "example.test"
	evilHost   = "evil.test"           // another site
	sibling    = "other.example.test"  // same site, not in SSO_CORS_ORIGINS
	blogHost   = "blog.example.test"   // hostile sibling: tosses cookies for the parent domain
	optHost    = "optin.example.test"  // a second hub: sso with the default SSO_LOGIN_ORIGINS (none)
	secureHost = "secure.example.test" // an upstream behind /auth?factor=2
	username   = "alice"
	email      = "alice@example.test"
	attacker   = "bob" // the hostile sibling's own account
)

// TestMain lets testproc.Build share cmd/sso and cmd/demoapi between tests.
func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) }

// stack is everything the browser talks to: nginx in front of sso (with
// redis) and of the demo API, plus two static hostile pages.
type stack struct {
	nginx    *nginxtest.Server
	port     int    // nginx https port, in every URL
	caFile   string // PEM of the test CA, for curl
	spki     string // base64 SHA-256 of the leaf's SubjectPublicKeyInfo, for Chromium
	password string // alice's
	bobPass  string // the attacker's
	api      *recorder
	procs    map[string]*testproc.Proc // "sso", "sso-optin", "demoapi"
	chrome   *chromium                 // shared by the scenarios, each in a browser context
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
// a second sso on the same redis with SSO_LOGIN_ORIGINS, demoapi (behind a
// recording proxy) and nginx. Everything stops when t ends.
func startStack(t *testing.T) *stack {
	t.Helper()
	begin := time.Now()
	ssoBin, apiBin := testproc.Build(t, "./cmd/sso"), testproc.Build(t, "./cmd/demoapi")
	redisAddr := testredis.Start(t)

	// The https port is needed before nginx starts: sso's login URL names it.
	port := testproc.FreePort(t)
	s := &stack{port: port, password: "correct horse battery staple", bobPass: "bob's own password", procs: map[string]*testproc.Proc{}}

	// Hashed by sso hash-password, as an operator makes the users file:
	// argon2id in this test binary, built with -race, takes seconds.
	hashes := hashPasswords(t, ssoBin, s.password, s.bobPass)
	hash, bobHash := hashes[0], hashes[1]
	cfgDir := t.TempDir()
	usersFile := filepath.Join(cfgDir, "users.yml")
	writeFile(t, usersFile, fmt.Sprintf("users:\n"+
		"  %s:\n    displayname: Alice Doe\n    email: %s\n    password: %q\n    groups: [admins, dev]\n"+
		"  %s:\n    displayname: Bob Mallory\n    email: bob@example.test\n    password: %q\n    groups: [dev]\n",
		username, email, hash, attacker, bobHash))
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}

	apiProc := s.startProcess(t, "demoapi", apiBin, []string{"DEMOAPI_LISTEN=127.0.0.1:0"})

	ssoEnv := []string{
		"SSO_LISTEN=127.0.0.1:0",
		"SSO_COOKIE_DOMAINS=" + domain,
		"SSO_COOKIE_SECURE=true",
		"SSO_LOGIN_URL=" + s.origin("login"),
		"SSO_REDIS_URL=redis://" + redisAddr,
		"SSO_SECRET_KEYS=" + base64.StdEncoding.EncodeToString(key),
		"SSO_USERS_FILE=" + usersFile,
		"SSO_CORS_ORIGINS=" + s.origin("app") + "," + s.origin("login"),
		// The demo app is first-party: it reads the session and its CSRF
		// token from the hub and logs out through the hub's API.
		"SSO_LOGIN_ORIGINS=" + s.origin("app"),
		"SSO_TRUSTED_PROXIES=127.0.0.1/32",
	}
	ssoProc := s.startProcess(t, "sso", ssoBin, ssoEnv)
	// The same sessions and keys behind another host with the default
	// SSO_LOGIN_ORIGINS (none): its API admits no page but its own
	// (LoginOriginsOptIn).
	optEnv := append(slices.Clip(ssoEnv), "SSO_LOGIN_URL="+s.origin(optHost), "SSO_LOGIN_ORIGINS=")
	optProc := s.startProcess(t, "sso-optin", ssoBin, optEnv)
	// Started together, waited for one after the other.
	apiAddr, ssoAddr, optAddr := s.waitListening(t, apiProc), s.waitListening(t, ssoProc), s.waitListening(t, optProc)
	s.api = startRecorder(t, apiAddr)

	// The same page compose serves, and one hostile page for the two other
	// hosts: it reports in the DOM what its credentialed requests to the API
	// could read, and post.html submits a cross-site form to the API.
	appPage, err := os.ReadFile(filepath.Join("..", "deploy", "app", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	web := t.TempDir()
	writeFile(t, filepath.Join(web, "app", "index.html"), string(appPage))
	// The app at a longer path too: a cookie a sibling tosses at /inbox is
	// sent with it, and not with /.
	writeFile(t, filepath.Join(web, "app", "inbox", "index.html"), string(appPage))
	writeFile(t, filepath.Join(web, "sites", "index.html"), hostilePage)
	writeFile(t, filepath.Join(web, "sites", "post.html"), hostileForm)
	writeFile(t, filepath.Join(web, "sites", "toss.html"), tossPage)
	writeFile(t, filepath.Join(web, "sites", "form.html"), autoForm)

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
    server_name ` + evilHost + ` ` + sibling + ` ` + blogHost + `;
    root ` + filepath.Join(web, "sites") + `;
    location / { try_files $uri =404; }
    # The sibling's server tossing by Set-Cookie, HttpOnly (no script of
    # the victim's pages can see it): ?name=&value=&path= (raw, not decoded).
    location = /set-cookie {
        default_type text/plain;
        add_header Set-Cookie "$arg_name=$arg_value; Domain=` + domain + `; Path=$arg_path; Secure; HttpOnly; SameSite=Lax" always;
        return 200 "set\n";
    }
}
server {
    # An upstream that asks for a second factor, per location, the way
    # ?group= is asked (passkey_test.go).
    listen ${LISTEN_ADDR}:${HTTPS_PORT} ssl;
    server_name ` + secureHost + `;
    include snippets/sso-protect.conf;
    location / {
        set $sso_auth_query "?factor=2";
        proxy_pass http://sso_demo_api;
        proxy_http_version 1.1;
    }
}
server {
    listen ${LISTEN_ADDR}:${HTTPS_PORT} ssl;
    server_name ` + optHost + `;
    location / {
        proxy_pass http://` + optAddr + `;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For   $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host  $http_host;
        proxy_set_header X-Original-Method "";
        proxy_set_header X-Original-URL    "";
    }
}`,
	})
	s.caFile = filepath.Join(s.nginx.Dir, "tls", "ca.pem")
	s.spki = leafSPKIHash(t, s.nginx.TLS.CertPEM)
	t.Logf("stack up in %v: nginx https on %d, sso %s (with SSO_LOGIN_ORIGINS: %s), demoapi %s (via recorder %s), redis %s",
		time.Since(begin).Round(time.Millisecond), port, ssoAddr, optAddr, apiAddr, s.api.addr, redisAddr)
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

// tossPage is the hostile sibling's cookie tosser (served on blog.example.test,
// and on the other hostile hosts). Its fragment is base64 of a JSON list of
// cookie strings, each written to document.cookie as a sibling's script may:
// "sso_session=<value>; Domain=example.test; Path=/inbox; Secure". What the
// browser kept is read through the DevTools protocol, not from this page
// (a cookie at another Path is invisible to it).
const tossPage = `<!doctype html>
<meta charset="utf-8"><title>toss</title>
<body data-state="loading">
<script>
"use strict";
for (const c of JSON.parse(atob(location.hash.slice(1)))) document.cookie = c;
document.body.dataset.state = "done";
</script>
</body>
`

// autoForm is a hostile page that auto-submits a form POST on load, as a
// forged login or sign-out would. Its fragment is base64 of
// {"action": URL, "fields": {name: value}}.
const autoForm = `<!doctype html>
<meta charset="utf-8"><title>auto form</title>
<body>
<form id="forged" method="post"></form>
<script>
"use strict";
const spec = JSON.parse(atob(location.hash.slice(1)));
const f = document.getElementById("forged");
f.action = spec.action;
for (const [name, value] of Object.entries(spec.fields)) {
  const i = document.createElement("input");
  i.type = "hidden"; i.name = name; i.value = value;
  f.appendChild(i);
}
f.submit();
</script>
</body>
`

// hashPasswords runs `sso hash-password` for each password, side by side,
// and returns the hashes in order.
func hashPasswords(t *testing.T, ssoBin string, passwords ...string) []string {
	t.Helper()
	ctx, cancel := withTimeout(30 * time.Second)
	defer cancel()
	hashes := make([]string, len(passwords))
	errs := make([]error, len(passwords))
	var wg sync.WaitGroup
	for i, pw := range passwords {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, ssoBin, "hash-password")
			cmd.Env = testproc.Environ("SSO_")
			cmd.Stdin = strings.NewReader(pw + "\n")
			out, err := cmd.Output()
			hashes[i] = strings.TrimSpace(string(out))
			if err == nil && !strings.HasPrefix(hashes[i], "$argon2id$") {
				err = fmt.Errorf("output %q is no argon2id hash", out)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("e2e: sso hash-password: %v", err)
		}
	}
	return hashes
}

// startProcess runs bin with env (on top of an environment without any SSO_
// or DEMOAPI_ variable of the caller). The process gets SIGINT when t ends.
func (s *stack) startProcess(t *testing.T, name, bin string, env []string) *testproc.Proc {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(testproc.Environ("SSO_", "DEMOAPI_"), env...)
	p := testproc.Start(t, name, cmd)
	s.procs[name] = p
	return p
}

// waitListening waits for p's "listening" log line and returns the bound
// address.
func (s *stack) waitListening(t *testing.T, p *testproc.Proc) string {
	t.Helper()
	addr, err := p.WaitListening(20 * time.Second)
	if err != nil {
		t.Fatalf("e2e: %v", err)
	}
	return addr
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
	Groups                     string // X-Auth-Groups as the upstream received it
	Host, AMR                  string // the Host nginx sent; X-Auth-AMR
	Cookie                     bool   // a Cookie header reached the upstream
	SessionCookie              bool   // sso's own session cookie reached it
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
				User: r.Header.Get("X-Auth-User"), Groups: r.Header.Get("X-Auth-Groups"), Cookie: r.Header.Get("Cookie") != "",
				Host: r.Host, AMR: r.Header.Get("X-Auth-AMR"),
				SessionCookie: slices.ContainsFunc(r.Cookies(), func(c *http.Cookie) bool { return c.Name == cookieName }),
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

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// withTimeout is context.WithTimeout on Background, for steps outside the
// browser.
func withTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
