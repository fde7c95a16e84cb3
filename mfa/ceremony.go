package mfa

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/example/sso/ticket"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Ceremony cookie names. __Host- (RFC 6265bis §4.1.3.2) pins the cookie to
// the hub's host, Path=/ and Secure: no sibling subdomain can set or read
// it, unlike the session cookie, which must be shared. Over plain HTTP
// (dev mode) browsers refuse the prefix, so the plain name is used.
const (
	CeremonyCookieName         = "__Host-sso_mfa"
	CeremonyCookieNameInsecure = "sso_mfa"
)

// purpose keeps a ceremony from being finished as another kind.
type purpose string

const (
	purposeTOTP     purpose = "totp-enrol"
	purposeRegister purpose = "webauthn-register"
	purposeLogin    purpose = "webauthn-login"
	// purposeDiscoverable: a passwordless sign-in, for no user yet.
	purposeDiscoverable purpose = "webauthn-discoverable"
)

// ceremony is the sealed record of a pending ceremony.
type ceremony struct {
	User    string                `json:"user"`
	Purpose purpose               `json:"purpose"`
	RPID    string                `json:"rp_id,omitempty"`
	Secret  string                `json:"secret,omitempty"` // TOTP enrolment
	Account string                `json:"account,omitempty"`
	WA      *webauthn.SessionData `json:"wa,omitempty"`
	Data    []byte                `json:"data,omitempty"` // a pending login (PutPending)
	// Passwordless: a registration whose credential is marked passwordless.
	Passwordless bool `json:"passwordless,omitempty"`
}

// ceremonyKey is the store key of a ceremony id: its hex SHA-256, so a
// dump of the store holds no id that could be replayed as a cookie.
func ceremonyKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func (m *Manager) putCeremony(ctx context.Context, c *ceremony) (string, error) {
	return m.putCeremonyTTL(ctx, c, m.ceremonyTTL)
}

func (m *Manager) putCeremonyTTL(ctx context.Context, c *ceremony, ttl time.Duration) (string, error) {
	id, err := ticket.NewID()
	if err != nil {
		return "", fmt.Errorf("mfa: ceremony id: %w", err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("mfa: ceremony: %w", err)
	}
	key := ceremonyKey(id)
	sealed, err := m.sealer.Seal(KindCeremony, key, b)
	if err != nil {
		return "", err
	}
	if err := m.store.PutCeremony(ctx, key, sealed, ttl); err != nil {
		return "", fmt.Errorf("mfa: store ceremony: %w", err)
	}
	return id, nil
}

// getCeremony returns the ceremony of id if it belongs to user and p; with
// take, it is deleted in the same step, so only one finish can use it.
func (m *Manager) getCeremony(ctx context.Context, id, user string, p purpose, take bool) (*ceremony, error) {
	if id == "" || len(id) > 100 {
		return nil, ErrCeremony
	}
	key := ceremonyKey(id)
	get := m.store.GetCeremony
	if take {
		get = m.store.TakeCeremony
	}
	sealed, err := get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrCeremony
	}
	if err != nil {
		return nil, fmt.Errorf("mfa: load ceremony: %w", err)
	}
	b, err := m.sealer.Open(KindCeremony, key, sealed)
	if err != nil {
		return nil, err
	}
	var c ceremony
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("mfa: decode ceremony: %w", err)
	}
	if c.User != user || c.Purpose != p {
		return nil, ErrCeremony
	}
	return &c, nil
}

// CeremonyCookie returns the cookie that carries a ceremony id for the
// ceremony's lifetime; secure false only for plain-HTTP dev mode.
func (m *Manager) CeremonyCookie(id string, secure bool) *http.Cookie {
	c := &http.Cookie{Name: CeremonyCookieNameInsecure, Value: id, Path: "/", MaxAge: int(m.ceremonyTTL / time.Second),
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode}
	if secure {
		c.Name = CeremonyCookieName
	}
	return c
}

// ClearCeremonyCookie returns the cookie that removes it.
func ClearCeremonyCookie(secure bool) *http.Cookie {
	c := &http.Cookie{Name: CeremonyCookieNameInsecure, Path: "/", MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode}
	if secure {
		c.Name = CeremonyCookieName
	}
	return c
}

// CeremonyID returns the ceremony id the request carries, or "".
func CeremonyID(r *http.Request, secure bool) string {
	name := CeremonyCookieNameInsecure
	if secure {
		name = CeremonyCookieName
	}
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}
