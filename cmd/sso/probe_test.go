package main

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/nginx/nginxtest"
)

// probeStack is sso behind real nginx (the shipped templates), with an API
// upstream on api.example.test that echoes the identity nginx passes.
type probeStack struct {
	env     map[string]string
	port    int
	caFile  string
	connect string
}

func (s *probeStack) url(host, path string) string {
	return "https://" + host + ".example.test:" + strconv.Itoa(s.port) + path
}

func startProbeStack(t *testing.T) *probeStack {
	t.Helper()
	if _, err := nginxtest.Binary(); err != nil && !testproc.Required(nginxtest.RequireEnv) {
		t.Skipf("%v", err)
	}
	s := &probeStack{port: testproc.FreePort(t)}
	s.env = prodEnv(t)
	s.env["SSO_COOKIE_SECURE"] = "true"
	s.env["SSO_LOGIN_URL"] = s.url("login", "")
	s.env["SSO_CORS_ORIGINS"] = s.url("app", "")
	in := start(t, s.env)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	api := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"user": r.Header.Get("X-Auth-User")})
	})}
	go func() { _ = api.Serve(ln) }()
	t.Cleanup(func() { _ = api.Close() })

	ng := nginxtest.Start(t, nginxtest.Options{
		Vars: map[string]string{
			"SSO_UPSTREAM": in.addr,
			"API_UPSTREAM": ln.Addr().String(),
			"HTTPS_PORT":   strconv.Itoa(s.port),
		},
		Files: map[string]string{"app/index.html": "<!doctype html><title>app</title>\n"},
	})
	s.caFile = filepath.Join(ng.Dir, "tls", "ca.pem")
	s.connect = "127.0.0.1:" + strconv.Itoa(s.port)
	return s
}

// probeSection returns the output after the probe's heading.
func probeSection(t *testing.T, out string) string {
	t.Helper()
	_, after, ok := strings.Cut(out, "\nprobe of the running deployment")
	if !ok {
		t.Fatalf("no probe section in:\n%s", out)
	}
	return after
}

