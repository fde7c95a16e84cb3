package config

import (
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

const redacted = "***"

// display returns value as it may appear in errors and logs: secret
// settings become "***" and a Redis URL loses its password.
func display(env, value string) string {
	if env == "SSO_REDIS_URL" {
		return redactURL(value)
	}
	if value != "" && isSecret(env) {
		return redacted
	}
	return value
}

func isSecret(env string) bool {
	for _, s := range settings() {
		if s.env == env {
			return s.secret
		}
	}
	return false
}

// redactURL hides the password of a URL such as redis://user:pw@host, and
// query parameters that look like passwords. It works on text rather than
// on url.Parse, because a URL that fails to parse must be redacted too.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		scheme, rest = "", s
	} else {
		scheme += "://"
	}
	// Everything up to the last '@' is userinfo: a password may hold '/',
	// '?', '#' or '@', and the host never holds '@'.
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, _, hasPass := strings.Cut(rest[:at], ":")
		if hasPass && !strings.ContainsAny(user, "/?#") {
			rest = user + ":" + redacted + rest[at:]
		} else {
			// No colon: go-redis takes this as a user name, but it is
			// often a misplaced password.
			rest = redacted + rest[at:]
		}
	}
	if base, query, ok := strings.Cut(rest, "?"); ok {
		params := strings.Split(query, "&")
		for i, p := range params {
			k, _, hasVal := strings.Cut(p, "=")
			if lk := strings.ToLower(k); hasVal && (strings.Contains(lk, "pass") || strings.Contains(lk, "secret") || strings.Contains(lk, "token")) {
				params[i] = k + "=" + redacted
			}
		}
		rest = base + "?" + strings.Join(params, "&")
	}
	return scheme + rest
}

// value returns the field of s in c as raw text, the form an environment
// variable would have.
func (c *Config) value(s setting) string {
	switch p := s.field(c).(type) {
	case *string:
		return *p
	case *[]string:
		return strings.Join(*p, ",")
	case *bool:
		return strconv.FormatBool(*p)
	case *time.Duration:
		return fmtDuration(*p)
	case *int:
		return strconv.Itoa(*p)
	}
	return ""
}

// Redacted returns every setting by environment variable name, with secret
// values replaced by "***" and the password of SSO_REDIS_URL hidden, for
// logging the effective configuration.
func (c Config) Redacted() map[string]string {
	m := make(map[string]string)
	for _, s := range settings() {
		m[s.env] = display(s.env, c.value(s))
	}
	return m
}

// String lists every setting as NAME="value" on one line, secrets redacted,
// so that printing a Config by accident leaks nothing.
func (c Config) String() string {
	var b strings.Builder
	b.WriteString("dev_mode=" + strconv.FormatBool(c.DevMode))
	for _, s := range settings() {
		b.WriteString(" " + s.env + "=" + strconv.Quote(display(s.env, c.value(s))))
	}
	return b.String()
}

// GoString makes %#v as safe as %v.
func (c Config) GoString() string { return "config.Config{" + c.String() + "}" }

// LogValue makes a Config logged through slog a group of redacted settings.
func (c Config) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Bool("dev_mode", c.DevMode)}
	for _, s := range settings() {
		attrs = append(attrs, slog.String(fileKey(s.env), display(s.env, c.value(s))))
	}
	return slog.GroupValue(attrs...)
}

// Source reports where Load took a setting from: "flag", "env", "file",
// "default" or "derived"; "" for an unknown name or a Config not made by
// Load.
func (c Config) Source(env string) string { return c.sources[env] }

// TrustedPrefixes returns TrustedProxies parsed; entries that do not parse
// (Validate reports them) are skipped.
func (c Config) TrustedPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for _, p := range c.TrustedProxies {
		if pfx, err := parseProxy(p); err == nil {
			out = append(out, pfx)
		}
	}
	return out
}
