package server_test

import (
	"crypto/ed25519"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/sso/apikey"
	"github.com/example/sso/authz"
	"github.com/example/sso/server"
	"github.com/example/sso/token"
)

// trustLoopback makes the test server believe X-Original-URL from loopback,
// where the test client connects from, as it would from nginx.
func trustLoopback(t *testing.T) envOption {
	return func(o *server.Options) {
		p, err := authz.NewProxies([]string{"127.0.0.0/8", "::1"})
		if err != nil {
			t.Fatal(err)
		}
		o.Proxies = p
	}
}

// nginxAuth asks /auth as nginx does for a request to originalURL ("" for
// none), with extra request headers.
func (e *env) nginxAuth(t *testing.T, originalURL string, h map[string]string) *response {
	t.Helper()
	headers := map[string]string{}
	for k, v := range h {
		headers[k] = v
	}
	if originalURL != "" {
		headers["X-Original-URL"] = originalURL
	}
	return do(t, e.client(), req{url: "http://api.example.test/auth", headers: headers})
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// The X-Auth-Token an upstream gets from /auth is bound to that upstream's
// origin and is no credential anywhere in sso: not for /auth, whatever
// upstream it is asked about, and not for the JSON API.
func TestUpstreamTokenIsNoCredential(t *testing.T) {
	e := newEnv(t, trustLoopback(t))
	c, _ := e.browser()
	s := e.apiLogin(t, c, "alice")
	cookie := map[string]string{"Cookie": cookieName + "=" + s.Session.Value}

	r := e.nginxAuth(t, "https://app.example.test/", cookie)
	expectStatus(t, r, http.StatusOK)
	tok := r.Header.Get("X-Auth-Token")
	claims, err := e.tokens.VerifyUpstream(tok, "https://app.example.test", e.clock.Now())
	if err != nil || claims.Audience != "https://app.example.test" || claims.Subject != "alice" {
		t.Fatalf("X-Auth-Token for https://app.example.test/: %+v, %v; want alice with aud https://app.example.test", claims, err)
	}
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if p := parsed.Claims.(jwt.MapClaims); parsed.Header["typ"] != "sso-upstream+jwt" || p["token_use"] != "upstream" || p["aud"] != "https://app.example.test" || p["sid"] != nil {
		t.Errorf("X-Auth-Token header %v, claims %v; want typ sso-upstream+jwt, token_use upstream, aud the app origin, no sid", parsed.Header, p)
	}

	for _, original := range []string{"", "https://app.example.test/", "https://api.example.test/v1"} {
		a := e.nginxAuth(t, original, bearer(tok))
		if a.StatusCode != http.StatusUnauthorized || a.Header.Get("X-Auth-User") != "" {
			t.Errorf("/auth with the upstream token as Bearer, X-Original-URL %q = %d, X-Auth-User %q; want 401", original, a.StatusCode, a.Header.Get("X-Auth-User"))
		}
	}
	for _, q := range []req{
		{url: hub + "/api/session", headers: bearer(tok)},
		{url: hub + "/api/keys", headers: bearer(tok)},
		{method: "POST", url: hub + "/api/token", headers: bearer(tok)},
		{url: hub + "/api/keys", headers: map[string]string{"X-API-Key": tok}},
	} {
		r := do(t, e.client(), q)
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with the upstream token = %d, want 401; body %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.body)
		}
	}

	// Another upstream, the same session: another token, for that origin.
	r = e.nginxAuth(t, "https://api.example.test/v1/items", cookie)
	expectStatus(t, r, http.StatusOK)
	other := r.Header.Get("X-Auth-Token")
	if other == tok {
		t.Fatal("app and api got the same X-Auth-Token")
	}
	if _, err := e.tokens.VerifyUpstream(other, "https://api.example.test", e.clock.Now()); err != nil {
		t.Errorf("api's token does not verify for api: %v", err)
	}
	if _, err := e.tokens.VerifyUpstream(other, "https://app.example.test", e.clock.Now()); err == nil {
		t.Error("api's token verifies for app")
	}

	// No upstream named: the identity, but no token to hand on.
	r = e.nginxAuth(t, "", cookie)
	expectStatus(t, r, http.StatusOK)
	if r.Header.Get("X-Auth-User") != "alice" || r.Header.Get("X-Auth-Token") != "" {
		t.Errorf("/auth without X-Original-URL: X-Auth-User %q, X-Auth-Token %q; want alice and no token", r.Header.Get("X-Auth-User"), r.Header.Get("X-Auth-Token"))
	}
}

// clientToken is POST /api/token with headers h.
func clientToken(t *testing.T, c *http.Client, h map[string]string) string {
	t.Helper()
	r := do(t, c, req{method: "POST", url: hub + "/api/token", headers: h})
	expectStatus(t, r, http.StatusOK)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	r.json(t, &out)
	return out.AccessToken
}

