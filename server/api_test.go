package server_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/example/sso/cors"
	"github.com/example/sso/server"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// hasCookie reports whether cs has name with value (any value when "").
func hasCookie(cs []*http.Cookie, name, value string) bool {
	for _, c := range cs {
		if c.Name == name && (value == "" || c.Value == value) {
			return true
		}
	}
	return false
}

// checkClearing checks that r clears the session cookie both at the parent
// domain and host-only, as the contract asks.
func checkClearing(t *testing.T, r *response) {
	t.Helper()
	var parent, hostOnly bool
	for _, c := range r.Cookies() {
		if c.Name != cookieName {
			continue
		}
		if c.MaxAge >= 0 || c.Value != "" || c.Path != "/" {
			t.Errorf("clearing cookie %q: want empty value, Path=/ and Max-Age=0", c.String())
		}
		switch c.Domain {
		case "example.test":
			parent = true
		case "":
			hostOnly = true
		default:
			t.Errorf("clearing cookie with Domain %q", c.Domain)
		}
	}
	if !parent || !hostOnly {
		t.Errorf("Set-Cookie %q: want clearing cookies for Domain=example.test (%v) and host-only (%v)", r.Header.Values("Set-Cookie"), parent, hostOnly)
	}
}

func TestAPISessionCreate(t *testing.T) {
	e := newEnv(t)
	c, jar := e.browser()
	r := do(t, c, req{method: "POST", url: hub + "/api/session", body: `{"username":"alice","password":"` + password + `"}`})
	expectStatus(t, r, http.StatusCreated)

	// The exact shape of the contract.
	var raw map[string]map[string]any
	var top map[string]json.RawMessage
	r.json(t, &top)
	if len(top) != 3 || top["user"] == nil || top["session"] == nil || top["csrf_token"] == nil {
		t.Fatalf("body keys %v, want user, session, csrf_token", keys(top))
	}
	delete(top, "csrf_token")
	b, _ := json.Marshal(top)
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if got := keys(raw["user"]); got != "email,groups,name" {
		t.Errorf("user keys = %s, want email,groups,name", got)
	}
	if got := keys(raw["session"]); got != "expires_at,name,value" {
		t.Errorf("session keys = %s, want expires_at,name,value", got)
	}
	var body sessionBody
	r.json(t, &body)
	if body.User.Name != "alice" || body.User.Email != "alice@example.test" || strings.Join(body.User.Groups, ",") != "admins,dev" {
		t.Errorf("user = %+v, want alice", body.User)
	}
	if body.Session.Name != cookieName || body.CSRFToken == "" {
		t.Errorf("session name %q, csrf_token %q", body.Session.Name, body.CSRFToken)
	}
	exp, err := time.Parse(time.RFC3339, body.Session.ExpiresAt)
	if err != nil {
		t.Errorf("expires_at %q is not RFC 3339: %v", body.Session.ExpiresAt, err)
	} else if want := e.clock.Now().Add(24 * time.Hour); !exp.Equal(want) {
		t.Errorf("expires_at = %v, want %v", exp, want)
	}
	ck := r.setCookie(t, cookieName)
	if ck.Value != body.Session.Value {
		t.Errorf("Set-Cookie value %q differs from session.value %q", ck.Value, body.Session.Value)
	}
	if ck.Domain != "example.test" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
		t.Errorf("Set-Cookie = %q, want Domain=example.test; HttpOnly; SameSite=Lax", ck.String())
	}
	if !hasCookie(jar.Cookies(mustURL(t, "http://api.example.test/")), cookieName, ck.Value) {
		t.Error("the jar does not send the API session cookie to api.example.test")
	}

	// The value works from another process: a client without a jar.
	if code, user := e.authWithCookie(t, body.Session.Value); code != http.StatusOK || user != "alice" {
		t.Errorf("/auth with the value from another client = %d %q, want 200 alice", code, user)
	}

	// GET /api/session: the same shape without the value.
	g := do(t, e.client(), req{url: "http://api.example.test/api/session", headers: map[string]string{"Cookie": cookieName + "=" + body.Session.Value}})
	expectStatus(t, g, http.StatusOK)
	var gb sessionBody
	g.json(t, &gb)
	if gb.User.Name != "alice" || gb.Session.Name != cookieName || gb.Session.Value != "" || gb.CSRFToken != body.CSRFToken || gb.Session.ExpiresAt != body.Session.ExpiresAt {
		t.Errorf("GET /api/session = %s, want alice, no value, same csrf_token and expires_at", g.body)
	}
	if strings.Contains(string(g.body), `"value"`) {
		t.Errorf("GET /api/session shows the cookie value: %s", g.body)
	}
	g = do(t, e.client(), req{url: hub + "/api/session"})
	expectStatus(t, g, http.StatusUnauthorized)
}

