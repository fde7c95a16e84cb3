package authz_test

import (
	"context"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/sso/apikey"
	"github.com/example/sso/session"
	"github.com/example/sso/token"
	"github.com/example/sso/users"
)

// upstreamTokenOf asks /auth, as nginx would for originalURL, with a cookie
// and returns the X-Auth-Token it hands the upstream.
func (f *fixture) upstreamTokenOf(t *testing.T, value, originalURL string) string {
	t.Helper()
	w := f.serve(forUpstream(withCookie(authRequest("/auth"), value), originalURL))
	if w.Code != http.StatusOK {
		t.Fatalf("/auth for %s = %d, want 200; body %s", originalURL, w.Code, w.Body)
	}
	tok := w.Header().Get("X-Auth-Token")
	if tok == "" {
		t.Fatalf("/auth for %s: no X-Auth-Token", originalURL)
	}
	return tok
}

// The X-Auth-Token an upstream receives is no credential for sso: not for
// /auth whatever upstream the request is for, not with the cookie domain as
// audience either. Anything that logs its request headers holds no key to
// its siblings (THREATS.md, "The upstream that logs headers").
func TestUpstreamTokenIsNoCredential(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.upstreamTokenOf(t, f.login(t, "alice"), "https://app.example.test/")
	c, err := f.tokens.VerifyUpstream(tok, "https://app.example.test", f.clock.Now())
	if err != nil || c.Audience != "https://app.example.test" {
		t.Fatalf("VerifyUpstream(X-Auth-Token, app origin) = %+v, %v; want aud https://app.example.test", c, err)
	}
	if _, err := f.tokens.Verify(tok, f.clock.Now()); err == nil {
		t.Error("token.Verify accepts the upstream token as a client token")
	}
	for _, original := range []string{"", "https://app.example.test/", "https://app.example.test/orders?id=7", "https://api.example.test/v1"} {
		for _, peer := range []string{trustedIP, strangerIP} {
			r := bearerRequest(tok)
			r.RemoteAddr = peer
			if original != "" && peer == trustedIP {
				// X-Original-* from anyone else is a 500 before any
				// credential is looked at (TestUntrustedOriginalHeadersFailClosed).
				forUpstream(r, original)
			}
			w := f.serve(r)
			if w.Code != http.StatusUnauthorized {
				t.Errorf("/auth with the upstream token as Bearer, X-Original-URL %q from %s = %d, want 401", original, peer, w.Code)
			}
			if u := w.Header().Get("X-Auth-User"); u != "" {
				t.Errorf("/auth with the upstream token: X-Auth-User %q", u)
			}
		}
	}
	// Nor as X-API-Key, nor after a valid credential failed before it.
	r := authRequest("/auth")
	r.Header.Set("X-API-Key", tok)
	if w := f.serve(r); w.Code != http.StatusUnauthorized {
		t.Errorf("/auth with the upstream token as X-API-Key = %d, want 401", w.Code)
	}
	if _, err := f.auth.Authenticate(context.Background(), bearerRequest(tok)); err == nil {
		t.Error("Authenticate accepts the upstream token")
	}

	// An upstream token whose audience is sso's own (what a naive "aud is
	// ours" check would take) is refused just the same.
	u, _ := directory(t).Lookup("alice")
	here, err := f.tokens.IssueUpstream(token.Claims{Subject: "alice", Email: u.Email, Groups: u.Groups}, "example.test", f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if w := f.serve(bearerRequest(here)); w.Code != http.StatusUnauthorized {
		t.Errorf("/auth with an upstream token for aud example.test = %d, want 401", w.Code)
	}
}

// The upstream token's audience is the origin of the trusted X-Original-URL,
// canonical; without one there is no upstream to bind to, and no token.
func TestUpstreamTokenAudience(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.login(t, "alice")
	key := f.apiKey(t, "alice")
	tests := []struct {
		name     string
		peer     string
		original string
		want     string // "" for no X-Auth-Token
	}{
		{"https", trustedIP, "https://app.example.test/orders?id=7", "https://app.example.test"},
		{"upper case", trustedIP, "HTTPS://App.Example.TEST/Orders", "https://app.example.test"},
		{"default port", trustedIP, "https://app.example.test:443/", "https://app.example.test"},
		{"other port", trustedIP, "https://app.example.test:8443/x", "https://app.example.test:8443"},
		{"http", trustedIP, "http://app.example.test/", "http://app.example.test"},
		{"http default port", trustedIP, "http://app.example.test:80/", "http://app.example.test"},
		{"http on 443", trustedIP, "http://app.example.test:443/", "http://app.example.test:443"},
		{"idna", trustedIP, "https://bücher.example.test/", "https://xn--bcher-kva.example.test"},
		{"ipv6", trustedIP, "https://[::1]:8443/", "https://[::1]:8443"},
		{"ipv4", trustedIP, "http://127.0.0.1:8080/", "http://127.0.0.1:8080"},
		{"no X-Original-URL", trustedIP, "", ""},
		{"not a URL", trustedIP, "::not a url", ""},
		{"relative", trustedIP, "/orders", ""},
		{"no scheme", trustedIP, "//app.example.test/", ""},
		{"ftp", trustedIP, "ftp://app.example.test/", ""},
		{"javascript", trustedIP, "javascript:alert(1)", ""},
		{"userinfo", trustedIP, "https://user@app.example.test/", ""},
		{"empty host", trustedIP, "https:///x", ""},
		{"bad port", trustedIP, "https://app.example.test:0/", ""},
		{"trailing dot", trustedIP, "https://app.example.test./", ""},
		{"underscore", trustedIP, "https://my_app.example.test/", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for cred, r := range map[string]*http.Request{
				"cookie":  withCookie(authRequest("/auth"), alice),
				"api key": apiKeyRequest(key),
			} {
				r.RemoteAddr = tc.peer
				if tc.original != "" {
					forUpstream(r, tc.original)
				}
				w := f.serve(r)
				if w.Code != http.StatusOK || w.Header().Get("X-Auth-User") != "alice" {
					t.Fatalf("%s: /auth = %d, X-Auth-User %q; want 200 alice", cred, w.Code, w.Header().Get("X-Auth-User"))
				}
				tok := w.Header().Get("X-Auth-Token")
				if tc.want == "" {
					if tok != "" {
						t.Errorf("%s: X-Auth-Token %q, want none", cred, tok)
					}
					continue
				}
				c, err := f.tokens.VerifyUpstream(tok, tc.want, f.clock.Now())
				if err != nil || c.Audience != tc.want || c.Subject != "alice" {
					t.Errorf("%s: VerifyUpstream(X-Auth-Token, %q) = %+v, %v", cred, tc.want, c, err)
				}
			}
		})
	}
}

