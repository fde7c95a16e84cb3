package authz_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/example/sso/apikey"
	"github.com/example/sso/authz"
	"github.com/example/sso/internal/testredis"
	"github.com/example/sso/session"
	"github.com/example/sso/session/redisstore"
	"github.com/example/sso/ticket"
	"github.com/example/sso/token"
)

func TestAuthenticateOrder(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.login(t, "alice")
	bobKey := f.apiKey(t, "bob")
	aliceKey := f.apiKey(t, "alice")
	bobJWT := f.jwt(t, "bob")
	carolKey := f.apiKey(t, "carol")
	other := newFixture(t, nil) // same users, other secret: its cookies are forgeries here
	other.codec, _ = ticket.New(cookieName, [][]byte{key(99)})
	forged := other.codec.Encode(mustID(t))

	tests := []struct {
		name       string
		cookie     string
		authz      string
		xAPIKey    string
		wantUser   string
		wantMethod authz.Method
	}{
		{name: "cookie beats bearer key of its user", cookie: alice, authz: "Bearer " + aliceKey, wantUser: "alice", wantMethod: authz.MethodSession},
		{name: "cookie beats X-API-Key of its user", cookie: alice, xAPIKey: aliceKey, wantUser: "alice", wantMethod: authz.MethodSession},
		// Of different users: ambiguous (ErrAmbiguous wraps ErrUnauthenticated).
		{name: "cookie and bearer key of another user", cookie: alice, authz: "Bearer " + bobKey},
		{name: "cookie and X-API-Key of another user", cookie: alice, xAPIKey: bobKey},
		{name: "forged cookie falls through to bearer key", cookie: forged, authz: "Bearer " + bobKey, wantUser: "bob", wantMethod: authz.MethodAPIKey},
		{name: "bearer key beats X-API-Key", authz: "Bearer " + bobKey, xAPIKey: aliceKey, wantUser: "bob", wantMethod: authz.MethodAPIKey},
		{name: "bearer JWT beats X-API-Key", authz: "Bearer " + bobJWT, xAPIKey: aliceKey, wantUser: "bob", wantMethod: authz.MethodJWT},
		{name: "scheme is case-insensitive", authz: "bearer " + bobKey, wantUser: "bob", wantMethod: authz.MethodAPIKey},
		{name: "garbage bearer falls through to X-API-Key", authz: "Bearer nonsense", xAPIKey: aliceKey, wantUser: "alice", wantMethod: authz.MethodAPIKey},
		{name: "basic auth is no bearer", authz: "Basic " + bobKey, xAPIKey: aliceKey, wantUser: "alice", wantMethod: authz.MethodAPIKey},
		{name: "X-API-Key alone", xAPIKey: aliceKey, wantUser: "alice", wantMethod: authz.MethodAPIKey},
		{name: "JWT alone", authz: "Bearer " + bobJWT, wantUser: "bob", wantMethod: authz.MethodJWT},
		{name: "nothing"},
		{name: "forged cookie alone", cookie: forged},
		{name: "unknown key", xAPIKey: "sso_" + strings.Repeat("A", 49)},
		{name: "JWT in X-API-Key is no key", xAPIKey: bobJWT},
		{name: "key of a user no longer in the users file", xAPIKey: carolKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := authRequest("/auth")
			if tc.cookie != "" {
				withCookie(r, tc.cookie)
			}
			if tc.authz != "" {
				r.Header.Set("Authorization", tc.authz)
			}
			if tc.xAPIKey != "" {
				r.Header.Set("X-API-Key", tc.xAPIKey)
			}
			id, err := f.auth.Authenticate(context.Background(), r)
			if tc.wantUser == "" {
				if !errors.Is(err, authz.ErrUnauthenticated) {
					t.Fatalf("Authenticate = %+v, %v; want ErrUnauthenticated", id, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if id.User != tc.wantUser || id.Method != tc.wantMethod {
				t.Errorf("Authenticate = user %q method %q, want %q %q", id.User, id.Method, tc.wantUser, tc.wantMethod)
			}
		})
	}
}

func mustID(t *testing.T) string {
	t.Helper()
	id, err := ticket.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A cookie that does not carry our signature must be refused before the
// store is asked: otherwise anyone can make the store work for them.
func TestForgedCookieCostsNoStoreCall(t *testing.T) {
	f := newFixture(t, nil)
	good := f.login(t, "alice")
	raw := mustID(t)
	flipped := []byte(good)
	if flipped[len(flipped)-2] == 'A' {
		flipped[len(flipped)-2] = 'B'
	} else {
		flipped[len(flipped)-2] = 'A'
	}
	other := newFixture(t, nil)
	other.codec, _ = ticket.New(cookieName, [][]byte{key(50)})
	wrongName, _ := ticket.New("other_cookie", f.keys)

	for _, value := range []string{
		"",
		"garbage",
		raw,                       // an id without signature
		raw + ".",                 // empty signature
		string(flipped),           // one character of the MAC changed
		other.codec.Encode(raw),   // signed with a key we do not hold
		wrongName.Encode(raw),     // our key, another cookie's name
		strings.Repeat("A", 4096), // long
		good[:len(good)-1],        // truncated
		good + "A",                // extended
		strings.ToUpper(good),     // case changed
		strings.Replace(good, ".", "!", 1),
	} {
		before := f.store.gets.Load()
		_, err := f.auth.SessionFromValue(context.Background(), value)
		if !errors.Is(err, authz.ErrUnauthenticated) {
			t.Errorf("SessionFromValue(%.40q) = %v, want ErrUnauthenticated", value, err)
		}
		if n := f.store.gets.Load() - before; n != 0 {
			t.Errorf("SessionFromValue(%.40q) made %d store look-ups, want 0", value, n)
		}
		w := f.serve(withCookie(authRequest("/auth"), value))
		if w.Code != http.StatusUnauthorized {
			t.Errorf("/auth with cookie %.40q = %d, want 401", value, w.Code)
		}
	}
	if n := f.store.gets.Load(); n != 0 {
		t.Errorf("forged cookies made %d store look-ups in all, want 0", n)
	}
	// The genuine cookie does reach the store, or the counter proves nothing.
	if w := f.serve(withCookie(authRequest("/auth"), good)); w.Code != http.StatusOK {
		t.Fatalf("/auth with the genuine cookie = %d, want 200", w.Code)
	}
	if f.store.gets.Load() == 0 {
		t.Error("genuine cookie: no store look-up counted")
	}
}

func TestKeyRotation(t *testing.T) {
	f := newFixture(t, nil)
	value := f.login(t, "alice") // signed by key(1)

	// A new key first, the old one still listed: the cookie keeps working.
	rotated, err := ticket.New(cookieName, [][]byte{key(2), key(1)})
	if err != nil {
		t.Fatal(err)
	}
	f.auth.Codec = rotated
	if w := f.serve(withCookie(authRequest("/auth"), value)); w.Code != http.StatusOK {
		t.Errorf("/auth after adding a key = %d, want 200", w.Code)
	}

	// The old key removed: its cookies are refused without a store call.
	removed, err := ticket.New(cookieName, [][]byte{key(2)})
	if err != nil {
		t.Fatal(err)
	}
	f.auth.Codec = removed
	before := f.store.gets.Load()
	if w := f.serve(withCookie(authRequest("/auth"), value)); w.Code != http.StatusUnauthorized {
		t.Errorf("/auth with a cookie signed by a removed key = %d, want 401", w.Code)
	}
	if f.store.gets.Load() != before {
		t.Error("a cookie signed by a removed key reached the store")
	}
}

func TestExpiry(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		f := newFixture(t, nil)
		value := f.login(t, "alice") // Idle 1h
		f.clock.Advance(59 * time.Minute)
		if w := f.serve(withCookie(authRequest("/auth"), value)); w.Code != http.StatusOK {
			t.Fatalf("/auth at 59m idle = %d, want 200", w.Code)
		}
		// That request slid the idle deadline: another 59 minutes are fine.
		f.clock.Advance(59 * time.Minute)
		if w := f.serve(withCookie(authRequest("/auth"), value)); w.Code != http.StatusOK {
			t.Fatalf("/auth 59m after the last use = %d, want 200", w.Code)
		}
		f.clock.Advance(time.Hour)
		if w := f.serve(withCookie(authRequest("/auth"), value)); w.Code != http.StatusUnauthorized {
			t.Fatalf("/auth 1h after the last use = %d, want 401", w.Code)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		f := newFixture(t, nil)
		value := f.login(t, "alice") // ExpiresAt 24h
		for range 24 {
			f.clock.Advance(59 * time.Minute)
			if w := f.serve(withCookie(authRequest("/auth"), value)); w.Code != http.StatusOK {
				t.Fatalf("/auth at %v = %d, want 200", f.clock.Now(), w.Code)
			}
		}
		f.clock.Advance(time.Hour) // 24*59m + 60m > 24h, in use all along
		if w := f.serve(withCookie(authRequest("/auth"), value)); w.Code != http.StatusUnauthorized {
			t.Fatalf("/auth past the absolute lifetime = %d, want 401", w.Code)
		}
	})
}

// /auth is asked on every request through nginx; it must not write to the
// store each time.
func TestSlidingRefreshAtMostOncePerInterval(t *testing.T) {
	f := newFixture(t, nil) // Refresh 1m
	value := f.login(t, "alice")
	steps := []struct {
		advance     time.Duration
		requests    int
		wantTouches int64
	}{
		{0, 5, 0},                // just created: LastSeen is now
		{30 * time.Second, 5, 0}, // 30s: not yet due
		{31 * time.Second, 5, 1}, // 61s: one write, then none
		{59 * time.Second, 5, 1}, // 59s after that write
		{time.Second, 5, 2},      // 60s: due again
		{10 * time.Minute, 1, 3},
	}
	for i, st := range steps {
		f.clock.Advance(st.advance)
		for range st.requests {
			if w := f.serve(withCookie(authRequest("/auth"), value)); w.Code != http.StatusOK {
				t.Fatalf("step %d: /auth = %d, want 200", i, w.Code)
			}
		}
		if got := f.store.touches.Load(); got != st.wantTouches {
			t.Errorf("step %d (%v later, %d requests): %d Touch calls in all, want %d", i, st.advance, st.requests, got, st.wantTouches)
		}
	}
	// The writes did slide LastSeen.
	s, err := f.store.Store.Get(context.Background(), ticket.Hash(mustDecode(t, f, value)))
	if err != nil {
		t.Fatal(err)
	}
	if !s.LastSeen.Equal(f.clock.Now()) {
		t.Errorf("LastSeen = %v, want %v", s.LastSeen, f.clock.Now())
	}
}

func mustDecode(t *testing.T, f *fixture, value string) string {
	t.Helper()
	raw, err := f.codec.Decode(value)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestAuthAllowed(t *testing.T) {
	f := newFixture(t, nil)
	r := forUpstream(withCookie(authRequest("/auth"), f.login(t, "alice")), upstreamURL)
	// Identity headers a client sends must never come back as ours.
	r.Header.Set("X-Auth-User", "mallory")
	r.Header.Set("X-Auth-Groups", "root")
	w := f.serve(r)
	if w.Code != http.StatusOK {
		t.Fatalf("/auth = %d, want 200; body %s", w.Code, w.Body)
	}
	for h, want := range map[string]string{
		"X-Auth-User":   "alice",
		"X-Auth-Email":  "alice@example.test",
		"X-Auth-Groups": "admins,dev",
	} {
		if got := w.Header().Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	tok := w.Header().Get("X-Auth-Token")
	c, err := f.tokens.VerifyUpstream(tok, upstreamOrigin, f.clock.Now())
	if err != nil {
		t.Fatalf("X-Auth-Token %q does not verify for %s: %v", tok, upstreamOrigin, err)
	}
	if c.Subject != "alice" || c.Email != "alice@example.test" || c.Audience != upstreamOrigin {
		t.Errorf("X-Auth-Token claims = %+v, want alice for %s", c, upstreamOrigin)
	}
	if sc := w.Header().Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("/auth set cookies %q; it must never set one", sc)
	}
}

func TestAuthForgedIdentityHeadersWithoutCredentials(t *testing.T) {
	f := newFixture(t, nil)
	r := authRequest("/auth")
	r.Header.Set("X-Auth-User", "alice")
	r.Header.Set("X-Auth-Email", "alice@example.test")
	w := f.serve(r)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("/auth with only forged identity headers = %d, want 401", w.Code)
	}
	for _, h := range []string{"X-Auth-User", "X-Auth-Email", "X-Auth-Groups", "X-Auth-Token"} {
		if v := w.Header().Get(h); v != "" {
			t.Errorf("401 carries %s = %q", h, v)
		}
	}
}

func TestAuthUnauthorizedLoginURL(t *testing.T) {
	f := newFixture(t, nil)
	base := loginURL + "/login"
	tests := []struct {
		name   string
		peer   string
		header string
		want   string
	}{
		{"trusted proxy", trustedIP, "https://app.example.test/orders?id=7", base + "?rd=" + url.QueryEscape("https://app.example.test/orders?id=7")},
		{"trusted proxy, ipv6 loopback", "[::1]:5555", "https://api.example.test/v1", base + "?rd=" + url.QueryEscape("https://api.example.test/v1")},
		{"foreign host", trustedIP, "https://evil.net/", base},
		{"look-alike host", trustedIP, "https://example.test.evil.net/", base},
		{"plain http", trustedIP, "http://app.example.test/", base},
		{"none", trustedIP, "", base},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := authRequest("/auth")
			r.RemoteAddr = tc.peer
			if tc.header != "" {
				r.Header.Set("X-Original-URL", tc.header)
			}
			w := f.serve(r)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("/auth = %d, want 401", w.Code)
			}
			if got := w.Header().Get("X-Auth-Login-URL"); got != tc.want {
				t.Errorf("X-Auth-Login-URL = %q, want %q", got, tc.want)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if body["error"] != "unauthorized" || body["message"] == "" || body["message"] == nil {
				t.Errorf("body = %v, want error \"unauthorized\" and a message", body)
			}
		})
	}
}

