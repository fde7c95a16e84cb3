package federation

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// flowState is what the state cookie carries from Start to Callback.
type flowState struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"` // PKCE code verifier
	RD       string `json:"r,omitempty"`
	Expires  int64  `json:"e"` // unix seconds
}

// maxCookie bounds what open reads: a sealed state is ~250 bytes plus rd.
const maxCookie = 4096

// maxCookieValue is the longest sealed state Start sets: with the name and
// attributes the cookie stays under the 4096 bytes browsers keep.
const maxCookieValue = 3800

// sealer seals flow states with AES-256-GCM: the first key seals, all
// open, so SSO_SECRET_KEYS rotates without breaking flows under way.
type sealer struct{ aeads []cipher.AEAD }

func newSealer(secrets [][]byte) (*sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("federation: Keys: at least one key is required")
	}
	s := &sealer{}
	for i, secret := range secrets {
		if len(secret) < 32 {
			return nil, fmt.Errorf("federation: Keys[%d]: %d bytes, want at least 32", i, len(secret))
		}
		// A key of its own, so the state cookie shares no key with the
		// session cookie's MAC or the JWT keys derived from the same secret.
		key, err := hkdf.Key(sha256.New, secret, nil, "sso federation state v1", 32)
		if err != nil {
			return nil, fmt.Errorf("federation: Keys[%d]: %w", i, err)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("federation: Keys[%d]: %w", i, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("federation: Keys[%d]: %w", i, err)
		}
		s.aeads = append(s.aeads, aead)
	}
	return s, nil
}

// seal encrypts st, bound to the provider id (additional data), so a
// cookie cannot serve another provider's callback.
func (s *sealer) seal(providerID string, st flowState) (string, error) {
	plain, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("federation: state: %w", err)
	}
	aead := s.aeads[0]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("federation: state nonce: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(providerID))), nil
}

// open decrypts and checks a sealed state: any key, the provider, expiry.
func (s *sealer) open(providerID, value string, now time.Time) (flowState, error) {
	if len(value) > maxCookie {
		return flowState{}, errors.New("state cookie too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return flowState{}, errors.New("state cookie is not base64url")
	}
	for _, aead := range s.aeads {
		if len(raw) < aead.NonceSize()+aead.Overhead() {
			return flowState{}, errors.New("state cookie too short")
		}
		plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(providerID))
		if err != nil {
			continue
		}
		var st flowState
		if err := json.Unmarshal(plain, &st); err != nil || st.State == "" || st.Nonce == "" || st.Verifier == "" {
			return flowState{}, errors.New("state cookie content is malformed")
		}
		if now.Unix() >= st.Expires {
			return flowState{}, errors.New("state cookie has expired: the sign-in took too long")
		}
		return st, nil
	}
	return flowState{}, errors.New("state cookie does not open with any key (forged, another provider's, or the keys changed)")
}
