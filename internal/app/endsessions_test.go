package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/example/sso/session"
	"github.com/example/sso/session/memstore"
	"github.com/example/sso/users"
)

// TestEndSessionsFileSourceOnly: taking alice out of the users file ends
// her users-file sessions only; an LDAP or OIDC user who happens to be
// called alice is someone else and keeps hers.
func TestEndSessionsFileSourceOnly(t *testing.T) {
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	now := time.Now()
	for id, src := range map[string]string{"file1": "", "file2": "", "ldap": "ldap", "oidc": "oidc:corp"} {
		s := &session.Session{ID: id, User: "alice", Source: src, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour), Idle: time.Hour}
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	bob := &session.Session{ID: "bob", User: "bob", CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour), Idle: time.Hour}
	if err := st.Create(ctx, bob); err != nil {
		t.Fatal(err)
	}
	endSessions(st, slog.New(slog.DiscardHandler))(users.Change{Removed: []string{"alice"}, Revoked: []string{"alice"}})
	left, err := st.List(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range left {
		got[s.ID] = true
	}
	if len(got) != 2 || !got["ldap"] || !got["oidc"] {
		t.Errorf("alice's sessions left = %v, want exactly the ldap and oidc ones", got)
	}
	if _, err := st.Get(ctx, "bob"); err != nil {
		t.Errorf("bob's session: %v", err)
	}
}
