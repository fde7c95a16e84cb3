package deploy_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/example/sso/config"
	"github.com/example/sso/nginx"
)

// load reads compose.yaml with only env as its environment (no OS env, no
// .env file), as docker compose would, without touching images.
func load(t *testing.T, env ...string) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"},
		cli.WithWorkingDirectory("."),
		cli.WithEnv(env),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

func mustLoad(t *testing.T) *types.Project {
	t.Helper()
	p, err := load(t, "SSO_SECRET_KEYS=dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXk=")
	if err != nil {
		t.Fatalf("load compose.yaml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return s
}

func env(t *testing.T, s types.ServiceConfig, key string) string {
	t.Helper()
	v, ok := s.Environment[key]
	if !ok || v == nil {
		t.Fatalf("service %s: environment %s not set", s.Name, key)
	}
	return *v
}

func TestSecretKeysRequired(t *testing.T) {
	if _, err := load(t); err == nil || !strings.Contains(err.Error(), "SSO_SECRET_KEYS") {
		t.Errorf("load without SSO_SECRET_KEYS: err = %v, want one naming SSO_SECRET_KEYS", err)
	}
}

func TestServices(t *testing.T) {
	p := mustLoad(t)
	names := p.ServiceNames()
	slices.Sort(names)
	if want := []string{"demoapi", "nginx", "redis", "sso"}; !slices.Equal(names, want) {
		t.Errorf("services = %v, want %v", names, want)
	}
}

// Every bind mount, build context and Dockerfile (with its target stage)
// exists in the repository.
func TestFilesExist(t *testing.T) {
	p := mustLoad(t)
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s: bind mount %s: %v", s.Name, v.Target, err)
			}
		}
		if s.Build == nil {
			continue
		}
		df := filepath.Join(s.Build.Context, s.Build.Dockerfile)
		text, err := os.ReadFile(df)
		if err != nil {
			t.Errorf("service %s: Dockerfile: %v", s.Name, err)
			continue
		}
		stage := regexp.MustCompile(`(?mi)^FROM\s+\S+\s+AS\s+` + regexp.QuoteMeta(s.Build.Target) + `\s*$`)
		if s.Build.Target == "" || !stage.Match(text) {
			t.Errorf("service %s: %s has no stage %q", s.Name, df, s.Build.Target)
		}
	}
}

func mountSource(t *testing.T, s types.ServiceConfig, target string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Target == target {
			return v.Source
		}
	}
	t.Fatalf("service %s: nothing mounted at %s", s.Name, target)
	return ""
}

