package federation

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/example/sso/redirect"
	"golang.org/x/oauth2"
)

// The errors Start and Callback wrap; Status maps them to HTTP statuses.
var (
	// ErrUnknownProvider: no provider has this id (404).
	ErrUnknownProvider = errors.New("federation: unknown provider")
	// ErrState: the callback does not belong to a flow this browser
	// started: no or a bad state cookie, a state that differs from it, an
	// expired or already used flow (400).
	ErrState = errors.New("federation: invalid sign-in state")
	// ErrInvalid: the callback is malformed, or the provider refused the
	// code (replayed, expired, another flow's), or the ID token fails a
	// check (signature, issuer, audience, expiry, nonce) (400).
	ErrInvalid = errors.New("federation: invalid callback")
	// ErrDenied: the provider vouched for the user but the user may not
	// sign in here (unverified e-mail, domain or groups outside the
	// allow-lists, missing claims, or the user cancelled at the provider)
	// (403). The wrapping *DeniedError says why, for the user.
	ErrDenied = errors.New("federation: sign-in denied")
	// ErrProvider: the provider cannot be reached or answered with an
	// error of its own (discovery, token, keys or userinfo endpoint) (502).
	ErrProvider = errors.New("federation: identity provider unavailable")
)

// DeniedError is a refusal with a reason that may be shown to the user.
type DeniedError struct {
	Provider string
	Reason   string
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("federation: %s: sign-in denied: %s", e.Provider, e.Reason)
}

func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// Status is the HTTP status an adapter answers for an error of Start or
// Callback: 404, 400, 403, 502; 200 for nil. The error's text is for the
// log (it may quote the provider's answer); a page shows the status and,
// for a *DeniedError, its Reason. Anything else (a bug) is 502
// rather than 500, since the flow failed at the provider's edge.
func Status(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrUnknownProvider):
		return http.StatusNotFound
	case errors.Is(err, ErrState), errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrDenied):
		return http.StatusForbidden
	}
	return http.StatusBadGateway
}

// Options configures a Federation.
type Options struct {
	Providers []Provider
	// Keys seal the state cookie: the first seals, all open (the decoded
	// SSO_SECRET_KEYS; a key of its own is derived from each).
	Keys [][]byte
	// Secure: the hub runs with TLS. The state cookie is then
	// __Host-sso_oidc_<id> with Secure; otherwise sso_oidc_<id> (dev).
	Secure bool
	// AllowRedirect decides which https hosts rd may name (redirect.Check);
	// nil allows relative paths only. A refused rd is dropped, not an error:
	// the user lands on the default page, as after a password login.
	AllowRedirect func(canonicalHost string) bool
	// HTTPClient talks to the providers; default: 10s timeout.
	HTTPClient *http.Client
	// DiscoveryTimeout bounds the discovery request of each attempt;
	// default 5s. A provider that is down at start-up does not stop the hub:
	// discovery runs at the first sign-in, and again after a failure.
	DiscoveryTimeout time.Duration
	// StateTTL is how long a started sign-in may take; default 10m.
	StateTTL time.Duration
	Now      func() time.Time
	Log      *slog.Logger // nil: silent
}

// Federation runs the sign-ins of a set of providers.
type Federation struct {
	opt       Options
	seal      *sealer
	providers []*upstream
}

// upstream is one provider and its discovered endpoints, found lazily.
type upstream struct {
	cfg Provider

	mu       sync.Mutex // serialises discovery
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	oauth    *oauth2.Config
}