func TestAuthGroups(t *testing.T) {
	f := newFixture(t, nil)
	alice, bob := f.login(t, "alice"), f.login(t, "bob")
	tests := []struct {
		cookie, query string
		want          int
	}{
		{alice, "", 200},
		{alice, "?group=admins", 200},
		{alice, "?group=ops", 403},
		{alice, "?group=ops&group=dev", 200},
		{alice, "?group=ADMINS", 403}, // exact names
		{bob, "", 200},
		{bob, "?group=admins", 403},
		{bob, "?group=", 403},
	}
	for _, tc := range tests {
		w := f.serve(withCookie(authRequest("/auth"+tc.query), tc.cookie))
		if w.Code != tc.want {
			t.Errorf("/auth%s = %d, want %d", tc.query, w.Code, tc.want)
		}
		if tc.want == 403 {
			if u := w.Header().Get("X-Auth-User"); u != "" {
				t.Errorf("/auth%s: 403 carries X-Auth-User %q", tc.query, u)
			}
			var body authz.ErrorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != "forbidden" {
				t.Errorf("/auth%s: body %q, want error \"forbidden\" (%v)", tc.query, w.Body, err)
			}
		}
	}
}

func TestAuthCSRFShield(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.login(t, "alice")
	tests := []struct {
		name    string
		peer    string
		method  string
		origin  string
		fetch   string
		want    int
		wantErr string
	}{
		{name: "POST from a foreign origin", method: "POST", origin: "https://evil.net", want: 403, wantErr: "cross_site_request"},
		{name: "DELETE from a foreign origin", method: "delete", origin: "https://evil.net", want: 403},
		{name: "PUT from a null origin", method: "PUT", origin: "null", want: 403},
		{name: "POST from a sibling over http", method: "POST", origin: "http://app.example.test", want: 403},
		{name: "POST from a look-alike", method: "POST", origin: "https://example.test.evil.net", want: 403},
		{name: "POST without Origin, marked cross-site", method: "POST", fetch: "cross-site", want: 403},
		{name: "POST from an allowed origin", method: "POST", origin: allowed, want: 200},
		{name: "POST from an allowed origin, same-site", method: "POST", origin: allowed, fetch: "same-site", want: 200},
		{name: "POST without Origin (curl)", method: "POST", want: 200},
		{name: "POST without Origin, same-origin", method: "POST", fetch: "same-origin", want: 200},
		{name: "GET from a foreign origin", method: "GET", origin: "https://evil.net", want: 200},
		{name: "no X-Original-Method", origin: "https://evil.net", want: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := withCookie(authRequest("/auth"), alice)
			if tc.method != "" {
				r.Header.Set("X-Original-Method", tc.method)
			}
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.fetch != "" {
				r.Header.Set("Sec-Fetch-Site", tc.fetch)
			}
			w := f.serve(r)
			if w.Code != tc.want {
				t.Fatalf("/auth = %d, want %d; body %s", w.Code, tc.want, w.Body)
			}
			if tc.want == 403 && w.Header().Get("X-Auth-User") != "" {
				t.Error("refused request carries X-Auth-User")
			}
			if tc.wantErr != "" {
				if got := w.Header().Get("X-Auth-Error"); got != tc.wantErr {
					t.Errorf("X-Auth-Error %q, want %q", got, tc.wantErr)
				}
			}
		})
	}
}

