package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/sso/config"
	"github.com/example/sso/internal/testredis"
	"github.com/redis/go-redis/v9"
)

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

// prod is a good production configuration with a one-user file.
func prod(t *testing.T) map[string]string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(path, []byte("users:\n  alice:\n    displayname: Alice\n    email: alice@example.com\n    password: \""+string(h)+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"SSO_COOKIE_DOMAINS": "example.com", "SSO_SECRET_KEYS": key(1), "SSO_USERS_FILE": path}
}

func assemble(t *testing.T, env map[string]string) Result {
	t.Helper()
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	res := Assemble(context.Background(), cfg, err, Options{})
	if res.App != nil {
		t.Cleanup(res.App.Close)
	}
	return res
}

func TestAssembleGood(t *testing.T) {
	res := assemble(t, prod(t))
	if res.App == nil || res.App.Handler == nil {
		t.Fatalf("good configuration refused: %v", res.Err())
	}
	if res.Err() != nil {
		t.Errorf("Err = %v with an App", res.Err())
	}
	if res.Policies.Cookies == nil || res.Policies.CORS == nil || res.Policies.HubCORS == nil || res.Policies.Login == nil {
		t.Errorf("policies missing: %+v", res.Policies)
	}
	seen := map[string]bool{}
	for _, c := range res.Checks {
		if !c.OK || c.Rule == "" || c.Why == "" {
			t.Errorf("check %+v", c)
		}
		if seen[c.Rule] && !c.Warn {
			t.Errorf("rule %q reported twice", c.Rule)
		}
		seen[c.Rule] = true
	}
	for _, r := range []string{RuleConfig, RuleCookie, RuleCORS, RuleLoginOrigins, RuleSecretKeys, RuleProxies, RuleJWT, RuleStore, RuleUsers} {
		if !seen[r] {
			t.Errorf("no check %q", r)
		}
	}
}

// Each refusal is one line naming the setting, reported by the step that
// owns the rule, the most fundamental first; the steps that depend on a
// refused setting report nothing of their own.
func TestAssembleRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   map[string]string
		first string // the setting the first failure names
		rule  string
		n     int // failures in all
	}{
		{"public suffix before missing keys and users", map[string]string{"SSO_COOKIE_DOMAINS": "co.uk", "SSO_SECRET_KEYS": "", "SSO_USERS_FILE": ""}, "SSO_COOKIE_DOMAINS", RuleCookie, 3},
		{"IP cookie domain", map[string]string{"SSO_COOKIE_DOMAINS": "10.0.0.1"}, "SSO_COOKIE_DOMAINS", RuleCookie, 1},
		{"config-level SameSite", map[string]string{"SSO_COOKIE_SAMESITE": "sideways"}, "SSO_COOKIE_SAMESITE", RuleCookie, 1},
		{"login hub elsewhere", map[string]string{"SSO_LOGIN_URL": "https://login.example.org"}, "SSO_LOGIN_URL", RuleLoginURL, 1},
		{"login origin not in CORS", map[string]string{"SSO_LOGIN_ORIGINS": "https://app.example.org"}, "SSO_LOGIN_ORIGINS", RuleLoginOrigins, 1},
		{"short key", map[string]string{"SSO_SECRET_KEYS": base64.StdEncoding.EncodeToString([]byte("short"))}, "SSO_SECRET_KEYS", RuleSecretKeys, 1},
		{"idle out of range before the store", map[string]string{"SSO_SESSION_IDLE": "-1s", "SSO_REDIS_URL": "ftp://x"}, "SSO_SESSION_IDLE", RuleSetting, 2},
		{"redis down", map[string]string{"SSO_REDIS_URL": "redis://:s3cret@127.0.0.1:1/0"}, "SSO_REDIS_URL", RuleStore, 1},
		{"auth cache out of range", map[string]string{"SSO_AUTH_CACHE": "2m"}, "SSO_AUTH_CACHE", RuleAuthCache, 1},
		{"store setting before the auth cache", map[string]string{"SSO_STORE_TIMEOUT": "1h", "SSO_AUTH_CACHE": "-1s"}, "SSO_STORE_TIMEOUT", RuleStore, 2},
		{"missing users file", map[string]string{"SSO_USERS_FILE": "/nonexistent/users.yaml"}, "SSO_USERS_FILE", RuleUsers, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := prod(t)
			for k, v := range tc.set {
				env[k] = v
			}
			res := assemble(t, env)
			if res.App != nil {
				t.Fatal("refused configuration assembled")
			}
			f := res.Checks.Failed()
			if len(f) != tc.n {
				t.Errorf("%d failures, want %d:\n%v", len(f), tc.n, res.Err())
			}
			if len(f) == 0 {
				return
			}
			if f[0].Setting != tc.first || f[0].Rule != tc.rule || !strings.Contains(f[0].Why, tc.first) {
				t.Errorf("first failure %+v, want rule %s naming %s", f[0], tc.rule, tc.first)
			}
			for _, c := range f {
				if strings.Contains(c.Why, "\n") || c.Setting == "" || !strings.Contains(c.Why, strings.Split(c.Setting, ",")[0]) || c.Fix == "" {
					t.Errorf("failure %+v: want one line naming its setting, and a fix", c)
				}
				if strings.Contains(c.Why, "s3cret") || strings.Contains(c.Why, env["SSO_SECRET_KEYS"]) && env["SSO_SECRET_KEYS"] != "" {
					t.Errorf("failure shows a secret: %q", c.Why)
				}
			}
			if got := strings.Split(res.Err().Error(), "\n"); len(got) != len(f) {
				t.Errorf("Err has %d lines, want one per failure (%d)", len(got), len(f))
			}
		})
	}
}

