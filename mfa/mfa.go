package mfa

import (
	"errors"
	"time"
)

// Authentication method references (RFC 8176) a second factor adds to a
// session's factors.
const (
	// AMROTP: a one-time password: a TOTP code or a recovery code (RFC 8176
	// §2 "otp"; recovery codes are one-time passwords too, Result.Recovery
	// tells them apart for auditing).
	AMROTP = "otp"
	// AMRHardwareKey: a WebAuthn credential bound to its authenticator (not
	// backup-eligible): proof of possession of a hardware-secured key.
	AMRHardwareKey = "hwk"
	// AMRSoftwareKey: a backup-eligible (synced) passkey, whose private key
	// can leave the device: proof of possession of a software-secured key.
	AMRSoftwareKey = "swk"
)

var (
	// ErrInvalidCode: the code is malformed, wrong, or already used (a
	// recovery code). Answer 401 without telling which.
	ErrInvalidCode = errors.New("mfa: invalid code")
	// ErrReplay: a TOTP code of a time step that was already used, or of an
	// earlier one (RFC 6238 §5.2). It wraps ErrInvalidCode, so a handler
	// that answers both alike needs no extra case; audit logs can tell.
	ErrReplay = replayError{}
	// ErrNotEnrolled: the user has no such second factor.
	ErrNotEnrolled = errors.New("mfa: not enrolled")
	// ErrCeremony: the ceremony id is unknown, expired, used, or was started
	// for another user or purpose. Answer 400: start over.
	ErrCeremony = errors.New("mfa: ceremony unknown or expired")
	// ErrInvalidName: a credential name that is too long or not printable.
	ErrInvalidName = errors.New("mfa: credential name: at most 64 printable characters")
	// ErrTooMany: the user already has MaxCredentials credentials.
	ErrTooMany = errors.New("mfa: too many credentials")
	// ErrInvalidResponse: the browser's WebAuthn response does not verify
	// (wraps the library's reason). Answer 400 or 401.
	ErrInvalidResponse = errors.New("mfa: invalid webauthn response")
)

type replayError struct{}

func (replayError) Error() string        { return "mfa: code already used" }
func (replayError) Is(target error) bool { return target == ErrInvalidCode }

// Result describes a successful second-factor check.
type Result struct {
	AMR        string    // AMROTP, AMRHardwareKey or AMRSoftwareKey
	At         time.Time // when it was checked (Options.Now)
	Recovery   bool      // a recovery code was used
	Left       int       // recovery codes left, when Recovery
	Credential string    // the WebAuthn credential's public id, for passkeys
}

// Defaults.
const (
	DefaultIssuer      = "sso"
	DefaultCeremonyTTL = 5 * time.Minute
	MaxCredentials     = 20
)

// Options configure a Manager.
type Options struct {
	Store Store    // required
	Keys  [][]byte // SSO_SECRET_KEYS, required: the first seals, all open
	// Issuer is the name authenticator apps show above the account;
	// default DefaultIssuer.
	Issuer string
	// CeremonyTTL bounds a pending TOTP enrolment or WebAuthn ceremony;
	// default DefaultCeremonyTTL.
	CeremonyTTL time.Duration
	// StoreTimeout bounds each store call (SSO_STORE_TIMEOUT); 0: only
	// the caller's context does.
	StoreTimeout time.Duration
	// Now is the clock for TOTP steps and timestamps; default time.Now.
	Now func() time.Time
}

// Manager enrols and checks second factors. It is safe for concurrent use;
// every rule that must hold across instances (a step used once, a recovery
// code used once) is kept by the Store's Swap, not in memory.
type Manager struct {
	store       Store
	sealer      *Sealer
	handleKeys  [][]byte // HMAC keys of the user-handle index, first writes
	issuer      string
	ceremonyTTL time.Duration
	now         func() time.Time
}

// New returns a Manager.
func New(opt Options) (*Manager, error) {
	if opt.Store == nil {
		return nil, errors.New("mfa: no store")
	}
	s, err := NewSealer(opt.Keys)
	if err != nil {
		return nil, err
	}
	if opt.Issuer == "" {
		opt.Issuer = DefaultIssuer
	}
	if opt.CeremonyTTL == 0 {
		opt.CeremonyTTL = DefaultCeremonyTTL
	}
	if opt.CeremonyTTL < 0 {
		return nil, errors.New("mfa: negative ceremony TTL")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	switch {
	case opt.StoreTimeout < 0:
		return nil, errors.New("mfa: negative store timeout")
	case opt.StoreTimeout > 0:
		opt.Store = timedStore{Store: opt.Store, d: opt.StoreTimeout}
	}
	hk, err := handleKeys(opt.Keys)
	if err != nil {
		return nil, err
	}
	return &Manager{store: opt.Store, sealer: s, handleKeys: hk, issuer: opt.Issuer, ceremonyTTL: opt.CeremonyTTL, now: opt.Now}, nil
}
