package mfa

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/cors"
	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// MaxResponseBytes bounds a browser's WebAuthn response body; real ones are
// a few kilobytes.
const MaxResponseBytes = 64 << 10

// maxNameLen bounds a credential's name, in characters.
const maxNameLen = 64

// User is one of our users, as WebAuthn needs them.
type User struct {
	Name        string // the user name: the record's key
	DisplayName string // shown by the authenticator; default Name
}

// waRecord is the sealed WebAuthn record of a user: a random user handle
// (WebAuthn §14.6.1: no personal data in it) and the credentials of every
// relying party (one per cookie domain).
type waRecord struct {
	Handle []byte       `json:"handle"`
	Creds  []storedCred `json:"creds"`
}

type storedCred struct {
	RPID     string              `json:"rp_id"`
	Name     string              `json:"name"`
	Created  time.Time           `json:"created"`
	LastUsed time.Time           `json:"last_used"`
	Cred     webauthn.Credential `json:"cred"`
	// Passwordless: the user chose this credential for sign-in without a
	// password (discoverable, with user verification).
	Passwordless bool `json:"passwordless,omitempty"`
}

// CredentialInfo describes a registered credential, for the account page.
type CredentialInfo struct {
	ID       string // public id: not the credential id itself
	Name     string
	RPID     string
	Created  time.Time
	LastUsed time.Time // zero: never
	Synced   bool      // backup-eligible: a synced passkey (AMRSoftwareKey)
	// Passwordless: usable to sign in without a password.
	Passwordless bool
	// Verifying: the authenticator verified the user (PIN, biometric) when
	// the credential was made or last used; only such a credential may be
	// marked passwordless.
	Verifying bool
}

// publicID names a credential in our API: base64url of the first 16 bytes
// of the SHA-256 of its id, short and free of what the authenticator chose.
func publicID(credID []byte) string {
	sum := sha256.Sum256(credID)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func (c storedCred) info() CredentialInfo {
	return CredentialInfo{ID: publicID(c.Cred.ID), Name: c.Name, RPID: c.RPID, Created: c.Created,
		LastUsed: c.LastUsed, Synced: c.Cred.Flags.BackupEligible, Passwordless: c.Passwordless,
		Verifying: c.Cred.Flags.UserVerified}
}

func amrOf(c *webauthn.Credential) string {
	if c.Flags.BackupEligible {
		return AMRSoftwareKey
	}
	return AMRHardwareKey
}

// waUser adapts a User and their record to webauthn.User, showing only the
// credentials of one relying party.
type waUser struct {
	u     User
	rpID  string
	rec   *waRecord
	creds []webauthn.Credential
}

var _ webauthn.User = (*waUser)(nil)

func newWAUser(u User, rpID string, rec *waRecord) *waUser {
	w := &waUser{u: u, rpID: rpID, rec: rec}
	for _, c := range rec.Creds {
		if c.RPID == rpID {
			w.creds = append(w.creds, c.Cred)
		}
	}
	return w
}

func (w *waUser) WebAuthnID() []byte   { return w.rec.Handle }
func (w *waUser) WebAuthnName() string { return w.u.Name }
func (w *waUser) WebAuthnDisplayName() string {
	if w.u.DisplayName != "" {
		return w.u.DisplayName
	}
	return w.u.Name
}
func (w *waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// RP is one WebAuthn relying party: one parent cookie domain.
type RP struct {
	// ID is the parent cookie domain, so that one credential works from
	// the hub of every sibling subdomain (WebAuthn §5.1.2 lets an origin
	// use any registrable suffix of its host as RP ID).
	ID string
	// Name is shown by authenticators; default ID.
	Name string
	// Origins are the hub's origins under ID ("https://login.example.com").
	Origins []string
}

// Passkeys runs WebAuthn ceremonies for one relying party.
type Passkeys struct {
	m    *Manager
	rpID string
	wa   *webauthn.WebAuthn
}

// Passkeys returns the ceremonies of rp; the origins must be under its ID.
func (m *Manager) Passkeys(rp RP) (*Passkeys, error) {
	// The same rule as for a parent cookie domain: a name, not an IP, a
	// single label or a public suffix (browsers refuse those RP ids too).
	id, err := cookiedomain.ValidateParent(rp.ID)
	if err != nil {
		return nil, fmt.Errorf("mfa: relying party id: %w", err)
	}
	if len(rp.Origins) == 0 {
		return nil, fmt.Errorf("mfa: relying party %q: no origins", id)
	}
	origins := make([]string, len(rp.Origins))
	for i, s := range rp.Origins {
		o, err := cors.ParseOrigin(s)
		if err != nil {
			return nil, fmt.Errorf("mfa: relying party %q: origin %q: %w", id, s, err)
		}
		if !cookiedomain.Under(o.Host, id) {
			return nil, fmt.Errorf("mfa: relying party %q: origin %q is not under it", id, s)
		}
		origins[i] = o.String()
	}
	if rp.Name == "" {
		rp.Name = id
	}
	t := webauthn.TimeoutConfig{Enforce: true, Timeout: m.ceremonyTTL, TimeoutUVD: m.ceremonyTTL}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: id, RPDisplayName: rp.Name, RPOrigins: origins,
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts:              webauthn.TimeoutsConfig{Login: t, Registration: t},
	})
	if err != nil {
		return nil, fmt.Errorf("mfa: relying party %q: %w", id, err)
	}
	return &Passkeys{m: m, rpID: id, wa: wa}, nil
}