func TestAuthCORSOnEveryAnswer(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.login(t, "alice")
	cases := []struct {
		name   string
		cookie string
		query  string
		want   int
	}{
		{"200", alice, "", 200},
		{"401", "", "", 401},
		{"403 group", alice, "?group=ops", 403},
	}
	origins := []struct {
		origin  string
		allowed bool
	}{
		{allowed, true},
		{"https://example.test", true},
		{"https://a.b.example.test:8443", true},
		{"", false},
		{"https://evil.net", false},
		{"null", false},
		{"http://app.example.test", false},
		{"https://example.test.evil.net", false},
		{"https://evilexample.test", false},
		{"*", false},
	}
	for _, c := range cases {
		for _, o := range origins {
			r := authRequest("/auth" + c.query)
			if c.cookie != "" {
				withCookie(r, c.cookie)
			}
			if o.origin != "" {
				r.Header.Set("Origin", o.origin)
			}
			w := f.serve(r)
			if w.Code != c.want {
				t.Errorf("%s, Origin %q: status %d, want %d", c.name, o.origin, w.Code, c.want)
			}
			checkCORS(t, c.name+", Origin "+o.origin, w.Header(), o.origin, o.allowed)
		}
	}
	// The CSRF refusal is decorated too: a page sees a 403, not a CORS error.
	r := withCookie(authRequest("/auth"), alice)
	r.Header.Set("X-Original-Method", "POST")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	r.Header.Set("Origin", allowed)
	w := f.serve(r)
	if w.Code != 200 {
		t.Errorf("allowed origin POST marked cross-site = %d, want 200 (its Origin is allowed)", w.Code)
	}
	checkCORS(t, "allowed POST", w.Header(), allowed, true)
}

