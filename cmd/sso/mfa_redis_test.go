package main

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/example/sso/internal/testredis"
)

var secretRE = regexp.MustCompile(`id="secret">([A-Z2-7]+)<`)

// Two instances on one Redis, each caching /auth for a minute: a TOTP
// enrolled through A steps the session up (a new id); B refuses the old
// cookie within a second (the step-up deleted it, and the deletion is
// published), admits the new one with factor=2 and says so in X-Auth-AMR,
// and, reading the same mfa records, no longer lets alice log in by
// password alone.
func TestStepUpAcrossInstances(t *testing.T) {
	env := prodEnv(t)
	env["SSO_REDIS_URL"] = "redis://" + testredis.Start(t) + "/0"
	env["SSO_AUTH_CACHE"] = "1m"
	a, b := start(t, env), start(t, env)
	waitUsable(t, a)
	waitUsable(t, b)

	l, _ := a.login(t, "alice", testPassword)
	warm(t, b, "password session", cookie(l))
	if r := b.do(t, "GET", "http://api.example.test/auth?factor=2", "", cookie(l)); r.status != http.StatusUnauthorized || r.header.Get("X-Auth-Error") != "second_factor_required" {
		t.Fatalf("B: /auth?factor=2 with one factor = %d %q", r.status, r.header.Get("X-Auth-Error"))
	}

	form := func() map[string]string {
		return map[string]string{"Cookie": "sso_session=" + l.Session.Value, "Content-Type": "application/x-www-form-urlencoded"}
	}
	v := url.Values{"csrf_token": {l.CSRF}}
	r := a.do(t, "POST", "http://login.example.test/account/security/totp", v.Encode(), form())
	m := secretRE.FindSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		t.Fatalf("A: begin TOTP = %d %s", r.status, r.body)
	}
	code, err := totp.GenerateCode(string(m[1]), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := form()
	for _, c := range r.cookie {
		if c.Name == "sso_mfa" {
			h["Cookie"] += "; sso_mfa=" + c.Value
		}
	}
	v.Set("code", code)
	begin := time.Now()
	r = a.do(t, "POST", "http://login.example.test/account/security/totp/confirm", v.Encode(), h)
	if r.status != http.StatusOK {
		t.Fatalf("A: confirm TOTP = %d %s", r.status, r.body)
	}
	var stepped string
	for _, c := range r.cookie {
		if c.Name == "sso_session" && c.MaxAge > 0 {
			stepped = c.Value
		}
	}
	if stepped == "" || stepped == l.Session.Value {
		t.Fatalf("A: confirming the first code set no new session cookie: %v", r.cookie)
	}
	took := refusedWithin(t, b, "the session before step-up", cookie(l), begin, time.Second)
	t.Logf("B refused the pre-step-up session %v after the step-up on A", took.Round(100*time.Microsecond))
	r = b.do(t, "GET", "http://api.example.test/auth?factor=2&max_age=5m", "", map[string]string{"Cookie": "sso_session=" + stepped})
	if r.status != http.StatusOK || r.header.Get("X-Auth-AMR") != "pwd,otp" {
		t.Fatalf("B: stepped-up session: %d, X-Auth-AMR %q", r.status, r.header.Get("X-Auth-AMR"))
	}
	r = b.do(t, "POST", "http://login.example.test/api/session", `{"username":"alice","password":"`+testPassword+`"}`, nil)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("B: password-only API login of an enrolled user = %d %s", r.status, r.body)
	}
}
