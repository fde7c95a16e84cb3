package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/example/sso/federation"
)

func oidcEnv(t *testing.T) map[string]string {
	env := prodEnv(t)
	env["SSO_OIDC_ISSUER"] = "https://accounts.google.com"
	env["SSO_OIDC_CLIENT_ID"] = "cid"
	env["SSO_OIDC_CLIENT_SECRET"] = "top-secret-value"
	env["SSO_OIDC_ALLOWED_EMAIL_DOMAINS"] = "example.com"
	return env
}

func TestOIDCEnv(t *testing.T) {
	env := oidcEnv(t)
	env["SSO_OIDC_NAME"] = "Google"
	env["SSO_OIDC_USER_CLAIM"] = "email"
	env["SSO_OIDC_REQUIRE_VERIFIED_EMAIL"] = "false"
	cfg, err := Load(nil, getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	want := federation.Provider{ID: "oidc", Name: "Google", Issuer: "https://accounts.google.com", ClientID: "cid", ClientSecret: "top-secret-value",
		RedirectURL: "https://login.example.com/oauth2/callback/oidc", Scopes: []string{"openid", "email", "profile"},
		UserClaim: "email", EmailClaim: "email", GroupsClaim: "groups", AllowedEmailDomains: []string{"example.com"}, AllowUnverifiedEmail: true}
	if len(cfg.OIDCProviders) != 1 || fmt.Sprintf("%#v", cfg.OIDCProviders[0]) != fmt.Sprintf("%#v", want) || cfg.OIDCProviders[0].ClientSecret != want.ClientSecret {
		t.Errorf("OIDCProviders = %v\nwant %v", cfg.OIDCProviders, want)
	}
	// Without the issuer, no provider.
	cfg, err = Load(nil, getenv(prodEnv(t)))
	if err != nil || len(cfg.OIDCProviders) != 0 {
		t.Errorf("no OIDC settings: %v, %v", cfg.OIDCProviders, err)
	}
}

func TestOIDCSecretFile(t *testing.T) {
	env := oidcEnv(t)
	delete(env, "SSO_OIDC_CLIENT_SECRET")
	env["SSO_OIDC_CLIENT_SECRET_FILE"] = writeFile(t, "secret", "from-file\n")
	cfg, err := Load(nil, getenv(env))
	if err != nil || len(cfg.OIDCProviders) != 1 || cfg.OIDCProviders[0].ClientSecret != "from-file" {
		t.Fatalf("secret file: %v, %v", cfg.OIDCProviders, err)
	}
}

func TestOIDCErrors(t *testing.T) {
	missing := t.TempDir() + "/nope"
	for _, tc := range []struct {
		name string
		set  map[string]string
		drop []string
		want string
	}{
		{"issuer http", map[string]string{"SSO_OIDC_ISSUER": "http://idp.example.com"}, nil, `SSO_OIDC_ISSUER="http://idp.example.com": "http://idp.example.com": http is only allowed`},
		{"no client id", nil, []string{"SSO_OIDC_CLIENT_ID"}, `SSO_OIDC_CLIENT_ID="": required`},
		{"no secret", nil, []string{"SSO_OIDC_CLIENT_SECRET"}, `SSO_OIDC_CLIENT_SECRET="": required`},
		{"secret file missing", map[string]string{"SSO_OIDC_CLIENT_SECRET_FILE": missing}, []string{"SSO_OIDC_CLIENT_SECRET"}, `SSO_OIDC_CLIENT_SECRET_FILE="` + missing + `": cannot be read: no such file`},
		{"secret twice", map[string]string{"SSO_OIDC_CLIENT_SECRET_FILE": missing}, nil, `SSO_OIDC_CLIENT_SECRET_FILE="` + missing + `": set both`},
		{"no allow-list", nil, []string{"SSO_OIDC_ALLOWED_EMAIL_DOMAINS"}, `SSO_OIDC_ALLOWED_EMAIL_DOMAINS="": set it ("*" for any address) or AllowedGroups`},
		{"bad domain", map[string]string{"SSO_OIDC_ALLOWED_EMAIL_DOMAINS": "*.example.com"}, nil, `SSO_OIDC_ALLOWED_EMAIL_DOMAINS="*.example.com": "*.example.com" is not a domain`},
		{"bad id", map[string]string{"SSO_OIDC_ID": "Google"}, nil, `SSO_OIDC_ID="Google": "Google" is not 1-32`},
		{"bad bool", map[string]string{"SSO_OIDC_REQUIRE_VERIFIED_EMAIL": "yes please"}, nil, `SSO_OIDC_REQUIRE_VERIFIED_EMAIL="yes please": must be true or false`},
		{"client id without issuer", nil, []string{"SSO_OIDC_ISSUER"}, `SSO_OIDC_ISSUER="": SSO_OIDC_CLIENT_ID is set but SSO_OIDC_ISSUER is not`},
		{"http login url", map[string]string{"SSO_LOGIN_URL": "http://login.example.com"}, nil, `callback http://login.example.com/oauth2/callback/oidc of OIDC provider "oidc"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := oidcEnv(t)
			for k, v := range tc.set {
				env[k] = v
			}
			for _, k := range tc.drop {
				delete(env, k)
			}
			_, err := Load(nil, getenv(env))
			if err == nil || !slices.ContainsFunc(problems(err), func(l string) bool { return strings.HasPrefix(l, tc.want) || strings.Contains(l, tc.want) }) {
				t.Errorf("Load error = %v\nwant a line with %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "top-secret-value") {
				t.Errorf("error leaks the client secret: %v", err)
			}
		})
	}
}

func TestOIDCFile(t *testing.T) {
	secretFile := writeFile(t, "gitlab-secret", "gl-secret\n")
	file := writeFile(t, "sso.yaml", `oidc_providers:
  - id: corp
    name: Corp SSO
    issuer: https://idp.example.com/dex
    client_id: sso
    client_secret: file-secret-value
    scopes: [openid, email, profile, groups]
    allowed_groups: [staff, ops]
    user_prefix: "corp:"
  - id: gitlab
    issuer: https://gitlab.example.com
    client_id: gl
    client_secret_file: `+secretFile+`
    allowed_email_domains: "example.com, example.org"
    require_verified_email: false
`)
	env := oidcEnv(t)
	env["SSO_CONFIG"] = file
	cfg, err := Load(nil, getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, p := range cfg.OIDCProviders {
		ids = append(ids, p.ID)
	}
	if !slices.Equal(ids, []string{"oidc", "corp", "gitlab"}) {
		t.Fatalf("provider ids = %v", ids)
	}
	corp, gl := cfg.OIDCProviders[1], cfg.OIDCProviders[2]
	if corp.Name != "Corp SSO" || corp.ClientSecret != "file-secret-value" || !slices.Equal(corp.Scopes, []string{"openid", "email", "profile", "groups"}) ||
		!slices.Equal(corp.AllowedGroups, []string{"staff", "ops"}) || corp.UserPrefix != "corp:" || corp.AllowUnverifiedEmail ||
		corp.RedirectURL != "https://login.example.com/oauth2/callback/corp" {
		t.Errorf("corp = %v", corp)
	}
	if gl.ClientSecret != "gl-secret" || !slices.Equal(gl.AllowedEmailDomains, []string{"example.com", "example.org"}) || !gl.AllowUnverifiedEmail {
		t.Errorf("gitlab = %v", gl)
	}
	for _, s := range []string{cfg.String(), fmt.Sprint(cfg.OIDCProviders), fmt.Sprintf("%+v", cfg), fmt.Sprint(cfg.Redacted())} {
		for _, secret := range []string{"file-secret-value", "gl-secret", "top-secret-value"} {
			if strings.Contains(s, secret) {
				t.Errorf("output leaks %s: %s", secret, s)
			}
		}
	}
}

func TestOIDCFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"not a list", "oidc_providers: {id: x}\n", "line 1: oidc_providers must be a list"},
		{"entry not mapping", "oidc_providers: [x]\n", "line 1: oidc_providers[0] must be a mapping"},
		{"unknown key", "oidc_providers:\n  - id: x\n    isuer: https://a.example.com\n", `line 3: oidc_providers[0]: unknown key "isuer" (did you mean "issuer"?)`},
		{"twice", "oidc_providers: []\noidc_providers: []\n", `line 2: key "oidc_providers" already set at line 1`},
		{"bad list", "oidc_providers:\n  - id: x\n    allowed_groups: {a: b}\n", "line 3: oidc_providers[0]: allowed_groups must be a list"},
		{"field error", "oidc_providers:\n  - id: x\n    issuer: ftp://a.example.com\n    client_id: c\n    client_secret: s\n    allowed_groups: [g]\n", `line 2: oidc_providers[0]: issuer: "ftp://a.example.com": scheme must be https`},
		{"no id", "oidc_providers:\n  - issuer: https://a.example.com\n    client_id: c\n    client_secret: s\n    allowed_groups: [g]\n", `line 2: oidc_providers[0]: id: "" is not`},
		{"duplicate id", "oidc_providers:\n  - {id: oidc, issuer: https://a.example.com, client_id: c, client_secret: s, allowed_groups: [g]}\n", "oidc_providers[0]: id: provider id used twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := oidcEnv(t)
			env["SSO_CONFIG"] = writeFile(t, "sso.yaml", tc.yaml)
			_, err := Load(nil, getenv(env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load error = %v\nwant %q", err, tc.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "SSO_") {
				t.Errorf("error does not start with a setting name: %v", err)
			}
		})
	}
}

// TestOIDCOnly: an OpenID provider is a way in of its own: outside dev
// mode it needs no users file and no LDAP directory.
func TestOIDCOnly(t *testing.T) {
	env := oidcEnv(t)
	delete(env, "SSO_USERS_FILE")
	cfg, err := Load(nil, getenv(env))
	if err != nil {
		t.Fatalf("Load without a users file but with a provider: %v", err)
	}
	if cfg.UsersFile != "" || cfg.LDAP.Enabled() || len(cfg.OIDCProviders) != 1 {
		t.Errorf("UsersFile %q, LDAP %v, providers %d", cfg.UsersFile, cfg.LDAP.Enabled(), len(cfg.OIDCProviders))
	}
	delete(env, "SSO_OIDC_ISSUER")
	for k := range env {
		if strings.HasPrefix(k, "SSO_OIDC_") {
			delete(env, k)
		}
	}
	if _, err := Load(nil, getenv(env)); err == nil || !strings.Contains(err.Error(), `SSO_USERS_FILE="": required outside dev mode`) {
		t.Errorf("neither users file, LDAP nor OIDC: err = %v", err)
	}
}