// Two upstreams get two tokens for one session, each good only at its own
// origin; the cache never hands one upstream's token to another.
func TestUpstreamTokenPerOrigin(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.login(t, "alice")
	key := f.apiKey(t, "alice")
	const app, api = "https://app.example.test", "https://api.example.test"
	now := f.clock.Now()

	forApp := f.upstreamTokenOf(t, alice, app+"/page")
	forAPI := f.upstreamTokenOf(t, alice, api+"/v1/items")
	if forApp == forAPI {
		t.Fatal("app and api got the same token")
	}
	for _, tc := range []struct{ tok, aud, other string }{{forApp, app, api}, {forAPI, api, app}} {
		if _, err := f.tokens.VerifyUpstream(tc.tok, tc.aud, now); err != nil {
			t.Errorf("token for %s does not verify there: %v", tc.aud, err)
		}
		if _, err := f.tokens.VerifyUpstream(tc.tok, tc.other, now); err == nil {
			t.Errorf("token for %s verifies at %s", tc.aud, tc.other)
		}
	}
	// Cached per origin: asked again, each upstream gets its own back.
	if got := f.upstreamTokenOf(t, alice, app+"/other"); got != forApp {
		t.Error("second request for app: a different token, want the cached one")
	}
	if got := f.upstreamTokenOf(t, alice, api+"/"); got != forAPI {
		t.Error("second request for api: a different token, want the cached one")
	}
	// An API key's tokens are per origin too.
	keyToken := func(original string) string {
		t.Helper()
		w := f.serve(forUpstream(apiKeyRequest(key), original))
		if w.Code != http.StatusOK {
			t.Fatalf("/auth with a key for %s = %d", original, w.Code)
		}
		return w.Header().Get("X-Auth-Token")
	}
	kApp, kAPI := keyToken(app+"/"), keyToken(api+"/")
	if _, err := f.tokens.VerifyUpstream(kApp, app, now); err != nil {
		t.Errorf("key's token for app: %v", err)
	}
	if _, err := f.tokens.VerifyUpstream(kAPI, api, now); err != nil {
		t.Errorf("key's token for api: %v", err)
	}
	if _, err := f.tokens.VerifyUpstream(kApp, api, now); err == nil {
		t.Error("key's token for app verifies at api")
	}
}

