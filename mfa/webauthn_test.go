package mfa_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/internal/softauthn"
	"github.com/example/sso/mfa"
	"github.com/example/sso/mfa/memstore"
	"github.com/go-webauthn/webauthn/protocol"
)

const hub = "https://login.example.com"

func newPasskeys(t *testing.T, m *mfa.Manager) *mfa.Passkeys {
	t.Helper()
	p, err := m.Passkeys(mfa.RP{ID: "example.com", Origins: []string{hub}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// register runs a whole registration ceremony with a.
func register(t *testing.T, p *mfa.Passkeys, a *softauthn.Authenticator, u mfa.User, name string) mfa.CredentialInfo {
	t.Helper()
	ctx := context.Background()
	creation, id, err := p.BeginRegistration(ctx, u)
	if err != nil {
		t.Fatalf("BeginRegistration: %v", err)
	}
	body, err := a.Register(creation)
	if err != nil {
		t.Fatal(err)
	}
	info, err := p.FinishRegistration(ctx, id, u, name, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	return info
}

// login runs a login ceremony with a and returns FinishLogin's answer.
func login(t *testing.T, p *mfa.Passkeys, a *softauthn.Authenticator, u mfa.User) (mfa.Result, error) {
	t.Helper()
	ctx := context.Background()
	assertion, id, err := p.BeginLogin(ctx, u)
	if err != nil {
		t.Fatalf("BeginLogin: %v", err)
	}
	body, err := a.Assert(assertion)
	if err != nil {
		t.Fatal(err)
	}
	return p.FinishLogin(ctx, id, u, bytes.NewReader(body))
}

func TestPasskeyRegisterAndLogin(t *testing.T) {
	m := newManager(t, memstore.New(nil), time.Now)
	p := newPasskeys(t, m)
	alice := mfa.User{Name: "alice", DisplayName: "Alice"}
	a := softauthn.New(hub)
	info := register(t, p, a, alice, "  YubiKey  ")
	if info.Name != "YubiKey" || info.RPID != "example.com" || info.Synced || info.ID == "" {
		t.Errorf("FinishRegistration = %+v", info)
	}
	res, err := login(t, p, a, alice)
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if res.AMR != mfa.AMRHardwareKey || res.Credential != info.ID {
		t.Errorf("FinishLogin = %+v, want amr hwk and credential %s", res, info.ID)
	}
	list, err := m.Credentials(context.Background(), "alice")
	if err != nil || len(list) != 1 || list[0].LastUsed.IsZero() {
		t.Fatalf("Credentials = %+v, %v; want one, used", list, err)
	}
}

func TestPasskeyRefusals(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, memstore.New(nil), time.Now)
	p := newPasskeys(t, m)
	alice, bob := mfa.User{Name: "alice"}, mfa.User{Name: "bob"}
	a := softauthn.New(hub)
	register(t, p, a, alice, "")

	t.Run("ceremony used once", func(t *testing.T) {
		assertion, id, err := p.BeginLogin(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		body, err := a.Assert(assertion)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.FinishLogin(ctx, id, alice, bytes.NewReader(body)); err != nil {
			t.Fatalf("first FinishLogin: %v", err)
		}
		if _, err := p.FinishLogin(ctx, id, alice, bytes.NewReader(body)); !errors.Is(err, mfa.ErrCeremony) {
			t.Errorf("replayed FinishLogin = %v, want ErrCeremony", err)
		}
	})
	t.Run("counter did not increase", func(t *testing.T) {
		a.FreezeCounter = true
		defer func() { a.FreezeCounter = false }()
		if _, err := login(t, p, a, alice); !errors.Is(err, mfa.ErrInvalidResponse) {
			t.Errorf("FinishLogin with a repeated counter = %v, want ErrInvalidResponse", err)
		}
	})
	t.Run("wrong origin", func(t *testing.T) {
		a.Origin = "https://evil.example.net"
		defer func() { a.Origin = hub }()
		if _, err := login(t, p, a, alice); !errors.Is(err, mfa.ErrInvalidResponse) {
			t.Errorf("FinishLogin from another origin = %v, want ErrInvalidResponse", err)
		}
	})
	t.Run("another user's ceremony", func(t *testing.T) {
		assertion, id, err := p.BeginLogin(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := a.Assert(assertion)
		if _, err := p.FinishLogin(ctx, id, bob, bytes.NewReader(body)); !errors.Is(err, mfa.ErrCeremony) {
			t.Errorf("FinishLogin as bob with alice's ceremony = %v, want ErrCeremony", err)
		}
	})
	t.Run("registration ceremony as login", func(t *testing.T) {
		_, id, err := p.BeginRegistration(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.FinishLogin(ctx, id, alice, bytes.NewReader(nil)); !errors.Is(err, mfa.ErrCeremony) {
			t.Errorf("FinishLogin with a registration ceremony = %v, want ErrCeremony", err)
		}
	})
	t.Run("garbage body", func(t *testing.T) {
		_, id, err := p.BeginLogin(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.FinishLogin(ctx, id, alice, bytes.NewReader([]byte(`{"id":`))); !errors.Is(err, mfa.ErrInvalidResponse) {
			t.Errorf("FinishLogin(garbage) = %v, want ErrInvalidResponse", err)
		}
	})
	t.Run("bob has none", func(t *testing.T) {
		if _, _, err := p.BeginLogin(ctx, bob); !errors.Is(err, mfa.ErrNotEnrolled) {
			t.Errorf("BeginLogin(bob) = %v, want ErrNotEnrolled", err)
		}
	})
	t.Run("bob's authenticator for alice", func(t *testing.T) {
		b := softauthn.New(hub)
		register(t, p, b, bob, "")
		assertion, id, err := p.BeginLogin(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		// Bob's authenticator answers with its own credential, ignoring
		// the allow list, as a malicious client could.
		assertion.Response.AllowedCredentials = nil
		body, err := b.Assert(assertion)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.FinishLogin(ctx, id, alice, bytes.NewReader(body)); !errors.Is(err, mfa.ErrInvalidResponse) {
			t.Errorf("FinishLogin(alice, bob's credential) = %v, want ErrInvalidResponse", err)
		}
	})
	t.Run("registered twice", func(t *testing.T) {
		creation, _, err := p.BeginRegistration(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		if len(creation.Response.CredentialExcludeList) != 1 {
			t.Errorf("exclude list = %d credentials, want alice's one", len(creation.Response.CredentialExcludeList))
		}
		if _, err := a.Register(creation); err == nil {
			t.Error("the authenticator registered a credential it already holds for this user")
		}
	})
}

func TestPasskeySyncedIsSWK(t *testing.T) {
	m := newManager(t, memstore.New(nil), time.Now)
	p := newPasskeys(t, m)
	u := mfa.User{Name: "carol"}
	a := softauthn.New(hub)
	a.BackupEligible = true
	info := register(t, p, a, u, "phone")
	if !info.Synced {
		t.Error("a backup-eligible credential is not listed as synced")
	}
	res, err := login(t, p, a, u)
	if err != nil || res.AMR != mfa.AMRSoftwareKey {
		t.Errorf("FinishLogin = %+v, %v; want amr swk", res, err)
	}
}

// TestPasskeyOneRPPerDomain: a credential registered for one cookie domain
// is neither offered nor accepted for another.
func TestPasskeyOneRPPerDomain(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, memstore.New(nil), time.Now)
	p := newPasskeys(t, m)
	other, err := m.Passkeys(mfa.RP{ID: "example.org", Origins: []string{"https://login.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	u := mfa.User{Name: "dave"}
	register(t, p, softauthn.New(hub), u, "")
	if _, _, err := other.BeginLogin(ctx, u); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Errorf("BeginLogin on example.org with a credential of example.com = %v, want ErrNotEnrolled", err)
	}
	b := softauthn.New("https://login.example.org")
	register(t, other, b, u, "")
	list, _ := m.Credentials(ctx, "dave")
	if len(list) != 2 {
		t.Fatalf("Credentials = %d, want 2", len(list))
	}
	if _, err := login(t, other, b, u); err != nil {
		t.Errorf("login on example.org: %v", err)
	}
}

func TestPasskeyRemove(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, memstore.New(nil), time.Now)
	p := newPasskeys(t, m)
	u := mfa.User{Name: "erin"}
	a := softauthn.New(hub)
	info := register(t, p, a, u, "key")
	if err := m.RemoveCredential(ctx, "erin", "nope"); !errors.Is(err, mfa.ErrNotFound) {
		t.Errorf("RemoveCredential(unknown) = %v, want ErrNotFound", err)
	}
	if err := m.RemoveCredential(ctx, "frank", info.ID); !errors.Is(err, mfa.ErrNotFound) {
		t.Errorf("RemoveCredential(another user's) = %v, want ErrNotFound", err)
	}
	// A login begun before the removal cannot finish after it.
	assertion, id, err := p.BeginLogin(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveCredential(ctx, "erin", info.ID); err != nil {
		t.Fatal(err)
	}
	body, _ := a.Assert(assertion)
	if _, err := p.FinishLogin(ctx, id, u, bytes.NewReader(body)); !errors.Is(err, mfa.ErrInvalidResponse) {
		t.Errorf("FinishLogin after removal = %v, want ErrInvalidResponse", err)
	}
	if _, _, err := p.BeginLogin(ctx, u); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Errorf("BeginLogin after removal = %v, want ErrNotEnrolled", err)
	}
	// The handle survives: a new registration keeps it.
	register(t, p, softauthn.New(hub), u, "new")
	creation, _, err := p.BeginRegistration(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := creation.Response.User.ID.(protocol.URLEncodedBase64)
	if want := a.Creds[0].UserID; !bytes.Equal(got, want) {
		t.Errorf("user handle after removing every credential = %x, want the first one %x", got, want)
	}
}

func TestPasskeysConfig(t *testing.T) {
	m := newManager(t, memstore.New(nil), time.Now)
	tests := []struct {
		name string
		rp   mfa.RP
		ok   bool
	}{
		{"hub under the domain", mfa.RP{ID: "example.com", Origins: []string{hub}}, true},
		{"the domain itself", mfa.RP{ID: "Example.COM.", Origins: []string{"https://example.com"}}, true},
		{"dev over http", mfa.RP{ID: "example.test", Origins: []string{"http://login.example.test:8080"}}, true},
		{"no origins", mfa.RP{ID: "example.com"}, false},
		{"origin elsewhere", mfa.RP{ID: "example.com", Origins: []string{"https://login.example.org"}}, false},
		{"no dot boundary", mfa.RP{ID: "example.com", Origins: []string{"https://evilexample.com"}}, false},
		{"origin with a path", mfa.RP{ID: "example.com", Origins: []string{hub + "/login"}}, false},
		{"empty id", mfa.RP{Origins: []string{hub}}, false},
		{"public suffix", mfa.RP{ID: "co.uk", Origins: []string{"https://login.co.uk"}}, false},
		{"single label", mfa.RP{ID: "localhost", Origins: []string{"http://localhost:8080"}}, false},
		{"IP address", mfa.RP{ID: "127.0.0.1", Origins: []string{"http://127.0.0.1:8080"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Passkeys(tc.rp)
			if (err == nil) != tc.ok {
				t.Errorf("Passkeys(%+v) = %v, want ok %v", tc.rp, err, tc.ok)
			}
		})
	}
}

func TestPasskeyCap(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, memstore.New(nil), time.Now)
	p := newPasskeys(t, m)
	u := mfa.User{Name: "gina"}
	for range mfa.MaxCredentials {
		register(t, p, softauthn.New(hub), u, "")
	}
	if _, _, err := p.BeginRegistration(ctx, u); !errors.Is(err, mfa.ErrTooMany) {
		t.Errorf("BeginRegistration past the cap = %v, want ErrTooMany", err)
	}
}

func TestPasskeyName(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, memstore.New(nil), time.Now)
	p := newPasskeys(t, m)
	u := mfa.User{Name: "hal"}
	a := softauthn.New(hub)
	creation, id, err := p.BeginRegistration(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if sel := creation.Response.AuthenticatorSelection; sel.ResidentKey != protocol.ResidentKeyRequirementPreferred ||
		sel.UserVerification != protocol.VerificationPreferred {
		t.Errorf("authenticator selection %+v, want resident key and UV preferred", sel)
	}
	body, err := a.Register(creation)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{strings.Repeat("x", 65), "a\nb", "\x7f", "\xff"} {
		if _, err := p.FinishRegistration(ctx, id, u, bad, bytes.NewReader(body)); !errors.Is(err, mfa.ErrInvalidName) {
			t.Errorf("FinishRegistration(name %q) = %v, want ErrInvalidName", bad, err)
		}
	}
	// The refused names left the ceremony for this try.
	info, err := p.FinishRegistration(ctx, id, u, "", bytes.NewReader(body))
	if err != nil || info.Name != "Passkey" {
		t.Errorf("FinishRegistration(no name) = %+v, %v; want the name Passkey", info, err)
	}
}