// The nginx service's environment renders the templates, names the other
// services where they listen, and the mounts are the repository's nginx/.
func TestNginxAgreesWithTemplates(t *testing.T) {
	p := mustLoad(t)
	ng := service(t, p, "nginx")

	vars := map[string]string{}
	for _, k := range nginx.Vars() {
		vars[k] = env(t, ng, k)
	}
	if _, err := nginx.Render(vars); err != nil {
		t.Errorf("templates do not render with the nginx service's environment: %v", err)
	}
	if got, want := env(t, ng, "NGINX_ENVSUBST_FILTER"), "^("+strings.Join(nginx.Vars(), "|")+")$"; got != want {
		t.Errorf("NGINX_ENVSUBST_FILTER = %q, want %q", got, want)
	}

	// Upstreams: "<service>:<port it listens on>".
	for _, tc := range []struct{ varName, svc, listenVar string }{
		{"SSO_UPSTREAM", "sso", "SSO_LISTEN"},
		{"API_UPSTREAM", "demoapi", "DEMOAPI_LISTEN"},
	} {
		up := vars[tc.varName]
		_, port, err := net.SplitHostPort(env(t, service(t, p, tc.svc), tc.listenVar))
		if err != nil {
			t.Fatalf("%s %s: %v", tc.svc, tc.listenVar, err)
		}
		if want := tc.svc + ":" + port; up != want {
			t.Errorf("nginx %s = %q, want %q (service %s, %s)", tc.varName, up, want, tc.svc, tc.listenVar)
		}
	}

	// Published ports are the ones the templates listen on.
	published := map[string]string{}
	for _, pc := range ng.Ports {
		published[pc.Published] = strconv.FormatUint(uint64(pc.Target), 10)
	}
	for _, k := range []string{"HTTPS_PORT", "HTTP_PORT"} {
		if got := published[vars[k]]; got != vars[k] {
			t.Errorf("nginx publishes %s -> %q, want %s -> %s (%s)", vars[k], got, vars[k], vars[k], k)
		}
	}
	// nginx strips the cookie sso actually uses: sso's SSO_COOKIE_NAME, or
	// sso's own default when compose leaves it unset.
	ssoCookie := ""
	if v := service(t, p, "sso").Environment["SSO_COOKIE_NAME"]; v != nil {
		ssoCookie = *v
	}
	cfg, err := config.Load(nil, func(k string) string {
		if k == "SSO_COOKIE_NAME" {
			return ssoCookie
		}
		return "" // dev mode: nothing else is needed to learn the name
	})
	if err != nil {
		t.Fatalf("sso's SSO_COOKIE_NAME %q: %v", ssoCookie, err)
	}
	if vars["SSO_COOKIE_NAME"] != cfg.CookieName {
		t.Errorf("nginx SSO_COOKIE_NAME = %q, want sso's cookie name %q", vars["SSO_COOKIE_NAME"], cfg.CookieName)
	}

	if vars["HTTPS_PORT"] != "443" {
		t.Errorf("HTTPS_PORT = %q, want 443", vars["HTTPS_PORT"])
	}

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]string{
		"/etc/nginx/templates": filepath.Join(root, "nginx", "templates"),
		"/etc/nginx/snippets":  filepath.Join(root, "nginx", "snippets"),
	} {
		if got := mountSource(t, ng, target); got != want {
			t.Errorf("nginx mounts %s at %s, want %s", got, target, want)
		}
	}
	app := mountSource(t, ng, vars["APP_ROOT"])
	if _, err := os.Stat(filepath.Join(app, "index.html")); err != nil {
		t.Errorf("APP_ROOT mount: %v", err)
	}
	certs := mountSource(t, ng, filepath.Dir(vars["TLS_CERT"]))
	if filepath.Dir(vars["TLS_KEY"]) != filepath.Dir(vars["TLS_CERT"]) || certs != filepath.Join(root, "deploy", "certs") {
		t.Errorf("TLS_CERT %s / TLS_KEY %s not both from the deploy/certs mount (%s)", vars["TLS_CERT"], vars["TLS_KEY"], certs)
	}
}

// sso believes forwarded headers from nginx's fixed address only, and that
// address lies in the network's fixed subnet.
func TestTrustedProxyIsNginx(t *testing.T) {
	p := mustLoad(t)
	sso := service(t, p, "sso")
	ng := service(t, p, "nginx")
	trusted := env(t, sso, "SSO_TRUSTED_PROXIES")
	var nginxIP, netName string
	for name, n := range ng.Networks {
		if n != nil && n.Ipv4Address != "" {
			nginxIP, netName = n.Ipv4Address, name
		}
	}
	if want := nginxIP + "/32"; nginxIP == "" || trusted != want {
		t.Fatalf("SSO_TRUSTED_PROXIES = %q, want %q (nginx's fixed address)", trusted, want)
	}
	if _, ok := sso.Networks[netName]; !ok {
		t.Errorf("sso is not on nginx's network %s", netName)
	}
	nw := p.Networks[netName]
	if len(nw.Ipam.Config) != 1 {
		t.Fatalf("network %s: want one fixed subnet, got %d", netName, len(nw.Ipam.Config))
	}
	_, subnet, err := net.ParseCIDR(nw.Ipam.Config[0].Subnet)
	if err != nil || !subnet.Contains(net.ParseIP(nginxIP)) {
		t.Errorf("nginx address %s not in subnet %q (%v)", nginxIP, nw.Ipam.Config[0].Subnet, err)
	}
}