// A client token (POST /api/token) dies with the session or API key it was
// minted from, not only at its exp.
func TestClientTokenDiesWithItsSource(t *testing.T) {
	status := func(f *fixture, tok string) int {
		t.Helper()
		return f.serve(forUpstream(bearerRequest(tok), upstreamURL)).Code
	}
	t.Run("session logged out", func(t *testing.T) {
		f := newFixture(t, nil)
		sid := f.sessionID(t, f.login(t, "alice"))
		tok := f.jwtFor(t, "alice", token.Claims{SessionID: sid})
		if got := status(f, tok); got != http.StatusOK {
			t.Fatalf("/auth with a live session's token = %d, want 200", got)
		}
		if err := f.store.Delete(context.Background(), sid); err != nil {
			t.Fatal(err)
		}
		if got := status(f, tok); got != http.StatusUnauthorized {
			t.Errorf("/auth with the token after its session was deleted = %d, want 401", got)
		}
	})
	t.Run("session revoked with the user's others", func(t *testing.T) {
		f := newFixture(t, nil)
		keep := f.sessionID(t, f.login(t, "alice"))
		tok := f.jwt(t, "alice")
		if _, err := f.store.DeleteUser(context.Background(), "alice", keep); err != nil {
			t.Fatal(err)
		}
		if got := status(f, tok); got != http.StatusUnauthorized {
			t.Errorf("/auth after DeleteUser = %d, want 401", got)
		}
	})
	t.Run("session idle", func(t *testing.T) {
		f := newFixture(t, nil)
		sid := f.sessionID(t, f.login(t, "alice")) // Idle 1h
		f.clock.Advance(59 * time.Minute)
		if got := status(f, f.jwtFor(t, "alice", token.Claims{SessionID: sid})); got != http.StatusOK {
			t.Fatalf("/auth with a token of a session idle 59m = %d, want 200", got)
		}
		// That use did not slide the session's idle deadline: a token does
		// not keep its source alive.
		f.clock.Advance(time.Minute)
		if got := status(f, f.jwtFor(t, "alice", token.Claims{SessionID: sid})); got != http.StatusUnauthorized {
			t.Errorf("/auth with a fresh token of a session idle 1h = %d, want 401", got)
		}
	})
	t.Run("another user's session", func(t *testing.T) {
		f := newFixture(t, nil)
		bobs := f.sessionID(t, f.login(t, "bob"))
		if got := status(f, f.jwtFor(t, "alice", token.Claims{SessionID: bobs})); got != http.StatusUnauthorized {
			t.Errorf("/auth with alice's token naming bob's session = %d, want 401", got)
		}
	})
	t.Run("unknown session", func(t *testing.T) {
		f := newFixture(t, nil)
		if got := status(f, f.jwtFor(t, "alice", token.Claims{SessionID: "0000"})); got != http.StatusUnauthorized {
			t.Errorf("/auth with a token of no session = %d, want 401", got)
		}
	})
	t.Run("key deleted", func(t *testing.T) {
		f := newFixture(t, nil)
		key := f.apiKey(t, "alice")
		tok := f.jwtFor(t, "alice", token.Claims{KeyHash: apikey.Hash(key)})
		if got := status(f, tok); got != http.StatusOK {
			t.Fatalf("/auth with a live key's token = %d, want 200", got)
		}
		if err := f.store.DeleteKey(context.Background(), "alice", apikey.ID(key)); err != nil {
			t.Fatal(err)
		}
		if got := status(f, tok); got != http.StatusUnauthorized {
			t.Errorf("/auth with the token after its key was deleted = %d, want 401", got)
		}
	})
	t.Run("key expired", func(t *testing.T) {
		f := newFixture(t, nil)
		_, id, hash, err := apikey.Generate()
		if err != nil {
			t.Fatal(err)
		}
		exp := f.clock.Now().Add(2 * time.Minute)
		if err := f.store.CreateKey(context.Background(), &session.APIKey{ID: id, Hash: hash, User: "alice", Name: "t", CreatedAt: f.clock.Now(), ExpiresAt: exp}); err != nil {
			t.Fatal(err)
		}
		tok := f.jwtFor(t, "alice", token.Claims{KeyHash: hash})
		if got := status(f, tok); got != http.StatusOK {
			t.Fatalf("/auth with a live key's token = %d, want 200", got)
		}
		f.clock.Advance(2 * time.Minute) // the key is gone, the token has 3 minutes left
		if got := status(f, tok); got != http.StatusUnauthorized {
			t.Errorf("/auth with the token of an expired key = %d, want 401", got)
		}
	})
	t.Run("another user's key", func(t *testing.T) {
		f := newFixture(t, nil)
		bobs := f.apiKey(t, "bob")
		if got := status(f, f.jwtFor(t, "alice", token.Claims{KeyHash: apikey.Hash(bobs)})); got != http.StatusUnauthorized {
			t.Errorf("/auth with alice's token naming bob's key = %d, want 401", got)
		}
	})
}