// A client token names the session it was minted from (sid, the id
// /api/sessions lists) and is refused as soon as that session is logged out
// or revoked.
func TestClientTokenDiesWithItsSession(t *testing.T) {
	e := newEnv(t)
	a, _ := e.browser()
	sa := e.apiLogin(t, a, "alice")
	e.clock.Advance(time.Second)
	b, _ := e.browser()
	sb := e.apiLogin(t, b, "alice")
	tokA := clientToken(t, a, map[string]string{"X-CSRF-Token": sa.CSRFToken})
	tokB := clientToken(t, b, map[string]string{"X-CSRF-Token": sb.CSRFToken})

	r := do(t, a, req{url: hub + "/api/sessions"})
	expectStatus(t, r, http.StatusOK)
	var list struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		}
	}
	r.json(t, &list)
	if len(list.Sessions) != 2 || !list.Sessions[0].Current {
		t.Fatalf("sessions = %+v, want A (current) then B", list.Sessions)
	}
	idA, idB := list.Sessions[0].ID, list.Sessions[1].ID
	for _, tc := range []struct{ tok, sid string }{{tokA, idA}, {tokB, idB}} {
		c, err := e.tokens.Verify(tc.tok, e.clock.Now())
		if err != nil || c.SessionID != tc.sid || c.KeyHash != "" {
			t.Fatalf("client token of session %s: %+v, %v; want that sid and no key", tc.sid, c, err)
		}
	}
	for name, tok := range map[string]string{"A": tokA, "B": tokB} {
		if r := e.nginxAuth(t, "", bearer(tok)); r.StatusCode != http.StatusOK || r.Header.Get("X-Auth-User") != "alice" {
			t.Fatalf("/auth with %s's token = %d, want 200 alice", name, r.StatusCode)
		}
		expectStatus(t, do(t, e.client(), req{url: hub + "/api/keys", headers: bearer(tok)}), http.StatusOK)
	}

	// B revoked from A: B's token is refused, A's still works.
	expectStatus(t, do(t, a, req{method: "DELETE", url: hub + "/api/sessions/" + idB, headers: map[string]string{"X-CSRF-Token": sa.CSRFToken}}), http.StatusNoContent)
	expectStatus(t, e.nginxAuth(t, "", bearer(tokB)), http.StatusUnauthorized)
	expectStatus(t, do(t, e.client(), req{url: hub + "/api/keys", headers: bearer(tokB)}), http.StatusUnauthorized)
	expectStatus(t, e.nginxAuth(t, "", bearer(tokA)), http.StatusOK)

	// A logs out: A's token is refused, within its exp.
	expectStatus(t, do(t, a, req{method: "DELETE", url: hub + "/api/session", headers: map[string]string{"X-CSRF-Token": sa.CSRFToken}}), http.StatusNoContent)
	expectStatus(t, e.nginxAuth(t, "", bearer(tokA)), http.StatusUnauthorized)
	expectStatus(t, do(t, e.client(), req{url: hub + "/api/keys", headers: bearer(tokA)}), http.StatusUnauthorized)
}

// A client token minted with an API key names the key's hash and is refused
// as soon as the key is deleted.
func TestClientTokenDiesWithItsKey(t *testing.T) {
	e := newEnv(t)
	c, _ := e.browser()
	s := e.apiLogin(t, c, "alice")
	csrf := map[string]string{"X-CSRF-Token": s.CSRFToken}
	r := do(t, c, req{method: "POST", url: hub + "/api/keys", body: `{"name":"ci"}`, headers: csrf})
	expectStatus(t, r, http.StatusCreated)
	var k struct{ ID, Key string }
	r.json(t, &k)

	for name, h := range map[string]map[string]string{"X-API-Key": {"X-API-Key": k.Key}, "Bearer": bearer(k.Key)} {
		tok := clientToken(t, e.client(), h)
		claims, err := e.tokens.Verify(tok, e.clock.Now())
		if err != nil || claims.KeyHash != apikey.Hash(k.Key) || claims.SessionID != "" {
			t.Fatalf("token of the key (%s): %+v, %v; want key %s and no sid", name, claims, err, apikey.Hash(k.Key))
		}
	}
	tok := clientToken(t, e.client(), map[string]string{"X-API-Key": k.Key})
	expectStatus(t, e.nginxAuth(t, "", bearer(tok)), http.StatusOK)

	expectStatus(t, do(t, c, req{method: "DELETE", url: hub + "/api/keys/" + k.ID, headers: csrf}), http.StatusNoContent)
	expectStatus(t, e.nginxAuth(t, "", bearer(tok)), http.StatusUnauthorized)
	expectStatus(t, do(t, e.client(), req{url: hub + "/api/keys", headers: bearer(tok)}), http.StatusUnauthorized)
	// The session the key was made with lives on: only the key's tokens die.
	expectStatus(t, e.nginxAuth(t, "", bearer(clientToken(t, c, csrf))), http.StatusOK)
}

// harnessSecret is the secret newEnv derives its signing key from.
const harnessSecret = "0123456789abcdef0123456789abcdef"

// A JWT of sso's first shape (typ JWT, no token_use, no sid or key), signed
// with the right key and naming a logged-in user, is refused everywhere.
func TestOldShapeTokenIsRefused(t *testing.T) {
	e := newEnv(t)
	c, _ := e.browser()
	e.apiLogin(t, c, "alice")
	key := token.DeriveKeys([][]byte{[]byte(harnessSecret)})[0]
	if kid := token.KeyID(key.Public().(ed25519.PublicKey)); kid != e.tokens.KeyID() {
		t.Fatalf("harnessSecret no longer is newEnv's secret: kid %s, want %s", kid, e.tokens.KeyID())
	}
	now := e.clock.Now()
	old := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": hub, "aud": "example.test", "sub": "alice", "email": "alice@example.test", "jti": "x",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	})
	old.Header["kid"] = e.tokens.KeyID()
	tok, err := old.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	expectStatus(t, e.nginxAuth(t, "", bearer(tok)), http.StatusUnauthorized)
	expectStatus(t, do(t, e.client(), req{url: hub + "/api/keys", headers: bearer(tok)}), http.StatusUnauthorized)
	expectStatus(t, do(t, e.client(), req{method: "POST", url: hub + "/api/token", headers: bearer(tok)}), http.StatusUnauthorized)
}
