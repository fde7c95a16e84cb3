package mfa

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Recovery codes: RecoveryCodes of them, each recoveryLen base32 characters
// (80 random bits), shown as xxxx-xxxx-xxxx-xxxx.
//
// They are stored as unsalted SHA-256 hashes: a slow, salted hash protects
// secrets people choose, which can be guessed; 80 random bits cannot be
// found by hashing guesses (2^80 SHA-256 evaluations per code), so a fast
// hash loses nothing, and lets a code be found without trying every stored
// salt. The hashes are sealed on top, as every record is.
const (
	RecoveryCodes = 10
	recoveryLen   = 16
)

type recoveryRecord struct {
	Hashes  []string  `json:"hashes"` // hex SHA-256 of each unused code, normalised
	Created time.Time `json:"created"`
}

func hashRecovery(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// normalizeRecovery lower-cases and strips separators; "" when it is not
// the shape of a recovery code.
func normalizeRecovery(code string) string {
	code = strings.ToLower(normalizeCode(code))
	if len(code) != recoveryLen || strings.Trim(code, "abcdefghijklmnopqrstuvwxyz234567") != "" {
		return ""
	}
	return code
}

// NewRecoveryCodes replaces user's recovery codes with RecoveryCodes new
// ones and returns them, formatted, to be shown once: only their hashes
// are kept.
func (m *Manager) NewRecoveryCodes(ctx context.Context, user string) ([]string, error) {
	codes := make([]string, RecoveryCodes)
	rec := recoveryRecord{Hashes: make([]string, RecoveryCodes), Created: m.now()}
	for i := range codes {
		c := strings.ToLower(rand.Text()[:recoveryLen]) // rand.Text: base32, 5 random bits a character
		rec.Hashes[i] = hashRecovery(c)
		codes[i] = c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("mfa: recovery codes: %w", err)
	}
	if err := m.update(ctx, user, KindRecovery, func([]byte) ([]byte, error) { return b, nil }); err != nil {
		return nil, fmt.Errorf("mfa: recovery codes: %w", err)
	}
	return codes, nil
}

// UseRecoveryCode consumes one of user's recovery codes: ErrInvalidCode
// when it is not one of them (any more). Removal and check are one Swap,
// so a code works once even when sent to several instances at once.
func (m *Manager) UseRecoveryCode(ctx context.Context, user, code string) (Result, error) {
	code = normalizeRecovery(code)
	if code == "" {
		return Result{}, ErrInvalidCode
	}
	h := hashRecovery(code)
	left := 0
	err := m.update(ctx, user, KindRecovery, func(plain []byte) ([]byte, error) {
		if plain == nil {
			return nil, ErrInvalidCode
		}
		var r recoveryRecord
		if err := json.Unmarshal(plain, &r); err != nil {
			return nil, fmt.Errorf("mfa: decode recovery record: %w", err)
		}
		i := slices.Index(r.Hashes, h)
		if i < 0 {
			return nil, ErrInvalidCode
		}
		r.Hashes = slices.Delete(r.Hashes, i, i+1)
		left = len(r.Hashes)
		if left == 0 {
			return nil, nil
		}
		return json.Marshal(r)
	})
	if err != nil {
		if errors.Is(err, ErrInvalidCode) {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("mfa: use recovery code: %w", err)
	}
	return Result{AMR: AMROTP, At: m.now(), Recovery: true, Left: left}, nil
}

// RecoveryCodesLeft returns how many unused recovery codes user has.
func (m *Manager) RecoveryCodesLeft(ctx context.Context, user string) (int, error) {
	plain, err := m.load(ctx, user, KindRecovery)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("mfa: recovery codes left: %w", err)
	}
	var r recoveryRecord
	if err := json.Unmarshal(plain, &r); err != nil {
		return 0, fmt.Errorf("mfa: decode recovery record: %w", err)
	}
	return len(r.Hashes), nil
}

// RemoveUser deletes every second factor of user (account removal, or an
// administrator's reset).
func (m *Manager) RemoveUser(ctx context.Context, user string) error {
	// The handle's index entry first: the record names the handle, and
	// once the record is gone nothing would.
	rec, err := m.waRecord(ctx, user, false)
	switch {
	case err == nil:
		if err := m.deleteHandle(ctx, rec.Handle); err != nil {
			return fmt.Errorf("mfa: remove user: %w", err)
		}
	case !errors.Is(err, ErrNotEnrolled):
		return fmt.Errorf("mfa: remove user: %w", err)
	}
	if err := m.store.DeleteUser(ctx, user); err != nil {
		return fmt.Errorf("mfa: remove user: %w", err)
	}
	return nil
}
