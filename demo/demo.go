// Package demo runs the whole sso stack on this machine without Docker, for
// `make demo` (cmd/sso-demo) and its test: sso (on Redis when redis-server
// is installed, else the in-memory store), demoapi, and nginx rendered by
// nginx.RenderSites on one https port with a throwaway dev CA, serving
// login.<domain>, app.<domain> (deploy/app) and api.<domain> (demoapi).
// Everything lives in one temporary directory that Stop removes.
package demo

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/example/sso/nginx"
	"github.com/example/sso/nginx/nginxtest"
)

// Options configures Start. The binaries must exist; Find fills in the
// ones found on $PATH.
type Options struct {
	SSO, DemoAPI string // paths of the sso and demoapi binaries
	Nginx        string // nginx binary (required)
	Redis        string // redis-server binary; "" = sso's in-memory store
	Repo         string // repository root: deploy/app and deploy/users.yml come from it
	Domain       string // parent domain; "" = example.test
	Port         int    // nginx's https port; 0 = a free one
	// Ready bounds how long each process may take to answer; 0 = 30s.
	Ready time.Duration
}

// Stack is a running demo.
type Stack struct {
	Dir       string // the temporary directory: tls/, nginx/, logs/
	Domain    string
	Port      int    // nginx's https port
	CAFile    string // the dev CA, to trust in a test browser profile
	SPKIHash  string // base64 SHA-256 of the leaf's public key, for Chromium's --ignore-certificate-errors-spki-list
	RedisAddr string // "" when sso runs on its in-memory store
	SSOAddr   string // sso's own listen address (for /metrics, /healthz)
	procs     []*proc
}

// User and Password are the demo login from deploy/users.yml.
const (
	User     = "alice"
	Password = "alice-demo-password"
)

// Find fills in the binaries of opt that are empty from $PATH (and
// /usr/sbin for nginx), redis-server only when redis is true; a missing
// redis-server is no error.
func Find(opt Options, redis bool) (Options, error) {
	if opt.Nginx == "" {
		p, err := nginxtest.Binary()
		if err != nil {
			return opt, fmt.Errorf("demo: nginx is needed (apt-get install nginx-light): %w", err)
		}
		opt.Nginx = p
	}
	if opt.Redis == "" && redis {
		if p, err := exec.LookPath("redis-server"); err == nil {
			opt.Redis = p
		}
	}
	return opt, nil
}

// URL returns https://<sub>.<domain>:<port><path>.
func (s *Stack) URL(sub, path string) string {
	return "https://" + sub + "." + s.Domain + ":" + strconv.Itoa(s.Port) + path
}

// Start starts every process, waits until each answers and returns the
// stack. On any error what was started is stopped and the directory
// removed.
func Start(ctx context.Context, opt Options) (_ *Stack, err error) {
	if opt.SSO == "" || opt.DemoAPI == "" || opt.Nginx == "" {
		return nil, errors.New("demo: the sso, demoapi and nginx binaries are needed")
	}
	if opt.Domain == "" {
		opt.Domain = "example.test"
	}
	if opt.Ready == 0 {
		opt.Ready = 30 * time.Second
	}
	appDir, err := filepath.Abs(filepath.Join(opt.Repo, "deploy", "app"))
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	usersFile := filepath.Join(filepath.Dir(appDir), "users.yml")
	for _, f := range []string{filepath.Join(appDir, "index.html"), usersFile} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("demo: %w (run it from the repository root)", err)
		}
	}
	dir, err := os.MkdirTemp("", "sso-demo-")
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	s := &Stack{Dir: dir, Domain: opt.Domain, Port: opt.Port}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	for _, d := range []string{"logs", "tls", "nginx/logs", "nginx/tmp", "redis"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
	}
	if s.Port == 0 {
		if s.Port, err = freePort(); err != nil {
			return nil, err
		}
	} else if err := portFree(s.Port); err != nil {
		return nil, err
	}

	if opt.Redis != "" {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.RedisAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := s.start("redis", opt.Redis, nil,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", filepath.Join(dir, "redis")); err != nil {
			return nil, err
		}
		if err := s.waitFor(opt.Ready, "redis", dialer(s.RedisAddr)); err != nil {
			return nil, err
		}
	}

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("demo: secret key: %w", err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.SSOAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	env := []string{
		"SSO_LISTEN=" + s.SSOAddr,
		"SSO_COOKIE_DOMAINS=" + s.Domain,
		"SSO_LOGIN_URL=" + s.URL("login", ""),
		"SSO_SECRET_KEYS=" + base64.StdEncoding.EncodeToString(key),
		"SSO_USERS_FILE=" + usersFile,
		// The demo page reads the session and logs out through the hub's
		// API: a first-party app, named one by one.
		"SSO_LOGIN_ORIGINS=" + strings.TrimSuffix(s.URL("app", ""), "/"),
	}
	if s.RedisAddr != "" {
		env = append(env, "SSO_REDIS_URL=redis://"+s.RedisAddr+"/0")
	}
	if err := s.start("sso", opt.SSO, env); err != nil {
		return nil, err
	}
	if err := s.waitFor(opt.Ready, "sso", httpOK("http://"+s.SSOAddr+"/readyz")); err != nil {
		return nil, err
	}

	if port, err = freePort(); err != nil {
		return nil, err
	}
	apiAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := s.start("demoapi", opt.DemoAPI, []string{"DEMOAPI_LISTEN=" + apiAddr}); err != nil {
		return nil, err
	}
	if err := s.waitFor(opt.Ready, "demoapi", dialer(apiAddr)); err != nil {
		return nil, err
	}

	if err := s.writeTLS(); err != nil {
		return nil, err
	}
	ngDir := filepath.Join(dir, "nginx")
	err = nginx.InstallSites(ngDir, nginx.SitesConfig{
		Domain:      s.Domain,
		SSOUpstream: s.SSOAddr,
		TLSCert:     filepath.Join(dir, "tls", "cert.pem"),
		TLSKey:      filepath.Join(dir, "tls", "key.pem"),
		ListenAddr:  "127.0.0.1",
		HTTPSPort:   s.Port,
		Sites: []nginx.Site{
			{Name: "app", Upstream: appDir},
			{Name: "api", Upstream: "http://" + apiAddr},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(ngDir, "nginx.conf"), []byte(nginxtest.MainConfig(ngDir, "")), 0o644); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	// master_process off: one process as the current user, which can read
	// the temporary directory (workers would run as nobody).
	ngArgs := []string{"-p", ngDir + "/", "-c", filepath.Join(ngDir, "nginx.conf"), "-g", "daemon off; master_process off;"}
	if out, err := exec.CommandContext(ctx, opt.Nginx, append(ngArgs, "-t", "-q")...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("demo: nginx -t: %w\n%s", err, out)
	}
	if err := s.start("nginx", opt.Nginx, nil, ngArgs...); err != nil {
		return nil, err
	}
	if err := s.waitFor(opt.Ready, "nginx", dialer(net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)))); err != nil {
		return nil, err
	}
	return s, nil
}

