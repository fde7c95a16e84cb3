package nginx_test

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/example/sso/nginx"
)

func testVars() map[string]string {
	return map[string]string{
		"API_UPSTREAM":    "127.0.0.1:9090",
		"APP_ROOT":        "/srv/app",
		"HTTPS_PORT":      "8443",
		"HTTP_PORT":       "8080",
		"LISTEN_ADDR":     "127.0.0.1",
		"SSO_COOKIE_NAME": "sso_session",
		"SSO_DOMAIN":      "example.test",
		"SSO_UPSTREAM":    "127.0.0.1:8081",
		"TLS_CERT":        "/tls/cert.pem",
		"TLS_KEY":         "/tls/key.pem",
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "x", "B_2": "y"}
	tests := []struct {
		in, want string
	}{
		{"${A}", "x"},
		{"$A", "x"},
		{"a${A}b${B_2}c", "axbyc"},
		{"$A_", "$A_"}, // a different name, not ours
		{"$host$request_uri", "$host$request_uri"},
		{"${host_not_upper", "${host_not_upper"}, // unterminated: left alone
		{"~^[^\"]+$", "~^[^\"]+$"},
		{"$1 $$ $", "$1 $$ $"},
		{"${}", "${}"},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := nginx.Expand(tc.in, vars)
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v, want %q, nil", tc.in, got, err, tc.want)
		}
	}
	if _, err := nginx.Expand("${A}${MISSING}${ALSO}", vars); err == nil ||
		!strings.Contains(err.Error(), "ALSO, MISSING") {
		t.Errorf("Expand with undefined vars: err = %v, want one naming ALSO, MISSING", err)
	}
}

func FuzzExpand(f *testing.F) {
	f.Add("${A} $host ${")
	f.Add("$$$A${A}")
	f.Fuzz(func(t *testing.T, s string) {
		vars := map[string]string{"A": "v"}
		got, err := nginx.Expand(s, vars)
		if err != nil {
			return
		}
		// Without our variable nothing changes.
		if !strings.Contains(s, "A") && got != s {
			t.Errorf("Expand(%q) = %q, want unchanged", s, got)
		}
	})
}

// Every ${VAR} in the templates is documented in Vars, and Vars lists none
// that no template uses; bare upper-case $VARS would be substituted by
// envsubst too and are not used.
func TestTemplateVarsMatch(t *testing.T) {
	tmpls, err := nginx.Templates()
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	braced := regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
	bare := regexp.MustCompile(`\$[A-Z][A-Z0-9_]*\b`)
	for name, text := range tmpls {
		for _, m := range braced.FindAllStringSubmatch(text, -1) {
			used[m[1]] = true
		}
		if m := bare.FindString(text); m != "" {
			t.Errorf("%s uses bare %s; write ${...} for template variables", name, m)
		}
	}
	for _, v := range nginx.Vars() {
		if !used[v] {
			t.Errorf("Vars() lists %s, which no template uses", v)
		}
		delete(used, v)
	}
	for v := range used {
		t.Errorf("templates use ${%s}, missing from Vars()", v)
	}
	if !slices.IsSorted(nginx.Vars()) {
		t.Errorf("Vars() = %v, want sorted", nginx.Vars())
	}
}

