package server_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/example/sso/internal/softauthn"
	"github.com/example/sso/server"
)

// TestPasskeyOriginPinnedToHub: the origins a WebAuthn ceremony may name
// are the hub's (LoginURL), never derived from the request: a ceremony
// whose clientData names a sibling (app.example.test) is refused even when
// the request's Host, or X-Forwarded-Host from a trusted proxy, names that
// sibling; the hub's origin passes through the same request.
func TestPasskeyOriginPinnedToHub(t *testing.T) {
	const httpsHub = "https://login.example.test"
	loginURL := func(u string) envOption { return func(o *server.Options) { o.LoginURL = u } }
	for _, tc := range []struct {
		name, hubOrigin, sibling, header string
		opts                             []envOption
	}{
		{"http hub, Host", hub, appOrigin, "Host", nil},
		{"https hub, Host", httpsHub, "https://app.example.test", "Host", []envOption{loginURL(httpsHub)}},
		{"https hub, trusted X-Forwarded-Host", httpsHub, "https://app.example.test", "X-Forwarded-Host", []envOption{loginURL(httpsHub), withTrustedLoopback(t)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &events{}
			e := newEnv(t, append([]envOption{withMFA(t, ev)}, tc.opts...)...)
			b, _ := e.browser()
			expectStatus(t, sfFormLogin(t, b, "alice"), http.StatusSeeOther)
			r := do(t, b, req{url: hub + "/account/security"})
			csrf := find(t, csrfRE, r)
			hdr := map[string]string{"X-CSRF-Token": csrf, tc.header: "app.example.test"}
			soft := softauthn.New(tc.hubOrigin)
			register := func(origin string) *response {
				t.Helper()
				r := do(t, b, req{method: "POST", url: hub + "/account/security/passkeys/begin", headers: hdr})
				expectStatus(t, r, http.StatusOK)
				creation := jsonCreation(t, r)
				if creation.Response.RelyingParty.ID != "example.test" {
					t.Fatalf("relying party id %q, want example.test", creation.Response.RelyingParty.ID)
				}
				soft.Origin = origin
				body, err := soft.Register(creation)
				if err != nil {
					t.Fatal(err)
				}
				return do(t, b, req{method: "POST", url: hub + "/account/security/passkeys/finish?name=k", body: string(body), headers: hdr})
			}

			// Registration from the sibling's origin: refused, nothing stored.
			r = register(tc.sibling)
			if r.StatusCode != http.StatusUnauthorized || !strings.Contains(string(r.body), "invalid_passkey") {
				t.Fatalf("registration with clientData origin %s: %d %s, want 401 invalid_passkey", tc.sibling, r.StatusCode, r.body)
			}
			if got := ev.kinds("passkey"); len(got) != 0 {
				t.Fatalf("passkey events %v after a refused registration", got)
			}
			// The hub's origin, through the same request headers: accepted.
			expectStatus(t, register(tc.hubOrigin), http.StatusOK)

			// Step-up with that passkey: the sibling's origin is refused,
			// the hub's passes.
			r = do(t, b, req{url: hub + "/login/factor", headers: map[string]string{tc.header: "app.example.test"}})
			tok := find(t, regexp.MustCompile(`data-token="([^"]+)"`), r)
			fhdr := map[string]string{"X-SSO-Form-Token": tok, tc.header: "app.example.test"}
			assert := func(origin string) *response {
				t.Helper()
				r := do(t, b, req{method: "POST", url: hub + "/login/factor/passkey/begin", headers: fhdr})
				expectStatus(t, r, http.StatusOK)
				var a protocol.CredentialAssertion
				r.json(t, &a)
				soft.Origin = origin
				body, err := soft.Assert(&a)
				if err != nil {
					t.Fatal(err)
				}
				return do(t, b, req{method: "POST", url: hub + "/login/factor/passkey/finish", body: string(body), headers: fhdr})
			}
			r = assert(tc.sibling)
			if r.StatusCode != http.StatusUnauthorized || hasSetCookie(r, cookieName) {
				t.Fatalf("assertion with clientData origin %s: %d %s, want 401 and no session", tc.sibling, r.StatusCode, r.body)
			}
			expectStatus(t, auth(t, b, "?factor=2"), http.StatusUnauthorized)
			expectStatus(t, assert(tc.hubOrigin), http.StatusOK)
			expectStatus(t, auth(t, b, "?factor=2"), http.StatusOK)
		})
	}
}

// TestPasskeysNeedHubUnderCookieDomain: a hub whose own host is under no
// cookie domain has no relying party: passkey calls answer a precise 404,
// whatever host the request names, and TOTP still works.
func TestPasskeysNeedHubUnderCookieDomain(t *testing.T) {
	ev := &events{}
	e := newEnv(t, withMFA(t, ev), func(o *server.Options) { o.LoginURL = "http://login.elsewhere.test" })
	b, _ := e.browser()
	expectStatus(t, sfFormLogin(t, b, "alice"), http.StatusSeeOther)
	r := do(t, b, req{url: hub + "/account/security"})
	csrf := find(t, csrfRE, r)
	r = do(t, b, req{method: "POST", url: hub + "/account/security/passkeys/begin", headers: map[string]string{"X-CSRF-Token": csrf}})
	if r.StatusCode != http.StatusNotFound || !strings.Contains(string(r.body), "passkeys_unavailable") || !strings.Contains(string(r.body), "SSO_LOGIN_URL") {
		t.Fatalf("passkey registration without a relying party: %d %s, want 404 passkeys_unavailable naming SSO_LOGIN_URL", r.StatusCode, r.body)
	}
	r = sfPostForm(t, b, "/account/security/totp", url.Values{"csrf_token": {csrf}})
	secret := find(t, secretRE, r)
	expectStatus(t, sfPostForm(t, b, "/account/security/totp/confirm", url.Values{"csrf_token": {csrf}, "code": {e.code(t, secret)}}), http.StatusOK)
}
