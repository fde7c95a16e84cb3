package mfa

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/example/sso/ticket"
	"golang.org/x/crypto/chacha20poly1305"
)

// sealLabel is the HKDF info string; changing it changes every key, and so
// makes every stored record unreadable.
const sealLabel = "sso mfa seal key v1"

// sealVersion starts every sealed value, so that a later format can be told
// apart from this one.
const sealVersion = 1

// ErrUnsealable: no key of the ring opens a record, or it is malformed. It
// means the secret keys changed without keeping the old one, or the record
// was tampered with or moved to another user.
var ErrUnsealable = errors.New("mfa: stored record cannot be opened with any secret key")

// Sealer encrypts second-factor records with XChaCha20-Poly1305 under keys
// derived from SSO_SECRET_KEYS. The first key seals; every key opens, so
// the ring rotates as the cookie keys do: put a new key first, keep the old
// one until every record was rewritten or is no longer needed.
//
// The associated data binds a record to its kind and its user: a TOTP
// record copied into another user's key, or into the credential slot, does
// not open.
type Sealer struct {
	aeads []aead
}

type aead interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}

// NewSealer derives one 256-bit key per secret: HKDF-SHA256(secret, info
// "sso mfa seal key v1"). Each secret must be at least ticket.MinKeyLen
// bytes, as for the cookie keys.
func NewSealer(secrets [][]byte) (*Sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("mfa: no secret keys")
	}
	s := &Sealer{aeads: make([]aead, len(secrets))}
	for i, k := range secrets {
		if len(k) < ticket.MinKeyLen {
			return nil, fmt.Errorf("mfa: secret key %d of %d is %d bytes, need at least %d", i+1, len(secrets), len(k), ticket.MinKeyLen)
		}
		dk, err := hkdf.Key(sha256.New, k, nil, sealLabel, chacha20poly1305.KeySize)
		if err != nil {
			return nil, fmt.Errorf("mfa: derive key %d: %w", i+1, err)
		}
		a, err := chacha20poly1305.NewX(dk)
		if err != nil {
			return nil, fmt.Errorf("mfa: key %d: %w", i+1, err)
		}
		s.aeads[i] = a
	}
	return s, nil
}

// ad is the associated data: the format, the record's kind and the user.
// kind never contains a NUL, so the split is unambiguous.
func ad(kind Kind, user string) []byte {
	return []byte("sso-mfa\x00" + string(kind) + "\x00" + user)
}

// Seal returns version || 24-byte random nonce || ciphertext+tag. The
// nonce is random: XChaCha20's 192-bit nonce makes collisions negligible
// at any number of records.
func (s *Sealer) Seal(kind Kind, user string, plaintext []byte) ([]byte, error) {
	out := make([]byte, 1+chacha20poly1305.NonceSizeX, 1+chacha20poly1305.NonceSizeX+len(plaintext)+chacha20poly1305.Overhead)
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("mfa: seal: %w", err)
	}
	return s.aeads[0].Seal(out, out[1:], plaintext, ad(kind, user)), nil
}

// Open returns the plaintext of a value Seal returned for the same kind and
// user, trying every key; ErrUnsealable otherwise.
func (s *Sealer) Open(kind Kind, user string, sealed []byte) ([]byte, error) {
	const head = 1 + chacha20poly1305.NonceSizeX
	if len(sealed) < head+chacha20poly1305.Overhead || sealed[0] != sealVersion {
		return nil, ErrUnsealable
	}
	nonce, ct := sealed[1:head], sealed[head:]
	a := ad(kind, user)
	for _, k := range s.aeads {
		if pt, err := k.Open(nil, nonce, ct, a); err == nil {
			return pt, nil
		}
	}
	return nil, ErrUnsealable
}
