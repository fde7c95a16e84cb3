package token

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/sso/internal/limitfile"
)

// Defaults for Config.
const (
	DefaultTTL    = 5 * time.Minute
	DefaultLeeway = 30 * time.Second
)

// MaxLen bounds the tokens Verify and LooksLikeJWT look at; ours are about
// 400 bytes plus the groups.
const MaxLen = 8 << 10

// deriveInfo is the HKDF info string; changing it changes every key.
const deriveInfo = "sso jwt signing key v1"

// ErrInvalidToken wraps every reason Verify and VerifyUpstream refuse a
// token.
var ErrInvalidToken = errors.New("token: invalid token")

// The two kinds of token, typed explicitly so that one is never taken for
// the other (RFC 8725 §3.11): the JOSE header "typ" and the claim
// "token_use" both name the kind, and each verifier wants both.
const (
	// TypeAccess and UseAccess mark a client access token, from
	// POST /api/token: a credential for /auth and the JSON API, with the
	// configured audience (SSO_JWT_AUDIENCE).
	TypeAccess = "sso-access+jwt"
	UseAccess  = "access"
	// TypeUpstream and UseUpstream mark an upstream token, the X-Auth-Token
	// /auth hands to one upstream, whose origin is its audience. It is
	// never a credential for sso.
	TypeUpstream = "sso-upstream+jwt"
	UseUpstream  = "upstream"
)

// Claims is what a token says about its holder.
type Claims struct {
	Subject string // user name
	Email   string
	Groups  []string
	// SessionID (claim "sid", a session.Session.ID) or KeyHash (claim
	// "key", a session.APIKey.Hash) names what an access token was minted
	// from, so that the token dies with it: exactly one is set in an access
	// token. Upstream tokens carry neither.
	SessionID string
	KeyHash   string
	Audience  string    // aud; set by IssueAccess, IssueUpstream and the verifiers
	IssuedAt  time.Time // set by the issuers
	ExpiresAt time.Time // set by the issuers
	ID        string    // jti, set by the issuers
}

// Config configures an Issuer.
type Config struct {
	Issuer   string        // iss; required
	Audience string        // aud, a single string; required
	TTL      time.Duration // token lifetime; zero means DefaultTTL (5m)
	Leeway   time.Duration // clock skew allowed on exp, nbf, iat; zero means DefaultLeeway (30s)
	// Keys: the first signs, all verify and are published in the JWKS.
	Keys []ed25519.PrivateKey
	// Rand supplies jti values; nil means crypto/rand.
	Rand io.Reader
}

// Issuer issues and verifies tokens; it is immutable and safe for
// concurrent use.
type Issuer struct {
	cfg     Config
	signKID string
	pub     map[string]ed25519.PublicKey // by kid
	jwks    []byte
}