func keys[V any](m map[string]V) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	// Small maps: insertion sort keeps this free of imports.
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return strings.Join(ks, ",")
}

func TestAPISessionCreateRefusals(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, body, ctype string
		want              int
		wantErr           string
	}{
		{"wrong password", `{"username":"alice","password":"nope"}`, "", 401, "invalid_credentials"},
		{"unknown user", `{"username":"zed","password":"` + password + `"}`, "", 401, "invalid_credentials"},
		{"empty", `{}`, "", 400, "bad_request"},
		{"not json", `username=alice`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
		{"unknown field", `{"username":"alice","password":"x","admin":true}`, "", 400, "bad_request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: tc.body, ctype: tc.ctype})
			expectStatus(t, r, tc.want)
			var b struct{ Error, Message string }
			r.json(t, &b)
			if b.Error != tc.wantErr || b.Message == "" {
				t.Errorf("body %s, want error %q and a message", r.body, tc.wantErr)
			}
			if len(r.Cookies()) != 0 {
				t.Errorf("refused login sets %q", r.Header.Values("Set-Cookie"))
			}
		})
	}
}

func TestAPISessionDelete(t *testing.T) {
	e := newEnv(t)
	c, jar := e.browser()
	s := e.apiLogin(t, c, "alice")

	r := do(t, c, req{method: "DELETE", url: hub + "/api/session"})
	expectStatus(t, r, http.StatusForbidden)
	if code, _ := e.authWithCookie(t, s.Session.Value); code != http.StatusOK {
		t.Fatalf("/auth after a DELETE without token = %d, want 200", code)
	}
	r = do(t, c, req{method: "DELETE", url: hub + "/api/session", headers: map[string]string{"X-CSRF-Token": "wrong"}})
	expectStatus(t, r, http.StatusForbidden)

	r = do(t, c, req{method: "DELETE", url: hub + "/api/session", headers: map[string]string{"X-CSRF-Token": s.CSRFToken}})
	expectStatus(t, r, http.StatusNoContent)
	checkClearing(t, r)
	if code, _ := e.authWithCookie(t, s.Session.Value); code != http.StatusUnauthorized {
		t.Errorf("/auth after logout = %d, want 401", code)
	}
	if hasCookie(jar.Cookies(mustURL(t, "http://api.example.test/")), cookieName, "") {
		t.Error("the jar still holds the session cookie after logout")
	}
	// Logging out again is fine.
	r = do(t, c, req{method: "DELETE", url: hub + "/api/session"})
	expectStatus(t, r, http.StatusNoContent)
}

// firstPartyApp lists the app (over http and https) in SSO_LOGIN_ORIGINS:
// its pages may use the hub's API with the session cookie.
func firstPartyApp(t *testing.T) envOption {
	return func(o *server.Options) {
		p, err := cors.New(cors.Config{Origins: []string{appOrigin, "https://app.example.test"}})
		if err != nil {
			t.Fatal(err)
		}
		o.LoginOrigins = p
	}
}

