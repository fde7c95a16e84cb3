package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/example/sso/internal/testldap"
	"github.com/example/sso/internal/testoidc"
)

// ldapDoctorEnv is doctorEnv with the directory s instead of the users
// file, under the contract's name SSO_LDAP_URL.
func ldapDoctorEnv(t *testing.T, s *testldap.Server) map[string]string {
	env := doctorEnv(t)
	delete(env, "SSO_USERS_FILE")
	env["SSO_LDAP_URL"] = s.URL
	env["SSO_LDAP_BASE_DN"] = testldap.BaseDN
	env["SSO_LDAP_USER"] = testldap.ServiceDN
	env["SSO_LDAP_PASSWORD"] = testldap.ServicePW
	return env
}

// TestDoctorLDAP: doctor reports the LDAP directory (not a users file or
// the demo user), and a directory that does not answer as a failure.
func TestDoctorLDAP(t *testing.T) {
	s := testldap.Start(t)
	env := ldapDoctorEnv(t, s)
	out, err := runDoctorTest(t, env)
	if err != nil || !strings.Contains(out, "ok   users: LDAP directory "+s.URL+" (custom, base DN "+testldap.BaseDN+"): the service account can search\n") {
		t.Errorf("sso doctor = %v; output:\n%s", err, out)
	}
	if strings.Contains(out, "users file") || strings.Contains(out, "demo user") {
		t.Errorf("doctor speaks of a users file or the demo user with LDAP:\n%s", out)
	}
	env["SSO_LDAP_PASSWORD"] = "wrong"
	out, err = runDoctorTest(t, env)
	if !strings.Contains(out, `WARN LDAP: SSO_LDAP_URL="`+s.URL+`": the directory does not answer a search as SSO_LDAP_USER`) {
		t.Errorf("wrong service password: sso doctor = %v; output:\n%s", err, out)
	}
	if strings.Contains(out, `"wrong"`) {
		t.Errorf("doctor shows the password:\n%s", out)
	}
	env["SSO_LDAP_PASSWORD"] = testldap.ServicePW
	s.Kill()
	out, err = runDoctorTest(t, env)
	if !strings.Contains(out, "WARN LDAP: SSO_LDAP_URL=") {
		t.Errorf("directory down: sso doctor = %v; output:\n%s", err, out)
	}
}

// TestDoctorOIDC: doctor fetches each provider's discovery document; with
// the provider as the only way in it says so.
func TestDoctorOIDC(t *testing.T) {
	idp := testoidc.Start(t, testoidc.Options{})
	env := doctorEnv(t)
	delete(env, "SSO_USERS_FILE")
	env["SSO_OIDC_ID"] = "corp"
	env["SSO_OIDC_NAME"] = "Corp"
	env["SSO_OIDC_ISSUER"] = idp.Issuer
	env["SSO_OIDC_CLIENT_ID"] = testoidc.ClientIDClaims
	env["SSO_OIDC_CLIENT_SECRET"] = testoidc.Secret
	env["SSO_OIDC_ALLOWED_EMAIL_DOMAINS"] = "example.com"
	out, err := runDoctorTest(t, env)
	for _, want := range []string{
		"ok   users: no password sign-in (no users file, no LDAP directory): the login page shows only the OpenID providers\n",
		`ok   OIDC provider corp: button "Corp": issuer ` + idp.Issuer + " answers; its callback to register is https://login.example.com/oauth2/callback/corp\n",
	} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("sso doctor = %v; output lacks %q:\n%s", err, want, out)
		}
	}
	idp.Stop()
	out, err = runDoctorTest(t, env)
	if !strings.Contains(out, "WARN OIDC provider corp: issuer "+idp.Issuer+": does not answer") {
		t.Errorf("provider down: sso doctor = %v; output:\n%s", err, out)
	}
}