// checkCORS checks the headers an actual (non-preflight) answer must carry.
func checkCORS(t *testing.T, what string, h http.Header, origin string, allowed bool) {
	t.Helper()
	if !hasToken(h.Values("Vary"), "Origin") {
		t.Errorf("%s: Vary = %q, want it to list Origin", what, h.Values("Vary"))
	}
	acao := h.Values("Access-Control-Allow-Origin")
	for _, v := range acao {
		if v == "*" {
			t.Errorf("%s: Access-Control-Allow-Origin: *", what)
		}
	}
	if allowed {
		if len(acao) != 1 || acao[0] != origin {
			t.Errorf("%s: Access-Control-Allow-Origin = %q, want [%q]", what, acao, origin)
		}
		if got := h.Get("Access-Control-Allow-Credentials"); got != "true" {
			t.Errorf("%s: Access-Control-Allow-Credentials = %q, want true", what, got)
		}
		return
	}
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-Allow-") {
			t.Errorf("%s: disallowed origin got %s: %q", what, k, h.Values(k))
		}
	}
}

func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

func TestAuthPreflight(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name    string
		origin  string
		method  string
		headers string
		want    int
	}{
		{"allowed", allowed, "POST", "", 204},
		{"allowed with headers", allowed, "DELETE", "content-type, x-csrf-token", 204},
		{"foreign origin", "https://evil.net", "POST", "", 403},
		{"null origin", "null", "POST", "", 403},
		{"look-alike", "https://example.test.evil.net", "GET", "", 403},
		{"http sibling", "http://app.example.test", "POST", "", 403},
		{"no request method", allowed, "", "", 403},
		{"method not allowed", allowed, "CONNECT", "", 403},
		{"header not allowed", allowed, "POST", "x-evil", 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Browsers send preflights without cookies: none here.
			r := httptest.NewRequest(http.MethodOptions, "http://sso.internal/auth", nil)
			r.RemoteAddr = trustedIP
			r.Header.Set("Origin", tc.origin)
			if tc.method != "" {
				r.Header.Set("Access-Control-Request-Method", tc.method)
			}
			if tc.headers != "" {
				r.Header.Set("Access-Control-Request-Headers", tc.headers)
			}
			w := f.serve(r)
			if w.Code != tc.want {
				t.Fatalf("OPTIONS /auth = %d, want %d; body %s", w.Code, tc.want, w.Body)
			}
			h := w.Header()
			if tc.want == 204 {
				if got := h.Get("Access-Control-Allow-Origin"); got != tc.origin {
					t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tc.origin)
				}
				if got := h.Get("Access-Control-Allow-Credentials"); got != "true" {
					t.Errorf("Access-Control-Allow-Credentials = %q, want true", got)
				}
				if !strings.Contains(h.Get("Access-Control-Allow-Methods"), tc.method) {
					t.Errorf("Access-Control-Allow-Methods = %q, want it to list %s", h.Get("Access-Control-Allow-Methods"), tc.method)
				}
			} else {
				for k := range h {
					if strings.HasPrefix(k, "Access-Control-Allow-") {
						t.Errorf("refused preflight carries %s: %q", k, h.Values(k))
					}
				}
			}
			if !hasToken(h.Values("Vary"), "Origin") {
				t.Errorf("Vary = %q, want Origin", h.Values("Vary"))
			}
			if sc := h.Values("Set-Cookie"); len(sc) != 0 {
				t.Errorf("preflight set cookies %q", sc)
			}
		})
	}
	if n := f.store.gets.Load() + f.store.keyGets.Load(); n != 0 {
		t.Errorf("preflights made %d store look-ups, want 0", n)
	}
}