// RPID returns the relying party id.
func (p *Passkeys) RPID() string { return p.rpID }

func decodeWA(plain []byte) (*waRecord, error) {
	var r waRecord
	if err := json.Unmarshal(plain, &r); err != nil {
		return nil, fmt.Errorf("mfa: decode webauthn record: %w", err)
	}
	return &r, nil
}

// waRecord returns user's WebAuthn record; with create, it creates it
// (with a new handle) when absent, so that the handle is fixed before the
// first registration; otherwise ErrNotEnrolled.
func (m *Manager) waRecord(ctx context.Context, user string, create bool) (*waRecord, error) {
	if !create {
		plain, err := m.load(ctx, user, KindWebAuthn)
		if errors.Is(err, ErrNotFound) {
			return nil, ErrNotEnrolled
		}
		if err != nil {
			return nil, err
		}
		return decodeWA(plain)
	}
	var rec *waRecord
	err := m.update(ctx, user, KindWebAuthn, func(plain []byte) ([]byte, error) {
		if plain != nil {
			r, err := decodeWA(plain)
			if err != nil {
				return nil, err
			}
			rec = r
			return plain, nil // unchanged: update writes nothing
		}
		rec = &waRecord{Handle: make([]byte, 32)}
		if _, err := rand.Read(rec.Handle); err != nil {
			return nil, err
		}
		return json.Marshal(rec)
	})
	return rec, err
}

// BeginRegistration starts registering a new credential for u. The
// options go to navigator.credentials.create() as JSON; the id goes into
// CeremonyCookie.
func (p *Passkeys) BeginRegistration(ctx context.Context, u User) (*protocol.CredentialCreation, string, error) {
	return p.beginRegistration(ctx, u, false)
}

// BeginPasswordlessRegistration is BeginRegistration for a credential the
// user will sign in with alone: it must be discoverable (residentKey
// required) and verify the user (userVerification required); the finished
// credential is marked passwordless and its user handle indexed.
func (p *Passkeys) BeginPasswordlessRegistration(ctx context.Context, u User) (*protocol.CredentialCreation, string, error) {
	return p.beginRegistration(ctx, u, true)
}

func (p *Passkeys) beginRegistration(ctx context.Context, u User, passwordless bool) (*protocol.CredentialCreation, string, error) {
	uv, rk := protocol.VerificationPreferred, protocol.ResidentKeyRequirementPreferred
	if passwordless {
		uv, rk = protocol.VerificationRequired, protocol.ResidentKeyRequirementRequired
	}
	rec, err := p.m.waRecord(ctx, u.Name, true)
	if err != nil {
		return nil, "", fmt.Errorf("mfa: begin registration: %w", err)
	}
	if len(rec.Creds) >= MaxCredentials {
		return nil, "", ErrTooMany
	}
	wu := newWAUser(u, p.rpID, rec)
	creation, sd, err := p.wa.BeginRegistration(wu,
		webauthn.WithExclusions(webauthn.Credentials(wu.creds).CredentialDescriptors()),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{UserVerification: uv}),
		// Discoverable where possible: the same credential can later sign
		// in without a password. (After the selection, which it amends.)
		webauthn.WithResidentKeyRequirement(rk),
	)
	if err != nil {
		return nil, "", fmt.Errorf("mfa: begin registration: %w", err)
	}
	id, err := p.m.putCeremony(ctx, &ceremony{User: u.Name, Purpose: purposeRegister, RPID: p.rpID, WA: sd, Passwordless: passwordless})
	if err != nil {
		return nil, "", err
	}
	return creation, id, nil
}

