package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// doctorEnv is a good production configuration: a cookie domain, a key and
// a users file with one user.
func doctorEnv(t *testing.T) map[string]string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("doctor password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.yaml")
	data := "users:\n  alice:\n    displayname: Alice\n    email: alice@example.com\n    password: \"" + string(h) + "\"\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"SSO_COOKIE_DOMAINS": "example.com",
		"SSO_SECRET_KEYS":    base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32)),
		"SSO_USERS_FILE":     path,
	}
}

func runDoctorTest(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"doctor"}, args...), func(k string) string { return env[k] }, strings.NewReader(""), &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

func TestDoctorGoodConfig(t *testing.T) {
	env := doctorEnv(t)
	out, err := runDoctorTest(t, env,
		"--from", "https://app.example.com/", "--to=https://api.example.com/items",
		"--method", "PUT", "--header", "Content-Type: application/json", "--header", "X-CSRF-Token: x",
		"--listen", "127.0.0.1:0") // a serve flag among doctor's
	if err != nil {
		t.Fatalf("sso doctor = %v, want nil; output:\n%s", err, out)
	}
	for _, want := range []string{
		"ok   configuration: cookie domains example.com, login hub https://login.example.com\n",
		"ok   secret keys: 1 key",
		"ok   cookie: sso_session with Domain=example.com",
		"ok   CORS origins: https://example.com, https://*.example.com, https://login.example.com\n",
		"ok   users file " + env["SSO_USERS_FILE"] + ": 1 user\n",
		"ok   store: embedded in-memory store",
		"ok   cookie: SameSite: app.example.com and api.example.com are same-site",
		"ok   CORS: preflight: a preflight is needed (PUT is not GET, HEAD or POST",
		"ok   CSRF: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q; output:\n%s", want, out)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Errorf("output has a FAIL line:\n%s", out)
	}
}

func TestDoctorConfigOnly(t *testing.T) {
	out, err := runDoctorTest(t, doctorEnv(t))
	if err != nil {
		t.Fatalf("sso doctor = %v, want nil; output:\n%s", err, out)
	}
	if strings.Contains(out, "request:") {
		t.Errorf("without --from/--to the output has browser checks:\n%s", out)
	}
}

func TestDoctorBrokenScenario(t *testing.T) {
	env := doctorEnv(t)
	env["SSO_CORS_ORIGINS"] = "https://app.example.com"
	out, err := runDoctorTest(t, env, "--from", "https://www.example.com/", "--to", "http://api.example.com/items")
	if err == nil {
		t.Fatalf("sso doctor = nil, want an error; output:\n%s", out)
	}
	if !strings.Contains(err.Error(), "checks failed") {
		t.Errorf("error = %q, want it to count the failed checks", err)
	}
	for _, want := range []string{
		"ok   CORS origins: https://app.example.com, https://login.example.com\n",
		"FAIL cookie: Secure: http://api.example.com is plain http",
		"FAIL CORS: origin: https://www.example.com is not an allowed origin",
		"add https://www.example.com (or https://*.example.com for every sibling) to SSO_CORS_ORIGINS",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q; output:\n%s", want, out)
		}
	}
}

func TestDoctorBrokenConfig(t *testing.T) {
	tests := []struct {
		name  string
		set   map[string]string
		wants []string
		never string // a secret that must not be printed
	}{
		{
			name:  "public suffix cookie domain",
			set:   map[string]string{"SSO_COOKIE_DOMAINS": "co.uk"},
			wants: []string{"FAIL cookie: SSO_COOKIE_DOMAINS=\"co.uk\"", "public suffix", "FAIL browser checks: skipped"},
		},
		{
			name:  "short secret key",
			set:   map[string]string{"SSO_SECRET_KEYS": base64.StdEncoding.EncodeToString([]byte("too short"))},
			wants: []string{"FAIL secret keys: SSO_SECRET_KEYS", "ok   cookie: sso_session"},
		},
		{
			name:  "missing users file is reported once, other checks still run",
			set:   map[string]string{"SSO_USERS_FILE": "/nonexistent/users.yaml"},
			wants: []string{"FAIL users file: SSO_USERS_FILE=\"/nonexistent/users.yaml\"", "ok   secret keys", "ok   cookie: SameSite"},
		},
		{
			name:  "login hub outside the cookie domain",
			set:   map[string]string{"SSO_LOGIN_URL": "https://login.example.org"},
			wants: []string{"FAIL login URL: SSO_LOGIN_URL=\"https://login.example.org\""},
		},
		{
			name:  "redis does not answer; its password is not printed",
			set:   map[string]string{"SSO_REDIS_URL": "redis://:doctor-s3cret@127.0.0.1:1/0"},
			wants: []string{"FAIL store: SSO_REDIS_URL: redis does not answer", "ok   CSRF"},
			never: "doctor-s3cret",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := doctorEnv(t)
			for k, v := range tc.set {
				env[k] = v
			}
			out, err := runDoctorTest(t, env, "--from", "https://app.example.com/", "--to", "https://api.example.com/items")
			if err == nil {
				t.Fatalf("sso doctor = nil, want an error; output:\n%s", out)
			}
			for _, want := range tc.wants {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q; output:\n%s", want, out)
				}
			}
			if tc.never != "" && (strings.Contains(out, tc.never) || strings.Contains(err.Error(), tc.never)) {
				t.Errorf("output or error shows the secret %q:\n%s\n%v", tc.never, out, err)
			}
		})
	}
}

func TestDoctorUsage(t *testing.T) {
	out, err := runDoctorTest(t, nil, "-h")
	if err != nil || !strings.Contains(out, "usage: sso doctor") {
		t.Errorf("sso doctor -h = %v, output %q; want nil and the usage", err, out)
	}
	for _, args := range [][]string{{"--from", "https://app.example.com/"}, {"--to"}, {"--header", "no name:"}, {"--header", ": v"}} {
		out, err := runDoctorTest(t, nil, args...)
		if !errors.Is(err, errUsage) {
			t.Errorf("sso doctor %q = %v, want errUsage; output:\n%s", args, err, out)
		}
	}
}

func TestDoctorSplitArgs(t *testing.T) {
	tests := []struct {
		args     []string
		want     doctorArgs
		wantRest []string
	}{
		{
			args:     []string{"--from", "https://a.example.com/", "-to=https://b.example.com/x", "--listen", ":8080", "--cookie-secure", "--header", "A: 1", "-header=B: 2", "--method=put", "--credentials", "omit"},
			want:     doctorArgs{from: "https://a.example.com/", to: "https://b.example.com/x", method: "put", credentials: "omit", headers: []string{"A: 1", "B: 2"}},
			wantRest: []string{"--listen", ":8080", "--cookie-secure"},
		},
		{
			args:     []string{"--config=/etc/sso.yaml", "--help"},
			want:     doctorArgs{help: true},
			wantRest: []string{"--config=/etc/sso.yaml"},
		},
		{
			args:     []string{"--cookie-domains", "example.com", "-json"},
			want:     doctorArgs{json: true},
			wantRest: []string{"--cookie-domains", "example.com"},
		},
	}
	if _, _, err := splitDoctorArgs([]string{"--json=false"}); err == nil {
		t.Error("--json=false accepted: --json takes no value")
	}
	for _, tc := range tests {
		got, rest, err := splitDoctorArgs(tc.args)
		if err != nil || !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(rest, tc.wantRest) {
			t.Errorf("splitDoctorArgs(%q) = %+v, %q, %v; want %+v, %q, nil", tc.args, got, rest, err, tc.want, tc.wantRest)
		}
	}
}