func TestAPICrossOrigin(t *testing.T) {
	e := newEnv(t, firstPartyApp(t))
	c, _ := e.browser()
	s := e.apiLogin(t, c, "alice")
	for _, origin := range []string{"https://evil.net", "null", "https://example.test.evil.net", "http://evilexample.test", "http://blog.example.test"} {
		h := map[string]string{"X-CSRF-Token": s.CSRFToken, "Origin": origin}
		for _, q := range []req{
			{method: "POST", url: "http://api.example.test/api/keys", body: `{"name":"x"}`, headers: h},
			{method: "DELETE", url: hub + "/api/session", headers: h},
			{method: "DELETE", url: hub + "/api/sessions", headers: h},
			{method: "POST", url: hub + "/api/token", headers: h},
			{method: "POST", url: hub + "/api/session", body: `{"username":"alice","password":"` + password + `"}`, headers: h},
		} {
			r := do(t, c, q)
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s from %s = %d, want 403", q.method, q.url, origin, r.StatusCode)
			}
			if v := r.Header.Values("Access-Control-Allow-Origin"); len(v) != 0 {
				t.Errorf("%s %s from %s: Access-Control-Allow-Origin %q", q.method, q.url, origin, v)
			}
			if len(r.Cookies()) != 0 {
				t.Errorf("%s %s from %s sets cookies %q", q.method, q.url, origin, r.Header.Values("Set-Cookie"))
			}
		}
	}
	// Nothing changed.
	if code, _ := e.authWithCookie(t, s.Session.Value); code != http.StatusOK {
		t.Fatalf("/auth after refused cross-origin requests = %d, want 200", code)
	}
	l := do(t, c, req{url: hub + "/api/keys"})
	expectStatus(t, l, http.StatusOK)
	if strings.Contains(string(l.body), `"id"`) {
		t.Errorf("a refused cross-origin POST created a key: %s", l.body)
	}
	sl := do(t, c, req{url: hub + "/api/sessions"})
	var list struct{ Sessions []map[string]any }
	sl.json(t, &list)
	if len(list.Sessions) != 1 {
		t.Errorf("%d sessions after refused cross-origin logins, want 1", len(list.Sessions))
	}

	// From an allowed origin, with the token: done, with exact CORS headers.
	h := map[string]string{"X-CSRF-Token": s.CSRFToken, "Origin": appOrigin}
	r := do(t, c, req{method: "POST", url: "http://api.example.test/api/keys", body: `{"name":"spa"}`, headers: h})
	expectStatus(t, r, http.StatusCreated)
	checkACAO(t, r, appOrigin)
	// Without the token, even from an allowed origin: refused, decorated.
	r = do(t, c, req{method: "POST", url: "http://api.example.test/api/keys", body: `{"name":"spa"}`, headers: map[string]string{"Origin": appOrigin}})
	expectStatus(t, r, http.StatusForbidden)
	checkACAO(t, r, appOrigin)
	r = do(t, c, req{method: "DELETE", url: hub + "/api/session", headers: h})
	expectStatus(t, r, http.StatusNoContent)
	checkACAO(t, r, appOrigin)
}

func checkACAO(t *testing.T, r *response, origin string) {
	t.Helper()
	if v := r.Header.Values("Access-Control-Allow-Origin"); len(v) != 1 || v[0] != origin {
		t.Errorf("%s %s: Access-Control-Allow-Origin = %q, want [%q]", r.Request.Method, r.Request.URL, v, origin)
	}
	if v := r.Header.Get("Access-Control-Allow-Credentials"); v != "true" {
		t.Errorf("%s %s: Access-Control-Allow-Credentials = %q, want true", r.Request.Method, r.Request.URL, v)
	}
	if !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
		t.Errorf("%s %s: Vary = %q, want Origin", r.Request.Method, r.Request.URL, r.Header.Values("Vary"))
	}
}

