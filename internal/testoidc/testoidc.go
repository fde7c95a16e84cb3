// Package testoidc runs a real OpenID provider for tests: the example
// server of github.com/zitadel/oidc/v3 (testdata/provider, a module of its
// own pinned to Version), built once and cached, started on a free
// loopback port with the users the test gives, and a helper that signs in
// through the provider's own login form as a browser would.
//
// Dex was the first choice, but the module proxy serves no Dex release
// after v2.13.0+incompatible (2018): its later tags lack the /v2 module
// path, so they cannot be fetched as modules.
//
//	p := testoidc.Start(t, testoidc.Options{Users: []testoidc.User{{…}}, RedirectURIs: []string{hub + "/oauth2/callback/web"}})
//	// p.Issuer, client "web" (or "web-idclaims") with secret testoidc.Secret
package testoidc

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

	"github.com/example/sso/internal/testproc"
	"golang.org/x/net/html"
)

// Version is the github.com/zitadel/oidc/v3 release the provider is built
// from (testdata/provider/go.mod and go.sum pin it and its dependencies).
const Version = "v3.52.0"

// Clients registered at the provider, both with secret Secret and the
// test's redirect URIs. ClientUserinfo's ID token carries only sub (the
// claims come from the userinfo endpoint); ClientIDClaims's carries them.
const (
	ClientUserinfo = "web"
	ClientIDClaims = "web-idclaims"
	Secret         = "secret"
)

// RequireEnv makes a provider that cannot be built fail the test instead
// of skipping it.
const RequireEnv = "SSO_REQUIRE_TOOLS"

// go.mod and go.sum are stored as .txt: a go.mod would make testdata/provider
// a module of its own, which embed refuses.
//
//go:embed testdata/provider/main.go testdata/provider/go.mod.txt testdata/provider/go.sum.txt
var source embed.FS

// User is a user of the provider. ID is its sub. AMR, when set, is the
// amr its ID tokens carry (the example provider's is ["pwd"]), as if it
// had passed those factors at the provider.
type User struct {
	ID, Username, Password, Email string
	EmailVerified                 bool
	Groups                        []string
	AMR                           []string
}

// Options for Start.
type Options struct {
	Users        []User
	RedirectURIs []string
}

// Server is a running provider.
type Server struct {
	Issuer string // http://127.0.0.1:PORT/
	Port   int
	bin    string
	env    []string
	proc   *testproc.Proc
}

var built struct {
	once sync.Once
	bin  string
	err  error
	took time.Duration
}

// Binary returns the provider binary, building it at most once per test
// binary, and reusing a build of the same source from earlier runs (kept in
// the user cache directory, keyed by a hash of the source). It skips the
// test when it cannot be built, or fails it when SSO_REQUIRE_TOOLS=1.
func Binary(t testing.TB) string {
	t.Helper()
	built.once.Do(func() {
		start := time.Now()
		built.bin, built.err = build()
		built.took = time.Since(start)
	})
	if built.err != nil {
		if testproc.Required(RequireEnv) {
			t.Fatalf("testoidc: %v (%s=1)", built.err, RequireEnv)
		}
		t.Skipf("testoidc: %v; set %s=1 to fail instead", built.err, RequireEnv)
	}
	return built.bin
}

// BuildTime is how long Binary took to build or find the binary (zero
// before the first call).
func BuildTime() time.Duration { return built.took }