func TestAuthOtherMethods(t *testing.T) {
	f := newFixture(t, nil)
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		r := withCookie(httptest.NewRequest(m, "http://sso.internal/auth", nil), f.login(t, "alice"))
		r.RemoteAddr = trustedIP
		w := f.serve(r)
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s /auth = %d, want 405", m, w.Code)
		}
		if w.Header().Get("X-Auth-User") != "" {
			t.Errorf("%s /auth carries X-Auth-User", m)
		}
	}
	r := withCookie(httptest.NewRequest(http.MethodHead, "http://sso.internal/auth", nil), f.login(t, "alice"))
	if w := f.serve(r); w.Code != http.StatusOK || w.Header().Get("X-Auth-User") != "alice" {
		t.Errorf("HEAD /auth = %d user %q, want 200 alice", w.Code, w.Header().Get("X-Auth-User"))
	}
}

// A store that does not answer must never turn into a 200, nor into a 401
// that sends everyone to the login page: 503, for nginx to fail closed.
func TestAuthStoreOutage(t *testing.T) {
	t.Run("closed port", func(t *testing.T) {
		client := redis.NewClient(&redis.Options{Addr: closedAddr(t), MaxRetries: -1, DialTimeout: time.Second})
		t.Cleanup(func() { _ = client.Close() })
		f := newFixture(t, redisstore.New(client, redisstore.Options{}))
		// A well-signed cookie for a session the store cannot be asked about.
		value := f.codec.Encode(mustID(t))
		key, _, hash, err := apikey.Generate() // well-formed, so it reaches the store
		if err != nil {
			t.Fatal(err)
		}
		// Well-signed client tokens whose session and key the store cannot
		// be asked about.
		jwts := []string{
			f.jwtFor(t, "alice", token.Claims{SessionID: f.sessionID(t, value)}),
			f.jwtFor(t, "alice", token.Claims{KeyHash: hash}),
		}
		checkOutage(t, f, value, key, jwts...)
	})
	t.Run("redis stopped", func(t *testing.T) {
		addr := testredis.Start(t)
		client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
		t.Cleanup(func() { _ = client.Close() })
		f := newFixture(t, redisstore.New(client, redisstore.Options{Now: nil}))
		f.auth.Now = nil // redis keeps real time
		value := f.loginNow(t, "alice")
		key := f.apiKey(t, "bob")
		jwts := []string{
			f.jwtFor(t, "alice", token.Claims{SessionID: f.sessionID(t, value)}),
			f.jwtFor(t, "bob", token.Claims{KeyHash: apikey.Hash(key)}),
		}
		if w := f.serve(withCookie(authRequest("/auth"), value)); w.Code != http.StatusOK {
			t.Fatalf("/auth with redis up = %d, want 200; body %s", w.Code, w.Body)
		}
		if w := f.serve(apiKeyRequest(key)); w.Code != http.StatusOK {
			t.Fatalf("/auth with a key, redis up = %d, want 200; body %s", w.Code, w.Body)
		}
		for i, tok := range jwts {
			if w := f.serve(bearerRequest(tok)); w.Code != http.StatusOK {
				t.Fatalf("/auth with client token %d, redis up = %d, want 200; body %s", i, w.Code, w.Body)
			}
		}
		_ = client.ShutdownNoSave(context.Background()).Err() // the reply is a closed connection
		checkOutage(t, f, value, key, jwts...)
	})
}