func TestAPIPreflight(t *testing.T) {
	e := newEnv(t, firstPartyApp(t))
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{appOrigin, 204},
		{"https://app.example.test", 204},
		{hub, 204},
		// Allowed by SSO_CORS_ORIGINS (for the APIs behind /auth) but not
		// listed in SSO_LOGIN_ORIGINS: not for the hub's own API.
		{"http://blog.example.test", 403},
		{"https://evil.net", 403},
		{"null", 403},
		{"https://example.test.evil.net", 403},
	} {
		for _, path := range []string{"/api/session", "/api/keys", "/api/sessions/abc"} {
			r := do(t, e.client(), req{method: "OPTIONS", url: "http://api.example.test" + path, headers: map[string]string{
				"Origin": tc.origin, "Access-Control-Request-Method": "DELETE", "Access-Control-Request-Headers": "x-csrf-token",
			}})
			if r.StatusCode != tc.want {
				t.Errorf("OPTIONS %s from %s = %d, want %d", path, tc.origin, r.StatusCode, tc.want)
			}
			if tc.want == 204 {
				checkACAO(t, r, tc.origin)
			} else {
				for k := range r.Header {
					if strings.HasPrefix(k, "Access-Control-Allow-") {
						t.Errorf("refused preflight %s from %s carries %s", path, tc.origin, k)
					}
				}
			}
			if len(r.Cookies()) != 0 {
				t.Errorf("preflight sets cookies %q", r.Header.Values("Set-Cookie"))
			}
		}
	}
}

func TestAPISessions(t *testing.T) {
	e := newEnv(t)
	a, _ := e.browser()
	b, _ := e.browser()
	bobC, _ := e.browser()
	sa := e.apiLogin(t, a, "alice")
	e.clock.Advance(time.Second)
	sb := e.apiLogin(t, b, "alice")
	sbob := e.apiLogin(t, bobC, "bob")
	csrfA := map[string]string{"X-CSRF-Token": sa.CSRFToken}

	type info struct {
		ID      string `json:"id"`
		Current bool   `json:"current"`
		IP      string `json:"ip"`
	}
	list := func(c *http.Client) []info {
		t.Helper()
		r := do(t, c, req{url: hub + "/api/sessions"})
		expectStatus(t, r, http.StatusOK)
		var out struct{ Sessions []info }
		r.json(t, &out)
		return out.Sessions
	}
	la := list(a)
	if len(la) != 2 || !la[0].Current || la[1].Current {
		t.Fatalf("alice's sessions from A = %+v, want 2, the first (A, oldest) current", la)
	}
	if la[0].IP == "" {
		t.Errorf("session list shows no IP: %+v", la[0])
	}
	bobID := list(bobC)[0].ID

	r := do(t, a, req{method: "DELETE", url: hub + "/api/sessions/" + bobID, headers: csrfA})
	expectStatus(t, r, http.StatusNotFound)
	if code, _ := e.authWithCookie(t, sbob.Session.Value); code != http.StatusOK {
		t.Errorf("bob's session after alice tried to revoke it = %d, want 200", code)
	}
	r = do(t, a, req{method: "DELETE", url: hub + "/api/sessions/nonexistent", headers: csrfA})
	expectStatus(t, r, http.StatusNotFound)
	r = do(t, a, req{method: "DELETE", url: hub + "/api/sessions/" + la[1].ID})
	expectStatus(t, r, http.StatusForbidden) // no CSRF token
	if code, _ := e.authWithCookie(t, sb.Session.Value); code != http.StatusOK {
		t.Fatalf("B after a DELETE without token = %d, want 200", code)
	}
	r = do(t, a, req{method: "DELETE", url: hub + "/api/sessions/" + la[1].ID, headers: csrfA})
	expectStatus(t, r, http.StatusNoContent)
	if code, _ := e.authWithCookie(t, sb.Session.Value); code != http.StatusUnauthorized {
		t.Errorf("B after revocation = %d, want 401", code)
	}

	// Revoke all others: C goes, A stays, bob is untouched.
	cC, _ := e.browser()
	sc := e.apiLogin(t, cC, "alice")
	r = do(t, a, req{method: "DELETE", url: hub + "/api/sessions"})
	expectStatus(t, r, http.StatusForbidden)
	r = do(t, a, req{method: "DELETE", url: hub + "/api/sessions", headers: csrfA})
	expectStatus(t, r, http.StatusOK)
	var rev struct{ Revoked int }
	r.json(t, &rev)
	if rev.Revoked != 1 {
		t.Errorf("revoked = %d, want 1", rev.Revoked)
	}
	for _, tc := range []struct {
		name, value string
		want        int
	}{{"A", sa.Session.Value, 200}, {"C", sc.Session.Value, 401}, {"bob", sbob.Session.Value, 200}} {
		if code, _ := e.authWithCookie(t, tc.value); code != tc.want {
			t.Errorf("%s after DELETE /api/sessions = %d, want %d", tc.name, code, tc.want)
		}
	}
	// Revoking the current session clears its cookies.
	r = do(t, a, req{method: "DELETE", url: hub + "/api/sessions/" + la[0].ID, headers: csrfA})
	expectStatus(t, r, http.StatusNoContent)
	checkClearing(t, r)
}

