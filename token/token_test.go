package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"
)

const (
	testIssuer   = "https://login.example.test"
	testAudience = "example.test"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func testKeys(secrets ...string) []ed25519.PrivateKey {
	var b [][]byte
	for _, s := range secrets {
		b = append(b, []byte(s))
	}
	return DeriveKeys(b)
}

func newIssuer(t testing.TB, keys []ed25519.PrivateKey) *Issuer {
	t.Helper()
	i, err := New(Config{Issuer: testIssuer, Audience: testAudience, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// sign makes a token with arbitrary claims and kid and the header typ of
// an access token, for negative tests.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	return signTyp(t, method, key, kid, TypeAccess, c)
}

// signTyp is sign with the header typ given; "" leaves typ out.
func signTyp(t testing.TB, method jwt.SigningMethod, key any, kid, typ string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	if typ == "" {
		delete(tok.Header, "typ")
	} else {
		tok.Header["typ"] = typ
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const testUpstream = "https://api.example.test"

// goodClaims are the claims of a valid access token minted from session s1.
func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "alice", "token_use": UseAccess, "sid": "s1",
		"iat": t0.Unix(), "nbf": t0.Unix(), "exp": t0.Add(5 * time.Minute).Unix(), "jti": "x",
	}
}

// upstreamClaims are the claims of a valid upstream token for testUpstream.
func upstreamClaims() jwt.MapClaims {
	c := goodClaims()
	delete(c, "sid")
	c["aud"], c["token_use"] = testUpstream, UseUpstream
	return c
}

// edit returns c with k set to v, or removed when v is nil.
func edit(c jwt.MapClaims, kv ...any) jwt.MapClaims {
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(c, k)
		} else {
			c[k] = kv[i+1]
		}
	}
	return c
}

func decodeSeg(t testing.TB, seg string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	iss := newIssuer(t, testKeys("secret-one-secret-one-secret-one"))
	in := Claims{Subject: "alice", Email: "alice@example.test", Groups: []string{"admins", "dev"}, SessionID: "5e55"}
	tok, err := iss.IssueAccess(in, t0.Add(500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if !LooksLikeJWT(tok) {
		t.Errorf("LooksLikeJWT(%q) = false", tok)
	}
	got, err := iss.Verify(tok, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.Subject != in.Subject || got.Email != in.Email || !slices.Equal(got.Groups, in.Groups) ||
		got.SessionID != "5e55" || got.KeyHash != "" || got.Audience != testAudience ||
		!got.IssuedAt.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(DefaultTTL)) || got.ID == "" {
		t.Errorf("Verify = %+v, want %+v issued at %v", got, in, t0)
	}

	segs := strings.Split(tok, ".")
	h := decodeSeg(t, segs[0])
	if h["alg"] != "EdDSA" || h["typ"] != "sso-access+jwt" || h["kid"] != iss.KeyID() || len(h) != 3 {
		t.Errorf("header = %v, want alg EdDSA, typ sso-access+jwt, kid %q", h, iss.KeyID())
	}
	p := decodeSeg(t, segs[1])
	for k, want := range map[string]any{
		"iss": testIssuer, "aud": testAudience, "sub": "alice", "email": "alice@example.test",
		"token_use": "access", "sid": "5e55",
		"iat": float64(t0.Unix()), "nbf": float64(t0.Unix()), "exp": float64(t0.Add(DefaultTTL).Unix()),
	} {
		if p[k] != want {
			t.Errorf("payload[%q] = %#v, want %#v", k, p[k], want)
		}
	}
	if _, ok := p["jti"].(string); !ok {
		t.Errorf("payload has no jti: %v", p)
	}
	if _, ok := p["key"]; ok {
		t.Errorf("payload of a session's token has a key claim: %v", p)
	}

	tok2, err := iss.IssueAccess(in, t0)
	if err != nil {
		t.Fatal(err)
	}
	if c2, _ := iss.Verify(tok2, t0); c2.ID == got.ID {
		t.Errorf("two tokens share jti %q", got.ID)
	}
}

func TestVerifyRefuses(t *testing.T) {
	keys := testKeys("secret-one-secret-one-secret-one")
	iss := newIssuer(t, keys)
	kid := iss.KeyID()
	pub := keys[0].Public().(ed25519.PublicKey)
	good, err := iss.IssueAccess(Claims{Subject: "alice", SessionID: "s1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.Verify(good, t0); err != nil {
		t.Fatalf("Verify(good) = %v", err)
	}
	if _, err := iss.Verify(sign(t, jwt.SigningMethodEdDSA, keys[0], kid, goodClaims()), t0); err != nil {
		t.Fatalf("Verify(hand-made good) = %v: the table below proves nothing", err)
	}
	upstream, err := iss.IssueUpstream(Claims{Subject: "alice"}, testUpstream, t0)
	if err != nil {
		t.Fatal(err)
	}
	upstreamHere, err := iss.IssueUpstream(Claims{Subject: "alice"}, testAudience, t0)
	if err != nil {
		t.Fatal(err)
	}
	segs := strings.Split(good, ".")

	other := testKeys("another-secret-another-secret-00")[0]
	with := func(k string, v any) jwt.MapClaims {
		c := goodClaims()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tamperedPayload := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(
		string(must(base64.RawURLEncoding.DecodeString(segs[1]))), `"alice"`, `"admin"`, 1)))

	tests := []struct {
		name string
		tok  string
		at   time.Time
	}{
		{"tampered payload", segs[0] + "." + tamperedPayload + "." + segs[2], t0},
		{"tampered signature", segs[0] + "." + segs[1] + "." + flip(segs[2], 10), t0},
		{"truncated signature", segs[0] + "." + segs[1] + "." + segs[2][:len(segs[2])-2], t0},
		{"signature of another token", segs[0] + "." + segs[1] + "." + strings.Split(sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("sub", "bob")), ".")[2], t0},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, goodClaims()), t0},
		{"alg none no sig", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+kid+`"}`)) + "." + segs[1] + ".", t0},
		{"HS256 with public key", sign(t, jwt.SigningMethodHS256, []byte(pub), kid, goodClaims()), t0},
		{"HS256 with public key base64", sign(t, jwt.SigningMethodHS256, []byte(base64.RawURLEncoding.EncodeToString(pub)), kid, goodClaims()), t0},
		{"wrong aud", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("aud", "other.test")), t0},
		{"aud array", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("aud", []string{testAudience, "other.test"})), t0},
		{"no aud", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("aud", nil)), t0},
		{"wrong iss", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("iss", "https://evil.test")), t0},
		{"no iss", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("iss", nil)), t0},
		{"no exp", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("exp", nil)), t0},
		{"empty sub", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("sub", "")), t0},
		{"no sub", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("sub", nil)), t0},
		{"expired beyond leeway", good, t0.Add(DefaultTTL + DefaultLeeway + time.Second)},
		{"not yet valid", good, t0.Add(-DefaultLeeway - time.Second)},
		{"iat in future", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("nbf", nil)), t0.Add(-DefaultLeeway - time.Second)},
		{"unknown kid", sign(t, jwt.SigningMethodEdDSA, other, KeyID(other.Public().(ed25519.PublicKey)), goodClaims()), t0},
		{"known kid other key", sign(t, jwt.SigningMethodEdDSA, other, kid, goodClaims()), t0},
		{"no kid", sign(t, jwt.SigningMethodEdDSA, keys[0], "", goodClaims()), t0},
		{"empty", "", t0},
		{"garbage", "a.b.c", t0},
		{"too long", good + strings.Repeat("A", MaxLen), t0},

		// Only access tokens are credentials (RFC 8725 §3.11).
		{"upstream token", upstream, t0},
		{"upstream token whose aud is our audience", upstreamHere, t0},
		{"upstream token made by hand, our audience", signTyp(t, jwt.SigningMethodEdDSA, keys[0], kid, TypeUpstream, edit(upstreamClaims(), "aud", testAudience)), t0},
		{"upstream typ, access token_use", signTyp(t, jwt.SigningMethodEdDSA, keys[0], kid, TypeUpstream, goodClaims()), t0},
		{"access typ, upstream token_use", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("token_use", UseUpstream)), t0},
		{"old shape: typ JWT, no token_use", signTyp(t, jwt.SigningMethodEdDSA, keys[0], kid, "JWT", edit(goodClaims(), "token_use", nil, "sid", nil)), t0},
		{"old shape with sid", signTyp(t, jwt.SigningMethodEdDSA, keys[0], kid, "JWT", with("token_use", nil)), t0},
		{"typ JWT", signTyp(t, jwt.SigningMethodEdDSA, keys[0], kid, "JWT", goodClaims()), t0},
		{"no typ", signTyp(t, jwt.SigningMethodEdDSA, keys[0], kid, "", goodClaims()), t0},
		{"typ in other case", signTyp(t, jwt.SigningMethodEdDSA, keys[0], kid, "SSO-ACCESS+JWT", goodClaims()), t0},
		{"typ with application/", signTyp(t, jwt.SigningMethodEdDSA, keys[0], kid, "application/sso-access+jwt", goodClaims()), t0},
		{"typ not a string", signAnyTyp(t, keys[0], kid, 1, goodClaims()), t0},
		{"no token_use", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("token_use", nil)), t0},
		{"empty token_use", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("token_use", "")), t0},
		{"token_use array", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("token_use", []string{UseAccess})), t0},
		{"token_use id", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("token_use", "id")), t0},
		{"neither sid nor key", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("sid", nil)), t0},
		{"empty sid", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("sid", "")), t0},
		{"both sid and key", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, with("key", "abc")), t0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := iss.Verify(tc.tok, tc.at)
			if err == nil {
				t.Fatalf("Verify(%q) = %+v, nil; want error", tc.tok, c)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify error %v does not wrap ErrInvalidToken", err)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// signAnyTyp signs c with a typ header of any JSON type.
func signAnyTyp(t testing.TB, key ed25519.PrivateKey, kid string, typ any, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"], tok.Header["typ"] = kid, typ
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUpstreamRoundTrip(t *testing.T) {
	iss := newIssuer(t, testKeys("secret-one-secret-one-secret-one"))
	in := Claims{Subject: "alice", Email: "alice@example.test", Groups: []string{"dev"}, SessionID: "5e55", KeyHash: "abc"}
	tok, err := iss.IssueUpstream(in, testUpstream, t0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := iss.VerifyUpstream(tok, testUpstream, t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("VerifyUpstream: %v", err)
	}
	if got.Subject != "alice" || got.Email != in.Email || !slices.Equal(got.Groups, in.Groups) || got.Audience != testUpstream ||
		got.SessionID != "" || got.KeyHash != "" || !got.ExpiresAt.Equal(t0.Add(DefaultTTL)) || got.ID == "" {
		t.Errorf("VerifyUpstream = %+v, want alice for %s without sid or key", got, testUpstream)
	}
	segs := strings.Split(tok, ".")
	if h := decodeSeg(t, segs[0]); h["typ"] != "sso-upstream+jwt" || h["alg"] != "EdDSA" || h["kid"] != iss.KeyID() {
		t.Errorf("header = %v, want typ sso-upstream+jwt", h)
	}
	p := decodeSeg(t, segs[1])
	if p["token_use"] != "upstream" || p["aud"] != testUpstream {
		t.Errorf("payload = %v, want token_use upstream, aud %s", p, testUpstream)
	}
	for _, k := range []string{"sid", "key"} {
		if _, ok := p[k]; ok {
			t.Errorf("upstream token carries %s: %v", k, p)
		}
	}
	if _, err := iss.IssueUpstream(Claims{Subject: "alice"}, "", t0); err == nil {
		t.Error("IssueUpstream with an empty audience succeeded")
	}
	if _, err := iss.IssueUpstream(Claims{}, testUpstream, t0); err == nil {
		t.Error("IssueUpstream without subject succeeded")
	}
}

func TestVerifyUpstreamRefuses(t *testing.T) {
	keys := testKeys("secret-one-secret-one-secret-one")
	iss := newIssuer(t, keys)
	kid := iss.KeyID()
	good := signTyp(t, jwt.SigningMethodEdDSA, keys[0], kid, TypeUpstream, upstreamClaims())
	if _, err := iss.VerifyUpstream(good, testUpstream, t0); err != nil {
		t.Fatalf("VerifyUpstream(good) = %v: the table below proves nothing", err)
	}
	access, err := iss.IssueAccess(Claims{Subject: "alice", SessionID: "s1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	other := testKeys("another-secret-another-secret-00")[0]
	up := func(typ string, kv ...any) string {
		return signTyp(t, jwt.SigningMethodEdDSA, keys[0], kid, typ, edit(upstreamClaims(), kv...))
	}
	tests := []struct {
		name, tok, aud string
		at             time.Time
	}{
		{"access token, our audience", access, testAudience, t0},
		{"access token made by hand for the upstream", sign(t, jwt.SigningMethodEdDSA, keys[0], kid, edit(goodClaims(), "aud", testUpstream)), testUpstream, t0},
		{"access typ, upstream token_use", up(TypeAccess), testUpstream, t0},
		{"upstream typ, access token_use", up(TypeUpstream, "token_use", UseAccess), testUpstream, t0},
		{"old shape: typ JWT, no token_use", up("JWT", "token_use", nil), testUpstream, t0},
		{"no typ", up(""), testUpstream, t0},
		{"typ JWT", up("JWT"), testUpstream, t0},
		{"no token_use", up(TypeUpstream, "token_use", nil), testUpstream, t0},
		{"another upstream", good, "https://app.example.test", t0},
		{"same host, other scheme", good, "http://api.example.test", t0},
		{"same host, other port", good, "https://api.example.test:8443", t0},
		{"the cookie domain", good, testAudience, t0},
		{"empty audience asked for", good, "", t0},
		{"no aud", up(TypeUpstream, "aud", nil), testUpstream, t0},
		{"aud array", up(TypeUpstream, "aud", []string{testUpstream}), testUpstream, t0},
		{"wrong iss", up(TypeUpstream, "iss", "https://evil.test"), testUpstream, t0},
		{"no exp", up(TypeUpstream, "exp", nil), testUpstream, t0},
		{"no sub", up(TypeUpstream, "sub", nil), testUpstream, t0},
		{"expired beyond leeway", good, testUpstream, t0.Add(5*time.Minute + DefaultLeeway + time.Second)},
		{"not yet valid", good, testUpstream, t0.Add(-DefaultLeeway - time.Second)},
		{"alg none", signTyp(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, TypeUpstream, upstreamClaims()), testUpstream, t0},
		{"HS256 with public key", signTyp(t, jwt.SigningMethodHS256, []byte(keys[0].Public().(ed25519.PublicKey)), kid, TypeUpstream, upstreamClaims()), testUpstream, t0},
		{"known kid other key", signTyp(t, jwt.SigningMethodEdDSA, other, kid, TypeUpstream, upstreamClaims()), testUpstream, t0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := iss.VerifyUpstream(tc.tok, tc.aud, tc.at)
			if err == nil {
				t.Fatalf("VerifyUpstream(%q, %q) = %+v, nil; want error", tc.tok, tc.aud, c)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("VerifyUpstream error %v does not wrap ErrInvalidToken", err)
			}
		})
	}
}

func TestIssueAccessNeedsOneSource(t *testing.T) {
	iss := newIssuer(t, testKeys("secret-one-secret-one-secret-one"))
	for _, c := range []Claims{
		{Subject: "alice"},
		{Subject: "alice", SessionID: "s1", KeyHash: "abc"},
		{SessionID: "s1"},
	} {
		if tok, err := iss.IssueAccess(c, t0); err == nil {
			t.Errorf("IssueAccess(%+v) = %q, nil; want an error", c, tok)
		}
	}
	tok, err := iss.IssueAccess(Claims{Subject: "alice", KeyHash: "abc"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := iss.Verify(tok, t0)
	if err != nil || c.KeyHash != "abc" || c.SessionID != "" {
		t.Errorf("Verify(token of a key) = %+v, %v; want key abc, no sid", c, err)
	}
	if p := decodeSeg(t, strings.Split(tok, ".")[1]); p["key"] != "abc" || p["sid"] != nil {
		t.Errorf("payload = %v, want key abc and no sid", p)
	}
}

func TestVerifyLeeway(t *testing.T) {
	iss := newIssuer(t, testKeys("secret-one-secret-one-secret-one"))
	tok, err := iss.IssueAccess(Claims{Subject: "alice", SessionID: "s1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	up, err := iss.IssueUpstream(Claims{Subject: "alice"}, testUpstream, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{
		t0.Add(-DefaultLeeway + time.Second),
		t0,
		t0.Add(DefaultTTL),
		t0.Add(DefaultTTL + DefaultLeeway - time.Second),
	} {
		if _, err := iss.Verify(tok, at); err != nil {
			t.Errorf("Verify at %v = %v, want accepted within leeway", at.Sub(t0), err)
		}
		if _, err := iss.VerifyUpstream(up, testUpstream, at); err != nil {
			t.Errorf("VerifyUpstream at %v = %v, want accepted within leeway", at.Sub(t0), err)
		}
	}
}

func TestRotation(t *testing.T) {
	oldKeys := testKeys("old-secret-old-secret-old-secret")
	ring := testKeys("new-secret-new-secret-new-secret", "old-secret-old-secret-old-secret")
	before := newIssuer(t, oldKeys)
	after := newIssuer(t, ring)

	tok, err := before.IssueAccess(Claims{Subject: "alice", SessionID: "s1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := after.Verify(tok, t0); err != nil {
		t.Fatalf("token of the old key refused after rotation: %v", err)
	}
	if after.KeyID() == before.KeyID() {
		t.Fatalf("new ring signs with the old key %q", after.KeyID())
	}
	newTok, err := after.IssueAccess(Claims{Subject: "alice", SessionID: "s1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := before.Verify(newTok, t0); err == nil {
		t.Error("old ring accepted a token of the new key")
	}
	dropped := newIssuer(t, ring[:1])
	if _, err := dropped.Verify(tok, t0); err == nil {
		t.Error("token of a retired key accepted")
	}
	var set struct{ Keys []jwk }
	if err := json.Unmarshal(after.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 || set.Keys[0].Kid != after.KeyID() || set.Keys[1].Kid != before.KeyID() {
		t.Errorf("JWKS = %s, want the new then the old key", after.JWKS())
	}
}

// TestIndependentVerifier checks tokens and JWKS with go-jose, which shares
// no code with golang-jwt, the way docs/clients.md tells an upstream to
// check its X-Auth-Token.
func TestIndependentVerifier(t *testing.T) {
	iss := newIssuer(t, testKeys("new-secret-new-secret-new-secret", "old-secret-old-secret-old-secret"))
	tok, err := iss.IssueUpstream(Claims{Subject: "alice", Email: "alice@example.test", Groups: []string{"dev"}}, testUpstream, t0)
	if err != nil {
		t.Fatal(err)
	}

	var set jose.JSONWebKeySet
	if err := json.Unmarshal(iss.JWKS(), &set); err != nil {
		t.Fatalf("go-jose cannot parse JWKS %s: %v", iss.JWKS(), err)
	}
	for _, k := range set.Keys {
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if got := base64.RawURLEncoding.EncodeToString(tp); got != k.KeyID {
			t.Errorf("kid %q, want RFC 7638 thumbprint %q", k.KeyID, got)
		}
		if k.Algorithm != string(jose.EdDSA) || k.Use != "sig" || !k.Valid() || !k.IsPublic() {
			t.Errorf("JWK %+v: want a valid public EdDSA signing key", k)
		}
	}

	parsed, err := josejwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	kid := parsed.Headers[0].KeyID
	if typ := parsed.Headers[0].ExtraHeaders[jose.HeaderType]; typ != TypeUpstream {
		t.Errorf("go-jose sees typ %#v, want %q", typ, TypeUpstream)
	}
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("JWKS has %d keys with kid %q, want 1", len(keys), kid)
	}
	var std josejwt.Claims
	var extra struct {
		Use    string   `json:"token_use"`
		Email  string   `json:"email"`
		Groups []string `json:"groups"`
	}
	if err := parsed.Claims(keys[0].Key, &std, &extra); err != nil {
		t.Fatalf("go-jose refuses the signature: %v", err)
	}
	if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: testIssuer, AnyAudience: josejwt.Audience{testUpstream}, Subject: "alice", Time: t0.Add(time.Minute)}, 0); err != nil {
		t.Errorf("go-jose claims validation: %v", err)
	}
	if err := std.ValidateWithLeeway(josejwt.Expected{Issuer: testIssuer, AnyAudience: josejwt.Audience{"https://app.example.test"}, Time: t0.Add(time.Minute)}, 0); err == nil {
		t.Error("go-jose: the token validates for another upstream")
	}
	if extra.Use != UseUpstream || extra.Email != "alice@example.test" || !slices.Equal(extra.Groups, []string{"dev"}) {
		t.Errorf("extra claims = %+v", extra)
	}
	// And the other key does not verify it.
	for _, k := range set.Keys {
		if k.KeyID != kid {
			if err := parsed.Claims(k.Key, &std); err == nil {
				t.Error("go-jose verified the token with the wrong key")
			}
		}
	}
}

func TestJWKS(t *testing.T) {
	keys := testKeys("secret-one-secret-one-secret-one", "secret-one-secret-one-secret-one")
	iss := newIssuer(t, keys)
	pub := keys[0].Public().(ed25519.PublicKey)
	want := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + base64.RawURLEncoding.EncodeToString(pub) +
		`","kid":"` + KeyID(pub) + `","use":"sig","alg":"EdDSA"}]}`
	if got := string(iss.JWKS()); got != want {
		t.Errorf("JWKS() = %s, want %s (duplicates collapsed)", got, want)
	}
}

// TestDeriveKeys re-derives the seed with a hand-written RFC 5869 HKDF.
func TestDeriveKeys(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	keys := DeriveKeys([][]byte{secret, []byte("another secret of thirty-two b..")})
	if len(keys) != 2 {
		t.Fatalf("DeriveKeys gave %d keys, want 2", len(keys))
	}
	mac := func(key, msg []byte) []byte {
		h := hmac.New(sha256.New, key)
		h.Write(msg)
		return h.Sum(nil)
	}
	prk := mac(make([]byte, sha256.Size), secret)       // extract, empty salt
	okm := mac(prk, append([]byte(deriveInfo), 1))[:32] // expand, one block
	if got := keys[0].Seed(); !slices.Equal(got, okm) {
		t.Errorf("seed = %x, want %x", got, okm)
	}
	again := DeriveKeys([][]byte{secret})
	if !keys[0].Equal(again[0]) {
		t.Error("DeriveKeys is not deterministic")
	}
	if keys[0].Equal(keys[1]) {
		t.Error("different secrets gave the same key")
	}
}

func TestLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "ed25519.pem")
	write(t, good, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	got, err := LoadKeyFile(good)
	if err != nil || !got.Equal(priv) {
		t.Fatalf("LoadKeyFile = %v, %v; want the key", got, err)
	}

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, data, wantErr string
	}{
		{"not pem", "hello", "no PEM block"},
		{"wrong type", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})), `"EC PRIVATE KEY"`},
		{"ecdsa", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})), "want Ed25519"},
		{"garbage der", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("xx")})), "asn1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			write(t, path, []byte(tc.data))
			_, err := LoadKeyFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), path) {
				t.Errorf("LoadKeyFile(%s) = %v, want error containing %q and the path", tc.name, err, tc.wantErr)
			}
		})
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadKeyFile(missing) = %v, want ErrNotExist", err)
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestNew(t *testing.T) {
	keys := testKeys("secret-one-secret-one-secret-one")
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no issuer", Config{Audience: "a", Keys: keys}},
		{"no audience", Config{Issuer: "i", Keys: keys}},
		{"no keys", Config{Issuer: "i", Audience: "a"}},
		{"short key", Config{Issuer: "i", Audience: "a", Keys: []ed25519.PrivateKey{keys[0][:32]}}},
		{"negative ttl", Config{Issuer: "i", Audience: "a", Keys: keys, TTL: -time.Second}},
		{"negative leeway", Config{Issuer: "i", Audience: "a", Keys: keys, Leeway: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil || !strings.HasPrefix(err.Error(), "token: ") {
				t.Errorf("New(%s) = %v, want a token: error", tc.name, err)
			}
		})
	}
	iss, err := New(Config{Issuer: "i", Audience: "a", Keys: keys, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if iss.TTL() != time.Hour {
		t.Errorf("TTL() = %v, want 1h", iss.TTL())
	}
	if _, err := iss.IssueAccess(Claims{SessionID: "s1"}, t0); err == nil {
		t.Error("Issue without subject succeeded")
	}
}

func TestLooksLikeJWT(t *testing.T) {
	iss := newIssuer(t, testKeys("secret-one-secret-one-secret-one"))
	tok, err := iss.IssueAccess(Claims{Subject: "alice", SessionID: "s1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA"}`))
	tests := []struct {
		s    string
		want bool
	}{
		{tok, true},
		{hdr + ".e30.c2ln", true},
		{"", false},
		{"sso_0000000000000000000000000000000000000000000003IlBS7", false},
		{hdr + ".e30", false},
		{hdr + ".e30.", false},
		{hdr + "..c2ln", false},
		{hdr + ".e30.c2ln.x", false},
		{hdr + ".e3+.c2ln", false},
		{hdr + "=.e30.c2ln", false},
		{base64.RawURLEncoding.EncodeToString([]byte(`"str"`)) + ".e30.c2ln", false},
		{base64.RawURLEncoding.EncodeToString([]byte(`null`)) + ".e30.c2ln", false},
		{base64.RawURLEncoding.EncodeToString([]byte(`{bad`)) + ".e30.c2ln", false},
		{"a.b.c", false},
		{hdr + ".e30." + strings.Repeat("A", MaxLen), false},
	}
	for _, tc := range tests {
		if got := LooksLikeJWT(tc.s); got != tc.want {
			t.Errorf("LooksLikeJWT(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// FuzzVerify: each verifier accepts exactly the one token of its kind that
// was issued, and nothing else, whatever the input.
func FuzzVerify(f *testing.F) {
	keys := testKeys("secret-one-secret-one-secret-one")
	// A fixed jti: fuzz workers rebuild this state and must get the same
	// tokens (Ed25519 signatures are deterministic).
	iss, err := New(Config{Issuer: testIssuer, Audience: testAudience, Keys: keys, Rand: zeros{}})
	if err != nil {
		f.Fatal(err)
	}
	access, err := iss.IssueAccess(Claims{Subject: "alice", Groups: []string{"g"}, SessionID: "s1"}, t0)
	if err != nil {
		f.Fatal(err)
	}
	upstream, err := iss.IssueUpstream(Claims{Subject: "alice", Groups: []string{"g"}}, testUpstream, t0)
	if err != nil {
		f.Fatal(err)
	}
	// An upstream token whose aud is sso's own audience: Verify must still
	// refuse it.
	upstreamHere, err := iss.IssueUpstream(Claims{Subject: "alice"}, testAudience, t0)
	if err != nil {
		f.Fatal(err)
	}
	issued := map[string]string{upstream: testUpstream, upstreamHere: testAudience}
	kid := iss.KeyID()
	f.Add(access)
	f.Add(upstream)
	f.Add(upstreamHere)
	f.Add(signTyp(f, jwt.SigningMethodEdDSA, keys[0], kid, "JWT", edit(goodClaims(), "token_use", nil, "sid", nil)))
	f.Add(sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, goodClaims()))
	f.Add(sign(f, jwt.SigningMethodHS256, []byte(keys[0].Public().(ed25519.PublicKey)), kid, goodClaims()))
	f.Add("a.b.c")
	f.Add("")
	f.Add("eyJhbGciOiJFZERTQSJ9.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		looks := LooksLikeJWT(s)
		if c, err := iss.Verify(s, t0); err == nil {
			if s != access {
				t.Fatalf("Verify(%q) accepted a token we did not issue: %+v", s, c)
			}
			if !looks {
				t.Fatalf("LooksLikeJWT(%q) = false for a valid token", s)
			}
		}
		for _, aud := range []string{testUpstream, testAudience} {
			if c, err := iss.VerifyUpstream(s, aud, t0); err == nil && issued[s] != aud {
				t.Fatalf("VerifyUpstream(%q, %q) accepted a token we did not issue for it: %+v", s, aud, c)
			}
		}
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