func apiKeyRequest(key string) *http.Request {
	r := authRequest("/auth")
	r.Header.Set("X-API-Key", key)
	return r
}

func bearerRequest(tok string) *http.Request {
	r := authRequest("/auth")
	r.Header.Set("Authorization", "Bearer "+tok)
	return r
}

// checkOutage checks /auth with credentials the store cannot be asked
// about: a cookie, an API key and client tokens (whose session or key the
// store cannot confirm) are all 503, never 200 nor 401.
func checkOutage(t *testing.T, f *fixture, cookie, key string, jwts ...string) {
	t.Helper()
	reqs := map[string]*http.Request{
		"cookie":    withCookie(authRequest("/auth"), cookie),
		"X-API-Key": apiKeyRequest(key),
	}
	for i, tok := range jwts {
		reqs[fmt.Sprintf("client token %d", i)] = bearerRequest(tok)
	}
	for name, r := range reqs {
		r.Header.Set("Origin", allowed)
		w := f.serve(r)
		if w.Code != http.StatusServiceUnavailable {
			t.Errorf("%s, store down: /auth = %d, want 503; body %s", name, w.Code, w.Body)
		}
		if u := w.Header().Get("X-Auth-User"); u != "" {
			t.Errorf("%s, store down: X-Auth-User %q", name, u)
		}
		checkCORS(t, name+", store down", w.Header(), allowed, true)
	}
	// A forged cookie is still a 401: it never needed the store.
	if w := f.serve(withCookie(authRequest("/auth"), "forged")); w.Code != http.StatusUnauthorized {
		t.Errorf("forged cookie, store down: /auth = %d, want 401", w.Code)
	}
}

// loginNow is login with real time, for stores that keep their own clock.
func (f *fixture) loginNow(t *testing.T, user string) string {
	t.Helper()
	now := time.Now()
	f.clock.Advance(now.Sub(f.clock.Now()))
	return f.login(t, user)
}

func closedAddr(t *testing.T) string {
	t.Helper()
	// Listen and close: nothing listens there now.
	srv := httptest.NewUnstartedServer(nil)
	addr := srv.Listener.Addr().String()
	srv.Listener.Close()
	return addr
}

// A user removed from (or disabled in) the users file loses the sessions and
// JWTs it holds at once: sessions may outlive a restart in Redis.
func TestRemovedUserIsRefused(t *testing.T) {
	f := newFixture(t, nil)
	raw, err := ticket.NewID()
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	if err := f.store.Create(context.Background(), &session.Session{
		ID: ticket.Hash(raw), User: "ghost", Email: "ghost@example.test", Domain: "example.test",
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour), Idle: time.Hour, CSRFToken: "x",
	}); err != nil {
		t.Fatal(err)
	}
	if w := f.serve(withCookie(authRequest("/auth"), f.codec.Encode(raw))); w.Code != http.StatusUnauthorized {
		t.Errorf("session of a removed user: status %d, want 401", w.Code)
	}
	// Its session is live: only the users file refuses the token.
	tok, err := f.tokens.IssueAccess(token.Claims{Subject: "ghost", SessionID: ticket.Hash(raw)}, now)
	if err != nil {
		t.Fatal(err)
	}
	r := authRequest("/auth")
	r.Header.Set("Authorization", "Bearer "+tok)
	if w := f.serve(r); w.Code != http.StatusUnauthorized {
		t.Errorf("JWT of a removed user: status %d, want 401", w.Code)
	}
}