func TestRender(t *testing.T) {
	out, err := nginx.Render(testVars())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sso.conf", "sso-maps.conf", "sso-redirect.conf"} {
		if _, ok := out[name]; !ok {
			t.Errorf("Render() has no %s; got %d files", name, len(out))
		}
	}
	all := strings.Join([]string{out["sso.conf"], out["sso-maps.conf"], out["sso-redirect.conf"]}, "\n")
	for _, want := range []string{
		"server 127.0.0.1:8081;",
		"server 127.0.0.1:9090;",
		"server_name login.example.test;",
		"server_name app.example.test;",
		"server_name api.example.test;",
		"listen 127.0.0.1:8443 ssl;",
		"listen 127.0.0.1:8080;",
		"ssl_certificate     /tls/cert.pem;",
		"root /srv/app;",
		// nginx variables survive.
		"$host", "$request_uri", "$uri",
		"include snippets/sso-hub.conf;",
		"$http_sec_fetch_mode", "$sso_login_url", "$sso_https_port_suffix",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("rendered templates lack %q", want)
		}
	}
	if strings.Contains(all, "${") {
		t.Errorf("rendered templates still contain ${")
	}

	vars := testVars()
	delete(vars, "TLS_KEY")
	if _, err := nginx.Render(vars); err == nil || !strings.Contains(err.Error(), "TLS_KEY") {
		t.Errorf("Render without TLS_KEY: err = %v, want one naming TLS_KEY", err)
	}
}

// The snippets are not templates: nothing in them is substituted, so they
// must not contain ${...}.
func TestSnippetsHaveNoTemplateVars(t *testing.T) {
	snips, err := nginx.Snippets()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sso-protect.conf", "sso-upstream.conf", "sso-cors.conf", "sso-hub.conf"} {
		text, ok := snips[want]
		if !ok {
			t.Errorf("Snippets() has no %s", want)
			continue
		}
		if strings.Contains(text, "${") {
			t.Errorf("%s contains ${", want)
		}
	}
	// The hub's forwarded headers come from nginx's own view, and a client
	// cannot speak for an original request there.
	for _, want := range []string{"X-Forwarded-For   $remote_addr;", `X-Original-URL    "";`, `X-Original-Method "";`} {
		if !strings.Contains(snips["sso-hub.conf"], "proxy_set_header "+want) {
			t.Errorf("sso-hub.conf lacks proxy_set_header %s", want)
		}
	}
	// The identity headers are set unconditionally (Caddy GHSA-7r4p-vjf4-gxv4).
	// So is the Cookie header without sso's session cookie.
	for _, h := range []string{"X-Auth-User +\\$sso_user", "X-Auth-Email +\\$sso_email", "X-Auth-Groups +\\$sso_groups", "X-Auth-Token +\\$sso_token",
		"Cookie +\\$sso_upstream_cookie"} {
		re := regexp.MustCompile(`(?m)^proxy_set_header ` + h + `;`)
		if !re.MatchString(snips["sso-upstream.conf"]) {
			t.Errorf("sso-upstream.conf lacks an unconditional %s", re)
		}
	}
}

// Render gives what the nginx image's entrypoint gives: envsubst with
// SHELL-FORMAT listing only the filtered variables
// (docker-entrypoint.d/20-envsubst-on-templates.sh). Skipped without
// envsubst (Debian package gettext-base).
func TestRenderMatchesEnvsubst(t *testing.T) {
	bin, err := exec.LookPath("envsubst")
	if err != nil {
		t.Skipf("envsubst not installed: %v", err)
	}
	vars := testVars()
	want, err := nginx.Render(vars)
	if err != nil {
		t.Fatal(err)
	}
	tmpls, err := nginx.Templates()
	if err != nil {
		t.Fatal(err)
	}
	var format []string
	env := []string{"PATH=" + os.Getenv("PATH"), "host=NOT-NGINX", "request_uri=NOT-NGINX"}
	for _, k := range nginx.Vars() {
		format = append(format, "${"+k+"}")
		env = append(env, k+"="+vars[k])
	}
	for name, text := range tmpls {
		cmd := exec.Command(bin, strings.Join(format, " "))
		cmd.Env = env // lower-case decoys: the filter keeps them out
		cmd.Stdin = strings.NewReader(text)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("envsubst %s: %v", name, err)
		}
		if got := want[strings.TrimSuffix(name, nginx.TemplateSuffix)]; string(out) != got {
			t.Errorf("Render(%s) differs from envsubst:\n--- envsubst\n%s\n--- Render\n%s", name, out, got)
		}
	}
}
