package mfa

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
)

// indexLabel is the HKDF info string of the user-handle index's HMAC keys:
// apart from the seal keys, so no key serves two purposes.
const indexLabel = "sso mfa handle index v1"

// handleKeys derives one HMAC key per secret (NewSealer checked them).
func handleKeys(secrets [][]byte) ([][]byte, error) {
	out := make([][]byte, len(secrets))
	for i, k := range secrets {
		dk, err := hkdf.Key(sha256.New, k, nil, indexLabel, 32)
		if err != nil {
			return nil, fmt.Errorf("mfa: derive index key %d: %w", i+1, err)
		}
		out[i] = dk
	}
	return out, nil
}

// indexKey is the store key of a user handle under the i-th secret: its
// hex HMAC-SHA256, so a dump of the store holds no handle, and a handle
// taken from an authenticator cannot be looked up without the keys.
func (m *Manager) indexKey(i int, handle []byte) string {
	h := hmac.New(sha256.New, m.handleKeys[i])
	h.Write(handle)
	return hex.EncodeToString(h.Sum(nil))
}

// putHandle maps handle to user in the index, under the first key. The
// user name is sealed, bound to the entry's key: an entry copied to
// another handle's key does not open.
func (m *Manager) putHandle(ctx context.Context, user string, handle []byte) error {
	key := m.indexKey(0, handle)
	sealed, err := m.sealer.Seal(KindHandle, key, []byte(user))
	if err != nil {
		return err
	}
	if err := m.store.PutHandle(ctx, key, sealed); err != nil {
		return fmt.Errorf("mfa: handle index: %w", err)
	}
	return nil
}

// deleteHandle removes handle's entries under every key of the ring.
func (m *Manager) deleteHandle(ctx context.Context, handle []byte) error {
	for i := range m.handleKeys {
		if err := m.store.DeleteHandle(ctx, m.indexKey(i, handle)); err != nil {
			return fmt.Errorf("mfa: handle index: %w", err)
		}
	}
	return nil
}

// userOfHandle resolves a user handle through the index, trying each key
// of the ring (an entry written before a rotation stays findable);
// ErrNotFound when no entry opens. The caller still checks the user's own
// record: the index only says where to look.
func (m *Manager) userOfHandle(ctx context.Context, handle []byte) (string, error) {
	for i := range m.handleKeys {
		key := m.indexKey(i, handle)
		sealed, err := m.store.GetHandle(ctx, key)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("mfa: handle index: %w", err)
		}
		user, err := m.sealer.Open(KindHandle, key, sealed)
		if errors.Is(err, ErrUnsealable) {
			continue
		}
		if err != nil {
			return "", err
		}
		return string(user), nil
	}
	return "", ErrNotFound
}

// syncHandle makes the index agree with user's WebAuthn record: an entry
// while some credential is marked passwordless, none otherwise. After a
// delete the record is read once more, so that a passwordless
// registration that raced the delete gets its entry back.
func (m *Manager) syncHandle(ctx context.Context, user string) error {
	for range 2 {
		rec, err := m.waRecord(ctx, user, false)
		if errors.Is(err, ErrNotEnrolled) {
			return nil
		}
		if err != nil {
			return err
		}
		if slices.ContainsFunc(rec.Creds, func(c storedCred) bool { return c.Passwordless }) {
			return m.putHandle(ctx, user, rec.Handle)
		}
		if err := m.deleteHandle(ctx, rec.Handle); err != nil {
			return err
		}
	}
	return nil
}