// FinishRegistration verifies the browser's answer (the JSON of the
// PublicKeyCredential, read from body) to the ceremony id and stores the
// credential under name (trimmed; "" is "Passkey"; at most 64 printable
// characters, else ErrInvalidName). Once the name is accepted, the
// ceremony is used up, whatever the answer.
func (p *Passkeys) FinishRegistration(ctx context.Context, id string, u User, name string, body io.Reader) (CredentialInfo, error) {
	// Checked first: a bad name leaves the ceremony for a second try.
	name, err := credentialName(name)
	if err != nil {
		return CredentialInfo{}, err
	}
	c, err := p.m.getCeremony(ctx, id, u.Name, purposeRegister, true)
	if err != nil {
		return CredentialInfo{}, err
	}
	if c.RPID != p.rpID || c.WA == nil {
		return CredentialInfo{}, ErrCeremony
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(io.LimitReader(body, MaxResponseBytes))
	if err != nil {
		return CredentialInfo{}, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
	}
	rec, err := p.m.waRecord(ctx, u.Name, false)
	if err != nil {
		return CredentialInfo{}, fmt.Errorf("mfa: finish registration: %w", err)
	}
	cred, err := p.wa.CreateCredential(newWAUser(u, p.rpID, rec), *c.WA, parsed)
	if err != nil {
		return CredentialInfo{}, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
	}
	// CreateCredential checked the UV flag when the ceremony required it;
	// checked again here, as the mark depends on it.
	if c.Passwordless && !cred.Flags.UserVerified {
		return CredentialInfo{}, fmt.Errorf("%w: the authenticator did not verify the user", ErrInvalidResponse)
	}
	sc := storedCred{RPID: p.rpID, Name: name, Created: p.m.now(), Cred: *cred, Passwordless: c.Passwordless}
	err = p.m.update(ctx, u.Name, KindWebAuthn, func(plain []byte) ([]byte, error) {
		if plain == nil {
			return nil, ErrNotEnrolled // removed meanwhile: its handle is gone
		}
		r, err := decodeWA(plain)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(r.Handle, c.WA.UserID) {
			return nil, ErrCeremony
		}
		if len(r.Creds) >= MaxCredentials {
			return nil, ErrTooMany
		}
		for _, o := range r.Creds {
			if bytes.Equal(o.Cred.ID, cred.ID) {
				return nil, fmt.Errorf("%w: credential already registered", ErrInvalidResponse)
			}
		}
		r.Creds = append(r.Creds, sc)
		return json.Marshal(r)
	})
	if err != nil {
		return CredentialInfo{}, fmt.Errorf("mfa: finish registration: %w", err)
	}
	if sc.Passwordless {
		if err := p.m.syncHandle(ctx, u.Name); err != nil {
			return CredentialInfo{}, fmt.Errorf("mfa: finish registration: %w", err)
		}
	}
	return sc.info(), nil
}

// credentialName trims name; "" becomes "Passkey".
func credentialName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "Passkey", nil
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxNameLen ||
		strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", ErrInvalidName
	}
	return name, nil
}

