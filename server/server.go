package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/example/sso/authz"
	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/cors"
	"github.com/example/sso/cors/gincors"
	"github.com/example/sso/federation"
	"github.com/example/sso/login"
	"github.com/example/sso/mfa"
	"github.com/example/sso/redirect"
	"github.com/example/sso/session"
	"github.com/example/sso/ticket"
	"github.com/example/sso/token"
	"github.com/example/sso/users"
)

// Users is what the login hub needs of the users file.
type Users interface {
	Authenticate(login, password string) (users.User, error)
	Lookup(name string) (users.User, bool)
}

// Store is the session and API key store the server was given; it never
// learns which implementation that is.
type Store interface {
	session.Store
	session.KeyStore
}

// Regulation is login throttling (login.Regulation).
type Regulation = login.Regulation

// IPFactor is how many times Regulation.MaxRetries one client IP may fail.
const IPFactor = login.IPFactor

// Options are the values the server is built from. cmd/sso makes them from
// the configuration.
type Options struct {
	Cookies *cookiedomain.Policy
	Codec   *ticket.Codec
	Store   Store
	// Users is the users file: the password method (unless Password says
	// otherwise) and the live lookup of its users' sessions. nil: no users
	// file (LDAP or OIDC only); every session is then federated.
	Users   Users
	Tokens  *token.Issuer
	CORS    *cors.Policy
	Proxies *authz.Proxies

	// LoginURL is the login hub's public base URL.
	LoginURL string
	// LoginOrigins are the origins other than the hub's own from which
	// POST /api/session may log in (SSO_LOGIN_ORIGINS); nil: none.
	LoginOrigins *cors.Policy
	// DefaultRedirect is where a login without a valid rd lands; empty means
	// the hub's own page ("/").
	DefaultRedirect string
	// SessionIdle and SessionMax are the idle timeout and absolute lifetime.
	SessionIdle time.Duration
	SessionMax  time.Duration
	// SessionRefresh is the least time between two writes of last-seen.
	SessionRefresh time.Duration
	// FormKey signs the login form's anti-forgery token; the login
	// pipeline derives its limiter and device-cookie keys from it.
	FormKey []byte
	// LoginMemory is the memory budget of the password checks under way, in
	// bytes: each takes what the costliest hash of the users file needs
	// (Users.CheckMemory, when Users has it), so a flood of logins cannot
	// take the process past it. Zero: 256 MiB.
	LoginMemory int64
	// LoginSlots bounds how many password checks run at once: each argon2id
	// check takes tens of MiB, so unbounded parallel logins could exhaust
	// memory. Zero: twice GOMAXPROCS.
	LoginSlots int
	// LoginWait is how long a login waits for a slot before it is answered
	// 503 with Retry-After. Zero: 3s.
	LoginWait time.Duration
	// MaxKeysPerUser bounds the API keys one user may hold. Zero: 100.
	MaxKeysPerUser int
	// Regulation throttles failed logins; zero MaxRetries: off.
	Regulation Regulation
	// Limiter keeps Regulation's counts and bans; required when
	// Regulation.MaxRetries is positive. Give it the same backend as Store,
	// so that every instance sharing the sessions shares the bans too.
	Limiter session.Limiter
	// Password is the password method of the form and POST /api/session
	// (an LDAP directory, Source "ldap"). Zero: the users file (Users,
	// Source ""), or no password sign-in when Users is nil too.
	Password login.Password
	// Federation signs users in through upstream OpenID Connect providers
	// (GET /oauth2/start/:id, GET /oauth2/callback/:id) and puts a button
	// per provider on the login page; nil: none.
	Federation *federation.Federation

	// LoginObserver is told of every login event besides the server's own
	// metrics and log lines (audit logging attaches here); nil: none.
	LoginObserver login.Observer
	// MFA enables the second factor (TOTP, recovery codes, passkeys): the
	// second step of logins, /login/factor for step-up, and the account
	// security page; nil: logins have one factor and those routes are 404.
	MFA *mfa.Manager
	// MFARequiredGroups: members of any of them must have a second factor
	// (SSO_MFA_REQUIRED_GROUPS) and enrol one at their next login.
	MFARequiredGroups []string
	// MFATrustOIDCAMR (SSO_MFA_OIDC_AMR): login.Pipeline.FederatedFactors
	// counts an upstream's amr proof of MFA as a second factor.
	MFATrustOIDCAMR bool

	Log      *slog.Logger
	Registry *prometheus.Registry
	Version  string
	Now      func() time.Time
}

