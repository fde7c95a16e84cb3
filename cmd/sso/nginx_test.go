package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/nginx/nginxtest"
)

// sso nginx writes a configuration that the real nginx accepts (nginx -t)
// for the README's example: two APIs, one for a group, and an app.
func TestNginxCommand(t *testing.T) {
	dir := t.TempDir()
	tls, err := nginxtest.NewTLS(time.Now().Add(-time.Hour), 24*time.Hour, "example.com", "*.example.com")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"tls/cert.pem": tls.CertPEM, "tls/key.pem": tls.KeyPEM, "app/index.html": []byte("app\n")} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	args := []string{"nginx", "--domain", "example.com", "--out", dir, "--listen", "127.0.0.1",
		"--https-port", "18443", "--http-port", "18080",
		"--cert", filepath.Join(dir, "tls/cert.pem"), "--key", filepath.Join(dir, "tls/key.pem"),
		"--site", "api=http://127.0.0.1:9000",
		"--site", "admin=http://10.0.0.5:8080?group=admins",
		"--site", "app=" + filepath.Join(dir, "app"),
	}
	if err := run(context.Background(), args, envFunc(nil), nil, &stdout, &stderr); err != nil {
		t.Fatalf("sso nginx: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), filepath.Join(dir, "conf.d", "sso-sites.conf")) {
		t.Errorf("output does not name the files written:\n%s", stdout.String())
	}
	sites, err := os.ReadFile(filepath.Join(dir, "conf.d", "sso-sites.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server_name admin.example.com;", `set $sso_auth_query "?group=admins";`, "listen 127.0.0.1:18443 ssl;"} {
		if !strings.Contains(string(sites), want) {
			t.Errorf("sso-sites.conf lacks %q", want)
		}
	}
	for _, f := range []string{"sso-maps.conf", "sso-redirect.conf"} {
		if _, err := os.Stat(filepath.Join(dir, "conf.d", f)); err != nil {
			t.Errorf("conf.d/%s: %v", f, err)
		}
	}
	for _, f := range []string{"sso-protect.conf", "sso-upstream.conf", "sso-cors.conf", "sso-hub.conf"} {
		if _, err := os.Stat(filepath.Join(dir, "snippets", f)); err != nil {
			t.Errorf("snippets/%s: %v", f, err)
		}
	}

	bin, err := nginxtest.Binary()
	if err != nil {
		if testproc.Required(nginxtest.RequireEnv) {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(nginxtest.MainConfig(dir, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	// 10.0.0.5 need not answer: nginx -t only resolves the names.
	cmd := exec.Command(bin, "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"), "-t", "-q", "-g", "daemon off; master_process off;")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
}

func TestNginxCommandUsage(t *testing.T) {
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"nginx", "-h"}, envFunc(nil), nil, &stdout, io.Discard); err != nil {
		t.Errorf("sso nginx -h = %v, want nil (exit 0)", err)
	}
	if !strings.Contains(stdout.String(), "--site") {
		t.Errorf("sso nginx -h does not describe --site on stdout:\n%s", stdout.String())
	}
	// nginx resolves "include snippets/..." against its prefix, not --out.
	if !strings.Contains(stdout.String(), "resolves against its prefix") {
		t.Errorf("sso nginx -h does not say where the snippets are included from:\n%s", stdout.String())
	}
	// A bad flag is named with the command's prefix, then the usage.
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"nginx", "--bogus"}, envFunc(nil), nil, io.Discard, &stderr); !errors.Is(err, errUsage) {
		t.Errorf("sso nginx --bogus = %v, want errUsage", err)
	}
	if first, _, _ := strings.Cut(stderr.String(), "\n"); first != "sso nginx: flag provided but not defined: -bogus" {
		t.Errorf("sso nginx --bogus: first line %q, want the sso nginx: prefix", first)
	}
	if !strings.Contains(stderr.String(), "--site") {
		t.Errorf("sso nginx --bogus prints no usage:\n%s", stderr.String())
	}
	for _, tc := range []struct {
		args []string
		want string // in the error; "" = errUsage
	}{
		{[]string{"--site", "api"}, ""},
		{[]string{"--bogus"}, ""},
		{[]string{"--site", "api=http://x:1", "extra"}, ""},
		{[]string{"--site", "api=http://x:1"}, "--out"},
		{[]string{"--out", "OUT", "--site", "api=http://x:1", "--cert", "/c", "--key", "/k"}, "domain"},
		{[]string{"--out", "OUT", "--domain", "co.uk", "--site", "api=http://x:1", "--cert", "/c", "--key", "/k"}, "public suffix"},
		{[]string{"--out", "OUT", "--domain", "example.com", "--cert", "/c", "--key", "/k"}, "no sites"},
	} {
		args := append([]string{"nginx"}, tc.args...)
		for i, a := range args {
			if a == "OUT" {
				args[i] = t.TempDir()
			}
		}
		err := run(context.Background(), args, envFunc(nil), nil, io.Discard, io.Discard)
		switch {
		case tc.want == "" && !errors.Is(err, errUsage):
			t.Errorf("sso %q = %v, want errUsage", args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("sso %q = %v, want an error about %s", args, err, tc.want)
		}
	}
}
