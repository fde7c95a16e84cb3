package demo_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/demo"
	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/nginx/nginxtest"
)

func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) }

// The demo comes up from the repository, its pages answer through nginx,
// the demo login works end to end (hub → cookie → api. and /auth), and
// Stop leaves no process or directory behind.
func TestDemo(t *testing.T) {
	st, opt := startDemo(t)

	banner := st.Banner()
	for _, want := range []string{
		st.URL("app", "/"), st.URL("login", "/login"), demo.User + " / " + demo.Password,
		`--host-resolver-rules="MAP *.example.test 127.0.0.1"`,
		"127.0.0.1 login.example.test app.example.test api.example.test",
		"--ignore-certificate-errors-spki-list=" + st.SPKIHash, st.CAFile,
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	if (st.RedisAddr != "") != (opt.Redis != "") || (opt.Redis != "" && !strings.Contains(banner, "redis-server on "+st.RedisAddr)) {
		t.Errorf("Redis %q found, stack says %q; banner:\n%s", opt.Redis, st.RedisAddr, banner)
	}

	c := client(t, st)
	appOrigin := strings.TrimSuffix(st.URL("app", "/"), "/")

	// The login page, through nginx.
	r := do(t, c, "GET", st.URL("login", "/login"), "", nil)
	if r.status != http.StatusOK || !strings.Contains(r.body, `name="password"`) {
		t.Errorf("login page: %d\n%s", r.status, r.body)
	}
	// Not logged in: a page navigation to app. goes to the hub, a fetch
	// to api. gets 401, /auth says 401.
	r = do(t, c, "GET", st.URL("app", "/"), "", map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"})
	if loc := r.header.Get("Location"); r.status != http.StatusFound || !strings.HasPrefix(loc, st.URL("login", "/login?")) {
		t.Errorf("app page without a session: %d Location %q, want 302 to the hub", r.status, loc)
	}
	if r = do(t, c, "GET", st.URL("api", "/me"), "", map[string]string{"Origin": appOrigin}); r.status != http.StatusUnauthorized {
		t.Errorf("api without a session: %d, want 401", r.status)
	}
	if r = do(t, c, "GET", st.URL("login", "/auth"), "", nil); r.status != http.StatusUnauthorized {
		t.Errorf("/auth without a session: %d, want 401", r.status)
	}

	// Log in with the demo credentials at the hub.
	r = do(t, c, "POST", st.URL("login", "/api/session"), `{"username":"`+demo.User+`","password":"`+demo.Password+`"}`,
		map[string]string{"Content-Type": "application/json"})
	if r.status != http.StatusCreated {
		t.Fatalf("login: %d %s", r.status, r.body)
	}

	// The app page, and the API as the page's credentialed fetch sees it.
	r = do(t, c, "GET", st.URL("app", "/"), "", map[string]string{"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"})
	if r.status != http.StatusOK || !strings.Contains(r.body, `credentials: "include"`) {
		t.Errorf("app page with a session: %d\n%.300s", r.status, r.body)
	}
	r = do(t, c, "GET", st.URL("api", "/me"), "", map[string]string{"Origin": appOrigin, "Sec-Fetch-Mode": "cors"})
	var me struct {
		User string `json:"user"`
	}
	if err := json.Unmarshal([]byte(r.body), &me); r.status != http.StatusOK || err != nil || me.User != demo.User {
		t.Errorf("api /me with a session: %d %s (%v), want 200 for %s", r.status, r.body, err, demo.User)
	}
	if got := r.header.Get("Access-Control-Allow-Origin"); got != appOrigin || r.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("api /me CORS: Allow-Origin %q Allow-Credentials %q, want %s and true", got, r.header.Get("Access-Control-Allow-Credentials"), appOrigin)
	}
	// The page reads its CSRF token from the hub: a first-party origin.
	r = do(t, c, "GET", st.URL("login", "/api/session"), "", map[string]string{"Origin": appOrigin})
	if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Errorf("hub /api/session from the app: %d, Allow-Origin %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
	// /auth through nginx, as a script asks it.
	r = do(t, c, "GET", st.URL("login", "/auth"), "", nil)
	if r.status != http.StatusOK || r.header.Get("X-Auth-User") != demo.User {
		t.Errorf("/auth with a session: %d X-Auth-User %q", r.status, r.header.Get("X-Auth-User"))
	}

	// Stop: nothing left listening, the directory gone.
	dir, port := st.Dir, st.Port
	st.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("after Stop, %s: %v; want it removed", dir, err)
	}
	for _, addr := range []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), st.SSOAddr, st.RedisAddr} {
		if addr == "" {
			continue
		}
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("after Stop, %s still accepts connections", addr)
		}
	}
}

func client(t *testing.T, st *demo.Stack) *http.Client {
	t.Helper()
	ca, err := os.ReadFile(st.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("dev CA does not parse")
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(st.Port))
	d := &net.Dialer{Timeout: 10 * time.Second}
	return &http.Client{
		Jar:     jar,
		Timeout: time.Minute,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			// Every name of the demo reaches nginx, as the banner's
			// --host-resolver-rules line does for a browser.
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, method, url, body string, hdr map[string]string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

// startDemo starts the demo from the repository with freshly built
// binaries, Redis when installed (required with SSO_REQUIRE_REDIS=1); the
// processes' logs are printed if the test fails. The caller stops it.
func startDemo(t *testing.T) (*demo.Stack, demo.Options) {
	t.Helper()
	opt, err := demo.Find(demo.Options{Repo: ".."}, true)
	if err != nil {
		if testproc.Required(nginxtest.RequireEnv) {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if opt.Redis == "" && testproc.Required("SSO_REQUIRE_REDIS") {
		t.Fatal("redis-server not found (SSO_REQUIRE_REDIS=1)")
	}
	opt.SSO = testproc.Build(t, "./cmd/sso")
	opt.DemoAPI = testproc.Build(t, "./cmd/demoapi")
	opt.Ready = 2 * time.Minute // a loaded machine: no timed assertion, only a bound

	st, err := demo.Start(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, name := range []string{"sso", "nginx", "demoapi", "redis"} {
				t.Logf("%s log:\n%s", name, st.Log(name))
			}
		}
		st.Stop() // a second Stop does nothing
	})
	return st, opt
}
