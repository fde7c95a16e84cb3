package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/sso/ldapusers"
)

// getenv returns a fake os.Getenv backed by m.
func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes content to name in a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// prodEnv returns a minimal valid production environment.
func prodEnv(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{
		"SSO_COOKIE_DOMAINS": "example.com",
		"SSO_SECRET_KEYS":    "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==",
		"SSO_USERS_FILE":     writeFile(t, "users.yaml", "users: {}\n"),
	}
}

// problems returns the lines of a Load or Validate error.
func problems(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

func TestDevModeDefaults(t *testing.T) {
	cfg, err := Load(nil, getenv(nil))
	if err != nil {
		t.Fatalf("Load(nil, empty env) error: %v", err)
	}
	want := Config{
		Listen:            "127.0.0.1:8080",
		CookieDomains:     []string{"example.test"},
		CookieName:        "sso_session",
		CookieSameSite:    "lax",
		CookieSecure:      false,
		SessionIdle:       8 * time.Hour,
		SessionMax:        168 * time.Hour,
		SessionRefresh:    time.Minute,
		SessionMaxPerUser: 100,
		LoginMaxRetries:   5,
		LoginFindTime:     2 * time.Minute,
		LoginBanTime:      5 * time.Minute,
		LoginMemory:       256,
		StoreTimeout:      500 * time.Millisecond,
		AuthCache:         2 * time.Second,
		LoginURL:          "http://login.example.test:8080",
		TrustedProxies:    []string{"127.0.0.1/32", "::1/128"},
		JWTIssuer:         "http://login.example.test:8080",
		JWTAudience:       "example.test",
		JWTTTL:            5 * time.Minute,
		LogLevel:          "info",
		LogFormat:         "text",
		LDAP:              ldapusers.Config{Implementation: "custom", Timeout: 5 * time.Second, GroupSearchMode: "filter", PoolSize: 5},
		MFA:               MFA{Issuer: "sso"},
		DevMode:           true,
		OIDC: OIDCEnv{ID: "oidc", Scopes: []string{"openid", "email", "profile"}, UserClaim: "preferred_username",
			EmailClaim: "email", GroupsClaim: "groups", RequireVerifiedEmail: true},
	}
	got := cfg
	got.Notes, got.sources = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(nil, empty env) =\n%#v\nwant\n%#v", got, want)
	}
	if len(cfg.Notes) != 2 || !strings.Contains(cfg.Notes[0], "dev mode") || !strings.Contains(cfg.Notes[1], "SSO_LOGIN_URL") {
		t.Errorf("Notes = %q, want a dev-mode and a login-URL notice", cfg.Notes)
	}
	for env, src := range map[string]string{
		"SSO_LISTEN": "default", "SSO_COOKIE_DOMAINS": "derived", "SSO_LOGIN_URL": "derived",
		"SSO_JWT_ISSUER": "derived", "SSO_JWT_AUDIENCE": "derived", "SSO_COOKIE_SECURE": "default",
	} {
		if got := cfg.Source(env); got != src {
			t.Errorf("Source(%q) = %q, want %q", env, got, src)
		}
	}
}

func TestDevModeDerivations(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want map[string]string // Redacted() entries
	}{
		{"login url follows listen port", []string{"--listen=:9000"}, nil,
			map[string]string{"SSO_LOGIN_URL": "http://login.example.test:9000", "SSO_JWT_ISSUER": "http://login.example.test:9000"}},
		{"explicit secure wins", nil, map[string]string{"SSO_COOKIE_SECURE": "true", "SSO_LOGIN_URL": "https://login.example.test"},
			map[string]string{"SSO_COOKIE_SECURE": "true", "SSO_LOGIN_URL": "https://login.example.test", "SSO_JWT_ISSUER": "https://login.example.test"}},
		{"empty domains flag is dev mode", []string{"--cookie-domains="}, map[string]string{"SSO_COOKIE_DOMAINS": "example.com"},
			map[string]string{"SSO_COOKIE_DOMAINS": "example.test", "SSO_COOKIE_SECURE": "false"}},
		{"blank domains is dev mode", nil, map[string]string{"SSO_COOKIE_DOMAINS": "  "},
			map[string]string{"SSO_COOKIE_DOMAINS": "example.test"}},
		{"explicit audience and issuer", nil, map[string]string{"SSO_JWT_AUDIENCE": "api", "SSO_JWT_ISSUER": "me"},
			map[string]string{"SSO_JWT_AUDIENCE": "api", "SSO_JWT_ISSUER": "me"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.args, getenv(tc.env))
			if err != nil {
				t.Fatalf("Load(%q) error: %v", tc.args, err)
			}
			if !cfg.DevMode {
				t.Errorf("DevMode = false, want true")
			}
			red := cfg.Redacted()
			for k, v := range tc.want {
				if red[k] != v {
					t.Errorf("%s = %q, want %q", k, red[k], v)
				}
			}
		})
	}
}

