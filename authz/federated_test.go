package authz_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/example/sso/apikey"
	"github.com/example/sso/authz"
	"github.com/example/sso/session"
	"github.com/example/sso/ticket"
	"github.com/example/sso/token"
)

// federatedLogin stores a session whose identity comes from source (""
// is the users file) with the given snapshot, and returns its cookie value
// and session id.
func (f *fixture) federatedLogin(t *testing.T, user, source, email string, groups []string) (string, string) {
	t.Helper()
	raw, err := ticket.NewID()
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	s := &session.Session{
		ID: ticket.Hash(raw), User: user, Email: email, Groups: groups, Domain: "example.test",
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(24 * time.Hour), Idle: time.Hour,
		CSRFToken: "csrf-" + user, Source: source, Factors: []session.Factor{{Method: "oidc", At: now}},
	}
	if err := f.store.Create(context.Background(), s); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return f.codec.Encode(raw), s.ID
}

func (f *fixture) federatedKey(t *testing.T, user, source, email string, groups []string) (string, string) {
	t.Helper()
	k, id, hash, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	rec := &session.APIKey{ID: id, Hash: hash, User: user, Name: "test", CreatedAt: f.clock.Now(), Source: source, Email: email, Groups: groups}
	if err := f.store.CreateKey(context.Background(), rec); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return k, hash
}

func sameIdentity(t *testing.T, what string, got authz.Identity, err error, user, email string, groups []string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: Authenticate = %v, want %s", what, err, user)
	}
	if got.User != user || got.Email != email || !slices.Equal(got.Groups, groups) {
		t.Errorf("%s: identity = %s %s %q, want %s %s %q", what, got.User, got.Email, got.Groups, user, email, groups)
	}
}

// A session, API key or client token whose source is not the users file
// carries the identity its login proved; one from the users file is looked
// up there on every request, as before.
func TestFederatedIdentities(t *testing.T) {
	ctx := context.Background()
	snapshot := []string{"from-idp"}
	cookie := func(v string) *http.Request {
		return withCookie(httptest.NewRequest(http.MethodGet, "https://login.example.test/", nil), v)
	}
	bearer := func(v string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "https://login.example.test/", nil)
		r.Header.Set("Authorization", "Bearer "+v)
		return r
	}

	t.Run("session", func(t *testing.T) {
		f := newFixture(t, nil)
		v, _ := f.federatedLogin(t, "carol", "oidc:corp", "carol@idp.test", snapshot)
		id, err := f.auth.Authenticate(ctx, cookie(v))
		sameIdentity(t, "federated user not in the users file", id, err, "carol", "carol@idp.test", snapshot)
		if id.Session == nil || id.Session.Source != "oidc:corp" || !slices.Equal(id.Session.AMR(), []string{"oidc"}) {
			t.Errorf("identity's session = %+v, want source oidc:corp and amr [oidc]", id.Session)
		}

		// The same name from the users file is a different matter: alice
		// exists there, but an LDAP session of hers keeps its snapshot.
		v, _ = f.federatedLogin(t, "alice", "ldap", "alice@ldap.test", snapshot)
		id, err = f.auth.Authenticate(ctx, cookie(v))
		sameIdentity(t, "federated session of a name also in the file", id, err, "alice", "alice@ldap.test", snapshot)

		// A users-file session of someone not in the file stays refused.
		v, _ = f.federatedLogin(t, "carol", "", "carol@idp.test", snapshot)
		if _, err := f.auth.Authenticate(ctx, cookie(v)); !errors.Is(err, authz.ErrUnauthenticated) {
			t.Errorf("users-file session of a user not in the file: Authenticate = %v, want ErrUnauthenticated", err)
		}
	})

	t.Run("api key", func(t *testing.T) {
		f := newFixture(t, nil)
		k, _ := f.federatedKey(t, "carol", "oidc:corp", "carol@idp.test", snapshot)
		id, err := f.auth.Authenticate(ctx, bearer(k))
		sameIdentity(t, "federated owner's key", id, err, "carol", "carol@idp.test", snapshot)
		if id.Method != authz.MethodAPIKey {
			t.Errorf("Method = %s, want apikey", id.Method)
		}
		k, _ = f.federatedKey(t, "carol", "", "carol@idp.test", snapshot)
		if _, err := f.auth.Authenticate(ctx, bearer(k)); !errors.Is(err, authz.ErrUnauthenticated) {
			t.Errorf("users-file key of a user not in the file: Authenticate = %v, want ErrUnauthenticated", err)
		}
	})

	t.Run("client token", func(t *testing.T) {
		f := newFixture(t, nil)
		issue := func(c token.Claims) string {
			c.Subject, c.Email, c.Groups = "carol", "stale@idp.test", []string{"stale"}
			tok, err := f.tokens.IssueAccess(c, f.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		_, sid := f.federatedLogin(t, "carol", "oidc:corp", "carol@idp.test", snapshot)
		tok := issue(token.Claims{SessionID: sid})
		id, err := f.auth.Authenticate(ctx, bearer(tok))
		sameIdentity(t, "token of a federated session", id, err, "carol", "carol@idp.test", snapshot)

		_, hash := f.federatedKey(t, "carol", "ldap", "carol@ldap.test", []string{"staff"})
		id, err = f.auth.Authenticate(ctx, bearer(issue(token.Claims{KeyHash: hash})))
		sameIdentity(t, "token of a federated key", id, err, "carol", "carol@ldap.test", []string{"staff"})

		// The token dies with its source.
		if err := f.store.Delete(ctx, sid); err != nil {
			t.Fatal(err)
		}
		if _, err := f.auth.Authenticate(ctx, bearer(tok)); !errors.Is(err, authz.ErrUnauthenticated) {
			t.Errorf("token of a deleted federated session: Authenticate = %v, want ErrUnauthenticated", err)
		}
		// A users-file source of a user not in the file: refused.
		_, sid = f.federatedLogin(t, "carol", "", "carol@idp.test", snapshot)
		if _, err := f.auth.Authenticate(ctx, bearer(issue(token.Claims{SessionID: sid}))); !errors.Is(err, authz.ErrUnauthenticated) {
			t.Errorf("token of a users-file session of a user not in the file: Authenticate = %v, want ErrUnauthenticated", err)
		}
	})
}