func TestDoctorProbe(t *testing.T) {
	s := startProbeStack(t)
	env := s.env
	env["SSO_PROBE_PASSWORD"] = testPassword
	args := func(from, to string, extra ...string) []string {
		return append([]string{"--from", from, "--to", to, "--probe", "--probe-user", "alice",
			"--probe-ca", s.caFile, "--probe-connect", s.connect}, extra...)
	}

	t.Run("GoodPair", func(t *testing.T) {
		out, err := runDoctorTest(t, env, args(s.url("app", "/"), s.url("api", "/me"),
			"--method", "PUT", "--header", "Content-Type: application/json")...)
		if err != nil {
			t.Fatalf("doctor --probe = %v, want nil; output:\n%s", err, out)
		}
		p := probeSection(t, out)
		for _, want := range []string{
			"→ GET " + s.url("login", "/login") + ": 200\n",
			"→ POST " + s.url("login", "/api/session") + ": 201\n",
			"Set-Cookie: sso_session=…; Path=/; Domain=example.test;",
			"ok   cookie: SameSite: ",
			"→ OPTIONS " + s.url("api", "/me") + ": 204\n",
			"Access-Control-Allow-Methods: ",
			"ok   CORS: preflight: the preflight allows PUT and the headers [content-type]",
			"ok   probe: protected: without a session it answers 401 (sent as GET",
			"X-Auth-Error: unauthorized",
			"ok   probe: session: with the session it answers 200",
			"→ GET " + s.url("api", "/me") + " (with the session cookie): 200\n     Access-Control-Allow-Credentials: true\n     Access-Control-Allow-Origin: " + s.url("app", "") + "\n",
			"Access-Control-Allow-Credentials: true\n",
			"Vary: Origin",
			"→ DELETE " + s.url("login", "/api/session") + ": 204\n",
			"ok   probe: logout: DELETE /api/session answered 204: the probe's session is ended",
		} {
			if !strings.Contains(p, want) {
				t.Errorf("probe output lacks %q:\n%s", want, p)
			}
		}
		if strings.Contains(out, "FAIL") {
			t.Errorf("a check failed:\n%s", out)
		}
	})

	t.Run("NotAllowedSibling", func(t *testing.T) {
		out, err := runDoctorTest(t, env, args(s.url("other", "/"), s.url("api", "/me"))...)
		if err == nil {
			t.Fatalf("doctor --probe = nil, want an error; output:\n%s", out)
		}
		p := probeSection(t, out)
		if !strings.Contains(p, "FAIL CORS: origin: Access-Control-Allow-Origin \"\"") {
			t.Errorf("the probe does not fail CORS: origin on the actual answer:\n%s", p)
		}
		// The cookie itself does go: only CORS is wrong.
		for _, want := range []string{"ok   cookie: domain: ", "ok   probe: session: with the session it answers 200"} {
			if !strings.Contains(p, want) {
				t.Errorf("probe output lacks %q:\n%s", want, p)
			}
		}
	})

	t.Run("PreflightRefused", func(t *testing.T) {
		out, err := runDoctorTest(t, env, args(s.url("app", "/"), s.url("api", "/me"), "--header", "X-Not-Allowed: 1")...)
		if err == nil {
			t.Fatalf("doctor --probe = nil, want an error; output:\n%s", out)
		}
		p := probeSection(t, out)
		if !strings.Contains(p, "FAIL CORS: preflight: the preflight answered 403") || !strings.Contains(p, "header not allowed") {
			t.Errorf("the probe does not fail CORS: preflight:\n%s", p)
		}
	})

	t.Run("OtherSite", func(t *testing.T) {
		// evil.test is not even served: the cookie rules still fail on
		// the cookie the hub set, and the request gets no answer.
		out, err := runDoctorTest(t, env, args("https://evil.test/", s.url("api", "/me"))...)
		if err == nil {
			t.Fatalf("doctor --probe = nil, want an error; output:\n%s", out)
		}
		p := probeSection(t, out)
		if !strings.Contains(p, "FAIL cookie: SameSite: https://evil.test and "+s.url("api", "")+" are cross-site and the cookie is SameSite=Lax") {
			t.Errorf("the probe does not fail cookie: SameSite:\n%s", p)
		}
	})

	t.Run("Navigation", func(t *testing.T) {
		// Asked for HTML, nginx sends the browser to the hub instead.
		out, err := runDoctorTest(t, env, args(s.url("app", "/"), s.url("app", "/"), "--header", "Accept: text/html")...)
		p := probeSection(t, out)
		if err != nil || !strings.Contains(p, "ok   probe: protected: without a session it answers 302: sso's auth_request guards it") ||
			!strings.Contains(p, "Location: "+s.url("login", "/login?rd=")) {
			t.Errorf("doctor --probe of the app page = %v, want a 302 to the hub counted as protected; output:\n%s", err, p)
		}
	})

	t.Run("Unprotected", func(t *testing.T) {
		out, err := runDoctorTest(t, env, args(s.url("login", "/"), s.url("login", "/healthz"))...)
		p := probeSection(t, out)
		if err == nil || !strings.Contains(p, "FAIL probe: protected: without a session it answers 200; fix: protect the location") {
			t.Errorf("doctor --probe of an unprotected URL = %v, want FAIL probe: protected; output:\n%s", err, p)
		}
	})

	t.Run("NoCredentials", func(t *testing.T) {
		noPass := map[string]string{}
		for k, v := range env {
			noPass[k] = v
		}
		delete(noPass, "SSO_PROBE_PASSWORD")
		out, err := runDoctorTest(t, noPass, "--from", s.url("app", "/"), "--to", s.url("api", "/me"), "--probe",
			"--probe-ca", s.caFile, "--probe-connect", s.connect)
		if err != nil {
			t.Fatalf("doctor --probe = %v, want nil; output:\n%s", err, out)
		}
		p := probeSection(t, out)
		for _, want := range []string{"ok   probe: session skipped: no credentials", "ok   probe: protected: without a session it answers 401", "ok   CORS: origin: Access-Control-Allow-Origin: " + s.url("app", "")} {
			if !strings.Contains(p, want) {
				t.Errorf("probe output lacks %q:\n%s", want, p)
			}
		}
		if strings.Contains(p, "with the session") {
			t.Errorf("the probe sent a request with a session it does not have:\n%s", p)
		}
	})

	t.Run("UntrustedCA", func(t *testing.T) {
		out, err := runDoctorTest(t, env, "--from", s.url("app", "/"), "--to", s.url("api", "/me"), "--probe", "--probe-connect", s.connect)
		if err == nil || !strings.Contains(out, "FAIL probe: reach: no answer: ") || !strings.Contains(out, "certificate") {
			t.Errorf("doctor --probe without the dev CA = %v, want a reach failure naming the certificate; output:\n%s", err, out)
		}
	})
}

func TestDoctorProbeArgs(t *testing.T) {
	args := []string{"--probe", "--from", "https://a.example.com/", "--probe-user=alice", "--listen", ":8080",
		"--to", "https://b.example.com/x", "-probe-ca", "/tmp/ca.pem", "--probe-connect", "127.0.0.1:8443"}
	got, rest, err := splitDoctorArgs(args)
	want := doctorArgs{from: "https://a.example.com/", to: "https://b.example.com/x",
		probe: probeArgs{on: true, user: "alice", ca: "/tmp/ca.pem", connect: "127.0.0.1:8443"}}
	if err != nil || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(rest, []string{"--listen", ":8080"}) {
		t.Errorf("splitDoctorArgs(%q) = %+v, %q, %v; want %+v, [--listen :8080], nil", args, got, rest, err, want)
	}

	if out, err := runDoctorTest(t, nil, "--probe"); !errors.Is(err, errUsage) {
		t.Errorf("sso doctor --probe without --from/--to = %v, want errUsage; output:\n%s", err, out)
	}
	env := doctorEnv(t)
	out, err := runDoctorTest(t, env, "--from", "https://app.example.com/", "--to", "https://api.example.com/", "--probe", "--probe-user", "alice")
	if err == nil || !strings.Contains(out, "FAIL probe: --probe-user alice: set SSO_PROBE_PASSWORD") {
		t.Errorf("--probe-user without SSO_PROBE_PASSWORD = %v, want a failure naming it; output:\n%s", err, out)
	}
	out, err = runDoctorTest(t, env, "--from", "https://app.example.com/", "--to", "https://api.example.com/", "--probe", "--probe-ca", filepath.Join(t.TempDir(), "missing.pem"))
	if err == nil || !strings.Contains(out, "FAIL probe: --probe-ca: doctor: CA file: ") {
		t.Errorf("--probe-ca of a missing file = %v, want a failure naming it; output:\n%s", err, out)
	}
}