// Server is the sso HTTP service: login hub, JSON API, /auth and operations.
type Server struct {
	opt        Options
	ceremonies ceremonyLimiter
	auth       *authz.Authenticator
	engine     *gin.Engine
	metrics    *metrics
	formCSP    string
	// hubOrigin is the origin of LoginURL, e.g. https://login.example.com.
	hubOrigin string
	// apiCORS is the CORS policy of the hub's own API (/api/*): the hub and
	// LoginOrigins only. Every sibling may be allowed by CORS for the
	// upstream APIs behind /auth, but a page allowed to read /api/session
	// reads the CSRF token too, and can then act as the user at the hub.
	apiCORS *cors.Policy
	// hubRP is the WebAuthn relying party (hubPasskeys), or why there is
	// none (hubRPErr).
	hubRP    *mfa.Passkeys
	hubRPErr error
	// pipe runs logins: regulation, password checks, session minting.
	pipe *login.Pipeline
	// keyMu serialises API key creation, so the per-user limit holds.
	keyMu sync.Mutex
}

// New builds the server and its routes.
func New(opt Options) (*Server, error) {
	switch {
	case opt.Cookies == nil, opt.Codec == nil, opt.Store == nil, opt.CORS == nil:
		return nil, errors.New("server: Cookies, Codec, Store and CORS are required")
	case opt.Users == nil && opt.Password.Checker == nil && opt.Federation == nil:
		return nil, errors.New("server: no way to sign in: give Users, Password or Federation")
	case opt.SessionIdle <= 0 || opt.SessionMax <= 0:
		return nil, errors.New("server: SessionIdle and SessionMax must be positive")
	case len(opt.FormKey) < 32:
		return nil, errors.New("server: FormKey must be at least 32 bytes")
	case opt.MFA == nil && len(opt.MFARequiredGroups) > 0:
		return nil, errors.New("server: MFARequiredGroups needs MFA")
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Registry == nil {
		opt.Registry = prometheus.NewRegistry()
	}
	if opt.DefaultRedirect == "" {
		opt.DefaultRedirect = "/"
	}
	if opt.MaxKeysPerUser <= 0 {
		opt.MaxKeysPerUser = 100
	}
	if opt.Password.Checker == nil && opt.Users != nil {
		opt.Password = login.Password{Checker: login.Users(opt.Users)}
	}
	if opt.Users == nil {
		// Sessions of the users file are looked up live; without one,
		// such a session (from an earlier configuration) names nobody.
		opt.Users = noUsers{}
	}
	s := &Server{opt: opt, metrics: newMetrics(opt.Registry)}
	s.auth = &authz.Authenticator{
		Cookies:  opt.Cookies,
		Codec:    opt.Codec,
		Sessions: opt.Store,
		Keys:     opt.Store,
		Users:    opt.Users,
		Tokens:   opt.Tokens,
		Refresh:  opt.SessionRefresh,
		KeyTouch: opt.SessionRefresh,
		Now:      opt.Now,
		OnTouchError: func(err error) {
			opt.Log.Warn("store: could not record last use", "err", err)
		},
	}
	var err error
	s.pipe, err = login.New(login.Options{
		Cookies:     opt.Cookies,
		Codec:       opt.Codec,
		Sessions:    opt.Store,
		Password:    opt.Password,
		Secret:      opt.FormKey,
		SessionIdle: opt.SessionIdle,
		SessionMax:  opt.SessionMax,
		Regulation:  opt.Regulation,
		Limiter:     opt.Limiter,
		Memory:      opt.LoginMemory,
		Slots:       opt.LoginSlots,
		Wait:        opt.LoginWait,
		Second:      login.Second{MFA: opt.MFA, RequiredGroups: opt.MFARequiredGroups, TrustFederatedAMR: opt.MFATrustOIDCAMR},
		Observer:    login.Observers(login.ObserverFunc(s.observeLogin), login.ObserverFunc(s.auditLogin), opt.LoginObserver),
		Log:         opt.Log,
		Now:         opt.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	u, err := url.Parse(opt.LoginURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("server: LoginURL %q is not an absolute http(s) URL", opt.LoginURL)
	}
	s.hubOrigin = strings.ToLower(u.Scheme + "://" + u.Host)
	if s.apiCORS, err = HubAPIPolicy(opt.CORS, s.hubOrigin, opt.LoginOrigins); err != nil {
		return nil, fmt.Errorf("server: CORS policy of the hub's API: %w", err)
	}
	if opt.MFA != nil {
		s.hubRP, s.hubRPErr = hubPasskeys(opt.MFA, opt.Cookies, u.Hostname(), s.hubOrigin)
		if s.hubRPErr != nil {
			opt.Log.Warn("passkeys are not available", "setting", "SSO_LOGIN_URL", "err", s.hubRPErr)
		}
	}
	s.formCSP = formCSP(opt.Cookies.Domains(), opt.Cookies)
	s.engine = s.routes()
	return s, nil
}

// HubAPIPolicy is the CORS policy of the hub's own API (/api/*): the hub's
// origin and the LoginOrigins only, with the methods and headers of
// corsPolicy. sso doctor explains requests to the hub with it.
func HubAPIPolicy(corsPolicy *cors.Policy, hubOrigin string, loginOrigins *cors.Policy) (*cors.Policy, error) {
	origins := []string{hubOrigin}
	if loginOrigins != nil {
		origins = append(origins, loginOrigins.Config().Origins...)
	}
	return corsPolicy.WithOrigins(origins...)
}

// Handler returns the HTTP handler to serve.
func (s *Server) Handler() http.Handler { return s.engine }

// Authenticator returns the credential checker the server uses.
func (s *Server) Authenticator() *authz.Authenticator { return s.auth }

// Login returns the login pipeline the server uses: an adapter for another
// login method (the OIDC callback) mints its sessions with it.
func (s *Server) Login() *login.Pipeline { return s.pipe }

func (s *Server) routes() *gin.Engine {
	r := gin.New()
	// Gin trusts every proxy until told otherwise; ClientIP must only believe
	// X-Forwarded-For from the configured proxies.
	_ = r.SetTrustedProxies(s.opt.Proxies.Prefixes())
	r.RemoteIPHeaders = []string{"X-Forwarded-For", "X-Real-IP"}
	r.HandleMethodNotAllowed = true
	// Our forms are a few fields: never buffer big multipart bodies.
	r.MaxMultipartMemory = maxForm
	r.Use(s.recovery(), s.observe())
	r.NoRoute(func(c *gin.Context) { s.fail(c, errNotFound) })
	r.NoMethod(func(c *gin.Context) { s.fail(c, errMethod) })

	ah := &authz.Handler{
		Auth:     s.auth,
		CORS:     s.opt.CORS,
		Proxies:  s.opt.Proxies,
		LoginURL: s.opt.LoginURL,
		Log:      s.opt.Log,
		Observe:  s.metrics.observeAuth,
	}
	r.GET("/auth", gin.WrapH(ah))
	r.HEAD("/auth", gin.WrapH(ah))
	r.OPTIONS("/auth", gin.WrapH(ah))

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.opt.Registry, promhttp.HandlerOpts{})))
	r.GET("/.well-known/jwks.json", s.jwks)

	r.GET("/", s.home)
	r.GET("/login", s.loginPage)
	r.POST("/login", limitBody, s.loginSubmit)
	if s.opt.Federation != nil {
		r.GET("/oauth2/start/:id", s.oidcStart)
		r.GET("/oauth2/callback/:id", s.oidcCallback)
	}
	r.GET("/logout", s.logoutPage)
	r.POST("/logout", limitBody, s.logoutSubmit)
	// The account page's forms (account.go).
	r.GET("/assets/localtime.js", s.localTime)
	acc := r.Group("/account", limitBody, s.accountForm)
	acc.POST("/sessions/revoke", s.accountRevokeSession)
	acc.POST("/sessions/revoke-others", s.accountRevokeOthers)
	acc.POST("/keys", s.accountCreateKey)
	acc.POST("/keys/revoke", s.accountRevokeKey)
	if s.opt.MFA != nil {
		s.secondFactorRoutes(r)
	}
	if s.passwordlessOn() {
		s.passwordlessRoutes(r)
	}

	// CORS for the API is engine-wide middleware, not group middleware:
	// group middleware runs only on matched routes, and there are no OPTIONS
	// routes under /api, so preflights met Gin's 405 instead of the policy.
	apiCORS := gincors.New(s.apiCORS)
	r.Use(func(c *gin.Context) {
		if strings.HasPrefix(c.Request.URL.Path, "/api/") {
			apiCORS(c)
		}
	})
	api := r.Group("/api", noStore)
	api.POST("/session", s.createSession)
	api.GET("/session", s.requireSession, s.getSession)
	api.DELETE("/session", s.deleteSession)
	api.GET("/sessions", s.requireSession, s.listSessions)
	api.DELETE("/sessions", s.requireSession, s.csrf, s.revokeOtherSessions)
	api.DELETE("/sessions/:id", s.requireSession, s.csrf, s.revokeSession)
	api.POST("/keys", s.requireSession, s.csrf, s.createKey)
	api.GET("/keys", s.requireIdentity, s.listKeys)
	api.DELETE("/keys/:id", s.requireSession, s.csrf, s.deleteKey)
	api.POST("/token", s.requireIdentity, s.csrf, s.issueToken)
	return r
}