func build() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("no go command to build the provider: %w", err)
	}
	h := sha256.New()
	files := []string{"main.go", "go.mod.txt", "go.sum.txt"}
	for _, f := range files {
		b, err := source.ReadFile("testdata/provider/" + f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "sso-testoidc", hex.EncodeToString(h.Sum(nil))[:16])
	bin := filepath.Join(dir, "provider")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	src, err := os.MkdirTemp("", "testoidc-src-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(src)
	for _, f := range files {
		b, _ := source.ReadFile("testdata/provider/" + f)
		if err := os.WriteFile(filepath.Join(src, strings.TrimSuffix(f, ".txt")), b, 0o644); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := bin + ".tmp" + strconv.Itoa(os.Getpid())
	cmd := exec.Command(goBin, "build", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Env = append(testproc.Environ("GOFLAGS=", "GOWORK="), "GOWORK=off", "GOFLAGS=-mod=readonly")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("building the provider (zitadel/oidc %s): %v\n%s", Version, err, out)
	}
	// Rename: a concurrent test binary sees the whole file or none.
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// Start builds (once) and starts a provider on a free loopback port. It is
// stopped when t ends.
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	users := map[string]map[string]any{}
	groups := map[string][]string{}
	amr := map[string][]string{}
	for _, u := range opt.Users {
		users[u.ID] = map[string]any{
			"ID": u.ID, "Username": u.Username, "Password": u.Password,
			"FirstName": u.Username, "LastName": "Test",
			"Email": u.Email, "EmailVerified": u.EmailVerified,
		}
		if u.Groups != nil {
			groups[u.ID] = u.Groups
		}
		if u.AMR != nil {
			amr[u.ID] = u.AMR
		}
	}
	write := func(name string, v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := &Server{bin: bin, env: append(testproc.Environ("PORT=", "USERS_FILE=", "GROUPS_FILE=", "AMR_FILE=", "REDIRECT_URI="),
		"USERS_FILE="+write("users.json", users),
		"GROUPS_FILE="+write("groups.json", groups),
		"AMR_FILE="+write("amr.json", amr),
		"REDIRECT_URI="+strings.Join(opt.RedirectURIs, ","),
	)}
	s.start(t, 0)
	return s
}

var listening = regexp.MustCompile(`^testoidc listening addr=127\.0\.0\.1:(\d+)$`)

func (s *Server) start(t testing.TB, port int) {
	t.Helper()
	cmd := exec.Command(s.bin)
	cmd.Env = append(s.env, "PORT="+strconv.Itoa(port))
	s.proc = testproc.Start(t, "oidc provider", cmd)
	m, err := s.proc.WaitLine(30*time.Second, listening)
	if err != nil {
		t.Fatal(err)
	}
	s.Port, _ = strconv.Atoi(m[1])
	s.Issuer = fmt.Sprintf("http://127.0.0.1:%d/", s.Port)
	if err := s.proc.Wait(10*time.Second, testproc.HTTPOK(s.Issuer+".well-known/openid-configuration")); err != nil {
		t.Fatal(err)
	}
}

// Stop stops the provider (an outage); Restart brings it back.
func (s *Server) Stop() { s.proc.Stop() }

// Restart starts the provider again on the same port, with the same users
// (signing keys and flows under way are new: it keeps nothing in memory).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.proc.Stop()
	s.start(t, s.Port)
}

// SubmitLogin fills in the login form of page (the provider's login page,
// as a browser reached it: resp's body is read and closed) with username
// and password and submits it with client. It returns the answer the
// client stops at: with a client whose CheckRedirect stops at the hub, the
// provider's redirect to the hub's callback.
func SubmitLogin(t testing.TB, client *http.Client, page *http.Response, username, password string) *http.Response {
	t.Helper()
	defer page.Body.Close()
	if page.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(page.Body)
		t.Fatalf("testoidc: login page %s: status %d: %s", page.Request.URL, page.StatusCode, b)
	}
	doc, err := html.Parse(page.Body)
	if err != nil {
		t.Fatalf("testoidc: login page: %v", err)
	}
	form := find(doc, "form")
	if form == nil {
		t.Fatalf("testoidc: login page %s has no form", page.Request.URL)
	}
	action, err := page.Request.URL.Parse(attr(form, "action"))
	if err != nil {
		t.Fatalf("testoidc: form action: %v", err)
	}
	vals := url.Values{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "input" && attr(n, "name") != "" {
			switch name := attr(n, "name"); {
			case attr(n, "type") == "password":
				vals.Set(name, password)
			case name == "username" || attr(n, "autocomplete") == "username":
				vals.Set(name, username)
			default:
				vals.Set(name, attr(n, "value"))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(form)
	resp, err := client.PostForm(action.String(), vals)
	if err != nil {
		t.Fatalf("testoidc: submit login form: %v", err)
	}
	return resp
}

func find(n *html.Node, tag string) *html.Node {
	if n.Type == html.ElementNode && n.Data == tag {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, tag); f != nil {
			return f
		}
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