// BeginLogin starts asking u for one of their credentials of this relying
// party, as a second factor; ErrNotEnrolled when they have none.
func (p *Passkeys) BeginLogin(ctx context.Context, u User) (*protocol.CredentialAssertion, string, error) {
	rec, err := p.m.waRecord(ctx, u.Name, false)
	if err != nil {
		if errors.Is(err, ErrNotEnrolled) {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("mfa: begin login: %w", err)
	}
	wu := newWAUser(u, p.rpID, rec)
	if len(wu.creds) == 0 {
		return nil, "", ErrNotEnrolled
	}
	assertion, sd, err := p.wa.BeginLogin(wu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return nil, "", fmt.Errorf("mfa: begin login: %w", err)
	}
	id, err := p.m.putCeremony(ctx, &ceremony{User: u.Name, Purpose: purposeLogin, RPID: p.rpID, WA: sd})
	if err != nil {
		return nil, "", err
	}
	return assertion, id, nil
}

// FinishLogin verifies the browser's assertion for the ceremony id. A
// signature counter that did not grow (WebAuthn §6.1.1: a cloned
// authenticator, or a replayed assertion) is refused; the new count is
// stored by Swap, so two logins with one count cannot both pass.
func (p *Passkeys) FinishLogin(ctx context.Context, id string, u User, body io.Reader) (Result, error) {
	c, err := p.m.getCeremony(ctx, id, u.Name, purposeLogin, true)
	if err != nil {
		return Result{}, err
	}
	if c.RPID != p.rpID || c.WA == nil {
		return Result{}, ErrCeremony
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(io.LimitReader(body, MaxResponseBytes))
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
	}
	rec, err := p.m.waRecord(ctx, u.Name, false)
	if err != nil {
		if errors.Is(err, ErrNotEnrolled) {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("mfa: finish login: %w", err)
	}
	cred, err := p.wa.ValidateLogin(newWAUser(u, p.rpID, rec), *c.WA, parsed)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
	}
	if cred.Authenticator.CloneWarning {
		return Result{}, fmt.Errorf("%w: signature counter did not increase", ErrInvalidResponse)
	}
	return p.recordUse(ctx, u.Name, cred, false)
}

// recordUse stores the new signature count, flags and time of use of
// user's credential cred, which an assertion just verified; passwordless:
// the credential must (still) be marked so.
func (p *Passkeys) recordUse(ctx context.Context, user string, cred *webauthn.Credential, passwordless bool) (Result, error) {
	now := p.m.now()
	err := p.m.update(ctx, user, KindWebAuthn, func(plain []byte) ([]byte, error) {
		if plain == nil {
			return nil, ErrNotEnrolled
		}
		r, err := decodeWA(plain)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(r.Creds, func(s storedCred) bool { return s.RPID == p.rpID && bytes.Equal(s.Cred.ID, cred.ID) })
		if i < 0 {
			return nil, fmt.Errorf("%w: credential removed", ErrInvalidResponse)
		}
		s := &r.Creds[i]
		if passwordless && !s.Passwordless {
			return nil, fmt.Errorf("%w: credential not marked passwordless", ErrInvalidResponse)
		}
		// Re-checked on the current record: another login may have
		// stored this count since ValidateLogin read it.
		if n := cred.Authenticator.SignCount; (n != 0 || s.Cred.Authenticator.SignCount != 0) && n <= s.Cred.Authenticator.SignCount {
			return nil, fmt.Errorf("%w: signature counter did not increase", ErrInvalidResponse)
		}
		s.Cred.Authenticator.SignCount = cred.Authenticator.SignCount
		s.Cred.Flags = cred.Flags
		s.LastUsed = now
		return json.Marshal(r)
	})
	if err != nil {
		if errors.Is(err, ErrInvalidResponse) || errors.Is(err, ErrNotEnrolled) {
			return Result{}, err
		}
		return Result{}, fmt.Errorf("mfa: finish login: %w", err)
	}
	return Result{AMR: amrOf(cred), At: now, Credential: publicID(cred.ID)}, nil
}

// Credentials lists user's credentials of every relying party, oldest first.
func (m *Manager) Credentials(ctx context.Context, user string) ([]CredentialInfo, error) {
	plain, err := m.load(ctx, user, KindWebAuthn)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mfa: credentials: %w", err)
	}
	r, err := decodeWA(plain)
	if err != nil {
		return nil, err
	}
	out := make([]CredentialInfo, len(r.Creds))
	for i, c := range r.Creds {
		out[i] = c.info()
	}
	return out, nil
}