func TestProductionDerivations(t *testing.T) {
	env := prodEnv(t)
	env["SSO_COOKIE_DOMAINS"] = "Example.COM, example.org"
	cfg, err := Load(nil, getenv(env))
	if err != nil {
		t.Fatalf("Load error: %v", err)
	}
	if cfg.DevMode || !cfg.CookieSecure {
		t.Errorf("DevMode, CookieSecure = %v, %v; want false, true", cfg.DevMode, cfg.CookieSecure)
	}
	if want := []string{"Example.COM", "example.org"}; !reflect.DeepEqual(cfg.CookieDomains, want) {
		t.Errorf("CookieDomains = %q, want %q", cfg.CookieDomains, want)
	}
	for k, want := range map[string]string{
		"LoginURL": "https://login.example.com", "JWTIssuer": "https://login.example.com", "JWTAudience": "Example.COM",
	} {
		if got := reflect.ValueOf(cfg).FieldByName(k).String(); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if len(cfg.Notes) != 1 || !strings.Contains(cfg.Notes[0], "https://login.example.com") {
		t.Errorf("Notes = %q, want one notice naming the derived login URL", cfg.Notes)
	}
}

// TestSettings feeds good and bad values of every setting through the
// environment on top of a valid production setup.
func TestSettings(t *testing.T) {
	dir := t.TempDir()
	keyFile := writeFile(t, "key.pem", "-----BEGIN PRIVATE KEY-----\n")
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name    string
		set     map[string]string
		want    map[string]string // Redacted() entries, when valid
		wantErr string            // the one expected problem line, or a substring of it
	}{
		{name: "listen host:port", set: map[string]string{"SSO_LISTEN": "0.0.0.0:80"}, want: map[string]string{"SSO_LISTEN": "0.0.0.0:80"}},
		{name: "listen port only", set: map[string]string{"SSO_LISTEN": ":8080"}, want: map[string]string{"SSO_LISTEN": ":8080"}},
		{name: "listen ipv6", set: map[string]string{"SSO_LISTEN": "[::1]:8080"}, want: map[string]string{"SSO_LISTEN": "[::1]:8080"}},
		{name: "listen no port", set: map[string]string{"SSO_LISTEN": "localhost"},
			wantErr: `SSO_LISTEN="localhost": must be host:port, such as 127.0.0.1:8080 or :8080`},
		{name: "listen bad port", set: map[string]string{"SSO_LISTEN": ":http"}, wantErr: `SSO_LISTEN=":http": port must be a number from 0 to 65535`},
		{name: "listen port too big", set: map[string]string{"SSO_LISTEN": ":65536"}, wantErr: `SSO_LISTEN=":65536": port must be`},

		{name: "domains trimmed", set: map[string]string{"SSO_COOKIE_DOMAINS": " example.com , example.org "},
			want: map[string]string{"SSO_COOKIE_DOMAINS": "example.com,example.org"}},
		{name: "domains empty entry", set: map[string]string{"SSO_COOKIE_DOMAINS": "example.com,,x.org"},
			wantErr: `SSO_COOKIE_DOMAINS="example.com,,x.org": entry 2 is empty; want comma-separated values without empty entries`},
		{name: "domains trailing comma", set: map[string]string{"SSO_COOKIE_DOMAINS": "example.com,"}, wantErr: `entry 2 is empty`},
		{name: "domains with scheme", set: map[string]string{"SSO_COOKIE_DOMAINS": "https://example.com"},
			wantErr: `SSO_COOKIE_DOMAINS="https://example.com": entry "https://example.com" must be a bare domain such as example.com`},
		{name: "domains with port", set: map[string]string{"SSO_COOKIE_DOMAINS": "example.com:443"}, wantErr: `must be a bare domain`},
		{name: "domains wildcard", set: map[string]string{"SSO_COOKIE_DOMAINS": "*.example.com"}, wantErr: `must be a bare domain`},
		{name: "domains duplicate", set: map[string]string{"SSO_COOKIE_DOMAINS": "example.com,EXAMPLE.com."}, wantErr: `entry "EXAMPLE.com." is listed twice`},

		{name: "cookie name", set: map[string]string{"SSO_COOKIE_NAME": "__Secure-sso"}, want: map[string]string{"SSO_COOKIE_NAME": "__Secure-sso"}},
		{name: "cookie name space", set: map[string]string{"SSO_COOKIE_NAME": "my session"}, wantErr: `SSO_COOKIE_NAME="my session": must be a cookie name token`},
		{name: "cookie name semicolon", set: map[string]string{"SSO_COOKIE_NAME": "a;b"}, wantErr: `must be a cookie name token`},
		{name: "cookie name host prefix", set: map[string]string{"SSO_COOKIE_NAME": "__host-sso"}, wantErr: `the __Host- prefix forbids the Domain attribute`},
		{name: "cookie name secure prefix without secure", set: map[string]string{"SSO_COOKIE_NAME": "__Secure-sso", "SSO_COOKIE_SECURE": "false", "SSO_LOGIN_URL": "http://login.example.com"},
			wantErr: `SSO_COOKIE_NAME="__Secure-sso": the __Secure- prefix requires SSO_COOKIE_SECURE=true`},

		{name: "samesite upper case", set: map[string]string{"SSO_COOKIE_SAMESITE": "Strict"}, want: map[string]string{"SSO_COOKIE_SAMESITE": "strict"}},
		{name: "samesite none secure", set: map[string]string{"SSO_COOKIE_SAMESITE": "NONE"}, want: map[string]string{"SSO_COOKIE_SAMESITE": "none"}},
		{name: "samesite bad", set: map[string]string{"SSO_COOKIE_SAMESITE": "sideways"},
			wantErr: `SSO_COOKIE_SAMESITE="sideways": must be one of lax, strict, none`},
		{name: "samesite none without secure", set: map[string]string{"SSO_COOKIE_SAMESITE": "none", "SSO_COOKIE_SECURE": "false", "SSO_LOGIN_URL": "http://login.example.com"},
			wantErr: `SSO_COOKIE_SAMESITE="none": none requires SSO_COOKIE_SECURE=true: browsers refuse SameSite=None cookies without Secure`},

		{name: "secure false", set: map[string]string{"SSO_COOKIE_SECURE": "0", "SSO_LOGIN_URL": "http://login.example.com"},
			want: map[string]string{"SSO_COOKIE_SECURE": "false"}},
		{name: "secure bad", set: map[string]string{"SSO_COOKIE_SECURE": "yes"}, wantErr: `SSO_COOKIE_SECURE="yes": must be true or false`},

		{name: "session idle", set: map[string]string{"SSO_SESSION_IDLE": "90m"}, want: map[string]string{"SSO_SESSION_IDLE": "1h30m"}},
		{name: "session idle bad", set: map[string]string{"SSO_SESSION_IDLE": "8"}, wantErr: `SSO_SESSION_IDLE="8": must be a Go duration such as 90s, 15m or 8h`},
		{name: "session idle zero", set: map[string]string{"SSO_SESSION_IDLE": "0s"}, wantErr: `SSO_SESSION_IDLE="0s": must be positive`},
		{name: "session idle negative", set: map[string]string{"SSO_SESSION_IDLE": "-1h"}, wantErr: `SSO_SESSION_IDLE="-1h": must be positive`},
		{name: "session max equal idle", set: map[string]string{"SSO_SESSION_MAX": "8h"}, want: map[string]string{"SSO_SESSION_MAX": "8h"}},
		{name: "session max below idle", set: map[string]string{"SSO_SESSION_MAX": "1h"}, wantErr: `SSO_SESSION_MAX="1h": must be at least SSO_SESSION_IDLE (8h)`},
		{name: "session max bad", set: map[string]string{"SSO_SESSION_MAX": "1 week"}, wantErr: `SSO_SESSION_MAX="1 week": must be a Go duration`},
		{name: "session refresh zero", set: map[string]string{"SSO_SESSION_REFRESH": "0s"}, want: map[string]string{"SSO_SESSION_REFRESH": "0s"}},
		{name: "session refresh equal idle", set: map[string]string{"SSO_SESSION_REFRESH": "8h"}, wantErr: `SSO_SESSION_REFRESH="8h": must be less than SSO_SESSION_IDLE (8h)`},
		{name: "session refresh negative", set: map[string]string{"SSO_SESSION_REFRESH": "-1s"}, wantErr: `SSO_SESSION_REFRESH="-1s": must not be negative`},

		{name: "session max per user", set: map[string]string{"SSO_SESSION_MAX_PER_USER": "5"}, want: map[string]string{"SSO_SESSION_MAX_PER_USER": "5"}},
		{name: "session max per user one", set: map[string]string{"SSO_SESSION_MAX_PER_USER": "1"}, want: map[string]string{"SSO_SESSION_MAX_PER_USER": "1"}},
		{name: "session max per user limit", set: map[string]string{"SSO_SESSION_MAX_PER_USER": "100000"}, want: map[string]string{"SSO_SESSION_MAX_PER_USER": "100000"}},
		{name: "session max per user zero", set: map[string]string{"SSO_SESSION_MAX_PER_USER": "0"}, wantErr: `SSO_SESSION_MAX_PER_USER="0": must be from 1 to 100000`},
		{name: "session max per user negative", set: map[string]string{"SSO_SESSION_MAX_PER_USER": "-1"}, wantErr: `SSO_SESSION_MAX_PER_USER="-1": must be from 1 to 100000`},
		{name: "session max per user huge", set: map[string]string{"SSO_SESSION_MAX_PER_USER": "100001"}, wantErr: `SSO_SESSION_MAX_PER_USER="100001": must be from 1 to 100000`},
		{name: "session max per user not a number", set: map[string]string{"SSO_SESSION_MAX_PER_USER": "lots"}, wantErr: `SSO_SESSION_MAX_PER_USER="lots": must be a whole number`},

		{name: "login max retries", set: map[string]string{"SSO_LOGIN_MAX_RETRIES": " 3 "}, want: map[string]string{"SSO_LOGIN_MAX_RETRIES": "3"}},
		{name: "login max retries off", set: map[string]string{"SSO_LOGIN_MAX_RETRIES": "0"}, want: map[string]string{"SSO_LOGIN_MAX_RETRIES": "0"}},
		{name: "login max retries limit", set: map[string]string{"SSO_LOGIN_MAX_RETRIES": "1000"}, want: map[string]string{"SSO_LOGIN_MAX_RETRIES": "1000"}},
		{name: "login max retries negative", set: map[string]string{"SSO_LOGIN_MAX_RETRIES": "-1"}, wantErr: `SSO_LOGIN_MAX_RETRIES="-1": must be from 0 (regulation off) to 1000`},
		{name: "login max retries huge", set: map[string]string{"SSO_LOGIN_MAX_RETRIES": "1001"}, wantErr: `SSO_LOGIN_MAX_RETRIES="1001": must be from 0 (regulation off) to 1000`},
		{name: "login max retries not a number", set: map[string]string{"SSO_LOGIN_MAX_RETRIES": "five"}, wantErr: `SSO_LOGIN_MAX_RETRIES="five": must be a whole number`},
		{name: "login max retries overflow", set: map[string]string{"SSO_LOGIN_MAX_RETRIES": "99999999999999999999"}, wantErr: `SSO_LOGIN_MAX_RETRIES="99999999999999999999": is out of range`},
		{name: "login max retries fraction", set: map[string]string{"SSO_LOGIN_MAX_RETRIES": "2.5"}, wantErr: `SSO_LOGIN_MAX_RETRIES="2.5": must be a whole number`},
		{name: "login find time", set: map[string]string{"SSO_LOGIN_FIND_TIME": "10m"}, want: map[string]string{"SSO_LOGIN_FIND_TIME": "10m"}},
		{name: "login find time short", set: map[string]string{"SSO_LOGIN_FIND_TIME": "500ms"}, wantErr: `SSO_LOGIN_FIND_TIME="500ms": must be from 1s to 24h`},
		{name: "auth cache", set: map[string]string{"SSO_AUTH_CACHE": "500ms"}, want: map[string]string{"SSO_AUTH_CACHE": "500ms"}},
		{name: "auth cache off", set: map[string]string{"SSO_AUTH_CACHE": "0"}, want: map[string]string{"SSO_AUTH_CACHE": "0s"}},
		{name: "auth cache long", set: map[string]string{"SSO_AUTH_CACHE": "2m"}, wantErr: `SSO_AUTH_CACHE="2m": must be from 0 (off) to 1m`},
		{name: "auth cache negative", set: map[string]string{"SSO_AUTH_CACHE": "-1s"}, wantErr: `SSO_AUTH_CACHE="-1s": must be from 0 (off) to 1m`},
		{name: "auth cache bad", set: map[string]string{"SSO_AUTH_CACHE": "2"}, wantErr: `SSO_AUTH_CACHE="2": must be a Go duration`},
		{name: "login find time bad", set: map[string]string{"SSO_LOGIN_FIND_TIME": "2"}, wantErr: `SSO_LOGIN_FIND_TIME="2": must be a Go duration`},
		{name: "login ban time", set: map[string]string{"SSO_LOGIN_BAN_TIME": "1h"}, want: map[string]string{"SSO_LOGIN_BAN_TIME": "1h"}},
		{name: "login ban time zero", set: map[string]string{"SSO_LOGIN_BAN_TIME": "0s"}, wantErr: `SSO_LOGIN_BAN_TIME="0s": must be from 1s to 24h`},
		{name: "login ban time long", set: map[string]string{"SSO_LOGIN_BAN_TIME": "25h"}, wantErr: `SSO_LOGIN_BAN_TIME="25h": must be from 1s to 24h`},

		{name: "secret keys missing", set: map[string]string{"SSO_SECRET_KEYS": ""}, wantErr: `SSO_SECRET_KEYS="": required outside dev mode`},

		{name: "redis url", set: map[string]string{"SSO_REDIS_URL": "rediss://u:pw@redis:6380/2"}, want: map[string]string{"SSO_REDIS_URL": "rediss://u:***@redis:6380/2"}},
		{name: "redis url plain", set: map[string]string{"SSO_REDIS_URL": "redis://localhost"}, want: map[string]string{"SSO_REDIS_URL": "redis://localhost"}},
		{name: "redis url scheme", set: map[string]string{"SSO_REDIS_URL": "http://localhost:6379"}, wantErr: `SSO_REDIS_URL="http://localhost:6379": must start with redis:// or rediss://`},
		{name: "redis url no scheme", set: map[string]string{"SSO_REDIS_URL": "localhost:6379"}, wantErr: `must start with redis:// or rediss://`},
		{name: "redis url no host", set: map[string]string{"SSO_REDIS_URL": "redis:///0"}, wantErr: `must name a host`},
		{name: "redis url bad db", set: map[string]string{"SSO_REDIS_URL": "redis://h/x"}, wantErr: `path must be a database number`},
		{name: "redis url bad port", set: map[string]string{"SSO_REDIS_URL": "redis://h:0"}, wantErr: `port must be a number from 1 to 65535`},
		{name: "redis url unparsable", set: map[string]string{"SSO_REDIS_URL": "redis://h ost"}, wantErr: `is not a valid URL`},

		{name: "sentinel", set: map[string]string{"SSO_REDIS_SENTINEL_MASTER": "mymaster", "SSO_REDIS_SENTINEL_ADDRS": "s1:26379, s2:26379"},
			want: map[string]string{"SSO_REDIS_SENTINEL_MASTER": "mymaster", "SSO_REDIS_SENTINEL_ADDRS": "s1:26379,s2:26379"}},
		{name: "sentinel without addrs", set: map[string]string{"SSO_REDIS_SENTINEL_MASTER": "mymaster"},
			wantErr: `SSO_REDIS_SENTINEL_ADDRS="": required with SSO_REDIS_SENTINEL_MASTER`},
		{name: "sentinel without master", set: map[string]string{"SSO_REDIS_SENTINEL_ADDRS": "s1:26379"},
			wantErr: `SSO_REDIS_SENTINEL_MASTER="": required with SSO_REDIS_SENTINEL_ADDRS`},
		{name: "sentinel addr without port", set: map[string]string{"SSO_REDIS_SENTINEL_MASTER": "m", "SSO_REDIS_SENTINEL_ADDRS": "s1"},
			wantErr: `SSO_REDIS_SENTINEL_ADDRS="s1": entry "s1" must be host:port`},
		{name: "sentinel and url", set: map[string]string{"SSO_REDIS_URL": "redis://h", "SSO_REDIS_SENTINEL_MASTER": "m", "SSO_REDIS_SENTINEL_ADDRS": "s:1"},
			wantErr: `SSO_REDIS_SENTINEL_MASTER="m": Sentinel cannot be combined with SSO_REDIS_URL`},
		{name: "cluster", set: map[string]string{"SSO_REDIS_CLUSTER_ADDRS": "c1:7000,[::1]:7001"}, want: map[string]string{"SSO_REDIS_CLUSTER_ADDRS": "c1:7000,[::1]:7001"}},
		{name: "cluster and url", set: map[string]string{"SSO_REDIS_URL": "redis://h", "SSO_REDIS_CLUSTER_ADDRS": "c:7000"},
			wantErr: `SSO_REDIS_CLUSTER_ADDRS="c:7000": Cluster cannot be combined with another Redis setting`},
		{name: "cluster bad port", set: map[string]string{"SSO_REDIS_CLUSTER_ADDRS": "c:0"}, wantErr: `entry "c:0" must have a port from 1 to 65535`},
		{name: "cluster empty entry", set: map[string]string{"SSO_REDIS_CLUSTER_ADDRS": "c:1,,d:2"}, wantErr: `entry 2 is empty`},
		{name: "redis password", set: map[string]string{"SSO_REDIS_PASSWORD": "hunter2"}, want: map[string]string{"SSO_REDIS_PASSWORD": "***"}},

		{name: "users file missing", set: map[string]string{"SSO_USERS_FILE": missing},
			wantErr: `SSO_USERS_FILE="` + missing + `": cannot be opened: no such file or directory`},
		{name: "users file directory", set: map[string]string{"SSO_USERS_FILE": dir}, wantErr: `is a directory, want a file`},
		{name: "users file unset", set: map[string]string{"SSO_USERS_FILE": ""}, wantErr: `SSO_USERS_FILE="": required outside dev mode`},

		{name: "login url with path", set: map[string]string{"SSO_LOGIN_URL": "https://example.com/sso"}, want: map[string]string{"SSO_LOGIN_URL": "https://example.com/sso"}},
		{name: "login url trailing slash", set: map[string]string{"SSO_LOGIN_URL": "https://login.example.com/"}, want: map[string]string{"SSO_LOGIN_URL": "https://login.example.com"}},
		{name: "login url http while secure", set: map[string]string{"SSO_LOGIN_URL": "http://login.example.com"},
			wantErr: `SSO_LOGIN_URL="http://login.example.com": must be https while SSO_COOKIE_SECURE=true`},
		{name: "login url query", set: map[string]string{"SSO_LOGIN_URL": "https://login.example.com/?a=b"}, wantErr: `must have no query or fragment`},
		{name: "login url fragment", set: map[string]string{"SSO_LOGIN_URL": "https://login.example.com#x"}, wantErr: `must have no query or fragment`},
		{name: "login url relative", set: map[string]string{"SSO_LOGIN_URL": "login.example.com"}, wantErr: `must be an absolute URL`},
		{name: "login url scheme", set: map[string]string{"SSO_LOGIN_URL": "ftp://login.example.com"}, wantErr: `must be an http or https URL`},
		{name: "login url userinfo", set: map[string]string{"SSO_LOGIN_URL": "https://a:b@login.example.com"}, wantErr: `must not contain user:password@`},

		{name: "default redirect path", set: map[string]string{"SSO_DEFAULT_REDIRECT": "/welcome"}, want: map[string]string{"SSO_DEFAULT_REDIRECT": "/welcome"}},
		{name: "default redirect url", set: map[string]string{"SSO_DEFAULT_REDIRECT": "https://app.example.com/"}, want: map[string]string{"SSO_DEFAULT_REDIRECT": "https://app.example.com/"}},
		{name: "default redirect protocol-relative", set: map[string]string{"SSO_DEFAULT_REDIRECT": "//evil.com"}, wantErr: `SSO_DEFAULT_REDIRECT="//evil.com": must be a path`},
		{name: "default redirect backslash", set: map[string]string{"SSO_DEFAULT_REDIRECT": `/\evil.com`}, wantErr: `without control characters or backslashes`},
		{name: "default redirect javascript", set: map[string]string{"SSO_DEFAULT_REDIRECT": "javascript:alert(1)"}, wantErr: `must be a path such as /welcome`},
		{name: "default redirect bare word", set: map[string]string{"SSO_DEFAULT_REDIRECT": "welcome"}, wantErr: `must be a path such as /welcome`},

		{name: "cors origins", set: map[string]string{"SSO_CORS_ORIGINS": "https://app.example.com:8443, https://*.example.org"},
			want: map[string]string{"SSO_CORS_ORIGINS": "https://app.example.com:8443,https://*.example.org"}},
		{name: "cors star", set: map[string]string{"SSO_CORS_ORIGINS": "*"}, wantErr: `SSO_CORS_ORIGINS="*": entry "*" is not allowed: credentialed CORS needs explicit origins`},
		{name: "cors no scheme", set: map[string]string{"SSO_CORS_ORIGINS": "app.example.com"}, wantErr: `entry "app.example.com" must be an origin`},
		{name: "cors path", set: map[string]string{"SSO_CORS_ORIGINS": "https://app.example.com/"}, wantErr: `with scheme and without path`},
		{name: "cors headers", set: map[string]string{"SSO_CORS_HEADERS": "X-Request-Id, If-Match"},
			want: map[string]string{"SSO_CORS_HEADERS": "X-Request-Id,If-Match"}},
		{name: "cors headers star", set: map[string]string{"SSO_CORS_HEADERS": "*"}, wantErr: `SSO_CORS_HEADERS="*": entry "*" is not a header name`},
		{name: "cors headers space", set: map[string]string{"SSO_CORS_HEADERS": "X Bad"}, wantErr: `entry "X Bad" is not a header name`},
		{name: "login origins", set: map[string]string{"SSO_LOGIN_ORIGINS": "https://app.example.com, https://*.example.org"},
			want: map[string]string{"SSO_LOGIN_ORIGINS": "https://app.example.com,https://*.example.org"}},
		{name: "login origins path", set: map[string]string{"SSO_LOGIN_ORIGINS": "https://app.example.com/x"}, wantErr: `SSO_LOGIN_ORIGINS="https://app.example.com/x": entry`},
		{name: "cors empty entry", set: map[string]string{"SSO_CORS_ORIGINS": ",https://a.example.com"}, wantErr: `entry 1 is empty`},

		{name: "proxies normalised", set: map[string]string{"SSO_TRUSTED_PROXIES": "10.0.0.1, 10.1.2.3/8, fd00::/8, ::1"},
			want: map[string]string{"SSO_TRUSTED_PROXIES": "10.0.0.1/32,10.0.0.0/8,fd00::/8,::1/128"}},
		{name: "proxies hostname", set: map[string]string{"SSO_TRUSTED_PROXIES": "nginx"},
			wantErr: `SSO_TRUSTED_PROXIES="nginx": entry "nginx" is neither an IP address nor a CIDR such as 10.0.0.0/8`},
		{name: "proxies bad bits", set: map[string]string{"SSO_TRUSTED_PROXIES": "10.0.0.0/33"}, wantErr: `entry "10.0.0.0/33" is neither`},
		{name: "proxies zone", set: map[string]string{"SSO_TRUSTED_PROXIES": "fe80::1%eth0"}, wantErr: `entry "fe80::1%eth0" is neither`},

		{name: "jwt ttl min", set: map[string]string{"SSO_JWT_TTL": "30s"}, want: map[string]string{"SSO_JWT_TTL": "30s"}},
		{name: "jwt ttl max", set: map[string]string{"SSO_JWT_TTL": "1h"}, want: map[string]string{"SSO_JWT_TTL": "1h"}},
		{name: "jwt ttl short", set: map[string]string{"SSO_JWT_TTL": "29s"}, wantErr: `SSO_JWT_TTL="29s": must be from 30s to 1h`},
		{name: "jwt ttl long", set: map[string]string{"SSO_JWT_TTL": "61m"}, wantErr: `SSO_JWT_TTL="1h1m": must be from 30s to 1h`},
		{name: "jwt key files", set: map[string]string{"SSO_JWT_KEY_FILES": keyFile}, want: map[string]string{"SSO_JWT_KEY_FILES": keyFile}},
		{name: "jwt key file missing", set: map[string]string{"SSO_JWT_KEY_FILES": keyFile + "," + missing},
			wantErr: `file "` + missing + `" cannot be opened`},
		{name: "jwt issuer", set: map[string]string{"SSO_JWT_ISSUER": "https://sso.example.com"}, want: map[string]string{"SSO_JWT_ISSUER": "https://sso.example.com"}},

		{name: "log level", set: map[string]string{"SSO_LOG_LEVEL": "DEBUG"}, want: map[string]string{"SSO_LOG_LEVEL": "debug"}},
		{name: "log level bad", set: map[string]string{"SSO_LOG_LEVEL": "verbose"}, wantErr: `SSO_LOG_LEVEL="verbose": must be one of debug, info, warn, error`},
		{name: "log format", set: map[string]string{"SSO_LOG_FORMAT": "json"}, want: map[string]string{"SSO_LOG_FORMAT": "json"}},
		{name: "log format bad", set: map[string]string{"SSO_LOG_FORMAT": "xml"}, wantErr: `SSO_LOG_FORMAT="xml": must be one of text, json`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := prodEnv(t)
			for k, v := range tc.set {
				env[k] = v
			}
			cfg, err := Load(nil, getenv(env))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Load(%q) error:\n%v", tc.set, err)
				}
				red := cfg.Redacted()
				for k, v := range tc.want {
					if red[k] != v {
						t.Errorf("Load(%q): %s = %q, want %q", tc.set, k, red[k], v)
					}
				}
				return
			}
			lines := problems(err)
			if len(lines) != 1 || !strings.Contains(lines[0], tc.wantErr) {
				t.Errorf("Load(%q) error =\n%v\nwant one line containing %q", tc.set, err, tc.wantErr)
			}
			var se *SettingError
			if !errors.As(err, &se) {
				t.Errorf("Load(%q) error %v is not a *SettingError", tc.set, err)
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	env := map[string]string{
		"SSO_COOKIE_DOMAINS":  "example.com",
		"SSO_COOKIE_SAMESITE": "sideways",
		"SSO_SESSION_IDLE":    "forever",
		"SSO_LOG_LEVEL":       "loud",
	}
	_, err := Load(nil, getenv(env))
	want := []string{
		`SSO_COOKIE_SAMESITE="sideways": must be one of lax, strict, none`,
		`SSO_SESSION_IDLE="forever": must be a Go duration such as 90s, 15m or 8h`,
		`SSO_SECRET_KEYS="": required outside dev mode; generate a key with: head -c 32 /dev/urandom | base64`,
		`SSO_USERS_FILE="": required outside dev mode (or an LDAP directory: SSO_LDAP_URL, or an OpenID provider: SSO_OIDC_ISSUER)`,
		`SSO_LOG_LEVEL="loud": must be one of debug, info, warn, error`,
	}
	got := problems(err)
	// Parse errors come first, then Validate's in table order.
	if !sameSet(got, want) {
		t.Errorf("Load error lines =\n%s\nwant (any order)\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		m[s]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

// TestPrecedence checks flag > env > file > default for one setting of each
// kind, and names the source of a bad value in the error.
func TestPrecedence(t *testing.T) {
	tests := []struct {
		env                        string
		def, file, envVal, flagV   string // raw values; file as YAML scalar
		wantDef, wantFile, wantEnv string // Redacted() forms
		wantFlag                   string
	}{
		{env: "SSO_LISTEN", file: `"127.0.0.1:1"`, envVal: "127.0.0.1:2", flagV: "127.0.0.1:3",
			wantDef: "127.0.0.1:8080", wantFile: "127.0.0.1:1", wantEnv: "127.0.0.1:2", wantFlag: "127.0.0.1:3"},
		{env: "SSO_TRUSTED_PROXIES", file: "[10.0.0.0/8, 10.0.0.1]", envVal: "192.168.0.0/16", flagV: "::1",
			wantDef: "127.0.0.1/32,::1/128", wantFile: "10.0.0.0/8,10.0.0.1/32", wantEnv: "192.168.0.0/16", wantFlag: "::1/128"},
		{env: "SSO_COOKIE_SECURE", file: "false", envVal: "true", flagV: "false",
			wantDef: "true", wantFile: "false", wantEnv: "true", wantFlag: "false"},
		{env: "SSO_SESSION_IDLE", file: "2h", envVal: "3h", flagV: "4h",
			wantDef: "8h", wantFile: "2h", wantEnv: "3h", wantFlag: "4h"},
		{env: "SSO_LOGIN_MAX_RETRIES", file: "7", envVal: "8", flagV: "0",
			wantDef: "5", wantFile: "7", wantEnv: "8", wantFlag: "0"},
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			base := prodEnv(t)
			file := writeFile(t, "sso.yaml", fileKey(tc.env)+": "+tc.file+"\n")
			flagArg := "--" + flagName(tc.env) + "=" + tc.flagV

			steps := []struct {
				name, want, source string
				args               []string
				env                map[string]string
			}{
				{"default", tc.wantDef, "default", nil, nil},
				{"file", tc.wantFile, "file", nil, map[string]string{"SSO_CONFIG": file}},
				{"env beats file", tc.wantEnv, "env", nil, map[string]string{"SSO_CONFIG": file, tc.env: tc.envVal}},
				{"flag beats env", tc.wantFlag, "flag", []string{flagArg}, map[string]string{"SSO_CONFIG": file, tc.env: tc.envVal}},
			}
			for _, st := range steps {
				env := map[string]string{}
				for k, v := range base {
					env[k] = v
				}
				for k, v := range st.env {
					env[k] = v
				}
				cfg, err := Load(st.args, getenv(env))
				if err != nil {
					t.Fatalf("%s: Load(%q) error: %v", st.name, st.args, err)
				}
				if got := cfg.Redacted()[tc.env]; got != st.want {
					t.Errorf("%s: %s = %q, want %q", st.name, tc.env, got, st.want)
				}
				if got := cfg.Source(tc.env); got != st.source {
					t.Errorf("%s: Source(%s) = %q, want %q", st.name, tc.env, got, st.source)
				}
			}
		})
	}
}

func TestBoolFlagWithoutValue(t *testing.T) {
	cfg, err := Load([]string{"--cookie-secure", "--login-url", "https://login.example.test"}, getenv(nil))
	if err != nil {
		t.Fatalf("Load error: %v", err)
	}
	if !cfg.CookieSecure {
		t.Errorf("--cookie-secure: CookieSecure = false, want true")
	}
}

func TestConfigFlagBeatsEnv(t *testing.T) {
	fromEnv := writeFile(t, "env.yaml", "listen: 127.0.0.1:1\n")
	fromFlag := writeFile(t, "flag.yaml", "listen: 127.0.0.1:2\n")
	cfg, err := Load([]string{"--config", fromFlag}, getenv(map[string]string{"SSO_CONFIG": fromEnv}))
	if err != nil {
		t.Fatalf("Load error: %v", err)
	}
	if cfg.Listen != "127.0.0.1:2" {
		t.Errorf("Listen = %q, want the --config file's 127.0.0.1:2", cfg.Listen)
	}
}

func TestSourceInError(t *testing.T) {
	file := writeFile(t, "sso.yaml", "\ncookie_samesite: sideways\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"flag", []string{"--cookie-samesite=up"}, nil, `SSO_COOKIE_SAMESITE="up" (from flag --cookie-samesite): must be one of lax, strict, none`},
		{"env", nil, map[string]string{"SSO_COOKIE_SAMESITE": "up"}, `SSO_COOKIE_SAMESITE="up": must be one of lax, strict, none`},
		{"file", nil, map[string]string{"SSO_CONFIG": file}, `SSO_COOKIE_SAMESITE="sideways" (from ` + file + ` line 2): must be one of lax, strict, none`},
		{"derived", []string{"--cookie-secure=true"}, nil, `SSO_LOGIN_URL="http://login.example.test:8080" (derived from SSO_LISTEN): must be https while SSO_COOKIE_SECURE=true`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.args, getenv(tc.env))
			if got := problems(err); len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("Load error =\n%v\nwant\n%s", err, tc.want)
			}
		})
	}
}