// maxForm bounds a login or logout form body.
const maxForm = 16 << 10

// limitBody stops reading a form body past maxForm; the form then fails to
// parse and the request is refused like any bad form.
func limitBody(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxForm)
	c.Next()
}

func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Next()
}

func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.opt.Store.Ping(ctx); err != nil {
		s.opt.Log.Warn("readyz: store does not answer", "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"error": "unavailable", "message": "session store does not answer"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

func (s *Server) jwks(c *gin.Context) {
	if s.opt.Tokens == nil {
		s.fail(c, errNotFound)
		return
	}
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/json", s.opt.Tokens.JWKS())
}

// requestHost is the host the browser addressed: X-Forwarded-Host only from a
// trusted proxy, the Host header otherwise.
func (s *Server) requestHost(r *http.Request) string {
	if s.opt.Proxies.Trusted(r) {
		if h := r.Header.Get("X-Forwarded-Host"); h != "" {
			h, _, _ = strings.Cut(h, ",")
			return strings.TrimSpace(h)
		}
	}
	return r.Host
}

// loginRequest is what the login pipeline needs of c.
func (s *Server) loginRequest(c *gin.Context, via string) login.Request {
	var devices []string
	for _, ck := range c.Request.CookiesNamed(s.pipe.DeviceCookieName()) {
		devices = append(devices, ck.Value)
	}
	return login.Request{
		ClientIP:      c.ClientIP(), // believes X-Forwarded-For only from trusted proxies
		UserAgent:     c.Request.UserAgent(),
		Host:          s.requestHost(c.Request),
		DeviceCookies: devices,
		Via:           via,
	}
}

// passwordLogin runs the pipeline's password method for c and sets the
// cookies it hands out (the device cookie) and, when it is busy,
// Retry-After.
func (s *Server) passwordLogin(c *gin.Context, req login.Request, name, password string) (login.Result, error) {
	res, err := s.pipe.Password(c.Request.Context(), req, name, password)
	if errors.Is(err, login.ErrBusy) {
		c.Header("Retry-After", "1")
	}
	for _, ck := range res.Cookies {
		http.SetCookie(c.Writer, ck)
	}
	return res, err
}

// mint creates the session of a finished login and sets its cookie. The
// browser's previous session, if any, is deleted: a login never reuses an
// id the browser brought. With cookies of several users, none is known to
// be this browser's own: they are left alone (the hub offers to sign out
// of them).
func (s *Server) mint(c *gin.Context, req login.Request, res login.Result) (login.Minted, error) {
	if old, err := s.auth.SessionsFromRequest(c.Request.Context(), c.Request); err == nil {
		for _, o := range old {
			req.Replace = append(req.Replace, o.ID)
		}
	}
	m, err := s.pipe.Mint(c.Request.Context(), res.Identity, res.Factors, req)
	if err != nil {
		return login.Minted{}, err
	}
	http.SetCookie(c.Writer, m.Cookie)
	return m, nil
}

// clearCookies removes the session cookie at the parent domain and any
// host-only copy of the same name. tossedPaths, when given, are URL paths
// (the hub's and the rd target's) under which copies a sibling set for the
// parent domain at a longer Path are deleted too: after an ambiguous
// request, so that a tossed cookie does not outlive the sign-out.
func (s *Server) clearCookies(c *gin.Context, tossedPaths ...string) {
	host := s.requestHost(c.Request)
	cookies, err := s.opt.Cookies.ClearCookies(host)
	if err != nil && len(cookies) == 0 {
		s.opt.Log.Warn("logout: no clearing cookie for host", "host", host, "err", err)
	}
	if len(tossedPaths) > 0 {
		more, _ := s.opt.Cookies.ClearAtPaths(host, tossedPaths...)
		cookies = append(cookies, more...)
	}
	for _, ck := range cookies {
		http.SetCookie(c.Writer, ck)
	}
}

// redirectTarget applies the contract's rd rule.
func (s *Server) redirectTarget(rd string) string {
	if rd != "" {
		if t, ok := redirect.Check(rd, s.opt.Cookies.Contains); ok {
			return t
		}
	}
	return s.opt.DefaultRedirect
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("server: random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func equalSecret(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// mac is HMAC-SHA256 under FormKey of label followed by msg.
func (s *Server) mac(label, msg string) []byte {
	m := hmac.New(sha256.New, s.opt.FormKey)
	m.Write([]byte(label))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// formTTL is how long a login or sign-out form may wait to be sent: a
// nonce/token pair harvested by someone else is useless after it.
const formTTL = 10 * time.Minute

// formToken signs a form nonce for purpose ("login", "signout") until exp:
// the nonce travels in a host-only cookie (__Host- when Secure, so no
// sibling can set it) and the token in a hidden field, so that a page
// elsewhere can neither post the form in the user's name nor bring its own
// nonce. The token is "<exp unix seconds>.<hex MAC>".
func (s *Server) formToken(purpose, nonce string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + hex.EncodeToString(s.mac("sso form v2|", purpose+"|"+e+"|"+nonce))
}

// formTokenValid checks a form token against the nonce cookie at now.
func (s *Server) formTokenValid(purpose, nonce, tok string, now time.Time) bool {
	e, _, ok := strings.Cut(tok, ".")
	if !ok || nonce == "" {
		return false
	}
	secs, err := strconv.ParseInt(e, 10, 64)
	if err != nil || !now.Before(time.Unix(secs, 0)) || time.Unix(secs, 0).After(now.Add(formTTL)) {
		return false
	}
	return equalSecret(tok, s.formToken(purpose, nonce, time.Unix(secs, 0)))
}

// formNonceCookie is the name of the form nonce cookie: a __Host- cookie
// whenever cookies are Secure, which browsers accept only from the host
// itself, Secure, without Domain and with Path=/ (RFC 6265bis §4.1.3.2).
func (s *Server) formNonceCookie() string {
	if s.opt.Cookies.Secure() {
		return "__Host-sso_form"
	}
	return "sso_form"
}

// newFormToken sets a fresh nonce cookie and returns the token for purpose.
func (s *Server) newFormToken(c *gin.Context, purpose string) (string, error) {
	nonce, err := randomToken()
	if err != nil {
		return "", err
	}
	http.SetCookie(c.Writer, &http.Cookie{
		Name: s.formNonceCookie(), Value: nonce, Path: "/", MaxAge: int(formTTL / time.Second),
		Secure: s.opt.Cookies.Secure(), HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
	return s.formToken(purpose, nonce, s.opt.Now().Add(formTTL)), nil
}

// checkFormToken reports whether the request's form_token field is valid for
// purpose with the request's nonce cookie, and comes from the hub's own
// origin (or a client that sends no Origin).
// Every copy of the nonce cookie is tried (a few at most): without __Host-
// (plain-HTTP dev mode) a sibling can set one that the browser sends first.
func (s *Server) checkFormToken(c *gin.Context, purpose string) bool {
	if !s.ownOrigin(c) {
		return false
	}
	tok, now := c.PostForm("form_token"), s.opt.Now()
	for i, ck := range c.Request.CookiesNamed(s.formNonceCookie()) {
		if i == 4 {
			break
		}
		if s.formTokenValid(purpose, ck.Value, tok, now) {
			return true
		}
	}
	return false
}

// dropFormNonce deletes the nonce cookie once its form has been used.
func (s *Server) dropFormNonce(c *gin.Context) {
	http.SetCookie(c.Writer, &http.Cookie{Name: s.formNonceCookie(), Path: "/", MaxAge: -1, Secure: s.opt.Cookies.Secure(), HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// formCSP lists where a form on our pages may post and be redirected to:
// ourselves and the cookie domains' hosts on any port, since Chromium applies
// form-action to the 303 after a login too.
func formCSP(domains []string, p *cookiedomain.Policy) string {
	src := []string{"'self'"}
	schemes := []string{"https"}
	if !p.Secure() {
		schemes = append(schemes, "http")
	}
	for _, d := range domains {
		for _, sc := range schemes {
			src = append(src, sc+"://"+d+":*", sc+"://*."+d+":*")
		}
	}
	// script-src 'self': the hub's own static files only (the account
	// page's localtime.js), never inline script.
	return "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action " + strings.Join(src, " ") + "; frame-ancestors 'none'; base-uri 'none'"
}