func TestAPIKeys(t *testing.T) {
	e := newEnv(t)
	c, _ := e.browser()
	s := e.apiLogin(t, c, "alice")
	csrf := map[string]string{"X-CSRF-Token": s.CSRFToken}

	r := do(t, c, req{method: "POST", url: hub + "/api/keys", body: `{"name":"ci","expires_in":"720h"}`})
	expectStatus(t, r, http.StatusForbidden) // no CSRF token
	r = do(t, c, req{method: "POST", url: hub + "/api/keys", body: `{"name":"ci","expires_in":"720h"}`, headers: csrf})
	expectStatus(t, r, http.StatusCreated)
	var k struct {
		ID, Name, Key string
		ExpiresAt     *time.Time `json:"expires_at"`
	}
	r.json(t, &k)
	if !strings.HasPrefix(k.Key, "sso_") || k.ID == "" || k.Name != "ci" {
		t.Fatalf("created key = %s, want a sso_ key with id and name", r.body)
	}
	if k.ExpiresAt == nil || !k.ExpiresAt.Equal(e.clock.Now().Add(720*time.Hour)) {
		t.Errorf("expires_at = %v, want now+720h", k.ExpiresAt)
	}

	l := do(t, c, req{url: hub + "/api/keys"})
	expectStatus(t, l, http.StatusOK)
	if strings.Contains(string(l.body), k.Key) || strings.Contains(string(l.body), `"key"`) {
		t.Errorf("GET /api/keys shows the key: %s", l.body)
	}
	if !strings.Contains(string(l.body), k.ID) {
		t.Errorf("GET /api/keys = %s, want key id %s", l.body, k.ID)
	}

	for name, h := range map[string]map[string]string{
		"Bearer":    {"Authorization": "Bearer " + k.Key},
		"X-API-Key": {"X-API-Key": k.Key},
	} {
		a := do(t, e.client(), req{url: "http://api.example.test/auth", headers: h})
		expectStatus(t, a, http.StatusOK)
		if u := a.Header.Get("X-Auth-User"); u != "alice" {
			t.Errorf("/auth with the key as %s: X-Auth-User = %q, want alice", name, u)
		}
	}
	// A key authenticates the API too, without CSRF token.
	l = do(t, e.client(), req{url: hub + "/api/keys", headers: map[string]string{"Authorization": "Bearer " + k.Key}})
	expectStatus(t, l, http.StatusOK)

	// bob cannot delete alice's key.
	bob, _ := e.browser()
	sb := e.apiLogin(t, bob, "bob")
	r = do(t, bob, req{method: "DELETE", url: hub + "/api/keys/" + k.ID, headers: map[string]string{"X-CSRF-Token": sb.CSRFToken}})
	expectStatus(t, r, http.StatusNotFound)

	r = do(t, c, req{method: "DELETE", url: hub + "/api/keys/" + k.ID, headers: csrf})
	expectStatus(t, r, http.StatusNoContent)
	a := do(t, e.client(), req{url: "http://api.example.test/auth", headers: map[string]string{"X-API-Key": k.Key}})
	expectStatus(t, a, http.StatusUnauthorized)

	for _, body := range []string{`{"name":""}`, `{"name":"x","expires_in":"-1h"}`, `{"name":"x","expires_in":"9000h"}`, `{"name":"x","expires_in":"soon"}`} {
		r = do(t, c, req{method: "POST", url: hub + "/api/keys", body: body, headers: csrf})
		expectStatus(t, r, http.StatusBadRequest)
	}
}

