package nginxtest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/nginx"
)

// RequireEnv names the environment variable that turns a missing nginx
// binary from a skip into a failure (set it in CI).
const RequireEnv = "SSO_REQUIRE_NGINX"

// BinaryEnv names an environment variable that points at the nginx binary.
const BinaryEnv = "SSO_NGINX"

// DefaultCookieName is sso's default SSO_COOKIE_NAME, the SSO_COOKIE_NAME
// template variable when Options.Vars does not set it.
const DefaultCookieName = "sso_session"

// Binary returns the path of the nginx binary: $SSO_NGINX, /usr/sbin/nginx,
// or nginx on $PATH.
func Binary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	p, err := exec.LookPath("nginx")
	if err != nil {
		return "", fmt.Errorf("nginxtest: no nginx binary (set %s or install nginx): %w", BinaryEnv, err)
	}
	return p, nil
}

// Options configures Start.
type Options struct {
	// Vars are the template variables (nginx.Vars). Start fills in
	// LISTEN_ADDR (127.0.0.1), HTTPS_PORT and HTTP_PORT (free ports),
	// TLS_CERT and TLS_KEY (a generated pair), SSO_DOMAIN (example.test),
	// SSO_COOKIE_NAME (DefaultCookieName) and APP_ROOT (Dir/app) when they
	// are absent. SSO_UPSTREAM and API_UPSTREAM are the caller's.
	Vars map[string]string
	// Hosts for the certificate; default: SSO_DOMAIN and *.SSO_DOMAIN.
	Hosts []string
	// ExtraHTTP is appended inside http{}, after the rendered templates,
	// with the same ${VARS} expanded: for instance another site's server{}
	// with "listen ${LISTEN_ADDR}:${HTTPS_PORT} ssl;" (the certificate is
	// the shared one; add its name to Hosts).
	ExtraHTTP string
	// Files are written under Dir before nginx starts (name → content),
	// e.g. "app/index.html".
	Files map[string]string
	// Sites, when set, replaces the templates with nginx.InstallSites of
	// it; Start fills in its Domain, ListenAddr, ports, TLS files and
	// CookieName from Vars when they are empty.
	Sites *nginx.SitesConfig
}

// Server is a running nginx.
type Server struct {
	Dir       string            // prefix: nginx.conf, conf.d/, snippets/, tls/, logs
	Vars      map[string]string // the variables the templates were rendered with
	HTTPSPort int
	HTTPPort  int
	TLS       *TLS
}