func TestAssembleWarnings(t *testing.T) {
	env := prod(t)
	env["SSO_LOGIN_MAX_RETRIES"] = "0"
	env["SSO_LISTEN"] = "0.0.0.0:0"
	env["SSO_CORS_ORIGINS"] = "https://*.example.com,https://login.example.com"
	env["SSO_LOGIN_ORIGINS"] = "https://*.example.com"
	res := assemble(t, env)
	if res.App == nil {
		t.Fatalf("refused: %v", res.Err())
	}
	warned := map[string]bool{}
	for _, c := range res.Checks {
		if c.Warn {
			warned[c.Rule] = true
			if !c.OK || c.Fix == "" {
				t.Errorf("warning %+v: want OK with a fix", c)
			}
		}
	}
	for _, r := range []string{RuleRegulation, RuleProxyReach, RuleLoginWildcard} {
		if !warned[r] {
			t.Errorf("no warning %q: %+v", r, res.Checks)
		}
	}
}

func TestDeriveKey(t *testing.T) {
	a, b := []byte(strings.Repeat("a", 32)), []byte(strings.Repeat("b", 32))
	if !bytes.Equal(DeriveKey(a, "x"), DeriveKey(a, "x")) {
		t.Error("not deterministic")
	}
	if bytes.Equal(DeriveKey(a, "x"), DeriveKey(a, "y")) || bytes.Equal(DeriveKey(a, "x"), DeriveKey(b, "x")) {
		t.Error("label or secret does not change the key")
	}
	if len(DeriveKey(a, "x")) != 32 {
		t.Error("not 32 bytes")
	}
}

func TestSameSite(t *testing.T) {
	for s, want := range map[string]http.SameSite{"lax": http.SameSiteLaxMode, "strict": http.SameSiteStrictMode, "None": http.SameSiteNoneMode, "": http.SameSiteLaxMode} {
		if got := SameSite(s); got != want {
			t.Errorf("SameSite(%q) = %v, want %v", s, got, want)
		}
	}
}

// A Redis user that may not PUBLISH would answer 503 to every login and
// logout, and its revocations would not reach other instances: refused at
// start-up (and by doctor) under the auth cache's rule, unless the cache
// is off.
func TestAssembleRedisWithoutPublish(t *testing.T) {
	addr := testredis.Start(t)
	rc := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rc.Close() })
	if err := rc.Do(context.Background(), "ACL", "SETUSER", "nopub", "on", ">nopubpw", "~*", "&*", "+@all", "-publish").Err(); err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	env := prod(t)
	env["SSO_REDIS_URL"] = "redis://nopub:nopubpw@" + addr + "/0"
	res := assemble(t, env)
	if res.App != nil {
		t.Fatal("a Redis user without PUBLISH was accepted")
	}
	var found bool
	for _, c := range res.Checks.Failed() {
		if c.Rule == RuleAuthCache && strings.Contains(c.Why, "cannot publish") && strings.Contains(c.Fix, "SSO_AUTH_CACHE=0") {
			found = true
		}
	}
	if !found {
		t.Errorf("no %s failure naming the publish: %+v", RuleAuthCache, res.Checks.Failed())
	}
	env["SSO_AUTH_CACHE"] = "0"
	if res := assemble(t, env); res.App == nil {
		t.Errorf("with the cache off, refused: %v", res.Err())
	}
}