// A client token must be typed (typ sso-access+jwt, token_use access) and
// name its source: sso's first, untyped tokens and tokens naming neither a
// session nor a key are refused, even signed with our key and with a live
// session.
func TestAuthRefusesUntypedOrSourcelessTokens(t *testing.T) {
	f := newFixture(t, nil)
	status := func(tok string) int {
		t.Helper()
		return f.serve(forUpstream(bearerRequest(tok), upstreamURL)).Code
	}
	sid := f.sessionID(t, f.login(t, "alice"))
	// What /api/token issued before tokens were typed: typ JWT, no
	// token_use, no source.
	if got := status(f.signByHand(t, "JWT", handMadeClaims(f, "alice"))); got != http.StatusUnauthorized {
		t.Errorf("/auth with an untyped token = %d, want 401", got)
	}
	c := handMadeClaims(f, "alice")
	c["sid"] = sid
	if got := status(f.signByHand(t, "JWT", c)); got != http.StatusUnauthorized {
		t.Errorf("/auth with an untyped token naming a live session = %d, want 401", got)
	}
	c = handMadeClaims(f, "alice")
	c["token_use"] = token.UseAccess
	if got := status(f.signByHand(t, token.TypeAccess, c)); got != http.StatusUnauthorized {
		t.Errorf("/auth with an access token naming neither sid nor key = %d, want 401", got)
	}
	// The same claims typed properly and naming the session pass: the
	// refusals above are for the shape, not for a slip in the hand-made
	// token.
	c["sid"] = sid
	if got := status(f.signByHand(t, token.TypeAccess, c)); got != http.StatusOK {
		t.Errorf("/auth with the hand-made token typed properly = %d, want 200", got)
	}
}

// handMadeClaims are the claims of sso's first, untyped tokens.
func handMadeClaims(f *fixture, user string) jwt.MapClaims {
	now := f.clock.Now()
	return jwt.MapClaims{
		"iss": loginURL, "aud": "example.test", "sub": user, "jti": "x",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
}

// signByHand signs c with the fixture's signing key, with header typ.
func (f *fixture) signByHand(t *testing.T, typ string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"], tok.Header["typ"] = f.tokens.KeyID(), typ
	s, err := tok.SignedString(token.DeriveKeys(f.keys)[0])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// swapUsers is a users file whose content the test replaces, as a reload
// does.
type swapUsers struct {
	d atomic.Pointer[users.Directory]
}

func (s *swapUsers) Lookup(name string) (users.User, bool) { return s.d.Load().Lookup(name) }

// A user taken out of a group loses it in the upstream token at once: the
// cached X-Auth-Token is keyed by the identity it states (found by an
// outside review: the cached token kept "admins" for half its lifetime).
func TestUpstreamTokenFollowsGroupChanges(t *testing.T) {
	f := newFixture(t, nil)
	su := &swapUsers{}
	su.d.Store(directory(t))
	f.auth.Users = su
	alice := f.login(t, "alice")
	const orig = "https://api.example.test/x"
	groupsOf := func(tok string) []string {
		c, err := f.tokens.VerifyUpstream(tok, "https://api.example.test", f.clock.Now())
		if err != nil {
			t.Fatalf("VerifyUpstream: %v", err)
		}
		return c.Groups
	}
	if g := groupsOf(f.upstreamTokenOf(t, alice, orig)); !slices.Contains(g, "admins") {
		t.Fatalf("groups in the first token = %v, want admins", g)
	}
	hash, err := users.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	d, err := users.New([]users.User{{Name: "alice", Email: "alice@example.test"}, {Name: "bob"}}, map[string]string{"alice": hash, "bob": hash})
	if err != nil {
		t.Fatal(err)
	}
	su.d.Store(d)
	w := f.serve(forUpstream(withCookie(authRequest("/auth"), alice), orig))
	if w.Code != http.StatusOK || w.Header().Get("X-Auth-Groups") != "" {
		t.Fatalf("/auth after the change = %d, X-Auth-Groups %q; want 200 and none", w.Code, w.Header().Get("X-Auth-Groups"))
	}
	if g := groupsOf(w.Header().Get("X-Auth-Token")); len(g) != 0 {
		t.Errorf("groups in the token after the change = %v, want none", g)
	}
}