func TestAPIToken(t *testing.T) {
	e := newEnv(t)
	c, _ := e.browser()
	s := e.apiLogin(t, c, "alice")

	r := do(t, c, req{method: "POST", url: hub + "/api/token"})
	expectStatus(t, r, http.StatusForbidden) // cookie without CSRF token
	r = do(t, c, req{method: "POST", url: hub + "/api/token", headers: map[string]string{"X-CSRF-Token": s.CSRFToken}})
	expectStatus(t, r, http.StatusOK)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
	}
	r.json(t, &tok)
	if tok.TokenType != "Bearer" || tok.ExpiresIn <= 0 || tok.AccessToken == "" {
		t.Fatalf("POST /api/token = %s", r.body)
	}

	// Verify against the published key set, as an upstream would.
	j := do(t, e.client(), req{url: "http://api.example.test/.well-known/jwks.json"})
	expectStatus(t, j, http.StatusOK)
	var set struct {
		Keys []struct{ Kty, Crv, X, Kid, Alg string }
	}
	j.json(t, &set)
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok.AccessToken, claims, func(tk *jwt.Token) (any, error) {
		for _, k := range set.Keys {
			if k.Kid == tk.Header["kid"] && k.Kty == "OKP" && k.Crv == "Ed25519" {
				b, err := base64.RawURLEncoding.DecodeString(k.X)
				if err != nil {
					return nil, err
				}
				return ed25519.PublicKey(b), nil
			}
		}
		return nil, jwt.ErrTokenUnverifiable
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithIssuer(hub), jwt.WithAudience("example.test"), jwt.WithExpirationRequired())
	if err != nil || !parsed.Valid {
		t.Fatalf("token does not verify against the JWKS: %v", err)
	}
	if claims["sub"] != "alice" {
		t.Errorf("sub = %v, want alice", claims["sub"])
	}

	// The token is a credential for /auth, and a key can fetch one too.
	a := do(t, e.client(), req{url: "http://api.example.test/auth", headers: map[string]string{"Authorization": "Bearer " + tok.AccessToken}})
	expectStatus(t, a, http.StatusOK)
	if u := a.Header.Get("X-Auth-User"); u != "alice" {
		t.Errorf("/auth with the JWT: X-Auth-User = %q", u)
	}
	r = do(t, c, req{method: "POST", url: hub + "/api/keys", body: `{"name":"t"}`, headers: map[string]string{"X-CSRF-Token": s.CSRFToken}})
	var k struct{ Key string }
	r.json(t, &k)
	r = do(t, e.client(), req{method: "POST", url: hub + "/api/token", headers: map[string]string{"X-API-Key": k.Key}})
	expectStatus(t, r, http.StatusOK)
	r = do(t, e.client(), req{method: "POST", url: hub + "/api/token"})
	expectStatus(t, r, http.StatusUnauthorized)
	// A JWT cannot be exchanged for a fresh one: it would never expire.
	r = do(t, e.client(), req{method: "POST", url: hub + "/api/token", headers: map[string]string{"Authorization": "Bearer " + tok.AccessToken}})
	expectStatus(t, r, http.StatusForbidden)
}
