package mfa_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/example/sso/internal/softauthn"
	"github.com/example/sso/mfa"
	"github.com/example/sso/mfa/memstore"
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