func TestSSOService(t *testing.T) {
	p := mustLoad(t)
	sso := service(t, p, "sso")
	for k, want := range map[string]string{
		"SSO_COOKIE_DOMAINS": "example.test",
		"SSO_REDIS_URL":      "redis://redis:6379/0",
		"SSO_LOGIN_URL":      "https://login.example.test",
		"SSO_LISTEN":         "0.0.0.0:8080",
	} {
		if got := env(t, sso, k); got != want {
			t.Errorf("sso %s = %q, want %q", k, got, want)
		}
	}
	users := mountSource(t, sso, env(t, sso, "SSO_USERS_FILE"))
	data, err := os.ReadFile(users)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Users map[string]struct {
			Email    string   `yaml:"email"`
			Password string   `yaml:"password"`
			Groups   []string `yaml:"groups"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", users, err)
	}
	if len(f.Users) == 0 {
		t.Errorf("%s: no users", users)
	}
	for name, u := range f.Users {
		if !strings.HasPrefix(u.Password, "$argon2id$") || u.Email == "" {
			t.Errorf("user %s: password %.10q… email %q; want an argon2id hash and an email", name, u.Password, u.Email)
		}
	}
	if hc := sso.HealthCheck; hc == nil || !slices.Contains(hc.Test, "http://127.0.0.1:8080/healthz") {
		t.Errorf("sso healthcheck = %+v, want one on http://127.0.0.1:8080/healthz", hc)
	}
	if d, ok := sso.DependsOn["redis"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("sso depends_on redis = %+v, want service_healthy", d)
	}
	if d, ok := service(t, p, "nginx").DependsOn["sso"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Errorf("nginx depends_on sso = %+v, want service_healthy", d)
	}
	if ports := service(t, p, "demoapi").Ports; len(ports) != 0 {
		t.Errorf("demoapi publishes %v; it trusts X-Auth-* and must be reachable by nginx only", ports)
	}
}

// envExample reads .env.example as KEY=value lines, with a test key for the
// one secret it leaves empty.
func envExample(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf(".env.example: %q is no KEY=value line", line)
		}
		m[k] = v
	}
	if v, ok := m["SSO_SECRET_KEYS"]; !ok || v != "" {
		t.Errorf(".env.example: SSO_SECRET_KEYS = %q, %v; want the key present and empty", v, ok)
	}
	m["SSO_SECRET_KEYS"] = "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXk="
	return m
}

func envList(m map[string]string) []string {
	var l []string
	for k, v := range m {
		l = append(l, k+"="+v)
	}
	return l
}

// Every variable compose.yaml reads is in .env.example and the other way
// round, and the example's values are compose's defaults.
func TestEnvExample(t *testing.T) {
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)`).FindAllStringSubmatch(string(data), -1) {
		used[m[1]] = true
	}
	example := envExample(t)
	for k := range used {
		if _, ok := example[k]; !ok {
			t.Errorf("compose.yaml reads ${%s}, which .env.example does not list", k)
		}
	}
	for k := range example {
		if !used[k] {
			t.Errorf(".env.example lists %s, which compose.yaml does not read", k)
		}
	}
	withExample, err := load(t, envList(example)...)
	if err != nil {
		t.Fatalf("load with .env.example's values: %v", err)
	}
	defaults := mustLoad(t)
	for _, name := range defaults.ServiceNames() {
		a, b := service(t, defaults, name), service(t, withExample, name)
		if !reflect.DeepEqual(a.Environment, b.Environment) || !reflect.DeepEqual(a.Ports, b.Ports) || !reflect.DeepEqual(a.Volumes, b.Volumes) {
			t.Errorf("service %s differs between compose's defaults and .env.example's values", name)
		}
	}
}

// Deploying on your own domain is a matter of .env: the domain, the API
// upstream, ports and files reach sso and nginx, and nothing of the demo's
// example.test is left.
func TestOwnDomain(t *testing.T) {
	dotenv := envExample(t)
	for k, v := range map[string]string{
		"SSO_DOMAIN": "example.com", "API_UPSTREAM": "10.0.0.7:9000",
		"HTTPS_PORT": "8443", "HTTP_PORT": "8080", "SSO_PUBLIC_PORT_SUFFIX": ":8443",
		"TLS_DIR": "/etc/letsencrypt/live/example.com", "APP_DIR": "/srv/app", "SSO_USERS": "/etc/sso/users.yml",
	} {
		dotenv[k] = v
	}
	p, err := load(t, envList(dotenv)...)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	sso, ng := service(t, p, "sso"), service(t, p, "nginx")
	for _, tc := range []struct {
		s         types.ServiceConfig
		key, want string
	}{
		{sso, "SSO_COOKIE_DOMAINS", "example.com"},
		{sso, "SSO_LOGIN_URL", "https://login.example.com:8443"},
		{sso, "SSO_LOGIN_ORIGINS", "https://app.example.com:8443"},
		{ng, "SSO_DOMAIN", "example.com"},
		{ng, "API_UPSTREAM", "10.0.0.7:9000"},
		{ng, "HTTPS_PORT", "8443"},
		{ng, "HTTP_PORT", "8080"},
	} {
		if got := env(t, tc.s, tc.key); got != tc.want {
			t.Errorf("%s %s = %q, want %q", tc.s.Name, tc.key, got, tc.want)
		}
	}
	for _, s := range p.Services {
		for k, v := range s.Environment {
			if v != nil && strings.Contains(*v, "example.test") {
				t.Errorf("service %s: %s = %q still names example.test", s.Name, k, *v)
			}
		}
	}
	published := map[string]uint32{}
	for _, pc := range ng.Ports {
		published[pc.Published] = pc.Target
	}
	if published["8443"] != 8443 || published["8080"] != 8080 {
		t.Errorf("nginx publishes %v, want 8443:8443 and 8080:8080", published)
	}
	for target, want := range map[string]string{"/etc/nginx/certs": "/etc/letsencrypt/live/example.com", "/usr/share/nginx/html/app": "/srv/app"} {
		if got := mountSource(t, ng, target); got != want {
			t.Errorf("nginx mounts %s at %s, want %s", got, target, want)
		}
	}
	if got := mountSource(t, sso, "/config/users.yml"); got != "/etc/sso/users.yml" {
		t.Errorf("sso mounts %s as the users file, want /etc/sso/users.yml", got)
	}
	vars := map[string]string{}
	for _, k := range nginx.Vars() {
		vars[k] = env(t, ng, k)
	}
	out, err := nginx.Render(vars)
	if err != nil {
		t.Fatalf("templates with the own-domain environment: %v", err)
	}
	if !strings.Contains(out["sso.conf"], "server_name api.example.com;") || !strings.Contains(out["sso.conf"], "server 10.0.0.7:9000;") {
		t.Errorf("rendered sso.conf does not serve api.example.com from 10.0.0.7:9000")
	}
}

