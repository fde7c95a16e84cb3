package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/example/sso/audit"
)

func TestLog(t *testing.T) {
	tests := []struct {
		name  string
		level slog.Level
		e     audit.Event
		want  map[string]any // fields of the record besides time
	}{
		{
			name: "login with every field",
			e: audit.Event{Name: audit.Login, User: "alice", Client: "192.0.2.1", Session: "0123456789abcdef",
				UserAgent: "Chrome 120 · Linux", Outcome: audit.OK, Via: "form", Attrs: []slog.Attr{slog.String("method", "pwd")}},
			want: map[string]any{"level": "INFO", "msg": "login", "event": "login", "user": "alice", "client": "192.0.2.1",
				"session": "0123456789abcdef", "user_agent": "Chrome 120 · Linux", "outcome": "ok", "via": "form", "method": "pwd"},
		},
		{
			name: "empty fields are left out",
			e:    audit.Event{Name: audit.LoginFailed, Client: "192.0.2.1", Outcome: audit.InvalidCredentials},
			want: map[string]any{"level": "INFO", "msg": "login_failed", "event": "login_failed", "client": "192.0.2.1", "outcome": "invalid_credentials"},
		},
		{
			name: "lockout is a warning",
			e:    audit.Event{Name: audit.Lockout, Client: "192.0.2.1", Attrs: []slog.Attr{slog.Int("failures", 5)}},
			want: map[string]any{"level": "WARN", "msg": "lockout", "event": "lockout", "client": "192.0.2.1", "failures": float64(5)},
		},
		{
			name: "own message",
			e:    audit.Event{Name: audit.UsersReloaded, Msg: "users file reloaded", Outcome: audit.OK},
			want: map[string]any{"level": "INFO", "msg": "users file reloaded", "event": "users_reloaded", "outcome": "ok"},
		},
		{
			name:  "below the level: nothing",
			level: slog.LevelError,
			e:     audit.Event{Name: audit.Login, User: "alice"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: tt.level}))
			audit.Log(context.Background(), l, tt.e)
			if tt.want == nil {
				if buf.Len() != 0 {
					t.Fatalf("logged %q, want nothing", buf.String())
				}
				return
			}
			if n := strings.Count(buf.String(), "\n"); n != 1 {
				t.Fatalf("%d lines, want one: %q", n, buf.String())
			}
			var got map[string]any
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("not JSON: %q: %v", buf.String(), err)
			}
			if _, ok := got["time"]; !ok {
				t.Errorf("no time in %v", got)
			}
			delete(got, "time")
			if len(got) != len(tt.want) {
				t.Errorf("fields %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %#v, want %#v", k, got[k], v)
				}
			}
		})
	}
	audit.Log(context.Background(), nil, audit.Event{Name: audit.Login}) // no logger: no panic
}

func TestSessionRef(t *testing.T) {
	const id = "k9Jx2mQ0b7vW3aP5tY8nR1cE6hL4sD0fG2jK7zX9wV3"
	ref := audit.SessionRef(id)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(ref) {
		t.Fatalf("SessionRef = %q, want 16 hex digits", ref)
	}
	if ref != audit.SessionRef(id) {
		t.Error("SessionRef is not stable")
	}
	if ref == audit.SessionRef(id+"x") || strings.Contains(id, ref) {
		t.Errorf("SessionRef %q does not hide or tell apart the id", ref)
	}
	if audit.SessionRef("") != "" {
		t.Error(`SessionRef("") != ""`)
	}
}