func TestFile(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    map[string]string // Redacted() entries
		wantErr string
	}{
		{name: "list as YAML list", yaml: "cookie_domains: [example.com, example.org]\n",
			want: map[string]string{"SSO_COOKIE_DOMAINS": "example.com,example.org"}},
		{name: "list as block list", yaml: "cookie_domains:\n  - example.com\n  - example.org\n",
			want: map[string]string{"SSO_COOKIE_DOMAINS": "example.com,example.org"}},
		{name: "list as string", yaml: "cookie_domains: example.com, example.org\n",
			want: map[string]string{"SSO_COOKIE_DOMAINS": "example.com,example.org"}},
		{name: "empty list is dev mode", yaml: "cookie_domains: []\n",
			want: map[string]string{"SSO_COOKIE_DOMAINS": "example.test"}},
		{name: "bool and duration", yaml: "cookie_secure: true\nsession_idle: 30m\nlogin_url: https://login.example.test\n",
			want: map[string]string{"SSO_COOKIE_SECURE": "true", "SSO_SESSION_IDLE": "30m"}},
		{name: "null is unset", yaml: "listen:\nlog_level: ~\n",
			want: map[string]string{"SSO_LISTEN": "127.0.0.1:8080", "SSO_LOG_LEVEL": "info"}},
		{name: "anchors", yaml: "jwt_issuer: &i me\njwt_audience: *i\n",
			want: map[string]string{"SSO_JWT_AUDIENCE": "me"}},
		{name: "empty file", yaml: "", want: map[string]string{"SSO_LISTEN": "127.0.0.1:8080"}},
		{name: "comments only", yaml: "# nothing\n", want: map[string]string{"SSO_LISTEN": "127.0.0.1:8080"}},

		{name: "unknown key", yaml: "listen: :8080\ncookie_domain: example.com\n",
			wantErr: `line 2: unknown key "cookie_domain" (did you mean "cookie_domains"?)`},
		{name: "unknown key far from any", yaml: "colour: blue\n", wantErr: `line 1: unknown key "colour"`},
		{name: "env name as key", yaml: "SSO_LISTEN: :1\n", wantErr: `unknown key "SSO_LISTEN"`},
		{name: "nested config key", yaml: "config: other.yaml\n", wantErr: `unknown key "config"`},
		{name: "duplicate key", yaml: "listen: :1\nlisten: :2\n", wantErr: `line 2: key "listen" already set at line 1`},
		{name: "list for scalar", yaml: "listen: [a, b]\n", wantErr: `line 1: listen must be a single value, not a list`},
		{name: "mapping for list", yaml: "cookie_domains: {a: b}\n", wantErr: `cookie_domains must be a list or a comma-separated string, not a mapping`},
		{name: "nested list", yaml: "cookie_domains: [[a]]\n", wantErr: `must be a list of plain values`},
		{name: "yaml 1.1 bool", yaml: "cookie_secure: yes\n", wantErr: `SSO_COOKIE_SECURE="yes" (from `},
		{name: "number as duration", yaml: "session_idle: 3600\n", wantErr: `SSO_SESSION_IDLE="3600" (from `},
		{name: "not a mapping", yaml: "- listen\n", wantErr: `line 1: want a mapping of setting: value`},
		{name: "not yaml", yaml: "listen: [\n", wantErr: `not valid YAML`},
		{name: "tab indent", yaml: "listen:\n\t- a\n", wantErr: `not valid YAML`},
		// The wrong file (SSO_CONFIG=/etc/shadow): its lines are not echoed.
		{name: "not a setting name", yaml: "root:*:19000:0:99999:7:: x\n", wantErr: `line 1: unknown key (23 characters, not shown: not a setting name; is SSO_CONFIG the right file?)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := prodEnv(t)
			delete(env, "SSO_COOKIE_DOMAINS")
			path := writeFile(t, "sso.yaml", tc.yaml)
			env["SSO_CONFIG"] = path
			cfg, err := Load(nil, getenv(env))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Load(%q) error: %v", tc.yaml, err)
				}
				red := cfg.Redacted()
				for k, v := range tc.want {
					if red[k] != v {
						t.Errorf("Load(%q): %s = %q, want %q", tc.yaml, k, red[k], v)
					}
				}
				return
			}
			lines := problems(err)
			if len(lines) != 1 || !strings.Contains(lines[0], tc.wantErr) {
				t.Errorf("Load(%q) error =\n%v\nwant one line containing %q", tc.yaml, err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), path) && !strings.HasPrefix(lines[0], "SSO_") {
				t.Errorf("Load(%q) error %q names neither the file nor a setting", tc.yaml, err)
			}
		})
	}
}

// Files settings name are read only when regular and small: /dev/zero
// must not fill the memory, a FIFO must not block the start-up.
func TestConfigFileNotRegularOrTooLarge(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", 1<<20)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	usersFifo := filepath.Join(dir, "users.yml")
	if err := syscall.Mkfifo(usersFifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"/dev/zero", map[string]string{"SSO_CONFIG": "/dev/zero"}, `SSO_CONFIG="/dev/zero": cannot read: not a regular file: a device`},
		{"FIFO", map[string]string{"SSO_CONFIG": fifo}, `cannot read: not a regular file: a named pipe`},
		{"over 1 MiB", map[string]string{"SSO_CONFIG": big}, `cannot read: too large: 1048579 bytes, at most 1 MiB`},
		{"users file FIFO", map[string]string{"SSO_USERS_FILE": usersFifo}, `SSO_USERS_FILE="` + usersFifo + `": is not a regular file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := prodEnv(t)
			for k, v := range tc.env {
				env[k] = v
			}
			done := make(chan error, 1)
			go func() { _, err := Load(nil, getenv(env)); done <- err }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Load error = %v, want one containing %q", err, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Load did not return within 10s")
			}
		})
	}
}

func TestMissingConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load([]string{"--config=" + path}, getenv(nil))
	want := `SSO_CONFIG="` + path + `" (from flag --config): cannot read: no such file or directory`
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v, want %s", err, want)
	}
}

func TestArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // error substring
	}{
		{"help", []string{"-h"}, "flag: help requested"},
		{"long help", []string{"--help"}, "flag: help requested"},
		{"unknown flag", []string{"--cookie-domain=x"}, "flag provided but not defined: -cookie-domain"},
		{"positional", []string{"serve"}, `unexpected argument "serve"`},
		{"after flags", []string{"--listen=:1", "extra"}, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.args, getenv(nil))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load(%q) error = %v, want containing %q", tc.args, err, tc.want)
			}
		})
	}
	if _, err := Load([]string{"-help"}, getenv(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("Load(-help) error = %v, want wrapping flag.ErrHelp", err)
	}
}

func TestUsageListsEverySetting(t *testing.T) {
	u := Usage()
	for _, s := range settings() {
		for _, want := range []string{"--" + flagName(s.env) + ",", s.env + ",", fileKey(s.env) + "\n"} {
			if !strings.Contains(u, want) {
				t.Errorf("Usage() lacks %q", want)
			}
		}
	}
	for _, want := range []string{"SSO_CONFIG", "(default: 127.0.0.1:8080)", "(default: 8h)", "(default: true; dev mode: false)"} {
		if !strings.Contains(u, want) {
			t.Errorf("Usage() lacks %q", want)
		}
	}
}