// New checks the options; it contacts no provider.
func New(opt Options) (*Federation, error) {
	seal, err := newSealer(opt.Keys)
	if err != nil {
		return nil, err
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opt.DiscoveryTimeout <= 0 {
		opt.DiscoveryTimeout = 5 * time.Second
	}
	if opt.StateTTL <= 0 {
		opt.StateTTL = 10 * time.Minute
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	f := &Federation{opt: opt, seal: seal}
	for i, p := range opt.Providers {
		p, err := p.withDefaults(opt.Secure)
		if err != nil {
			return nil, fmt.Errorf("%w (Providers[%d])", err, i)
		}
		if slices.ContainsFunc(f.providers, func(u *upstream) bool { return u.cfg.ID == p.ID }) {
			return nil, &FieldError{Provider: p.ID, Field: "ID", Msg: "used twice"}
		}
		f.providers = append(f.providers, &upstream{cfg: p})
	}
	return f, nil
}

// Button is what the login page needs for one provider.
type Button struct{ ID, Name string }

// Buttons lists the providers in configuration order.
func (f *Federation) Buttons() []Button {
	b := make([]Button, len(f.providers))
	for i, u := range f.providers {
		b[i] = Button{ID: u.cfg.ID, Name: u.cfg.Name}
	}
	return b
}

// CookieName is the state cookie of provider id.
func (f *Federation) CookieName(id string) string {
	if f.opt.Secure {
		return "__Host-sso_oidc_" + id
	}
	return "sso_oidc_" + id
}

func (f *Federation) upstream(id string) (*upstream, error) {
	for _, u := range f.providers {
		if u.cfg.ID == id {
			return u, nil
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownProvider, id)
}

// ctx carries our HTTP client to go-oidc and x/oauth2.
func (f *Federation) ctx(parent context.Context) context.Context {
	ctx := oidc.ClientContext(parent, f.opt.HTTPClient)
	return context.WithValue(ctx, oauth2.HTTPClient, f.opt.HTTPClient)
}

// discover returns the provider's endpoints, fetching the discovery
// document on first use and after a failure. The key set go-oidc builds
// outlives ctx (it keeps only the HTTP client) and refetches the JWKS when
// a token names an unknown key, which is how key rotation is followed.
func (f *Federation) discover(ctx context.Context, u *upstream) (*upstream, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.provider != nil {
		return u, nil
	}
	dctx, cancel := context.WithTimeout(ctx, f.opt.DiscoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(f.ctx(dctx), u.cfg.Issuer)
	if err != nil {
		f.opt.Log.Warn("oidc discovery failed", "provider", u.cfg.ID, "issuer", u.cfg.Issuer, "err", err)
		return nil, fmt.Errorf("%w: %s: discovery at %s: %v", ErrProvider, u.cfg.ID, u.cfg.Issuer, err)
	}
	u.provider = p
	u.verifier = p.Verifier(&oidc.Config{ClientID: u.cfg.ClientID, Now: f.opt.Now})
	u.oauth = &oauth2.Config{
		ClientID:     u.cfg.ClientID,
		ClientSecret: u.cfg.ClientSecret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  u.cfg.RedirectURL,
		Scopes:       u.cfg.Scopes,
	}
	return u, nil
}

func random() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("federation: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Start begins a sign-in with provider id: it sets the state cookie and
// redirects (302) to the provider's authorization endpoint with state,
// nonce and a PKCE S256 challenge. rd, where the user goes afterwards, is
// kept when redirect.Check allows it. On error nothing is written.
func (f *Federation) Start(w http.ResponseWriter, r *http.Request, id, rd string) error {
	u, err := f.upstream(id)
	if err != nil {
		return err
	}
	if u, err = f.discover(r.Context(), u); err != nil {
		return err
	}
	st := flowState{Verifier: oauth2.GenerateVerifier(), Expires: f.opt.Now().Add(f.opt.StateTTL).Unix()}
	if st.State, err = random(); err != nil {
		return fmt.Errorf("%w: %v", ErrProvider, err)
	}
	if st.Nonce, err = random(); err != nil {
		return fmt.Errorf("%w: %v", ErrProvider, err)
	}
	if target, ok := redirect.Check(rd, f.opt.AllowRedirect); ok {
		st.RD = target
	}
	value, err := f.seal.seal(id, st)
	if err == nil && len(value) > maxCookieValue {
		// A browser drops a cookie this long, which would fail the
		// callback: give up the (very long) rd instead.
		st.RD = ""
		value, err = f.seal.seal(id, st)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrProvider, err)
	}
	http.SetCookie(w, &http.Cookie{
		Name:     f.CookieName(id),
		Value:    value,
		Path:     "/",
		MaxAge:   int(f.opt.StateTTL / time.Second),
		Secure:   f.opt.Secure,
		HttpOnly: true,
		// Lax: the provider's redirect back is a top-level GET from
		// another site, which must carry the cookie.
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.oauth.AuthCodeURL(st.State, oidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusFound)
	return nil
}

// errorCode is the shape of an OAuth error code (RFC 6749 §4.1.2.1);
// anything else a provider (or a forged link) puts there is not echoed.
var errorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

// Callback completes a sign-in at the redirect URL of provider id. It
// clears the state cookie first, whatever the outcome, so each flow is
// used once. It returns the mapped Identity and the rd kept by Start ("":
// the default landing page), or an error wrapping one of ErrState,
// ErrInvalid, ErrDenied (a *DeniedError), ErrProvider, ErrUnknownProvider.
func (f *Federation) Callback(w http.ResponseWriter, r *http.Request, id string) (Identity, string, error) {
	u, err := f.upstream(id)
	if err != nil {
		return Identity{}, "", err
	}
	name := f.CookieName(id)
	w.Header().Set("Cache-Control", "no-store")
	ck, cerr := r.Cookie(name)
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, Secure: f.opt.Secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if cerr != nil {
		return Identity{}, "", fmt.Errorf("%w: no %s cookie: the sign-in was not started in this browser, or was already completed", ErrState, name)
	}
	st, err := f.seal.open(id, ck.Value, f.opt.Now())
	if err != nil {
		return Identity{}, "", fmt.Errorf("%w: %v", ErrState, err)
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		return Identity{}, "", fmt.Errorf("%w: state parameter does not match this browser's sign-in", ErrState)
	}
	rd, _ := redirect.Check(st.RD, f.opt.AllowRedirect)
	if e := q.Get("error"); e != "" {
		reason := "the provider refused the sign-in"
		if errorCode.MatchString(e) {
			reason += " (" + e + ")"
		}
		return Identity{}, "", &DeniedError{Provider: id, Reason: reason}
	}
	code := q.Get("code")
	if code == "" {
		return Identity{}, "", fmt.Errorf("%w: no code parameter", ErrInvalid)
	}
	if u, err = f.discover(r.Context(), u); err != nil {
		return Identity{}, "", err
	}
	ctx := f.ctx(r.Context())
	tok, err := u.oauth.Exchange(ctx, code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return Identity{}, "", classifyExchange(id, err)
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, "", fmt.Errorf("%w: %s: the token response has no id_token", ErrProvider, id)
	}
	idt, err := u.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, "", classifyVerify(id, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return Identity{}, "", fmt.Errorf("%w: %s: ID token nonce does not match this sign-in", ErrInvalid, id)
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, "", fmt.Errorf("%w: %s: ID token claims: %v", ErrInvalid, id, err)
	}
	// Before userinfo fills in claims: amr and auth_time count only from
	// the signed ID token.
	amr, authTime := authClaims(claims)
	if err := f.fillFromUserInfo(ctx, u, tok, idt.Subject, claims); err != nil {
		return Identity{}, "", err
	}
	ident, reason := mapClaims(u.cfg, claims)
	if reason != "" {
		f.opt.Log.Info("oidc sign-in denied", "provider", id, "sub", idt.Subject, "reason", reason)
		return Identity{}, "", &DeniedError{Provider: id, Reason: reason}
	}
	ident.RefreshToken = tok.RefreshToken
	ident.AMR, ident.AuthTime = amr, authTime
	return ident, rd, nil
}

// Recheck asks provider prev.Provider again about a signed-in user, with
// the refresh token Callback returned (prev.RefreshToken), for a periodic
// check during a session. A provider that no longer honours the token (the
// account was disabled or deleted, the grant revoked, the token expired or
// already rotated) is ErrDenied, and so is a user whose claims now fail the
// mapping or the allow-lists; the caller then ends the user's sessions. An
// outage is ErrProvider: the caller decides whether sessions outlive it.
// It returns the identity as the provider sees it now, with the refresh
// token to keep (a rotated one, or the same).
func (f *Federation) Recheck(ctx context.Context, prev Identity) (Identity, error) {
	id := prev.Provider
	u, err := f.upstream(id)
	if err != nil {
		return Identity{}, err
	}
	if prev.RefreshToken == "" || prev.Subject == "" {
		return Identity{}, fmt.Errorf("%w: %s: no refresh token to recheck with (ask for the offline_access scope)", ErrInvalid, id)
	}
	if u, err = f.discover(ctx, u); err != nil {
		return Identity{}, err
	}
	ctx = f.ctx(ctx)
	tok, err := u.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: prev.RefreshToken}).Token()
	if err != nil {
		// Only invalid_grant says the grant is gone; invalid_client and the
		// like are our configuration, which must not log everyone out.
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			return Identity{}, &DeniedError{Provider: id, Reason: "the provider no longer accepts this sign-in"}
		}
		return Identity{}, fmt.Errorf("%w: %s: refresh: %v", ErrProvider, id, err)
	}
	claims := map[string]any{}
	sub := ""
	if raw, ok := tok.Extra("id_token").(string); ok && raw != "" {
		idt, err := u.verifier.Verify(ctx, raw)
		if err != nil {
			return Identity{}, classifyVerify(id, err)
		}
		if err := idt.Claims(&claims); err != nil {
			return Identity{}, fmt.Errorf("%w: %s: ID token claims: %v", ErrInvalid, id, err)
		}
		sub = idt.Subject
	} else {
		// No new ID token (allowed on refresh): the subject comes from
		// userinfo, which must then exist.
		if u.provider.UserInfoEndpoint() == "" {
			return Identity{}, fmt.Errorf("%w: %s: refresh gave no ID token and there is no userinfo endpoint", ErrProvider, id)
		}
		info, err := u.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, fmt.Errorf("%w: %s: userinfo: %v", ErrProvider, id, err)
		}
		if err := info.Claims(&claims); err != nil {
			return Identity{}, fmt.Errorf("%w: %s: userinfo claims: %v", ErrProvider, id, err)
		}
		sub = info.Subject
	}
	if sub != prev.Subject {
		return Identity{}, fmt.Errorf("%w: %s: the refreshed identity has another subject", ErrInvalid, id)
	}
	if err := f.fillFromUserInfo(ctx, u, tok, sub, claims); err != nil {
		return Identity{}, err
	}
	ident, reason := mapClaims(u.cfg, claims)
	if reason != "" {
		f.opt.Log.Info("oidc recheck denied", "provider", id, "sub", sub, "reason", reason)
		return Identity{}, &DeniedError{Provider: id, Reason: reason}
	}
	ident.RefreshToken = tok.RefreshToken
	if ident.RefreshToken == "" {
		ident.RefreshToken = prev.RefreshToken
	}
	return ident, nil
}

// fillFromUserInfo adds the mapped claims the ID token lacks from the
// userinfo endpoint, as many providers put only sub in the ID token. The
// ID token's claims win; a userinfo answer about another sub is refused.
func (f *Federation) fillFromUserInfo(ctx context.Context, u *upstream, tok *oauth2.Token, sub string, claims map[string]any) error {
	missing := false
	for _, c := range []string{u.cfg.UserClaim, u.cfg.EmailClaim, u.cfg.GroupsClaim} {
		if _, ok := claims[c]; !ok {
			missing = true
		}
	}
	if _, ok := claims[u.cfg.EmailClaim]; ok && !u.cfg.AllowUnverifiedEmail {
		if _, ok := claims["email_verified"]; !ok {
			missing = true
		}
	}
	if !missing || u.provider.UserInfoEndpoint() == "" {
		return nil
	}
	info, err := u.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return fmt.Errorf("%w: %s: userinfo: %v", ErrProvider, u.cfg.ID, err)
	}
	if info.Subject != sub {
		return fmt.Errorf("%w: %s: userinfo is about another subject than the ID token", ErrInvalid, u.cfg.ID)
	}
	extra := map[string]any{}
	if err := info.Claims(&extra); err != nil {
		return fmt.Errorf("%w: %s: userinfo claims: %v", ErrProvider, u.cfg.ID, err)
	}
	for k, v := range extra {
		if _, ok := claims[k]; !ok {
			claims[k] = v
		}
	}
	return nil
}

// classifyExchange: an OAuth error answer in 4xx (invalid_grant: the code
// was used, expired, issued to another flow or PKCE verifier) is the
// callback's fault; anything else is the provider's.
func classifyExchange(id string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
		code := re.ErrorCode
		if !errorCode.MatchString(code) {
			code = re.Response.Status
		}
		return fmt.Errorf("%w: %s: the provider refused the code: %s", ErrInvalid, id, code)
	}
	return fmt.Errorf("%w: %s: token exchange: %v", ErrProvider, id, err)
}

// classifyVerify: a key set that cannot be fetched is an outage; any other
// verification failure is a bad token.
func classifyVerify(id string, err error) error {
	var ue interface{ Timeout() bool }
	if errors.As(err, &ue) {
		return fmt.Errorf("%w: %s: ID token keys: %v", ErrProvider, id, err)
	}
	return fmt.Errorf("%w: %s: ID token: %v", ErrInvalid, id, err)
}