// RemoveCredential removes user's credential with public id id;
// ErrNotFound when they have none such.
func (m *Manager) RemoveCredential(ctx context.Context, user, id string) error {
	err := m.update(ctx, user, KindWebAuthn, func(plain []byte) ([]byte, error) {
		if plain == nil {
			return nil, ErrNotFound
		}
		r, err := decodeWA(plain)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(r.Creds, func(c storedCred) bool { return publicID(c.Cred.ID) == id })
		if i < 0 {
			return nil, ErrNotFound
		}
		// The record stays, with its handle, even when empty: a
		// discoverable credential the user forgot to delete from the
		// authenticator keeps pointing at the same handle.
		r.Creds = slices.Delete(r.Creds, i, i+1)
		return json.Marshal(r)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("mfa: remove credential: %w", err)
	}
	if err != nil {
		return err
	}
	if err := m.syncHandle(ctx, user); err != nil {
		return fmt.Errorf("mfa: remove credential: %w", err)
	}
	return nil
}

// ErrNotVerifying: a credential whose authenticator has not verified the
// user (no PIN or biometric seen at its registration or last use) cannot
// be marked passwordless. Answer 409: register a passwordless passkey.
var ErrNotVerifying = errors.New("mfa: this passkey has not verified the user (PIN or biometric): it cannot sign in alone")

// SetPasswordless marks user's credential with public id id as usable for
// sign-in without a password, or unmarks it, and updates the user-handle
// index. Marking needs a credential that verified the user
// (ErrNotVerifying); a credential the authenticator did not keep
// discoverable is simply not offered by the browser at sign-in.
// ErrNotFound when the user has no such credential.
func (m *Manager) SetPasswordless(ctx context.Context, user, id string, on bool) error {
	err := m.update(ctx, user, KindWebAuthn, func(plain []byte) ([]byte, error) {
		if plain == nil {
			return nil, ErrNotFound
		}
		r, err := decodeWA(plain)
		if err != nil {
			return nil, err
		}
		i := slices.IndexFunc(r.Creds, func(c storedCred) bool { return publicID(c.Cred.ID) == id })
		if i < 0 {
			return nil, ErrNotFound
		}
		if on && !r.Creds[i].Cred.Flags.UserVerified {
			return nil, ErrNotVerifying
		}
		r.Creds[i].Passwordless = on
		return json.Marshal(r)
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotVerifying) {
		return err
	}
	if err == nil {
		err = m.syncHandle(ctx, user)
	}
	if err != nil {
		return fmt.Errorf("mfa: passwordless: %w", err)
	}
	return nil
}

// BeginDiscoverableLogin starts a passwordless sign-in: an assertion with
// no allowed credentials (the authenticator offers its discoverable ones
// for this relying party) and user verification required. The ceremony
// belongs to nobody until FinishDiscoverableLogin resolves the user.
func (p *Passkeys) BeginDiscoverableLogin(ctx context.Context) (*protocol.CredentialAssertion, string, error) {
	assertion, sd, err := p.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, "", fmt.Errorf("mfa: begin passwordless login: %w", err)
	}
	id, err := p.m.putCeremony(ctx, &ceremony{Purpose: purposeDiscoverable, RPID: p.rpID, WA: sd})
	if err != nil {
		return nil, "", err
	}
	return assertion, id, nil
}

// FinishDiscoverableLogin verifies a passwordless sign-in's assertion for
// the ceremony id and returns whose it is. The user handle the
// authenticator returns is resolved through the index, then checked
// against that user's own record; only credentials of this relying party
// marked passwordless are accepted, the user must have been verified (UV),
// and the signature counter rule of FinishLogin holds. Refusals wrap
// ErrInvalidResponse (an unknown handle too); ErrCeremony for a used or
// expired ceremony; anything else is an outage.
func (p *Passkeys) FinishDiscoverableLogin(ctx context.Context, id string, body io.Reader) (string, Result, error) {
	c, err := p.m.getCeremony(ctx, id, "", purposeDiscoverable, true)
	if err != nil {
		return "", Result{}, err
	}
	if c.RPID != p.rpID || c.WA == nil {
		return "", Result{}, ErrCeremony
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(io.LimitReader(body, MaxResponseBytes))
	if err != nil {
		return "", Result{}, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
	}
	var (
		user   string
		outage error // a store error inside the handler, which the library wraps as a bad request
	)
	handler := func(_, handle []byte) (webauthn.User, error) {
		name, err := p.m.userOfHandle(ctx, handle)
		if errors.Is(err, ErrNotFound) {
			return nil, errUnknownHandle
		}
		if err != nil {
			outage = err
			return nil, err
		}
		rec, err := p.m.waRecord(ctx, name, false)
		if errors.Is(err, ErrNotEnrolled) {
			return nil, errUnknownHandle
		}
		if err != nil {
			outage = err
			return nil, err
		}
		// The index only says where to look: the record must hold this
		// very handle (a stale or planted entry names someone else).
		if !bytes.Equal(rec.Handle, handle) {
			return nil, errUnknownHandle
		}
		w := &waUser{u: User{Name: name}, rpID: p.rpID, rec: rec}
		for _, sc := range rec.Creds {
			if sc.RPID == p.rpID && sc.Passwordless {
				w.creds = append(w.creds, sc.Cred)
			}
		}
		user = name
		return w, nil
	}
	_, cred, err := p.wa.ValidatePasskeyLogin(handler, *c.WA, parsed)
	if outage != nil {
		return "", Result{}, fmt.Errorf("mfa: finish passwordless login: %w", outage)
	}
	if err != nil {
		return "", Result{}, fmt.Errorf("%w: %w", ErrInvalidResponse, err)
	}
	// The library checked UV as the ceremony required it; the mark's
	// promise depends on it, so it is checked here too.
	if !cred.Flags.UserVerified {
		return "", Result{}, fmt.Errorf("%w: the authenticator did not verify the user", ErrInvalidResponse)
	}
	if cred.Authenticator.CloneWarning {
		return "", Result{}, fmt.Errorf("%w: signature counter did not increase", ErrInvalidResponse)
	}
	res, err := p.recordUse(ctx, user, cred, true)
	if err != nil {
		return "", Result{}, err
	}
	return user, res, nil
}

var errUnknownHandle = errors.New("mfa: no passwordless credential for this user handle")
