package mfa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// Kind names one record of a user. The stores treat records as opaque
// bytes; only this package knows what is inside (sealed JSON).
type Kind string

// The records a user may have, and the short-lived ceremony records.
const (
	KindTOTP     Kind = "totp"     // the confirmed TOTP secret and the last step used
	KindRecovery Kind = "recovery" // SHA-256 hashes of the unused recovery codes
	KindWebAuthn Kind = "webauthn" // the user handle and the registered credentials
	KindCeremony Kind = "ceremony" // a pending TOTP enrolment or WebAuthn ceremony
	// KindHandle seals the user name of a user-handle index entry
	// (PutHandle): the index of passwordless sign-in, not a per-user record.
	KindHandle Kind = "handle"
)

// Kinds lists the per-user kinds, for stores and tests.
var Kinds = []Kind{KindTOTP, KindRecovery, KindWebAuthn}

var (
	// ErrNotFound: no such record (or ceremony: gone, used or expired).
	ErrNotFound = errors.New("mfa: not found")
	// ErrConflict: Swap found another value than old; the caller re-reads.
	ErrConflict = errors.New("mfa: record changed concurrently")
)

// Store keeps the sealed second-factor records. Values are never empty.
// Every method is atomic on its own; Swap is the one primitive the
// read-modify-write rules of this package (replay refusal, single-use
// recovery codes, sign counts) are built on, so a store needs no knowledge
// of them.
type Store interface {
	// Load returns the user's record of kind k; ErrNotFound when absent.
	Load(ctx context.Context, user string, k Kind) ([]byte, error)
	// Swap replaces the record with new if it is currently old, compared
	// byte for byte; old nil means "absent", new nil deletes. ErrConflict
	// when the record is something else.
	Swap(ctx context.Context, user string, k Kind, old, new []byte) error
	// DeleteUser removes every record of the user (not ceremonies, which
	// expire on their own).
	DeleteUser(ctx context.Context, user string) error

	// PutCeremony stores a short-lived record under key (a hash of the
	// ceremony id; callers never pass the raw id) for ttl; it replaces any
	// record under key.
	PutCeremony(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// GetCeremony returns it; ErrNotFound when absent or expired.
	GetCeremony(ctx context.Context, key string) ([]byte, error)
	// TakeCeremony returns it and deletes it in one step, so that of two
	// concurrent takers only one gets it; ErrNotFound otherwise.
	TakeCeremony(ctx context.Context, key string) ([]byte, error)

	// PutHandle sets the user-handle index entry key (a keyed hash of a
	// WebAuthn user handle; callers never pass the handle) to value (the
	// sealed user name), replacing any; it does not expire.
	PutHandle(ctx context.Context, key string, value []byte) error
	// GetHandle returns the entry; ErrNotFound when absent.
	GetHandle(ctx context.Context, key string) ([]byte, error)
	// DeleteHandle removes the entry; absent is no error.
	DeleteHandle(ctx context.Context, key string) error

	Ping(ctx context.Context) error
}

// maxSwaps bounds the retries of one read-modify-write. Each conflict
// means another request of the same user changed the record, so the bound
// is reached only by a user racing themselves this often.
const maxSwaps = 32

// update applies f to the user's record of kind k, opened, and stores what
// it returns, sealed, with Swap; it retries on ErrConflict. f gets nil when
// the record is absent; it returns nil to delete, or an error to stop.
func (m *Manager) update(ctx context.Context, user string, k Kind, f func(plain []byte) ([]byte, error)) error {
	for range maxSwaps {
		old, err := m.store.Load(ctx, user, k)
		var plain []byte
		switch {
		case errors.Is(err, ErrNotFound):
			old = nil
		case err != nil:
			return err
		default:
			if plain, err = m.sealer.Open(k, user, old); err != nil {
				return err
			}
		}
		next, err := f(plain)
		if err != nil {
			return err
		}
		if plain != nil && bytes.Equal(next, plain) {
			return nil // unchanged: no write
		}
		var sealed []byte
		if next != nil {
			if sealed, err = m.sealer.Seal(k, user, next); err != nil {
				return err
			}
		}
		if old == nil && sealed == nil {
			return nil
		}
		err = m.store.Swap(ctx, user, k, old, sealed)
		if !errors.Is(err, ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("mfa: %s of one user: %w %d times", k, ErrConflict, maxSwaps)
}

// load returns the user's record of kind k, opened; ErrNotFound when absent.
func (m *Manager) load(ctx context.Context, user string, k Kind) ([]byte, error) {
	b, err := m.store.Load(ctx, user, k)
	if err != nil {
		return nil, err
	}
	return m.sealer.Open(k, user, b)
}
