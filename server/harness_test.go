package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/net/publicsuffix"

	"github.com/example/sso/authz"
	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/cors"
	"github.com/example/sso/internal/testusers"
	"github.com/example/sso/server"
	"github.com/example/sso/session/memstore"
	"github.com/example/sso/ticket"
	"github.com/example/sso/token"
	"github.com/example/sso/users"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

const (
	password   = "correct horse battery"
	cookieName = "sso_session"
	hub        = "http://login.example.test"
	appOrigin  = "http://app.example.test"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func directory(t testing.TB) *users.Directory {
	t.Helper()
	return testusers.Directory(t, password)
}

// env is one sso server behind httptest.NewServer, reachable under every
// *.example.test name.
type env struct {
	t      *testing.T
	clock  *clock
	store  server.Store
	tokens *token.Issuer
	srv    *server.Server
	ts     *httptest.Server
}

type envOption func(*server.Options)

func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	// Near real time: JWT libraries that verify with time.Now agree with it.
	e := &env{t: t, clock: &clock{t: time.Now().Truncate(time.Second)}}
	mem := memstore.New(memstore.Options{Now: e.clock.Now, SweepInterval: -1})
	t.Cleanup(func() { _ = mem.Close() })
	e.store = mem
	secret := []byte("0123456789abcdef0123456789abcdef")
	cookies, err := cookiedomain.New(cookiedomain.Config{Domains: []string{"example.test"}, Name: cookieName, SameSite: http.SameSiteLaxMode, Secure: false})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := ticket.New(cookieName, [][]byte{secret})
	if err != nil {
		t.Fatal(err)
	}
	e.tokens, err = token.New(token.Config{Issuer: hub, Audience: "example.test", Keys: token.DeriveKeys([][]byte{secret})})
	if err != nil {
		t.Fatal(err)
	}
	// As in dev mode: the cookie domain over https and plain http.
	policy, err := cors.New(cors.Config{Origins: []string{"https://example.test", "https://*.example.test", "http://example.test", "http://*.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	proxies, err := authz.NewProxies(nil)
	if err != nil {
		t.Fatal(err)
	}
	o := server.Options{
		Cookies:        cookies,
		Codec:          codec,
		Store:          mem,
		Users:          directory(t),
		Tokens:         e.tokens,
		CORS:           policy,
		Proxies:        proxies,
		LoginURL:       hub,
		SessionIdle:    time.Hour,
		SessionMax:     24 * time.Hour,
		SessionRefresh: time.Minute,
		FormKey:        []byte("form key form key form key form key!"),
		Now:            e.clock.Now,
	}
	for _, f := range opts {
		f(&o)
	}
	e.store = o.Store
	e.srv, err = server.New(o)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

// browser is an http.Client with a real cookie jar (public suffix list
// included) that reaches the test server under any *.example.test name, so
// the jar applies Domain and Path as a browser would. It does not follow
// redirects, so that tests see them.
func (e *env) browser() (*http.Client, *cookiejar.Jar) {
	e.t.Helper()
	jar, err := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	if err != nil {
		e.t.Fatal(err)
	}
	c := e.client()
	c.Jar = jar
	return c, jar
}

// client is like browser but without a jar: a script or another process.
func (e *env) client() *http.Client {
	addr := e.ts.Listener.Addr().String()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(hostport)
			if err != nil {
				return nil, err
			}
			if host != "example.test" && !strings.HasSuffix(host, ".example.test") {
				return nil, &net.DNSError{Err: "no such host (test resolver)", Name: host, IsNotFound: true}
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}
	e.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type response struct {
	*http.Response
	body []byte
}

func (r *response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("%s %s: body %q: %v", r.Request.Method, r.Request.URL, r.body, err)
	}
}

// setCookie returns the Set-Cookie of name, failing when there is not
// exactly one.
func (r *response) setCookie(t *testing.T, name string) *http.Cookie {
	t.Helper()
	var found []*http.Cookie
	for _, c := range r.Cookies() {
		if c.Name == name {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s %s: %d Set-Cookie for %s, want 1: %q", r.Request.Method, r.Request.URL, len(found), name, r.Header.Values("Set-Cookie"))
	}
	return found[0]
}

type req struct {
	method  string
	url     string
	body    string
	ctype   string
	headers map[string]string
}

func do(t *testing.T, c *http.Client, q req) *response {
	t.Helper()
	var body io.Reader
	if q.body != "" {
		body = strings.NewReader(q.body)
	}
	method := q.method
	if method == "" {
		method = http.MethodGet
	}
	r, err := http.NewRequest(method, q.url, body)
	if err != nil {
		t.Fatal(err)
	}
	if q.ctype != "" {
		r.Header.Set("Content-Type", q.ctype)
	} else if q.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range q.headers {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, q.url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, q.url, err)
	}
	return &response{Response: resp, body: b}
}

func expectStatus(t *testing.T, r *response, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s = %d, want %d; body %s", r.Request.Method, r.Request.URL, r.StatusCode, want, r.body)
	}
}

type sessionBody struct {
	User struct {
		Name   string   `json:"name"`
		Email  string   `json:"email"`
		Groups []string `json:"groups"`
	} `json:"user"`
	Session struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		ExpiresAt string `json:"expires_at"`
	} `json:"session"`
	CSRFToken string `json:"csrf_token"`
}

// apiLogin logs user in through POST /api/session with c.
func (e *env) apiLogin(t *testing.T, c *http.Client, user string) sessionBody {
	t.Helper()
	r := do(t, c, req{method: "POST", url: hub + "/api/session", body: `{"username":"` + user + `","password":"` + password + `"}`})
	expectStatus(t, r, http.StatusCreated)
	var b sessionBody
	r.json(t, &b)
	return b
}

var formTokenRE = regexp.MustCompile(`name="form_token" value="([^"]+)"`)

// loginForm fetches the login form and returns its anti-forgery token.
func loginForm(t *testing.T, c *http.Client, rd string) string {
	t.Helper()
	u := hub + "/login"
	if rd != "" {
		u += "?rd=" + url.QueryEscape(rd)
	}
	r := do(t, c, req{url: u})
	expectStatus(t, r, http.StatusOK)
	m := formTokenRE.FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("GET /login: no form_token in %s", r.body)
	}
	return string(m[1])
}

func postLogin(t *testing.T, c *http.Client, user, pw, rd, formToken string, headers map[string]string) *response {
	t.Helper()
	form := url.Values{"username": {user}, "password": {pw}, "rd": {rd}}
	if formToken != "" {
		form.Set("form_token", formToken)
	}
	return do(t, c, req{method: "POST", url: hub + "/login", body: form.Encode(), ctype: "application/x-www-form-urlencoded", headers: headers})
}

// authAs asks /auth at api.example.test with the session cookie value and
// returns the status and X-Auth-User.
func (e *env) authWithCookie(t *testing.T, value string) (int, string) {
	t.Helper()
	r := do(t, e.client(), req{url: "http://api.example.test/auth", headers: map[string]string{"Cookie": cookieName + "=" + value}})
	return r.StatusCode, r.Header.Get("X-Auth-User")
}
