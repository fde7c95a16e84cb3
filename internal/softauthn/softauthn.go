// Package softauthn is a software WebAuthn authenticator for tests: it
// answers navigator.credentials.create() and .get() options with the JSON
// a browser would send, using ES256 keys and "none" attestation, so the
// server side of the ceremonies runs for real without a browser. The
// Chromium suite uses CDP's virtual authenticator instead.
package softauthn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// Credential is a key pair the authenticator holds.
type Credential struct {
	ID        []byte
	Key       *ecdsa.PrivateKey
	PublicKey []byte // COSE_Key, as the server stores it
	UserID    []byte
	RPID      string
	Counter   uint32
}

// Authenticator holds credentials. Fields may be changed between calls.
type Authenticator struct {
	Origin         string // the origin the "browser" reports in clientDataJSON
	BackupEligible bool   // BE (and BS) flags: a synced passkey
	FreezeCounter  bool   // do not increase the signature counter
	NoUV           bool   // no user verification: the UV flag stays clear
	Creds          []*Credential
}

// New returns an authenticator whose browser is at origin.
func New(origin string) *Authenticator { return &Authenticator{Origin: origin} }

func (a *Authenticator) flags(extra protocol.AuthenticatorFlags) byte {
	f := protocol.FlagUserPresent | protocol.FlagUserVerified | extra
	if a.NoUV {
		f &^= protocol.FlagUserVerified
	}
	if a.BackupEligible {
		f |= protocol.FlagBackupEligible | protocol.FlagBackupState
	}
	return byte(f)
}

func authData(rpID string, flags byte, counter uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	d := append(h[:], flags)
	d = binary.BigEndian.AppendUint32(d, counter)
	return append(d, attested...)
}

func (a *Authenticator) clientData(typ string, challenge []byte) []byte {
	b, _ := json.Marshal(map[string]any{
		"type": typ, "challenge": base64.RawURLEncoding.EncodeToString(challenge),
		"origin": a.Origin, "crossOrigin": false,
	})
	return b
}

// Register creates a credential for the options and returns the body of
// the browser's answer.
func (a *Authenticator) Register(c *protocol.CredentialCreation) ([]byte, error) {
	o := c.Response
	for _, ex := range o.CredentialExcludeList {
		if slices.ContainsFunc(a.Creds, func(c *Credential) bool { return string(c.ID) == string(ex.CredentialID) }) {
			return nil, errors.New("softauthn: excluded credential present (InvalidStateError)")
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ecdh, err := key.PublicKey.ECDH()
	if err != nil {
		return nil, err
	}
	raw := ecdh.Bytes() // 0x04 || X || Y
	cose, err := webauthncbor.Marshal(map[int64]any{
		1: int64(webauthncose.EllipticKey), 3: int64(webauthncose.AlgES256),
		-1: int64(webauthncose.P256), -2: raw[1:33], -3: raw[33:65],
	})
	if err != nil {
		return nil, err
	}
	uid, ok := o.User.ID.(protocol.URLEncodedBase64)
	if !ok {
		return nil, fmt.Errorf("softauthn: user id of type %T", o.User.ID)
	}
	cred := &Credential{ID: make([]byte, 32), Key: key, PublicKey: cose, UserID: uid, RPID: o.RelyingParty.ID}
	rand.Read(cred.ID)
	attested := make([]byte, 16) // AAGUID: zero
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(cred.ID)))
	attested = append(attested, cred.ID...)
	attested = append(attested, cose...)
	ad := authData(cred.RPID, a.flags(protocol.FlagAttestedCredentialData), 0, attested)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		return nil, err
	}
	a.Creds = append(a.Creds, cred)
	id := base64.RawURLEncoding.EncodeToString(cred.ID)
	return json.Marshal(map[string]any{
		"id": id, "rawId": id, "type": "public-key",
		"response": map[string]any{
			"attestationObject": base64.RawURLEncoding.EncodeToString(att),
			"clientDataJSON":    base64.RawURLEncoding.EncodeToString(a.clientData("webauthn.create", o.Challenge)),
		},
	})
}

// Assert signs the options' challenge with the first allowed credential
// it holds and returns the body of the browser's answer.
func (a *Authenticator) Assert(c *protocol.CredentialAssertion) ([]byte, error) {
	o := c.Response
	var cred *Credential
	for _, cr := range a.Creds {
		if cr.RPID != o.RelyingPartyID {
			continue
		}
		if len(o.AllowedCredentials) == 0 || slices.ContainsFunc(o.AllowedCredentials, func(d protocol.CredentialDescriptor) bool {
			return string(d.CredentialID) == string(cr.ID)
		}) {
			cred = cr
			break
		}
	}
	if cred == nil {
		return nil, errors.New("softauthn: no allowed credential (NotAllowedError)")
	}
	if !a.FreezeCounter {
		cred.Counter++
	}
	ad := authData(cred.RPID, a.flags(0), cred.Counter, nil)
	cdj := a.clientData("webauthn.get", o.Challenge)
	h := sha256.Sum256(cdj)
	digest := sha256.Sum256(append(slices.Clone(ad), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, cred.Key, digest[:])
	if err != nil {
		return nil, err
	}
	id := base64.RawURLEncoding.EncodeToString(cred.ID)
	return json.Marshal(map[string]any{
		"id": id, "rawId": id, "type": "public-key",
		"response": map[string]any{
			"authenticatorData": base64.RawURLEncoding.EncodeToString(ad),
			"clientDataJSON":    base64.RawURLEncoding.EncodeToString(cdj),
			"signature":         base64.RawURLEncoding.EncodeToString(sig),
			"userHandle":        base64.RawURLEncoding.EncodeToString(cred.UserID),
		},
	})
}
