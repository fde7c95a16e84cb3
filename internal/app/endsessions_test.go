package app

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/mfa"
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
	endSessions(st, slog.New(slog.DiscardHandler), nil)(users.Change{Removed: []string{"alice"}, Revoked: []string{"alice"}})
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

// TestEndSessionsOnPasswordChange: a reload that changes alice's password
// hash ends her users-file sessions and API keys, each a session_revoked
// or key_revoked audit event via users_file; an LDAP alice keeps hers, and
// a reload that changes only her groups (Changed, not Rekeyed) ends
// nothing.
func TestEndSessionsOnPasswordChange(t *testing.T) {
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	now := time.Now()
	for id, src := range map[string]string{"file1": "", "file2": "", "ldap": "ldap"} {
		s := &session.Session{ID: id, User: "alice", Source: src, CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour), Idle: time.Hour}
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		k := &session.APIKey{ID: "key-" + id, Hash: "hash-" + id, User: "alice", Source: src, CreatedAt: now}
		if err := st.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	left := func() (sessions, keys []string) {
		ss, err := st.List(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			sessions = append(sessions, s.ID)
		}
		ks, err := st.ListKeys(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			keys = append(keys, k.ID)
		}
		slices.Sort(sessions)
		slices.Sort(keys)
		return sessions, keys
	}

	endSessions(st, log, nil)(users.Change{Changed: []string{"alice"}})
	if s, k := left(); len(s) != 3 || len(k) != 3 {
		t.Errorf("after a groups-only change: sessions %q, keys %q; want all three of each", s, k)
	}

	endSessions(st, log, nil)(users.Change{Changed: []string{"alice"}, Rekeyed: []string{"alice"}})
	s, k := left()
	if !slices.Equal(s, []string{"ldap"}) || !slices.Equal(k, []string{"key-ldap"}) {
		t.Errorf("after a password change: sessions %q, keys %q; want only the ldap ones", s, k)
	}
	out := logs.String()
	for _, want := range []string{"event=session_revoked", "event=key_revoked", "via=users_file", "key_id=key-file1", "key_id=key-file2"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "event=session_revoked"); n != 2 {
		t.Errorf("%d session_revoked events, want 2:\n%s", n, out)
	}
}

// fakeMarks is a second-factor manager's passwordless marks.
type fakeMarks struct {
	creds map[string][]mfa.CredentialInfo
}

func (f *fakeMarks) Credentials(_ context.Context, user string) ([]mfa.CredentialInfo, error) {
	return f.creds[user], nil
}

func (f *fakeMarks) SetPasswordless(_ context.Context, user, id string, on bool) error {
	for i, c := range f.creds[user] {
		if c.ID == id {
			f.creds[user][i].Passwordless = on
			return nil
		}
	}
	return mfa.ErrNotFound
}

// TestPasswordChangeUnmarksPasswordless (attack3): a password reset in the
// users file unmarks the user's passwordless passkeys (under the file's
// second-factor key), so a passkey an attacker registered with a stolen
// session or password stops signing in without the new password; a
// groups-only change, and other users, keep theirs.
func TestPasswordChangeUnmarksPasswordless(t *testing.T) {
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { _ = st.Close() })
	f := &fakeMarks{creds: map[string][]mfa.CredentialInfo{
		"alice":        {{ID: "a1", Passwordless: true}, {ID: "a2"}},
		"file:ops:eve": {{ID: "e1", Passwordless: true}},
		"bob":          {{ID: "b1", Passwordless: true}},
		"ldap:alice":   {{ID: "l1", Passwordless: true}},
	}}
	marks := func() passwordlessMarks { return f }
	log := slog.New(slog.DiscardHandler)
	endSessions(st, log, marks)(users.Change{Changed: []string{"alice"}})
	if !f.creds["alice"][0].Passwordless {
		t.Fatal("a groups-only change unmarked alice's passkey")
	}
	endSessions(st, log, marks)(users.Change{Changed: []string{"alice", "ops:eve"}, Rekeyed: []string{"alice", "ops:eve"}})
	for user, want := range map[string]bool{"alice": false, "file:ops:eve": false, "bob": true, "ldap:alice": true} {
		if got := f.creds[user][0].Passwordless; got != want {
			t.Errorf("%s's passkey passwordless = %v after alice's and ops:eve's password change, want %v", user, got, want)
		}
	}
}

// A removed name may be given to someone else: the old holder's
// passwordless passkeys must not sign into it. Disabling keeps them (the
// user comes back as themselves).
func TestRemovalUnmarksPasswordless(t *testing.T) {
	st := memstore.New(memstore.Options{})
	t.Cleanup(func() { _ = st.Close() })
	f := &fakeMarks{creds: map[string][]mfa.CredentialInfo{
		"alice": {{ID: "a1", Passwordless: true}},
		"bob":   {{ID: "b1", Passwordless: true}},
		"carol": {{ID: "c1", Passwordless: true}},
	}}
	endSessions(st, slog.New(slog.DiscardHandler), func() passwordlessMarks { return f })(users.Change{
		Removed: []string{"alice"}, Disabled: []string{"carol"}, Revoked: []string{"alice", "carol"},
	})
	for user, want := range map[string]bool{"alice": false, "bob": true, "carol": true} {
		if got := f.creds[user][0].Passwordless; got != want {
			t.Errorf("%s's passkey passwordless = %v after alice's removal, want %v", user, got, want)
		}
	}
}