// /auth passes a presented JWT upstream unchanged: minting a fresh one would
// let a JWT renew itself forever through /auth.
func TestAuthDoesNotRenewJWT(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.jwt(t, "alice")
	f.clock.Advance(time.Minute)
	r := authRequest("/auth")
	r.Header.Set("Authorization", "Bearer "+tok)
	w := f.serve(r)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}
	if got := w.Header().Get("X-Auth-Token"); got != tok {
		t.Errorf("X-Auth-Token is a new token; want the presented one passed on unchanged")
	}
	// Even with an upstream to bind a token to.
	w = f.serve(forUpstream(r, upstreamURL))
	if got := w.Header().Get("X-Auth-Token"); w.Code != http.StatusOK || got != tok {
		t.Errorf("with X-Original-URL: status %d, X-Auth-Token a new token; want 200 and the presented one", w.Code)
	}
	// A cookie-authenticated request still gets a freshly minted one.
	w = f.serve(forUpstream(withCookie(authRequest("/auth"), f.login(t, "alice")), upstreamURL))
	if got := w.Header().Get("X-Auth-Token"); got == "" || got == tok {
		t.Errorf("cookie request: X-Auth-Token %q, want a fresh token", got)
	}
}

// /auth signs an upstream token once per half lifetime per session, not on
// every request; a new token replaces it before it has less than half its
// lifetime left, and each session has its own.
func TestAuthUpstreamTokenCache(t *testing.T) {
	f := newFixture(t, nil)
	alice := f.login(t, "alice")
	tokenOf := func(value string) string {
		t.Helper()
		w := f.serve(forUpstream(withCookie(authRequest("/auth"), value), upstreamURL))
		if w.Code != http.StatusOK {
			t.Fatalf("status %d, want 200", w.Code)
		}
		return w.Header().Get("X-Auth-Token")
	}
	first := tokenOf(alice)
	f.clock.Advance(f.tokens.TTL()/2 - time.Second)
	if got := tokenOf(alice); got != first {
		t.Error("token re-signed before half its lifetime passed")
	}
	f.clock.Advance(2 * time.Second)
	renewed := tokenOf(alice)
	if renewed == first {
		t.Error("token not renewed after half its lifetime")
	}
	if c, err := f.tokens.VerifyUpstream(renewed, upstreamOrigin, f.clock.Now()); err != nil || c.Subject != "alice" {
		t.Errorf("renewed token: %v, %+v", err, c)
	}
	if other := tokenOf(f.login(t, "alice")); other == renewed {
		t.Error("a second session got the first session's token")
	}
}