// TestServeLDAP: sso serve with SSO_LDAP_URL signs alice in against the
// directory (groups from it), refuses disabled carol, and answers 503
// "unavailable" while the directory is down.
func TestServeLDAP(t *testing.T) {
	s := testldap.Start(t)
	env := prodEnv(t)
	delete(env, "SSO_USERS_FILE")
	env["SSO_LDAP_URL"] = s.URL
	env["SSO_LDAP_BASE_DN"] = testldap.BaseDN
	env["SSO_LDAP_USERS_FILTER"] = testldap.DisabledFilter
	env["SSO_LDAP_USER"] = testldap.ServiceDN
	env["SSO_LDAP_PASSWORD"] = testldap.ServicePW
	in := start(t, env)
	l, _ := in.login(t, "alice", testldap.AlicePassword)
	r := in.do(t, "GET", "http://api.example.test/auth", "", map[string]string{"Cookie": "sso_session=" + l.Session.Value})
	if r.status != http.StatusOK || r.header.Get("X-Auth-User") != "alice" || r.header.Get("X-Auth-Groups") != "admins,dev" {
		t.Errorf("/auth = %d user %q groups %q, want 200 alice admins,dev", r.status, r.header.Get("X-Auth-User"), r.header.Get("X-Auth-Groups"))
	}
	r = in.do(t, "POST", "http://login.example.test/api/session", `{"username":"carol","password":"`+testldap.CarolPassword+`"}`, nil)
	if r.status != http.StatusUnauthorized {
		t.Errorf("disabled carol: %d %s, want 401", r.status, r.body)
	}
	s.Kill()
	r = in.do(t, "POST", "http://login.example.test/api/session", `{"username":"alice","password":"`+testldap.AlicePassword+`"}`, nil)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), `"unavailable"`) {
		t.Errorf("directory down: %d %s, want 503 unavailable", r.status, r.body)
	}
}

// TestServeLDAPNamesDiffer: SSO_LDAP_URL and its alias SSO_LDAP_ADDRESS
// set to different addresses stop sso with one line naming both.
func TestServeLDAPNamesDiffer(t *testing.T) {
	env := prodEnv(t)
	delete(env, "SSO_USERS_FILE")
	env["SSO_LDAP_URL"] = "ldaps://dc1.example.com"
	env["SSO_LDAP_ADDRESS"] = "ldaps://dc2.example.com"
	env["SSO_LDAP_BASE_DN"] = "dc=example,dc=com"
	env["SSO_LDAP_USER"] = "cn=sso,dc=example,dc=com"
	env["SSO_LDAP_PASSWORD"] = "x"
	err := serve(context.Background(), nil, envFunc(env), &strings.Builder{}, &strings.Builder{}, nil)
	if err == nil || !strings.Contains(err.Error(), "SSO_LDAP_URL") || !strings.Contains(err.Error(), "SSO_LDAP_ADDRESS") {
		t.Fatalf("serve = %v, want a refusal naming SSO_LDAP_URL and SSO_LDAP_ADDRESS", err)
	}
	checkOneLine(t, err.Error(), "SSO_LDAP_URL")
}

// TestServeOIDCOnly: sso serve with an OpenID provider and no users file
// starts, and its login page offers the provider instead of the password
// form; GET /oauth2/start sends the browser to the provider.
func TestServeOIDCOnly(t *testing.T) {
	idp := testoidc.Start(t, testoidc.Options{RedirectURIs: []string{"http://login.example.test/oauth2/callback/corp"}})
	env := prodEnv(t)
	delete(env, "SSO_USERS_FILE")
	env["SSO_OIDC_ID"] = "corp"
	env["SSO_OIDC_NAME"] = "Corp"
	env["SSO_OIDC_ISSUER"] = idp.Issuer
	env["SSO_OIDC_CLIENT_ID"] = testoidc.ClientIDClaims
	env["SSO_OIDC_CLIENT_SECRET"] = testoidc.Secret
	env["SSO_OIDC_ALLOWED_EMAIL_DOMAINS"] = "example.test"
	in := start(t, env)
	r := in.do(t, "GET", "http://login.example.test/login", "", nil)
	if r.status != http.StatusOK || strings.Contains(string(r.body), `id="password"`) || !strings.Contains(string(r.body), "Sign in with Corp") {
		t.Errorf("GET /login = %d, want the Corp button and no password form: %s", r.status, r.body)
	}
	r = in.do(t, "GET", "http://login.example.test/oauth2/start/corp", "", nil)
	if loc := r.header.Get("Location"); r.status != http.StatusFound || !strings.HasPrefix(loc, idp.Issuer) {
		t.Errorf("GET /oauth2/start/corp = %d to %q, want 302 to the provider", r.status, loc)
	}
	var state bool
	for _, c := range r.cookie {
		state = state || c.Name == "sso_oidc_corp"
	}
	if !state {
		t.Errorf("no state cookie: %v", r.cookie)
	}
}
