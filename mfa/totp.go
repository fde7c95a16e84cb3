package mfa

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: what every authenticator app understands (RFC 6238
// defaults, Google Authenticator's only ones): HMAC-SHA1, 6 digits, 30s,
// and a 160-bit secret (RFC 4226 §4 recommends 160 bits).
const (
	totpPeriod     = 30
	totpDigits     = otp.DigitsSix
	totpSecretSize = 20
	// TOTPSkew is the window: the current step and one either side
	// (RFC 6238 §5.2 recommends at most one step of delay).
	TOTPSkew = 1
	// QRSize is the side of the QR code PNG, in pixels.
	QRSize = 256
)

var totpOpts = hotp.ValidateOpts{Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}

// totpRecord is the sealed TOTP record.
type totpRecord struct {
	Secret   string    `json:"secret"` // base32, no padding
	Created  time.Time `json:"created"`
	LastStep int64     `json:"last_step"` // the latest step a code was accepted for
}

// Enrolment is a pending TOTP enrolment: show it once, then confirm it
// with a first code.
type Enrolment struct {
	ID     string // ceremony id: put it in CeremonyCookie
	Secret string // base32, for typing into an app
	URL    string // otpauth://totp/...
	PNG    []byte // QR code of URL, QRSize pixels square
}

// BeginTOTP starts a TOTP enrolment for user; account is the label apps
// show (the e-mail address or the user name). Nothing changes for the
// user until ConfirmTOTP: an existing TOTP stays in force meanwhile.
func (m *Manager) BeginTOTP(ctx context.Context, user, account string) (*Enrolment, error) {
	if account == "" {
		account = user
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: m.issuer, AccountName: account, Period: totpPeriod,
		SecretSize: totpSecretSize, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, fmt.Errorf("mfa: generate totp secret: %w", err)
	}
	img, err := key.Image(QRSize, QRSize)
	if err != nil {
		return nil, fmt.Errorf("mfa: qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("mfa: qr code: %w", err)
	}
	id, err := m.putCeremony(ctx, &ceremony{User: user, Purpose: purposeTOTP, Secret: key.Secret(), Account: account})
	if err != nil {
		return nil, err
	}
	return &Enrolment{ID: id, Secret: key.Secret(), URL: key.URL(), PNG: buf.Bytes()}, nil
}

// ConfirmTOTP completes the enrolment id of user with a first code, which
// counts as used: it cannot be replayed at the next login. It replaces any
// TOTP the user had. A wrong code leaves the enrolment pending, to retry
// until it expires; callers regulate attempts as for passwords.
func (m *Manager) ConfirmTOTP(ctx context.Context, id, user, code string) error {
	c, err := m.getCeremony(ctx, id, user, purposeTOTP, false)
	if err != nil {
		return err
	}
	step, ok := matchTOTP(c.Secret, code, m.now())
	if !ok {
		return ErrInvalidCode
	}
	// Take it now: of two confirmations racing, one wins.
	if _, err := m.getCeremony(ctx, id, user, purposeTOTP, true); err != nil {
		return err
	}
	rec, err := json.Marshal(totpRecord{Secret: c.Secret, Created: m.now(), LastStep: step})
	if err != nil {
		return fmt.Errorf("mfa: confirm totp: %w", err)
	}
	err = m.update(ctx, user, KindTOTP, func([]byte) ([]byte, error) { return rec, nil })
	if err != nil {
		return fmt.Errorf("mfa: confirm totp: %w", err)
	}
	return nil
}

// VerifyTOTP checks a code of user's TOTP: ErrNotEnrolled, ErrInvalidCode,
// or ErrReplay when its step, or a later one, was already used. Accepting
// a code records its step in the same Swap, so of two requests with one
// code (or two codes of one step) exactly one succeeds, on every instance.
func (m *Manager) VerifyTOTP(ctx context.Context, user, code string) (Result, error) {
	now := m.now()
	err := m.update(ctx, user, KindTOTP, func(plain []byte) ([]byte, error) {
		if plain == nil {
			return nil, ErrNotEnrolled
		}
		var r totpRecord
		if err := json.Unmarshal(plain, &r); err != nil {
			return nil, fmt.Errorf("mfa: decode totp record: %w", err)
		}
		step, ok := matchTOTP(r.Secret, code, now)
		if !ok {
			return nil, ErrInvalidCode
		}
		if step <= r.LastStep {
			return nil, ErrReplay
		}
		r.LastStep = step
		return json.Marshal(r)
	})
	if err != nil {
		if errors.Is(err, ErrInvalidCode) || errors.Is(err, ErrNotEnrolled) {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("mfa: verify totp: %w", err)
	}
	return Result{AMR: AMROTP, At: now}, nil
}

// HasTOTP reports whether user has a confirmed TOTP.
func (m *Manager) HasTOTP(ctx context.Context, user string) (bool, error) {
	_, err := m.store.Load(ctx, user, KindTOTP)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mfa: has totp: %w", err)
	}
	return true, nil
}

// RemoveTOTP removes user's TOTP; ErrNotEnrolled when there is none.
func (m *Manager) RemoveTOTP(ctx context.Context, user string) error {
	found := false
	err := m.update(ctx, user, KindTOTP, func(plain []byte) ([]byte, error) {
		found = plain != nil
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("mfa: remove totp: %w", err)
	}
	if !found {
		return ErrNotEnrolled
	}
	return nil
}

// normalizeCode strips the spaces and dashes people type or paste into
// codes ("123 456").
func normalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, code)
}

// matchTOTP returns the time step of the window whose code is code. Every
// step of the window is computed and compared in constant time, so the
// time taken does not tell which one matched.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	code = normalizeCode(code)
	if len(code) != totpDigits.Length() || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	var found int64
	ok := false
	for step := cur - TOTPSkew; step <= cur+TOTPSkew; step++ {
		if step < 0 {
			continue
		}
		want, err := hotp.GenerateCodeCustom(secret, uint64(step), totpOpts)
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			found, ok = step, true
		}
	}
	return found, ok
}