// /auth accepts its own bearer JWTs only when signature, issuer, audience and
// expiry all hold.
func TestAuthRefusesBadJWTs(t *testing.T) {
	f := newFixture(t, nil)
	sid := f.sessionID(t, f.login(t, "alice"))
	issue := func(cfg token.Config) string {
		t.Helper()
		if cfg.Issuer == "" {
			cfg.Issuer = loginURL
		}
		if cfg.Audience == "" {
			cfg.Audience = "example.test"
		}
		if cfg.Keys == nil {
			cfg.Keys = token.DeriveKeys(f.keys)
		}
		iss, err := token.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := iss.IssueAccess(token.Claims{Subject: "alice", Email: "alice@example.test", SessionID: sid}, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := issue(token.Config{})
	tampered := []byte(good)
	dot := strings.LastIndexByte(good, '.')
	tampered[dot-2] ^= 'A' ^ 'B' // flip a payload character
	expired := issue(token.Config{TTL: time.Minute})

	cases := []struct {
		name string
		tok  string
		want int
	}{
		{"good", good, http.StatusOK},
		{"tampered payload", string(tampered), http.StatusUnauthorized},
		{"truncated signature", good[:len(good)-4], http.StatusUnauthorized},
		{"wrong audience", issue(token.Config{Audience: "example.org"}), http.StatusUnauthorized},
		{"wrong issuer", issue(token.Config{Issuer: "https://login.evil.test"}), http.StatusUnauthorized},
		{"unknown signing key", issue(token.Config{Keys: token.DeriveKeys([][]byte{key(9)})}), http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := authRequest("/auth")
			r.Header.Set("Authorization", "Bearer "+tc.tok)
			if w := f.serve(r); w.Code != tc.want {
				t.Errorf("status %d, want %d", w.Code, tc.want)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		f.clock.Advance(2 * time.Minute) // past exp and the leeway
		r := authRequest("/auth")
		r.Header.Set("Authorization", "Bearer "+expired)
		if w := f.serve(r); w.Code != http.StatusUnauthorized {
			t.Errorf("status %d, want 401", w.Code)
		}
	})
}

// nginx's auth_request reads only the answer's headers: a body would make it
// drop the keepalive connection to sso. Subrequests (a trusted proxy sending
// X-Original-Method) get none; direct callers get the JSON.
func TestAuthSubrequestAnswersHaveNoBody(t *testing.T) {
	f := newFixture(t, nil)
	sub := authRequest("/auth")
	sub.Header.Set("X-Original-Method", "GET")
	sub.Header.Set("X-Original-URL", "https://app.example.test/x")
	w := f.serve(sub)
	if w.Code != http.StatusUnauthorized || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "0" {
		t.Errorf("subrequest: status %d, body %q, Content-Length %q; want 401, no body, 0", w.Code, w.Body, w.Header().Get("Content-Length"))
	}
	if w.Header().Get("X-Auth-Login-URL") == "" || w.Header().Get("X-Auth-Error") != "unauthorized" {
		t.Errorf("subrequest: login URL %q, error %q; want both", w.Header().Get("X-Auth-Login-URL"), w.Header().Get("X-Auth-Error"))
	}
	w = f.serve(authRequest("/auth"))
	var body authz.ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error != "unauthorized" || body.LoginURL == "" {
		t.Errorf("direct call: body %q, want the JSON error with login_url", w.Body)
	}
}

// A session carries the groups its user had at login, but /auth answers with
// the users file's current ones: taking a user out of a group takes effect
// at once, also for sessions that outlived a restart in Redis.
func TestSessionGroupsComeFromUsersFile(t *testing.T) {
	f := newFixture(t, nil)
	raw, err := ticket.NewID()
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	if err := f.store.Create(context.Background(), &session.Session{
		ID: ticket.Hash(raw), User: "bob", Email: "old@example.test", Groups: []string{"admins"}, Domain: "example.test",
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour), Idle: time.Hour, CSRFToken: "x",
	}); err != nil {
		t.Fatal(err)
	}
	w := f.serve(withCookie(authRequest("/auth?group=admins"), f.codec.Encode(raw)))
	if w.Code != http.StatusForbidden {
		t.Errorf("/auth?group=admins for bob, no longer an admin: status %d, want 403", w.Code)
	}
	w = f.serve(withCookie(authRequest("/auth"), f.codec.Encode(raw)))
	if w.Code != http.StatusOK || w.Header().Get("X-Auth-Groups") != "" || w.Header().Get("X-Auth-Email") != "bob@example.test" {
		t.Errorf("/auth: status %d, groups %q, email %q; want 200, none, bob@example.test", w.Code, w.Header().Get("X-Auth-Groups"), w.Header().Get("X-Auth-Email"))
	}
}

// nginx outside SSO_TRUSTED_PROXIES would silently lose the forgery shield
// and rd: such a request fails closed with a 500 that names the setting, and
// the log says so once.
func TestUntrustedOriginalHeadersFailClosed(t *testing.T) {
	f := newFixture(t, nil)
	var logs strings.Builder
	f.h.Log = slog.New(slog.NewTextHandler(&logs, nil))
	value := f.login(t, "alice")
	for _, hdr := range []string{"X-Original-Method", "X-Original-URL"} {
		for range 3 {
			r := withCookie(authRequest("/auth"), value)
			r.RemoteAddr = strangerIP
			r.Header.Set(hdr, map[string]string{"X-Original-Method": "POST", "X-Original-URL": "https://app.example.test/"}[hdr])
			w := f.serve(r)
			if w.Code != http.StatusInternalServerError || w.Header().Get("X-Auth-Error") != "untrusted_proxy" {
				t.Fatalf("%s from an untrusted peer: %d %q, want 500 untrusted_proxy", hdr, w.Code, w.Header().Get("X-Auth-Error"))
			}
			if !strings.Contains(w.Body.String(), "SSO_TRUSTED_PROXIES") {
				t.Errorf("body %q does not name SSO_TRUSTED_PROXIES", w.Body)
			}
			if u := w.Header().Get("X-Auth-User"); u != "" {
				t.Errorf("500 carries X-Auth-User %q", u)
			}
		}
	}
	if n := strings.Count(logs.String(), "answering 500 untrusted_proxy"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
	}
	// The same peer without the headers is an ordinary direct caller.
	r := withCookie(authRequest("/auth"), value)
	r.RemoteAddr = strangerIP
	if w := f.serve(r); w.Code != http.StatusOK {
		t.Errorf("direct /auth from the same peer = %d, want 200", w.Code)
	}
}