// Start renders the templates with opts into a temporary directory, starts
// the nginx binary on loopback and stops it when the test ends. It skips the
// test when nginx is missing, unless SSO_REQUIRE_NGINX=1. The error log is
// printed when the test fails.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if testproc.Required(RequireEnv) {
			t.Fatalf("%v (%s=1)", err, RequireEnv)
		}
		t.Skipf("%v; set %s=1 to fail instead", err, RequireEnv)
	}
	dir := t.TempDir()
	s := &Server{Dir: dir, Vars: map[string]string{}}
	for k, v := range opts.Vars {
		s.Vars[k] = v
	}
	setDefault := func(k, v string) {
		if _, ok := s.Vars[k]; !ok {
			s.Vars[k] = v
		}
	}
	setDefault("LISTEN_ADDR", "127.0.0.1")
	setDefault("SSO_DOMAIN", "example.test")
	setDefault("SSO_COOKIE_NAME", DefaultCookieName)
	setDefault("APP_ROOT", filepath.Join(dir, "app"))
	setDefault("TLS_CERT", filepath.Join(dir, "tls", "cert.pem"))
	setDefault("TLS_KEY", filepath.Join(dir, "tls", "key.pem"))
	setDefault("HTTPS_PORT", strconv.Itoa(testproc.FreePort(t)))
	setDefault("HTTP_PORT", strconv.Itoa(testproc.FreePort(t)))
	if s.HTTPSPort, err = strconv.Atoi(s.Vars["HTTPS_PORT"]); err != nil {
		t.Fatalf("nginxtest: HTTPS_PORT: %v", err)
	}
	if s.HTTPPort, err = strconv.Atoi(s.Vars["HTTP_PORT"]); err != nil {
		t.Fatalf("nginxtest: HTTP_PORT: %v", err)
	}

	hosts := opts.Hosts
	if len(hosts) == 0 {
		hosts = []string{s.Vars["SSO_DOMAIN"], "*." + s.Vars["SSO_DOMAIN"]}
	}
	if s.TLS, err = NewTLS(time.Now().Add(-time.Hour), 24*time.Hour, hosts...); err != nil {
		t.Fatal(err)
	}
	extra, err := nginx.Expand(opts.ExtraHTTP, s.Vars)
	if err != nil {
		t.Fatalf("nginxtest: ExtraHTTP: %v", err)
	}
	files := map[string]string{
		"tls/ca.pem":   string(s.TLS.CAPEM),
		"tls/cert.pem": string(s.TLS.CertPEM),
		"tls/key.pem":  string(s.TLS.KeyPEM),
		"nginx.conf":   MainConfig(dir, extra),
	}
	for k, v := range opts.Files {
		files[k] = v
	}
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "key.pem") {
			mode = 0o600
		}
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"app", "logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if opts.Sites == nil {
		err = nginx.Install(dir, s.Vars)
	} else {
		c := *opts.Sites
		fill := func(p *string, v string) {
			if *p == "" {
				*p = v
			}
		}
		fill(&c.Domain, s.Vars["SSO_DOMAIN"])
		fill(&c.ListenAddr, s.Vars["LISTEN_ADDR"])
		fill(&c.TLSCert, s.Vars["TLS_CERT"])
		fill(&c.TLSKey, s.Vars["TLS_KEY"])
		fill(&c.CookieName, s.Vars["SSO_COOKIE_NAME"])
		if c.HTTPSPort == 0 {
			c.HTTPSPort = s.HTTPSPort
		}
		if c.HTTPPort == 0 {
			c.HTTPPort = s.HTTPPort
		}
		err = nginx.InstallSites(dir, c)
	}
	if err != nil {
		t.Fatal(err)
	}

	args := []string{"-p", dir + "/", "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off; master_process off;"}
	// -t first: a config error then fails here with nginx's own message.
	if out, err := exec.Command(bin, append(args, "-t", "-q")...).CombinedOutput(); err != nil {
		t.Fatalf("nginxtest: nginx -t: %v\n%s", err, out)
	}
	// Registered before Start, so it runs after nginx has stopped (SIGINT:
	// fast shutdown), which logs its output itself.
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
			t.Logf("nginx error.log:\n%s", log)
		}
	})
	p := testproc.Start(t, "nginx", exec.Command(bin, args...))
	https := net.JoinHostPort(s.Vars["LISTEN_ADDR"], strconv.Itoa(s.HTTPSPort))
	err = p.Wait(10*time.Second, func() error {
		c, err := net.DialTimeout("tcp", https, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("nginxtest: nginx not listening on %d: %v", s.HTTPSPort, err)
	}
	return s
}

// Client returns an HTTP client that trusts the test CA and connects every
// host name to this nginx (https to HTTPSPort, http to HTTPPort), so URLs
// like https://app.example.test:<HTTPSPort>/ work without DNS. It does not
// follow redirects, so tests see the 302s themselves.
func (s *Server) Client() *http.Client {
	addr := s.Vars["LISTEN_ADDR"]
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: s.TLS.Pool, MinVersion: tls.VersionTLS12},
			DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
				_, port, err := net.SplitHostPort(hostport)
				if err != nil {
					return nil, err
				}
				if port == "443" {
					port = strconv.Itoa(s.HTTPSPort)
				} else if port == "80" {
					port = strconv.Itoa(s.HTTPPort)
				}
				return d.DialContext(ctx, network, net.JoinHostPort(addr, port))
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// URL returns https://<sub>.<SSO_DOMAIN>:<HTTPSPort><path>.
func (s *Server) URL(sub, path string) string {
	host := s.Vars["SSO_DOMAIN"]
	if sub != "" {
		host = sub + "." + host
	}
	return "https://" + host + ":" + strconv.Itoa(s.HTTPSPort) + path
}

// MainConfig returns an nginx.conf that keeps everything (pid, logs, temp
// files) under dir and loads dir/conf.d/*.conf in http{}, followed by
// extraHTTP. Run nginx with -p dir/ -c dir/nginx.conf -g 'daemon off;
// master_process off;'.
func MainConfig(dir, extraHTTP string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Generated by nginxtest for tests only.
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log info;
events { worker_connections 256; }
http {
    access_log %[1]s/logs/access.log;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path       %[1]s/tmp/proxy;
    fastcgi_temp_path     %[1]s/tmp/fastcgi;
    uwsgi_temp_path       %[1]s/tmp/uwsgi;
    scgi_temp_path        %[1]s/tmp/scgi;
    types {
        text/html              html;
        text/css               css;
        application/javascript js;
        application/json       json;
    }
    default_type application/octet-stream;
    include conf.d/*.conf;
`, dir)
	if extraHTTP != "" {
		b.WriteString(extraHTTP)
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	return b.String()
}