// Banner is what a person needs to use the running stack.
func (s *Stack) Banner() string {
	var b strings.Builder
	store := "the in-memory store (install redis-server to use Redis)"
	if s.RedisAddr != "" {
		store = "redis-server on " + s.RedisAddr
	}
	fmt.Fprintf(&b, `sso demo is running; Ctrl-C stops it and removes %s

  demo app   %s   (calls api. with fetch(…, {credentials: "include"}))
  api        %s
  login hub  %s
  log in as  %s / %s   (or bob / bob-demo-password)
  sessions   %s
  sso        http://%s  (/metrics, /healthz; logs in %s)

The names must reach 127.0.0.1. Either start a throwaway Chromium that maps
them and accepts the dev certificate:

  chromium --user-data-dir="$(mktemp -d)" --host-resolver-rules="MAP *.%s 127.0.0.1" --ignore-certificate-errors-spki-list=%s %s

or add this line to /etc/hosts and trust the dev CA %s in a test profile:

  127.0.0.1 login.%[10]s app.%[10]s api.%[10]s
`, s.Dir, s.URL("app", "/"), s.URL("api", "/me"), s.URL("login", "/login"), User, Password, store,
		s.SSOAddr, filepath.Join(s.Dir, "logs"), s.Domain, s.SPKIHash, s.URL("app", "/"), s.CAFile)
	return b.String()
}

// Stop stops every process (SIGTERM, then SIGKILL after 5s), newest first,
// and removes the directory.
func (s *Stack) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].stop()
	}
	s.procs = nil
	_ = os.RemoveAll(s.Dir)
}

// Log returns the output of the named process ("sso", "nginx", …) so far.
func (s *Stack) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "logs", name+".log"))
	return string(b)
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// start runs bin with env added to a minimal environment (nothing of the
// caller's SSO_* settings leaks in), its output going to logs/<name>.log.
func (s *Stack) start(name, bin string, env []string, args ...string) error {
	logf, err := os.Create(filepath.Join(s.Dir, "logs", name+".log"))
	if err != nil {
		return fmt.Errorf("demo: %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.Dir, "TMPDIR=" + s.Dir}, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = s.Dir
	detach(cmd)
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("demo: start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	s.procs = append(s.procs, p)
	return nil
}

// waitFor polls ready until it succeeds, the process exits or timeout.
func (s *Stack) waitFor(timeout time.Duration, name string, ready func() error) error {
	p := s.procs[len(s.procs)-1]
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("demo: %s exited: %s", name, tail(s.Log(name)))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: %s did not answer within %s: %w\n%s", name, timeout, err, tail(s.Log(name)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Stack) writeTLS() error {
	t, err := nginxtest.NewTLS(time.Now().Add(-time.Hour), 30*24*time.Hour, s.Domain, "*."+s.Domain)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	block, _ := pem.Decode(t.CertPEM)
	if block == nil {
		return errors.New("demo: the generated certificate does not parse")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	s.SPKIHash = base64.StdEncoding.EncodeToString(sum[:])
	s.CAFile = filepath.Join(s.Dir, "tls", "ca.pem")
	for name, data := range map[string][]byte{"ca.pem": t.CAPEM, "cert.pem": t.CertPEM, "key.pem": t.KeyPEM} {
		if err := os.WriteFile(filepath.Join(s.Dir, "tls", name), data, 0o600); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("demo: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("demo: port %d is taken (choose another with --port): %w", port, err)
	}
	return l.Close()
}

func dialer(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err
	}
}

func httpOK(url string) func() error {
	c := &http.Client{Timeout: 2 * time.Second}
	return func() error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}

// tail is the end of a log, for an error message.
func tail(s string) string {
	const max = 2000
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	return s
}