// runCheck runs the nginx container's variable check with the nginx
// service's environment, as its entrypoint would, and returns its exit code
// and stderr.
func runCheck(t *testing.T, s types.ServiceConfig, script string) (int, string) {
	t.Helper()
	cmd := exec.Command("sh", script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range s.Environment {
		if v != nil {
			cmd.Env = append(cmd.Env, k+"="+*v)
		}
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stderr.String()
	}
	t.Fatalf("run %s: %v", script, err)
	return 0, ""
}

// The nginx container checks compose's variables before envsubst pastes
// them into its configuration: a hostile API_UPSTREAM (an outside review
// added an unauthenticated vhost with one, and it passed nginx -t) stops
// nginx from starting; compose's own values pass.
func TestNginxVariablesChecked(t *testing.T) {
	const target = "/docker-entrypoint.d/10-sso-check-vars.sh"
	ng := service(t, mustLoad(t), "nginx")
	script := mountSource(t, ng, target)
	// The image runs these in name order; the check must come first.
	if name := filepath.Base(target); name >= "20-envsubst-on-templates.sh" {
		t.Errorf("%s runs after the image's envsubst script", name)
	}
	fi, err := os.Stat(script)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&0o111 == 0 {
		t.Fatalf("%s: mode %v: the entrypoint runs only executable scripts", script, fi.Mode())
	}
	body, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range nginx.Vars() {
		if !strings.Contains(string(body), "\ncheck "+v+" ") {
			t.Errorf("%s does not check %s", script, v)
		}
	}
	if code, out := runCheck(t, ng, script); code != 0 {
		t.Fatalf("compose's own values refused (exit %d): %s", code, out)
	}
	hostile := []struct{ name, value string }{
		{"API_UPSTREAM", "demoapi:9090; } server { listen 443 ssl; server_name evil.example.test; location / { proxy_pass http://demoapi:9090; } } server { location /x { return 404"},
		{"API_UPSTREAM", "demoapi:9090\n}"},
		{"API_UPSTREAM", "demoapi"},
		{"API_UPSTREAM", "$host:80"},
		{"SSO_DOMAIN", "example.test; include /etc/passwd"},
	}
	for _, h := range hostile {
		p, err := load(t, "SSO_SECRET_KEYS=dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXk=", h.name+"="+h.value)
		if err != nil {
			t.Fatalf("load compose.yaml with %s=%q: %v", h.name, h.value, err)
		}
		s := service(t, p, "nginx")
		if got := env(t, s, h.name); got != h.value {
			t.Fatalf("compose passes %s=%q, want %q", h.name, got, h.value)
		}
		code, out := runCheck(t, s, script)
		if code == 0 || !strings.Contains(out, h.name+" must be") {
			t.Errorf("%s=%q: exit %d, stderr %q; want a refusal naming %s", h.name, h.value, code, out, h.name)
		}
	}
}
