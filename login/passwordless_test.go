package login_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/example/sso/internal/softauthn"
	"github.com/example/sso/login"
	"github.com/example/sso/mfa"
	"github.com/example/sso/users"
)

const hubOrigin = "https://login.example.test"

// passkeyFixture is a pipeline with a second step, alice's passwordless
// passkey on a, and the users a sign-in resolves (name → enabled).
type passkeyFixture struct {
	*fixture
	pk    *mfa.Passkeys
	a     *softauthn.Authenticator
	users map[string]bool
}

func newPasskeyFixture(t *testing.T) *passkeyFixture {
	t.Helper()
	f := &passkeyFixture{fixture: newFixture(t, withSecond()), a: softauthn.New(hubOrigin), users: map[string]bool{"alice": true}}
	var err error
	f.pk, err = f.p.MFA().Passkeys(mfa.RP{ID: "example.test", Origins: []string{hubOrigin}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	creation, id, err := f.pk.BeginPasswordlessRegistration(ctx, mfa.User{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := f.a.Register(creation)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.pk.FinishRegistration(ctx, id, mfa.User{Name: "alice"}, "", bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	return f
}

// signIn runs a passwordless sign-in with a from client.
func (f *passkeyFixture) signIn(t *testing.T, a *softauthn.Authenticator, client string) (login.Result, error) {
	t.Helper()
	ctx := context.Background()
	assertion, id, err := f.pk.BeginDiscoverableLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Assert(assertion)
	if err != nil {
		t.Fatal(err)
	}
	r := req
	r.ClientIP = client
	check := func(ctx context.Context) (string, mfa.Result, error) {
		return f.pk.FinishDiscoverableLogin(ctx, id, bytes.NewReader(body))
	}
	lookup := func(_ context.Context, user string) (login.Identity, error) {
		if !f.users[user] {
			return login.Identity{}, users.ErrInvalidCredentials
		}
		return login.Identity{User: user, Email: user + "@example.test"}, nil
	}
	return f.p.Passkey(ctx, r, check, lookup)
}

func TestPasskeySignIn(t *testing.T) {
	f := newPasskeyFixture(t)
	res, err := f.signIn(t, f.a, "192.0.2.7")
	if err != nil {
		t.Fatalf("Passkey: %v", err)
	}
	if res.Identity.User != "alice" || res.Identity.Email != "alice@example.test" {
		t.Errorf("identity = %+v, want alice's", res.Identity)
	}
	var amr []string
	for _, fa := range res.Factors {
		amr = append(amr, fa.Method)
		if !fa.At.Equal(f.now) {
			t.Errorf("factor %s at %v, want %v", fa.Method, fa.At, f.now)
		}
	}
	if !slices.Equal(amr, []string{login.AMRUserVerified, mfa.AMRHardwareKey}) {
		t.Errorf("factors %q, want [user hwk]", amr)
	}
	// It needs no further step: a UV passkey is two factors.
	need, err := f.p.NeedSecond(context.Background(), res.Identity, res.Factors)
	if err != nil || need.Second {
		t.Errorf("NeedSecond after a passwordless sign-in = %+v, %v; want nothing", need, err)
	}
	m, err := f.p.Mint(context.Background(), res.Identity, res.Factors, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Session.AMR(); !slices.Equal(got, []string{"user", "hwk"}) {
		t.Errorf("session amr %q, want [user hwk]", got)
	}
	ev := f.events[len(f.events)-2] // before minted
	if ev.Kind != login.EventSucceeded || ev.User != "alice" || ev.Method != "hwk" || ev.Detail != login.DetailPasswordless || ev.ClientIP != "192.0.2.7" {
		t.Errorf("success event = %+v", ev)
	}
}

func TestPasskeySignInRefusedUser(t *testing.T) {
	f := newPasskeyFixture(t)
	f.users["alice"] = false // disabled, or removed from the users file
	if _, err := f.signIn(t, f.a, "192.0.2.7"); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Fatalf("disabled user = %v, want ErrInvalidCredentials", err)
	}
	if got := f.kinds(); !slices.Contains(got, string(login.EventFailed)) || slices.Contains(got, string(login.EventSucceeded)) {
		t.Errorf("events %q, want a failure and no success", got)
	}
}

// TestPasskeyRegulation: failed passkey sign-ins count against the client
// address (MaxRetries × IPFactor), then even a good passkey from there is
// refused before any check; another address, and the user's own password
// bucket, are untouched.
func TestPasskeyRegulation(t *testing.T) {
	f := newPasskeyFixture(t)
	const bad = "198.51.100.9"
	stranger := softauthn.New(hubOrigin)
	stranger.Creds = []*softauthn.Credential{{ID: []byte("nope"), Key: f.a.Creds[0].Key, UserID: bytes.Repeat([]byte{1}, 32), RPID: "example.test"}}
	limit := reg.MaxRetries * login.IPFactor
	for i := range limit {
		if _, err := f.signIn(t, stranger, bad); !errors.Is(err, mfa.ErrInvalidResponse) {
			t.Fatalf("attempt %d: %v, want ErrInvalidResponse", i+1, err)
		}
	}
	var be *login.BlockedError
	if _, err := f.signIn(t, f.a, bad); !errors.As(err, &be) {
		t.Fatalf("good passkey from the banned address = %v, want *BlockedError", err)
	}
	if _, err := f.signIn(t, f.a, "192.0.2.8"); err != nil {
		t.Errorf("another address: %v", err)
	}
	r := req
	r.ClientIP = "192.0.2.9"
	if _, err := f.p.Password(context.Background(), r, "alice", password); err != nil {
		t.Errorf("alice's password from another address after the passkey failures: %v", err)
	}
}
