// Package federation signs users in through upstream OpenID Connect
// providers (Google, Microsoft Entra, Okta, Keycloak, GitLab, Dex, …):
// the authorization code flow with PKCE (S256), state and nonce, on
// github.com/coreos/go-oidc/v3 (discovery, JWKS and its rotation, ID token
// checks) and golang.org/x/oauth2 (the code exchange).
//
// It is plain net/http with no session store: Start sends the browser to
// the provider, Callback checks what comes back and returns the mapped
// Identity; the caller (the hub's adapter) mints the session. Every
// failure is one of the typed errors below, which Status maps to a 4xx or
// 5xx other than 500, so an adapter never turns a refusal or an outage
// into a session or an internal error.
//
// The flow's state lives in a cookie of the browser that started it
// (__Host-sso_oidc_<id>; sso_oidc_<id> without TLS in dev mode), sealed
// with AES-GCM under a key derived from the caller's secrets and bound to
// the provider: a callback with no cookie, another browser's cookie, a
// state that differs from it, or a cookie older than StateTTL is ErrState.
// Callback clears the cookie whatever the outcome, so a replayed callback
// finds none; a replayed code is refused by the provider (ErrInvalid).
//
//	f, err := federation.New(federation.Options{Providers: ps, Keys: keys, Secure: true, AllowRedirect: cookies.Contains})
//	// GET /oauth2/start/{id}?rd=…
//	err = f.Start(w, r, id, r.FormValue("rd"))          // 302 to the provider, or an error for Status
//	// GET /oauth2/callback/{id}
//	ident, rd, err := f.Callback(w, r, id)               // err: show a page with Status(err)
package federation