// TestSettingsTable guards the table itself: every field is covered once,
// every default parses, and no name is used twice.
func TestSettingsTable(t *testing.T) {
	seen := map[any]string{}
	var c Config
	for _, s := range settings() {
		if !strings.HasPrefix(s.env, "SSO_") || strings.ToUpper(s.env) != s.env {
			t.Errorf("setting %q is not an SSO_ upper-case name", s.env)
		}
		p := s.field(&c)
		if prev, ok := seen[p]; ok {
			t.Errorf("%s and %s share a field", prev, s.env)
		}
		seen[p] = s.env
		if msg := parseInto(s, s.def, p); msg != "" {
			t.Errorf("%s default %q does not parse: %s", s.env, s.def, msg)
		}
	}
	// Every field but DevMode, Notes, sources, the OIDC ones, LDAP and MFA
	// is a setting, and so is every field of OIDC, of LDAP and of MFA.
	if n := reflect.TypeOf(c).NumField() - 8 + reflect.TypeOf(c.OIDC).NumField() + reflect.TypeOf(c.LDAP).NumField() + reflect.TypeOf(c.MFA).NumField(); len(seen) != n {
		t.Errorf("settings() has %d entries, Config has %d setting fields", len(seen), n)
	}
}

func TestValidateZeroConfig(t *testing.T) {
	err := Config{}.Validate()
	if err == nil {
		t.Fatal("Config{}.Validate() = nil, want errors")
	}
	for _, want := range []string{"SSO_LISTEN", "SSO_COOKIE_DOMAINS", "SSO_COOKIE_NAME", "SSO_SECRET_KEYS", "SSO_USERS_FILE", "SSO_LOGIN_URL", "SSO_JWT_TTL", "SSO_LOG_LEVEL"} {
		if !strings.Contains(err.Error(), want+"=") {
			t.Errorf("Config{}.Validate() does not name %s:\n%v", want, err)
		}
	}
	for _, line := range problems(err) {
		if !strings.HasPrefix(line, "SSO_") {
			t.Errorf("problem line %q does not start with the setting name", line)
		}
	}
}

func TestFmtDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 30 * time.Second: "30s", 90 * time.Second: "1m30s", time.Hour: "1h",
		90 * time.Minute: "1h30m", 168 * time.Hour: "168h", time.Hour + time.Second: "1h0m1s", -time.Hour: "-1h",
	} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestTrustedPrefixes(t *testing.T) {
	c := Config{TrustedProxies: []string{"10.0.0.0/8", "::1", "bogus"}}
	got := c.TrustedPrefixes()
	if len(got) != 2 || got[0].String() != "10.0.0.0/8" || got[1].String() != "::1/128" {
		t.Errorf("TrustedPrefixes() = %v, want [10.0.0.0/8 ::1/128]", got)
	}
}

func TestMFASettings(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		wantErr string // "" = valid
	}{
		{map[string]string{"SSO_MFA_REQUIRED_GROUPS": "admins,ops"}, ""},
		{map[string]string{"SSO_MFA_REQUIRED_GROUPS": "admins,bad group"}, "SSO_MFA_REQUIRED_GROUPS"},
		{map[string]string{"SSO_MFA_ISSUER": "Example Corp"}, ""},
		{map[string]string{"SSO_MFA_ISSUER": "a:b"}, "SSO_MFA_ISSUER"},
		{map[string]string{"SSO_MFA_ISSUER": strings.Repeat("x", 65)}, "SSO_MFA_ISSUER"},
		{map[string]string{"SSO_MFA_OIDC_AMR": "true"}, "SSO_MFA_OIDC_AMR"},
		{map[string]string{"SSO_MFA_OIDC_AMR": "maybe"}, "SSO_MFA_OIDC_AMR"},
	} {
		cfg, err := Load(nil, func(k string) string { return tc.env[k] })
		if err == nil {
			err = cfg.Validate()
		}
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%v: error %v, want one naming %s", tc.env, err, tc.wantErr)
		}
	}
	cfg, err := Load(nil, func(k string) string { return map[string]string{"SSO_MFA_REQUIRED_GROUPS": "admins, ops"}[k] })
	if err != nil || !slices.Equal(cfg.MFA.RequiredGroups, []string{"admins", "ops"}) {
		t.Errorf("SSO_MFA_REQUIRED_GROUPS: %q, %v", cfg.MFA.RequiredGroups, err)
	}
}
