package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"redis://localhost:6379/0", "redis://localhost:6379/0"},
		{"redis://user:secret@host:6379/0", "redis://user:***@host:6379/0"},
		{"rediss://:secret@host", "rediss://:***@host"},
		{"redis://secret@host", "redis://***@host"},
		{"redis://user:se/cr?et@host", "redis://user:***@host"},
		{"redis://user:sec@ret@host", "redis://user:***@host"},
		{"redis://u:p@h ost/x", "redis://u:***@h ost/x"},
		{"user:secret@host", "user:***@host"},
		{"redis:/user:secret@host", "redis:***@host"},
		{"redis://h/0?password=secret&db=1", "redis://h/0?password=***&db=1"},
		{"redis://h/0?client_name=x", "redis://h/0?client_name=x"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := redactURL(tc.in); got != tc.want {
			t.Errorf("redactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestNoSecretInOutput sets secrets through every source and checks that no
// error, String, GoString, Redacted or slog output contains them.
func TestNoSecretInOutput(t *testing.T) {
	const (
		keys     = "S3CRETKEYS-aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8="
		redisPW  = "S3CRETREDISPW"
		urlPW    = "S3CRETURLPW"
		filePW   = "S3CRETFILEPW"
		fileKeys = "S3CRETFILEKEYS"
	)
	secrets := []string{keys, redisPW, urlPW, filePW, fileKeys, "S3CRET"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
	}{
		{name: "valid", env: map[string]string{"SSO_SECRET_KEYS": keys, "SSO_REDIS_PASSWORD": redisPW, "SSO_REDIS_URL": "redis://u:" + urlPW + "@h:6379/0"}},
		{name: "flags", args: []string{"--secret-keys=" + keys, "--redis-password", redisPW, "--redis-url=redis://:" + urlPW + "@h"}},
		{name: "url that does not parse", env: map[string]string{"SSO_REDIS_URL": "redis://u:" + urlPW + "@h ost:6379"}},
		{name: "url with bad scheme", env: map[string]string{"SSO_REDIS_URL": "http://u:" + urlPW + "@h"}},
		{name: "url with bad db", env: map[string]string{"SSO_REDIS_URL": "redis://u:" + urlPW + "@h/db"}},
		{name: "url password with slash", env: map[string]string{"SSO_REDIS_URL": "redis://u:" + urlPW + "/x@h"}},
		{name: "url and cluster", env: map[string]string{"SSO_REDIS_URL": "redis://" + urlPW + "@h", "SSO_REDIS_CLUSTER_ADDRS": "c:1"}},
		{name: "secrets in file", file: "secret_keys: " + fileKeys + "\nredis_password: " + filePW + "\nredis_url: redis://x:" + urlPW + "@h\n"},
		{name: "secrets of the wrong shape in file", file: "secret_keys: [" + fileKeys + "]\nredis_password: {" + filePW + ": 1}\nredis_url: [" + urlPW + "]\n"},
		{name: "secret key as unknown key", file: secretsKeyTypo(fileKeys)},
		{name: "bad yaml after secret", file: "redis_password: " + filePW + "\n: : [\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"SSO_COOKIE_DOMAINS": "example.com"}
			for k, v := range tc.env {
				env[k] = v
			}
			if tc.file != "" {
				env["SSO_CONFIG"] = writeFile(t, "sso.yaml", tc.file)
			}
			cfg, err := Load(tc.args, getenv(env))
			var logged bytes.Buffer
			slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "config", cfg)
			outputs := map[string]string{
				"String":   cfg.String(),
				"%v":       fmt.Sprintf("%v", cfg),
				"%+v":      fmt.Sprintf("%+v", cfg),
				"%#v":      fmt.Sprintf("%#v", cfg),
				"Redacted": fmt.Sprint(cfg.Redacted()),
				"slog":     logged.String(),
				"Notes":    strings.Join(cfg.Notes, "\n"),
			}
			if err != nil {
				outputs["error"] = err.Error()
			}
			for what, out := range outputs {
				for _, s := range secrets {
					if strings.Contains(out, s) {
						t.Errorf("%s output contains secret %q:\n%s", what, s, out)
					}
				}
			}
		})
	}
}

// secretsKeyTypo puts a secret into a misspelt key; the unknown-key error
// names the key but must not echo the value.
func secretsKeyTypo(secret string) string { return "secret_key: " + secret + "\n" }

// TestSecretFieldsKeepValues guards against redaction reaching the Config
// itself: cmd/sso needs the real values.
func TestSecretFieldsKeepValues(t *testing.T) {
	cfg, err := Load([]string{"--secret-keys=k", "--redis-password=p", "--redis-url=redis://u:pw@h"}, getenv(nil))
	if err != nil {
		t.Fatalf("Load error: %v", err)
	}
	if cfg.SecretKeys != "k" || cfg.RedisPassword != "p" || cfg.RedisURL != "redis://u:pw@h" {
		t.Errorf("secrets = %q, %q, %q; want k, p, redis://u:pw@h", cfg.SecretKeys, cfg.RedisPassword, cfg.RedisURL)
	}
	red := cfg.Redacted()
	if red["SSO_SECRET_KEYS"] != "***" || red["SSO_REDIS_PASSWORD"] != "***" || red["SSO_REDIS_URL"] != "redis://u:***@h" {
		t.Errorf("Redacted() secrets = %q, %q, %q; want ***, ***, redis://u:***@h",
			red["SSO_SECRET_KEYS"], red["SSO_REDIS_PASSWORD"], red["SSO_REDIS_URL"])
	}
}

func FuzzRedactURL(f *testing.F) {
	f.Add("redis://", "user", "p@ss/w?rd#x", "host:6379/0?db=1")
	f.Add("", "", "secretsecret", "h")
	f.Add("rediss://", "u", "::::::::", "[::1]:1")
	f.Fuzz(func(t *testing.T, prefix, user, pw, host string) {
		if len(pw) < 8 || strings.Contains(host, "@") || strings.Contains(user, ":") ||
			strings.Contains(prefix+user+host, pw) || strings.Contains("***", pw) {
			t.Skip()
		}
		s := prefix + user + ":" + pw + "@" + host
		if got := redactURL(s); strings.Contains(got, pw) {
			t.Errorf("redactURL(%q) = %q, leaks %q", s, got, pw)
		}
	})
}

// FuzzLoad feeds arbitrary values through the environment: Load must not
// panic, every problem is one line naming an SSO_ setting, and a secret
// never shows.
func FuzzLoad(f *testing.F) {
	f.Add("example.com", ":8080", "redis://h", "lax", "8h", "10.0.0.0/8", "S3CRET-VALUE")
	f.Add("", "localhost", "redis://u:p@h ost", "none", "-1s", "x", "S3CRET-VALUE")
	f.Add("a,,b", "[::1]:99999", "", "\n", "1y", ",", "\x00S3CRET\n")
	f.Fuzz(func(t *testing.T, domains, listen, redisURL, sameSite, idle, proxies, secret string) {
		load := func(secret string) string {
			env := map[string]string{
				"SSO_COOKIE_DOMAINS": domains, "SSO_LISTEN": listen, "SSO_REDIS_URL": redisURL,
				"SSO_COOKIE_SAMESITE": sameSite, "SSO_SESSION_IDLE": idle, "SSO_TRUSTED_PROXIES": proxies,
				"SSO_SECRET_KEYS": secret, "SSO_REDIS_PASSWORD": secret,
			}
			cfg, err := Load(nil, getenv(env))
			out := cfg.String() + fmt.Sprint(cfg.Redacted())
			if err != nil {
				for _, line := range problems(err) {
					if !strings.HasPrefix(line, "SSO_") {
						t.Errorf("problem line %q does not start with a setting name", line)
					}
				}
				out += err.Error()
			}
			return out
		}
		out := load(secret)
		// The secret may occur in the output by coincidence (as part of
		// another input or of fixed text); then it occurs with any other
		// secret too.
		s := strings.TrimSpace(secret)
		if len(s) >= 4 && strings.Contains(out, s) && !strings.Contains(load(strings.Repeat("Q", len(secret))), s) {
			t.Errorf("output leaks secret %q:\n%s", s, out)
		}
	})
}

// FuzzParseFile: any file content yields settings or one-line errors, never
// a panic.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte("listen: :8080\ncookie_domains: [a, b]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("- 1\n"))
	f.Add([]byte("? [a]\n: b\n"))
	f.Add([]byte("oidc_providers:\n  - {id: a, issuer: https://x.example, allowed_groups: [g, h], require_verified_email: no}\n  - [x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		vals, _, errs := parseFile("f.yaml", data)
		for _, err := range errs {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("parseFile(%q) error spans lines: %q", data, err)
			}
		}
		if vals == nil && len(errs) == 0 {
			t.Errorf("parseFile(%q) = nil map and no error", data)
		}
	})
}