// claims is the JWT payload. aud is a single string (RFC 7519 §4.1.3
// allows that), which golang-jwt's RegisteredClaims only writes when a
// package-level switch is flipped.
type claims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  string           `json:"aud"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	ExpiresAt *jwt.NumericDate `json:"exp"`
	ID        string           `json:"jti"`
	Use       string           `json:"token_use"`
	SessionID string           `json:"sid,omitempty"`
	KeyHash   string           `json:"key,omitempty"`
	Email     string           `json:"email,omitempty"`
	Groups    []string         `json:"groups,omitempty"`
}

func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *claims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore, nil }
func (c *claims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *claims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *claims) GetAudience() (jwt.ClaimStrings, error)       { return jwt.ClaimStrings{c.Audience}, nil }

// Validate is called by the parser after the registered claims pass.
func (c *claims) Validate() error {
	if c.Subject == "" {
		return errors.New("token has no subject")
	}
	return nil
}

// DeriveKeys derives one Ed25519 key per secret: the seed is
// HKDF-SHA256(secret, info "sso jwt signing key v1"). Every instance sharing
// the secret ring thus signs with the same key, and rotating the ring
// rotates the keys in step.
func DeriveKeys(secrets [][]byte) []ed25519.PrivateKey {
	keys := make([]ed25519.PrivateKey, 0, len(secrets))
	for _, s := range secrets {
		seed, err := hkdf.Key(sha256.New, s, nil, deriveInfo, ed25519.SeedSize)
		if err != nil {
			// Only for output lengths beyond 255*32 bytes; 32 cannot fail.
			continue
		}
		keys = append(keys, ed25519.NewKeyFromSeed(seed))
	}
	return keys
}

// LoadKeyFile reads an Ed25519 private key from a PKCS#8 PEM file, as
// written by `openssl genpkey -algorithm ed25519`.
func LoadKeyFile(path string) (ed25519.PrivateKey, error) {
	data, err := limitfile.Read(path, limitfile.Small)
	if err != nil {
		return nil, fmt.Errorf("token: load key file %q: %w", path, err)
	}
	key, err := parseKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("token: load key file %q: %w", path, err)
	}
	return key, nil
}

func parseKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("PEM block is %q, want \"PRIVATE KEY\" (PKCS#8)", block.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want Ed25519", k)
	}
	return ek, nil
}

// KeyID returns the RFC 7638 JWK thumbprint of pub: base64url SHA-256 of
// {"crv":"Ed25519","kty":"OKP","x":"…"} (RFC 8037 §2 members, sorted).
func KeyID(pub ed25519.PublicKey) string {
	x := base64.RawURLEncoding.EncodeToString(pub)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// New checks cfg and returns an Issuer.
func New(cfg Config) (*Issuer, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("token: empty issuer")
	}
	if cfg.Audience == "" {
		return nil, errors.New("token: empty audience")
	}
	if cfg.TTL < 0 || cfg.Leeway < 0 {
		return nil, fmt.Errorf("token: negative ttl %v or leeway %v", cfg.TTL, cfg.Leeway)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if len(cfg.Keys) == 0 {
		return nil, errors.New("token: no signing keys")
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	i := &Issuer{pub: make(map[string]ed25519.PublicKey, len(cfg.Keys))}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	keys := make([]ed25519.PrivateKey, 0, len(cfg.Keys))
	for n, k := range cfg.Keys {
		if len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("token: key %d has %d bytes, want %d", n, len(k), ed25519.PrivateKeySize)
		}
		pub, ok := k.Public().(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("token: key %d: no Ed25519 public key", n)
		}
		kid := KeyID(pub)
		if _, dup := i.pub[kid]; dup {
			continue // the same secret twice in the ring
		}
		if n == 0 {
			i.signKID = kid
		}
		i.pub[kid] = slices.Clone(pub)
		keys = append(keys, slices.Clone(k))
		set.Keys = append(set.Keys, jwk{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), Kid: kid, Use: "sig", Alg: "EdDSA"})
	}
	cfg.Keys = keys
	jwks, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("token: jwks: %w", err)
	}
	i.cfg, i.jwks = cfg, jwks
	return i, nil
}

// TTL returns the lifetime of issued tokens (for expires_in).
func (i *Issuer) TTL() time.Duration { return i.cfg.TTL }

// KeyID returns the kid of the signing key.
func (i *Issuer) KeyID() string { return i.signKID }

// JWKS returns the JSON Web Key Set of every key of the ring, for
// /.well-known/jwks.json. Callers must not modify it.
func (i *Issuer) JWKS() []byte { return i.jwks }

// IssueAccess signs a client access token for c.Subject (POST /api/token),
// valid from now for the TTL, with the configured audience. Exactly one of
// c.SessionID and c.KeyHash must be set: a token that names no source could
// not be refused once its session or key is revoked. Audience, IssuedAt,
// ExpiresAt and ID of c are ignored.
func (i *Issuer) IssueAccess(c Claims, now time.Time) (string, error) {
	if (c.SessionID == "") == (c.KeyHash == "") {
		return "", errors.New("token: issue access token: want exactly one of session id and key hash")
	}
	return i.issue(TypeAccess, &claims{
		Audience:  i.cfg.Audience,
		Use:       UseAccess,
		SessionID: c.SessionID,
		KeyHash:   c.KeyHash,
	}, c, now)
}

// IssueUpstream signs an upstream token (X-Auth-Token) for c.Subject, valid
// from now for the TTL, for the one upstream whose origin is audience. The
// caller passes the canonical origin (cors.Origin.String(): lower-case
// scheme and host, no default port), which is what the upstream compares
// with its own. SessionID and KeyHash of c are not written: an upstream has
// no use for them. Audience, IssuedAt, ExpiresAt and ID of c are ignored.
func (i *Issuer) IssueUpstream(c Claims, audience string, now time.Time) (string, error) {
	if audience == "" {
		return "", errors.New("token: issue upstream token: empty audience")
	}
	return i.issue(TypeUpstream, &claims{Audience: audience, Use: UseUpstream}, c, now)
}

// issue completes pc from c and now, and signs it with header typ.
func (i *Issuer) issue(typ string, pc *claims, c Claims, now time.Time) (string, error) {
	if c.Subject == "" {
		return "", errors.New("token: issue: empty subject")
	}
	jti := make([]byte, 16)
	if _, err := io.ReadFull(i.cfg.Rand, jti); err != nil {
		return "", fmt.Errorf("token: issue: jti: %w", err)
	}
	now = now.Truncate(time.Second) // NumericDate has seconds
	pc.Issuer = i.cfg.Issuer
	pc.Subject = c.Subject
	pc.IssuedAt = jwt.NewNumericDate(now)
	pc.NotBefore = jwt.NewNumericDate(now)
	pc.ExpiresAt = jwt.NewNumericDate(now.Add(i.cfg.TTL))
	pc.ID = base64.RawURLEncoding.EncodeToString(jti)
	pc.Email = c.Email
	pc.Groups = c.Groups
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, pc)
	t.Header["typ"] = typ
	t.Header["kid"] = i.signKID
	s, err := t.SignedString(i.cfg.Keys[0])
	if err != nil {
		return "", fmt.Errorf("token: issue: %w", err)
	}
	return s, nil
}

// Verify checks a client access token at time now and returns its claims:
// header typ "sso-access+jwt", claim token_use "access", the configured
// issuer and audience, exactly one of sid and key, and everything
// VerifyUpstream checks besides. An upstream token is refused whatever its
// audience, and so is a token that names no type. Every refusal wraps
// ErrInvalidToken.
//
// Verify does not know whether the token's session or key still exists:
// the caller asks the store (authz does).
func (i *Issuer) Verify(tok string, now time.Time) (Claims, error) {
	c, err := i.verify(tok, TypeAccess, UseAccess, i.cfg.Audience, now)
	if err != nil {
		return Claims{}, err
	}
	if (c.SessionID == "") == (c.KeyHash == "") {
		return Claims{}, fmt.Errorf("%w: access token names not exactly one of sid and key", ErrInvalidToken)
	}
	return c, nil
}

// VerifyUpstream checks an upstream token at time now, as an upstream whose
// canonical origin is audience must: signature (EdDSA only, a key of the
// ring picked by kid), header typ "sso-upstream+jwt", claim token_use
// "upstream", the configured issuer, aud equal to audience, exp present and
// exp/nbf/iat within the leeway, a subject. sso itself never accepts these
// tokens as credentials; VerifyUpstream is the reference for what an
// upstream checks, and what the tests check. Every refusal wraps
// ErrInvalidToken.
func (i *Issuer) VerifyUpstream(tok, audience string, now time.Time) (Claims, error) {
	if audience == "" {
		return Claims{}, fmt.Errorf("%w: no audience to check against", ErrInvalidToken)
	}
	return i.verify(tok, TypeUpstream, UseUpstream, audience, now)
}

func (i *Issuer) verify(tok, typ, use, audience string, now time.Time) (Claims, error) {
	if len(tok) > MaxLen {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxLen)
	}
	p := jwt.NewParser(
		// Before the key is even looked up: no "none", no HS256 made with
		// the public key as HMAC secret.
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(i.cfg.Issuer),
		jwt.WithAudience(audience),
		jwt.WithLeeway(i.cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
		// Strict base64: otherwise the unused low bits of the last
		// signature character could vary and one token have many spellings.
		jwt.WithStrictDecoding(),
	)
	var c claims
	t, err := p.ParseWithClaims(tok, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		pub, ok := i.pub[kid]
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", truncate(kid, 64))
		}
		return pub, nil
	})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	// Both the header and the claim, compared exactly: the header is what
	// JOSE libraries can check before they look at the payload, the claim
	// is what survives libraries that drop the header. A token with neither
	// (sso's first shape, or someone else's JWT) is refused.
	if got, _ := t.Header["typ"].(string); got != typ {
		return Claims{}, fmt.Errorf("%w: typ %q, want %q", ErrInvalidToken, truncate(got, 64), typ)
	}
	if c.Use != use {
		return Claims{}, fmt.Errorf("%w: token_use %q, want %q", ErrInvalidToken, truncate(c.Use, 64), use)
	}
	out := Claims{
		Subject: c.Subject, Email: c.Email, Groups: c.Groups,
		SessionID: c.SessionID, KeyHash: c.KeyHash, Audience: c.Audience,
		ID: c.ID, ExpiresAt: c.ExpiresAt.UTC(),
	}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.UTC()
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// LooksLikeJWT reports whether s has the shape of a JWS compact
// serialisation: three non-empty base64url segments separated by dots, the
// first decoding to a JSON object. It is the cheap test /auth uses to tell a
// bearer JWT from an API key; it verifies nothing.
func LooksLikeJWT(s string) bool {
	if len(s) > MaxLen {
		return false
	}
	segs := strings.Split(s, ".")
	if len(segs) != 3 {
		return false
	}
	for _, seg := range segs {
		if seg == "" || strings.IndexFunc(seg, notBase64URL) >= 0 {
			return false
		}
	}
	hdr, err := base64.RawURLEncoding.DecodeString(segs[0])
	if err != nil {
		return false
	}
	var m map[string]json.RawMessage
	return json.Unmarshal(hdr, &m) == nil && m != nil
}

func notBase64URL(r rune) bool {
	return !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_')
}
