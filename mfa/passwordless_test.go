package mfa_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/example/sso/internal/softauthn"
	"github.com/example/sso/mfa"
	"github.com/example/sso/mfa/memstore"
	"github.com/go-webauthn/webauthn/protocol"
)

// registerPasswordless runs a passwordless registration ceremony with a.
func registerPasswordless(t *testing.T, p *mfa.Passkeys, a *softauthn.Authenticator, u mfa.User) (mfa.CredentialInfo, *protocol.CredentialCreation) {
	t.Helper()
	ctx := context.Background()
	creation, id, err := p.BeginPasswordlessRegistration(ctx, u)
	if err != nil {
		t.Fatalf("BeginPasswordlessRegistration: %v", err)
	}
	body, err := a.Register(creation)
	if err != nil {
		t.Fatal(err)
	}
	info, err := p.FinishRegistration(ctx, id, u, "", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return info, creation
}

// discoverable runs a passwordless sign-in with a.
func discoverable(t *testing.T, p *mfa.Passkeys, a *softauthn.Authenticator) (string, mfa.Result, error) {
	t.Helper()
	ctx := context.Background()
	assertion, id, err := p.BeginDiscoverableLogin(ctx)
	if err != nil {
		t.Fatalf("BeginDiscoverableLogin: %v", err)
	}
	if n := len(assertion.Response.AllowedCredentials); n != 0 {
		t.Fatalf("discoverable login allows %d credentials, want none", n)
	}
	if uv := assertion.Response.UserVerification; uv != protocol.VerificationRequired {
		t.Fatalf("discoverable login asks userVerification %q, want required", uv)
	}
	body, err := a.Assert(assertion)
	if err != nil {
		t.Fatal(err)
	}
	return p.FinishDiscoverableLogin(ctx, id, bytes.NewReader(body))
}

func TestPasswordlessLogin(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	m := newManager(t, memstore.New(nil), func() time.Time { return now })
	p := newPasskeys(t, m)
	a := softauthn.New(hub)
	info, creation := registerPasswordless(t, p, a, mfa.User{Name: "alice"})
	sel := creation.Response.AuthenticatorSelection
	if sel.ResidentKey != protocol.ResidentKeyRequirementRequired || sel.UserVerification != protocol.VerificationRequired {
		t.Errorf("passwordless registration asks residentKey %q, userVerification %q; want required, required", sel.ResidentKey, sel.UserVerification)
	}
	if !info.Passwordless {
		t.Error("a passwordless registration's credential is not marked passwordless")
	}
	user, res, err := discoverable(t, p, a)
	if err != nil || user != "alice" {
		t.Fatalf("FinishDiscoverableLogin = %q, %v; want alice", user, err)
	}
	if res.AMR != mfa.AMRHardwareKey || !res.At.Equal(now) || res.Credential != info.ID {
		t.Errorf("result = %+v, want hwk at %v for %s", res, now, info.ID)
	}
	// A synced passkey is swk, as a second factor.
	b := softauthn.New(hub)
	b.BackupEligible = true
	registerPasswordless(t, p, b, mfa.User{Name: "bob"})
	if user, res, err := discoverable(t, p, b); err != nil || user != "bob" || res.AMR != mfa.AMRSoftwareKey {
		t.Errorf("synced passkey: %q, %+v, %v; want bob, swk", user, res, err)
	}
	// The same ceremony cannot be finished twice.
	assertion, id, err := p.BeginDiscoverableLogin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := a.Assert(assertion)
	if _, _, err := p.FinishDiscoverableLogin(ctx, id, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.FinishDiscoverableLogin(ctx, id, bytes.NewReader(body)); !errors.Is(err, mfa.ErrCeremony) {
		t.Errorf("second finish = %v, want ErrCeremony", err)
	}
}

func TestPasswordlessRefusals(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, memstore.New(nil), time.Now)
	p := newPasskeys(t, m)

	// A passkey registered as a second factor only does not sign in alone.
	second := softauthn.New(hub)
	info := register(t, p, second, mfa.User{Name: "carol"}, "key")
	if info.Passwordless {
		t.Fatal("a second-factor registration is marked passwordless")
	}
	if _, _, err := discoverable(t, p, second); !errors.Is(err, mfa.ErrInvalidResponse) {
		t.Errorf("unmarked credential = %v, want ErrInvalidResponse", err)
	}
	// Marked, it does; unmarked again, it no longer does.
	if err := m.SetPasswordless(ctx, "carol", info.ID, true); err != nil {
		t.Fatal(err)
	}
	if user, _, err := discoverable(t, p, second); err != nil || user != "carol" {
		t.Errorf("marked credential = %q, %v; want carol", user, err)
	}
	if err := m.SetPasswordless(ctx, "carol", info.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, _, err := discoverable(t, p, second); !errors.Is(err, mfa.ErrInvalidResponse) {
		t.Errorf("unmarked again = %v, want ErrInvalidResponse", err)
	}
	if err := m.SetPasswordless(ctx, "carol", "nope", true); !errors.Is(err, mfa.ErrNotFound) {
		t.Errorf("SetPasswordless(unknown id) = %v, want ErrNotFound", err)
	}
	if err := m.SetPasswordless(ctx, "dave", info.ID, true); !errors.Is(err, mfa.ErrNotFound) {
		t.Errorf("SetPasswordless(another user's id) = %v, want ErrNotFound", err)
	}

	// A key that does not verify the user can neither register as
	// passwordless, nor be marked, nor sign in.
	noUV := softauthn.New(hub)
	noUV.NoUV = true
	creation, id, err := p.BeginPasswordlessRegistration(ctx, mfa.User{Name: "erin"})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := noUV.Register(creation)
	if _, err := p.FinishRegistration(ctx, id, mfa.User{Name: "erin"}, "", bytes.NewReader(body)); !errors.Is(err, mfa.ErrInvalidResponse) {
		t.Errorf("passwordless registration without UV = %v, want ErrInvalidResponse", err)
	}
	noUV.Creds = nil
	plain := register(t, p, noUV, mfa.User{Name: "erin"}, "no uv")
	if plain.Verifying {
		t.Error("a credential registered without UV says it verifies the user")
	}
	if err := m.SetPasswordless(ctx, "erin", plain.ID, true); !errors.Is(err, mfa.ErrNotVerifying) {
		t.Errorf("SetPasswordless(no UV) = %v, want ErrNotVerifying", err)
	}
	uv := softauthn.New(hub)
	pl, _ := registerPasswordless(t, p, uv, mfa.User{Name: "frank"})
	uv.NoUV = true
	if _, _, err := discoverable(t, p, uv); !errors.Is(err, mfa.ErrInvalidResponse) {
		t.Errorf("passwordless sign-in without UV = %v, want ErrInvalidResponse", err)
	}
	uv.NoUV = false

	// A frozen counter (a cloned key) is refused.
	uv.FreezeCounter = true
	if _, _, err := discoverable(t, p, uv); err != nil {
		t.Fatalf("first frozen assertion: %v", err)
	}
	if _, _, err := discoverable(t, p, uv); !errors.Is(err, mfa.ErrInvalidResponse) {
		t.Errorf("repeated counter = %v, want ErrInvalidResponse", err)
	}
	uv.FreezeCounter = false

	// A removed credential no longer signs in, and the index entry goes
	// with the user's last passwordless credential.
	if err := m.RemoveCredential(ctx, "frank", pl.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := discoverable(t, p, uv); !errors.Is(err, mfa.ErrInvalidResponse) {
		t.Errorf("removed credential = %v, want ErrInvalidResponse", err)
	}

	// An unknown user handle (a credential of another site's database).
	stranger := softauthn.New(hub)
	registerPasswordless(t, p, stranger, mfa.User{Name: "gina"})
	stranger.Creds[0].UserID = bytes.Repeat([]byte{9}, 32)
	if _, _, err := discoverable(t, p, stranger); !errors.Is(err, mfa.ErrInvalidResponse) {
		t.Errorf("unknown user handle = %v, want ErrInvalidResponse", err)
	}

	// Another relying party's origin is refused.
	other := softauthn.New("https://login.example.org")
	other.Creds = uv.Creds
	if _, _, err := discoverable(t, p, other); !errors.Is(err, mfa.ErrInvalidResponse) {
		t.Errorf("foreign origin = %v, want ErrInvalidResponse", err)
	}
	// A second-factor login ceremony cannot be finished as passwordless.
	assertion, lid, err := p.BeginLogin(ctx, mfa.User{Name: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = second.Assert(assertion)
	if _, _, err := p.FinishDiscoverableLogin(ctx, lid, bytes.NewReader(body)); !errors.Is(err, mfa.ErrCeremony) {
		t.Errorf("second-factor ceremony finished as passwordless = %v, want ErrCeremony", err)
	}
}
