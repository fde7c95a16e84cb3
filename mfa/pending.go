package mfa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// purposePending marks a login that passed its first factor and waits for
// its second: the login pipeline keeps what it needs to mint the session.
const purposePending purpose = "login-pending"

// PutPending keeps data, sealed, for ttl under a fresh id bound to user, as
// a ceremony: the caller puts the id in a __Host- cookie. The store holds
// only the id's hash, like every ceremony.
func (m *Manager) PutPending(ctx context.Context, user string, data []byte, ttl time.Duration) (string, error) {
	if user == "" || ttl <= 0 {
		return "", errors.New("mfa: pending login needs a user and a positive lifetime")
	}
	return m.putCeremonyTTL(ctx, &ceremony{User: user, Purpose: purposePending, Data: data}, ttl)
}

// Pending returns the user and data of pending login id; with take it is
// deleted in the same step (one use). ErrCeremony when unknown, expired,
// used or not a pending login.
func (m *Manager) Pending(ctx context.Context, id string, take bool) (user string, data []byte, err error) {
	if id == "" || len(id) > 100 {
		return "", nil, ErrCeremony
	}
	key := ceremonyKey(id)
	get := m.store.GetCeremony
	if take {
		get = m.store.TakeCeremony
	}
	sealed, err := get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return "", nil, ErrCeremony
	}
	if err != nil {
		return "", nil, fmt.Errorf("mfa: load pending login: %w", err)
	}
	b, err := m.sealer.Open(KindCeremony, key, sealed)
	if err != nil {
		return "", nil, err
	}
	var c ceremony
	if err := json.Unmarshal(b, &c); err != nil {
		return "", nil, fmt.Errorf("mfa: decode pending login: %w", err)
	}
	if c.Purpose != purposePending || c.User == "" {
		return "", nil, ErrCeremony
	}
	return c.User, c.Data, nil
}

// Enrolled reports which second factors user has: a TOTP, and how many
// passkeys of relying party rpID ("" = any).
func (m *Manager) Enrolled(ctx context.Context, user, rpID string) (totp bool, passkeys int, err error) {
	if totp, err = m.HasTOTP(ctx, user); err != nil {
		return false, 0, err
	}
	creds, err := m.Credentials(ctx, user)
	if err != nil {
		return false, 0, err
	}
	for _, c := range creds {
		if rpID == "" || c.RPID == rpID {
			passkeys++
		}
	}
	return totp, passkeys, nil
}
