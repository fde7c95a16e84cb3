package server

import (
	"cmp"
	"context"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/example/sso/authz"
	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/login"
	"github.com/example/sso/mfa"
	"github.com/example/sso/session"
)

//go:embed static/webauthn.js
var webauthnFS embed.FS

var (
	errSecondFactor = &apiError{http.StatusUnauthorized, "second_factor_required", "this account signs in with a second factor: sign in at the login hub"}
	errNoPending    = &apiError{http.StatusBadRequest, "login_expired", "the sign-in waiting for its second factor expired or was used: sign in again"}
	errFormToken    = &apiError{http.StatusForbidden, "csrf", "missing or wrong form token: reload the page"}
	errCeremony     = &apiError{http.StatusBadRequest, "ceremony_expired", "the passkey request expired or was used: try again"}
	errBadPasskey   = &apiError{http.StatusUnauthorized, "invalid_passkey", "the passkey's answer did not verify"}
	errBadName      = &apiError{http.StatusBadRequest, "bad_request", "a passkey name has at most 64 printable characters"}
	errTooManyPK    = &apiError{http.StatusConflict, "too_many_passkeys", "this account has the most passkeys allowed; remove one first"}
	errNoPasskeys   = &apiError{http.StatusNotFound, "passkeys_unavailable", "passkeys need the login hub's address (SSO_LOGIN_URL) under a cookie domain"}
	errNeedSecond   = &apiError{http.StatusForbidden, "second_factor_required", "this change needs a second factor passed in the last 10 minutes: pass it at /login/factor first"}
)

// factorData is what factor.html, security.html and codes.html show.
type factorData struct {
	Title, Error, Notice, User, FormToken, CSRFToken, RD string
	// factor.html
	Enrol, None, StepUp, TOTP, Passkeys, Script bool
	// security.html
	Enrolling, Required bool
	// RevokeOthers offers to sign out the other sessions (after a first
	// factor; codes.html and security.html).
	RevokeOthers bool
	StepUpURL    string // changes need the second factor first
	Passwordless bool   // passkeys may be set up for passwordless sign-in
	RecoveryLeft int
	Credentials  []mfa.CredentialInfo
	QR           template.URL
	Secret       string
	// codes.html
	Codes []string
	Next  string
}

// scriptCSP is the pages' CSP plus the hub's own script and fetches to
// itself: the WebAuthn calls need both; nothing inline is allowed.
func (s *Server) scriptCSP() string {
	csp := s.formCSP
	if !strings.Contains(csp, "script-src") {
		csp += "; script-src 'self'"
	}
	return csp + "; connect-src 'self'"
}

func (s *Server) renderFactor(c *gin.Context, status int, name string, d factorData, script bool) {
	csp := s.formCSP
	if script {
		csp = s.scriptCSP()
	}
	s.renderWith(c, status, name, d, csp)
}

func (s *Server) webauthnJS(c *gin.Context) {
	b, err := webauthnFS.ReadFile("static/webauthn.js")
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-cache")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, "text/javascript; charset=utf-8", b)
}

// factorState is whom the second-factor page is for: a login waiting for
// its second factor (pending), or a signed-in session stepping up.
type factorState struct {
	pending *login.Pending
	sess    *session.Session
	user    string // the login.MFAUser key: whose factors
	name    string // the user name, for the page
	email   string
}

var errNoFactorState = errors.New("server: no pending login and no session")

// factorState finds the pending login of the request's __Host- cookie, or
// else its session. errNoFactorState when neither; an answer is written
// for every other error (ok false).
func (s *Server) factorState(c *gin.Context) (*factorState, bool, error) {
	pd, err := s.pipe.Held(c.Request.Context(), c.Request, false)
	switch {
	case err == nil:
		return &factorState{pending: pd, user: pd.Identity.MFAUser(), name: pd.Identity.User, email: pd.Identity.Email}, true, nil
	case !errors.Is(err, login.ErrNoPending):
		s.fail(c, err)
		return nil, false, err
	}
	sess, amb, ok := s.pageSessions(c)
	if !ok {
		return nil, false, errors.New("server: session lookup failed")
	}
	if amb != nil {
		s.showAmbiguous(c, http.StatusUnauthorized, amb, c.Query("rd"), "")
		return nil, false, authz.ErrAmbiguous
	}
	if sess == nil {
		return nil, true, errNoFactorState
	}
	return &factorState{sess: sess, user: mfaUser(sess), name: sess.User, email: sess.Email}, true, nil
}

// passkeys is the hub's WebAuthn relying party (hubPasskeys).
func (s *Server) passkeys(*gin.Context) (*mfa.Passkeys, error) {
	if s.hubRP == nil {
		return nil, errNoPasskeys
	}
	return s.hubRP, nil
}

// hubPasskeys is the hub's WebAuthn relying party: the parent cookie
// domain of the hub's host as RP ID (so a credential serves every
// sibling's login redirect), and the hub's own origin, from LoginURL, as
// the only origin a ceremony's clientData may name. Never derived from a
// request's Host or X-Forwarded-Host: those would make a sibling page's
// origin acceptable, and a sibling (a compromised or user-content app)
// could then run ceremonies for the hub.
func hubPasskeys(m *mfa.Manager, cookies *cookiedomain.Policy, hubHost, hubOrigin string) (*mfa.Passkeys, error) {
	parent, err := cookies.For(hubHost)
	if err != nil {
		return nil, fmt.Errorf("the login hub's host %q is under no cookie domain: %w", hubHost, err)
	}
	return m.Passkeys(mfa.RP{ID: parent, Origins: []string{hubOrigin}})
}

// rpID is the relying party id of the hub's passkeys ("" when there are none).
func (s *Server) rpID(*gin.Context) string {
	if s.hubRP == nil {
		return ""
	}
	return s.hubRP.RPID()
}

func qrURL(png []byte) template.URL {
	// Built here from our own PNG: a data: URL html/template may trust.
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
}

// secondStep runs after a first factor: when the user must pass a second
// one, the login is held (no session yet), the browser gets the pending
// cookie and is sent to the second-factor page, and it returns true.
func (s *Server) secondStep(c *gin.Context, res login.Result, rd string) (bool, error) {
	st, err := s.holdSecond(c, res, rd)
	return st != nil, err
}

// holdSecond is secondStep returning whom the second-factor page is for
// (nil: not held), for a caller that shows that page at once.
func (s *Server) holdSecond(c *gin.Context, res login.Result, rd string) (*factorState, error) {
	need, err := s.pipe.NeedSecond(c.Request.Context(), res.Identity, res.Factors)
	if err != nil || !need.Second {
		return nil, err
	}
	ck, err := s.pipe.Hold(c.Request.Context(), res, rd, need.Enrol)
	if err != nil {
		return nil, err
	}
	http.SetCookie(c.Writer, ck)
	pd := &login.Pending{Identity: res.Identity, Factors: res.Factors, RD: rd, Enrol: need.Enrol, ID: ck.Value}
	return &factorState{pending: pd, user: res.Identity.User, email: res.Identity.Email}, nil
}

// factorPage is GET /login/factor: the second step of a login, or a
// step-up of a session that an upstream's factor=2 refused.
func (s *Server) factorPage(c *gin.Context) {
	st, ok, err := s.factorState(c)
	if !ok {
		return
	}
	rd := c.Query("rd")
	if errors.Is(err, errNoFactorState) {
		target := "/login"
		if rd != "" {
			target += "?rd=" + url.QueryEscape(rd)
		}
		c.Redirect(http.StatusSeeOther, target)
		return
	}
	s.showFactor(c, http.StatusOK, st, rd, "")
}

func (s *Server) showFactor(c *gin.Context, status int, st *factorState, rd, msg string) {
	ctx := c.Request.Context()
	tok, err := s.newFormToken(c, "factor")
	if err != nil {
		s.fail(c, err)
		return
	}
	totp, keys, err := s.opt.MFA.Enrolled(ctx, st.user, s.rpID(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	left, err := s.opt.MFA.RecoveryCodesLeft(ctx, st.user)
	if err != nil {
		s.fail(c, err)
		return
	}
	d := factorData{Title: "Second factor", Error: msg, User: st.name, FormToken: tok, RD: rd,
		StepUp: st.sess != nil, TOTP: totp, Passkeys: keys > 0, Script: keys > 0}
	switch {
	case st.pending != nil && st.pending.Enrol && !totp && keys == 0:
		e, err := s.opt.MFA.BeginTOTP(ctx, st.user, cmp.Or(st.email, st.name))
		if err != nil {
			s.fail(c, err)
			return
		}
		http.SetCookie(c.Writer, s.opt.MFA.CeremonyCookie(e.ID, s.opt.Cookies.Secure()))
		d.Enrol, d.QR, d.Secret, d.Title, d.Script = true, qrURL(e.PNG), e.Secret, "Set up a second factor", true
	case !totp && keys == 0 && left == 0:
		d.None = true
	}
	s.renderFactor(c, status, "factor.html", d, d.Script)
}

// codeKind tells a TOTP code (six digits) from a recovery code.
func codeKind(code string) login.SecondKind {
	digits := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
	if len(digits) == 6 && strings.Trim(digits, "0123456789") == "" {
		return login.SecondTOTP
	}
	return login.SecondRecovery
}

// factorSubmit is POST /login/factor: a TOTP or recovery code.
func (s *Server) factorSubmit(c *gin.Context) {
	st, ok, err := s.factorState(c)
	if !ok {
		return
	}
	rd := c.PostForm("rd")
	if errors.Is(err, errNoFactorState) {
		s.showLoginForm(c, http.StatusBadRequest, rd, "Your sign-in expired. Please sign in again.")
		return
	}
	if !s.checkFormToken(c, "factor") {
		s.showFactor(c, http.StatusForbidden, st, rd, "The form expired or came from another site. Please try again.")
		return
	}
	code := c.PostForm("code")
	kind := codeKind(code)
	m := s.opt.MFA
	check := func(ctx context.Context) (mfa.Result, error) {
		if kind == login.SecondTOTP {
			return m.VerifyTOTP(ctx, st.user, code)
		}
		return m.UseRecoveryCode(ctx, st.user, code)
	}
	req := s.loginRequest(c, "form")
	f, res, err := s.pipe.CheckSecond(c.Request.Context(), req, st.user, kind, check)
	if s.factorFailed(c, st, rd, err) {
		return
	}
	target, _, err := s.completeSecond(c, st, f, rd)
	if errors.Is(err, login.ErrNoPending) {
		s.showLoginForm(c, http.StatusBadRequest, rd, "Your sign-in expired. Please sign in again.")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.dropFormNonce(c)
	if res.Recovery {
		s.opt.Log.Info("recovery code used", "user", st.user, "left", res.Left)
	}
	c.Redirect(http.StatusSeeOther, target)
}

// factorFailed answers a refused or failed second factor on the page and
// reports whether it did.
func (s *Server) factorFailed(c *gin.Context, st *factorState, rd string, err error) bool {
	var be *login.BlockedError
	switch {
	case err == nil:
		return false
	case errors.Is(err, mfa.ErrInvalidCode), errors.Is(err, mfa.ErrNotEnrolled), errors.Is(err, mfa.ErrInvalidResponse):
		s.showFactor(c, http.StatusUnauthorized, st, rd, "That code is not valid (each code works once).")
	case errors.As(err, &be):
		c.Header("Retry-After", strconv.FormatInt(be.RetryAfter(), 10))
		s.showFactor(c, http.StatusTooManyRequests, st, rd, "Too many wrong codes. Please wait a few minutes and try again.")
	case errors.Is(err, login.ErrBusy):
		c.Header("Retry-After", "1")
		s.showFactor(c, http.StatusServiceUnavailable, st, rd, "Too many sign-ins at this moment. Please try again in a second.")
	default:
		s.opt.Log.Error("second factor failed", "client", c.ClientIP(), "err", err)
		s.showFactor(c, http.StatusServiceUnavailable, st, rd, "Signing in is not possible right now. Please try again later.")
	}
	return true
}

// completeSecond turns a passed second factor into a session: the pending
// login is used up and minted with both factors, or the session stepping
// up is replaced by one with the new factor. It returns where to go and
// the new session.
func (s *Server) completeSecond(c *gin.Context, st *factorState, f session.Factor, rd string) (string, *session.Session, error) {
	ctx := c.Request.Context()
	req := s.loginRequest(c, "form")
	if st.pending != nil {
		pd, err := s.pipe.Held(ctx, c.Request, true)
		if err != nil {
			return "", nil, err
		}
		if pd.Identity.MFAUser() != st.user {
			return "", nil, login.ErrNoPending
		}
		res := login.Result{Identity: pd.Identity, Factors: append(pd.Factors, f)}
		m, err := s.mint(c, req, res)
		if err != nil {
			return "", nil, err
		}
		http.SetCookie(c.Writer, s.pipe.ClearPendingCookie())
		return s.redirectTarget(pd.RD), m.Session, nil
	}
	m, err := s.pipe.StepUp(ctx, st.sess, f, req)
	if err != nil {
		return "", nil, err
	}
	http.SetCookie(c.Writer, m.Cookie)
	return s.redirectTarget(rd), m.Session, nil
}

// enrolSubmit is POST /login/factor/enrol: the first code of the TOTP a
// required-group member sets up during sign-in. The code proves the new
// factor, so the session is minted with it; recovery codes are shown once.
func (s *Server) enrolSubmit(c *gin.Context) {
	st, ok, err := s.factorState(c)
	if !ok {
		return
	}
	if err != nil || st.pending == nil || !st.pending.Enrol {
		s.showLoginForm(c, http.StatusBadRequest, "", "Your sign-in expired. Please sign in again.")
		return
	}
	if !s.checkFormToken(c, "factor") {
		s.showFactor(c, http.StatusForbidden, st, "", "The form expired or came from another site. Please try again.")
		return
	}
	f, ok := s.confirmTOTP(c, st.user, "form", func(msg string, status int) { s.showFactor(c, status, st, "", msg) })
	if !ok {
		return
	}
	target, sess, err := s.completeSecond(c, st, f, "")
	if errors.Is(err, login.ErrNoPending) {
		s.showLoginForm(c, http.StatusBadRequest, "", "Your sign-in expired. Please sign in again.")
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.dropFormNonce(c)
	// A required-group member enrols only with nothing enrolled: the first factor.
	s.showNewCodes(c, st.user, target, sess.CSRFToken)
}

// confirmTOTP confirms the TOTP enrolment of the request's ceremony cookie
// under regulation; on failure it calls fail with a message and status.
func (s *Server) confirmTOTP(c *gin.Context, user, via string, fail func(msg string, status int)) (session.Factor, bool) {
	secure := s.opt.Cookies.Secure()
	id := mfa.CeremonyID(c.Request, secure)
	code := c.PostForm("code")
	m := s.opt.MFA
	check := func(ctx context.Context) (mfa.Result, error) {
		if err := m.ConfirmTOTP(ctx, id, user, code); err != nil {
			return mfa.Result{}, err
		}
		return mfa.Result{AMR: mfa.AMROTP, At: s.opt.Now()}, nil
	}
	f, _, err := s.pipe.CheckSecond(c.Request.Context(), s.loginRequest(c, via), user, login.SecondTOTP, check)
	var be *login.BlockedError
	switch {
	case err == nil:
		http.SetCookie(c.Writer, mfa.ClearCeremonyCookie(secure))
		s.secondEvent(c, login.EventEnrolled, mfa.AMROTP, user, via, login.SecondTOTP)
		return f, true
	case errors.Is(err, mfa.ErrInvalidCode):
		fail("That code did not match. Check the app's clock and try the next code.", http.StatusUnauthorized)
	case errors.Is(err, mfa.ErrCeremony):
		fail("The set-up expired. Please start again.", http.StatusBadRequest)
	case errors.As(err, &be):
		c.Header("Retry-After", strconv.FormatInt(be.RetryAfter(), 10))
		fail("Too many wrong codes. Please wait a few minutes and try again.", http.StatusTooManyRequests)
	default:
		s.opt.Log.Error("totp enrolment failed", "client", c.ClientIP(), "err", err)
		fail("Setting up is not possible right now. Please try again later.", http.StatusServiceUnavailable)
	}
	return session.Factor{}, false
}

// showNewCodes makes user's recovery codes afresh and shows them once.
// revokeCSRF, when set (the CSRF token of the request's new session),
// offers to sign out the user's other sessions: after a first factor,
// sessions from before it (a stolen password's) still work otherwise.
func (s *Server) showNewCodes(c *gin.Context, user, next, revokeCSRF string) {
	codes, err := s.opt.MFA.NewRecoveryCodes(c.Request.Context(), user)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.secondEvent(c, login.EventEnrolled, mfa.AMROTP, user, "form", login.SecondRecovery)
	s.renderFactor(c, http.StatusOK, "codes.html", factorData{Title: "Recovery codes", Codes: codes, Next: next,
		CSRFToken: revokeCSRF, RevokeOthers: revokeCSRF != ""}, false)
}

// checkFactorToken admits a JSON call of the second-factor page: the hub's
// own origin and the page's form token in X-SSO-Form-Token.
func (s *Server) checkFactorToken(c *gin.Context) bool {
	if !s.ownOrigin(c) {
		return false
	}
	tok, now := c.GetHeader("X-SSO-Form-Token"), s.opt.Now()
	for i, ck := range c.Request.CookiesNamed(s.formNonceCookie()) {
		if i == 4 {
			break
		}
		if s.formTokenValid("factor", ck.Value, tok, now) {
			return true
		}
	}
	return false
}

// passkeyStep is what both halves of a passkey second factor start with:
// the pending login or session, the page's form token, the relying party.
// false: the answer is written.
func (s *Server) passkeyStep(c *gin.Context) (*factorState, *mfa.Passkeys, bool) {
	st, ok, err := s.factorState(c)
	if !ok {
		return nil, nil, false
	}
	if err != nil {
		s.fail(c, errNoPending)
		return nil, nil, false
	}
	if !s.checkFactorToken(c) {
		s.fail(c, errFormToken)
		return nil, nil, false
	}
	pk, err := s.passkeys(c)
	if err != nil {
		s.fail(c, err)
		return nil, nil, false
	}
	return st, pk, true
}

// passkeyBegin is POST /login/factor/passkey/begin: the options of a
// WebAuthn assertion for the pending login's or session's user.
func (s *Server) passkeyBegin(c *gin.Context) {
	st, pk, ok := s.passkeyStep(c)
	if !ok {
		return
	}
	opts, id, err := pk.BeginLogin(c.Request.Context(), mfa.User{Name: st.user})
	if errors.Is(err, mfa.ErrNotEnrolled) {
		s.fail(c, &apiError{http.StatusNotFound, "not_enrolled", "no passkey of this account is registered for this domain"})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	http.SetCookie(c.Writer, s.opt.MFA.CeremonyCookie(id, s.opt.Cookies.Secure()))
	c.JSON(http.StatusOK, opts)
}

// passkeyFinish is POST /login/factor/passkey/finish: the browser's
// assertion, checked under regulation; success mints or steps up.
func (s *Server) passkeyFinish(c *gin.Context) {
	st, pk, ok := s.passkeyStep(c)
	if !ok {
		return
	}
	secure := s.opt.Cookies.Secure()
	id := mfa.CeremonyID(c.Request, secure)
	body := http.MaxBytesReader(c.Writer, c.Request.Body, mfa.MaxResponseBytes)
	check := func(ctx context.Context) (mfa.Result, error) {
		return pk.FinishLogin(ctx, id, mfa.User{Name: st.user}, body)
	}
	f, _, err := s.pipe.CheckSecond(c.Request.Context(), s.loginRequest(c, "form"), st.user, login.SecondPasskey, check)
	http.SetCookie(c.Writer, mfa.ClearCeremonyCookie(secure))
	if err != nil {
		s.fail(c, passkeyError(err))
		return
	}
	target, _, err := s.completeSecond(c, st, f, c.Query("rd"))
	if errors.Is(err, login.ErrNoPending) {
		s.fail(c, errNoPending)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"redirect": target})
}

// enrolState is the pending login of a required-group member who must
// enrol, for the JSON calls of the enrolment page; nil when answered.
func (s *Server) enrolState(c *gin.Context) *factorState {
	st, ok, err := s.factorState(c)
	if !ok {
		return nil
	}
	if err != nil || st.pending == nil || !st.pending.Enrol {
		s.fail(c, errNoPending)
		return nil
	}
	if !s.checkFactorToken(c) {
		s.fail(c, errFormToken)
		return nil
	}
	return st
}

// enrolPasskeyBegin is POST /login/factor/passkey/register/begin: the
// registration options for a required-group member enrolling at sign-in.
func (s *Server) enrolPasskeyBegin(c *gin.Context) {
	st := s.enrolState(c)
	if st == nil {
		return
	}
	pk, err := s.passkeys(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	opts, id, err := pk.BeginRegistration(c.Request.Context(), mfa.User{Name: st.user, DisplayName: cmp.Or(st.email, st.name)})
	if err != nil {
		s.fail(c, passkeyError(err))
		return
	}
	http.SetCookie(c.Writer, s.opt.MFA.CeremonyCookie(id, s.opt.Cookies.Secure()))
	c.JSON(http.StatusOK, opts)
}

// enrolPasskeyFinish is POST /login/factor/passkey/register/finish: the
// new credential proves the factor (as the first TOTP code does), so the
// pending login is minted with it.
func (s *Server) enrolPasskeyFinish(c *gin.Context) {
	st := s.enrolState(c)
	if st == nil {
		return
	}
	pk, err := s.passkeys(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	secure := s.opt.Cookies.Secure()
	body := http.MaxBytesReader(c.Writer, c.Request.Body, mfa.MaxResponseBytes)
	var info mfa.CredentialInfo
	check := func(ctx context.Context) (mfa.Result, error) {
		var err error
		info, err = pk.FinishRegistration(ctx, mfa.CeremonyID(c.Request, secure), mfa.User{Name: st.user, DisplayName: cmp.Or(st.email, st.name)}, c.Query("name"), body)
		if err != nil {
			return mfa.Result{}, err
		}
		amr := mfa.AMRHardwareKey
		if info.Synced {
			amr = mfa.AMRSoftwareKey
		}
		return mfa.Result{AMR: amr, At: s.opt.Now(), Credential: info.ID}, nil
	}
	f, _, err := s.pipe.CheckSecond(c.Request.Context(), s.loginRequest(c, "form"), st.user, login.SecondPasskey, check)
	http.SetCookie(c.Writer, mfa.ClearCeremonyCookie(secure))
	if err != nil {
		s.fail(c, passkeyError(err))
		return
	}
	s.auditSecond(c, login.EventEnrolled, f.Method, st.user, login.SecondPasskey)
	target, _, err := s.completeSecond(c, st, f, "")
	if errors.Is(err, login.ErrNoPending) {
		s.fail(c, errNoPending)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"redirect": target})
}

// passkeyError maps the mfa package's refusals to answers.
func passkeyError(err error) error {
	switch {
	case errors.Is(err, mfa.ErrCeremony):
		return errCeremony
	case errors.Is(err, mfa.ErrInvalidResponse), errors.Is(err, mfa.ErrNotEnrolled), errors.Is(err, mfa.ErrInvalidCode):
		return errBadPasskey
	case errors.Is(err, mfa.ErrInvalidName):
		return errBadName
	case errors.Is(err, mfa.ErrTooMany):
		return errTooManyPK
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return badRequest("the passkey's answer is larger than %d bytes", mfa.MaxResponseBytes)
	}
	return err
}

// secondFactorRoutes adds the second step of logins, step-up and the
// account security page.
func (s *Server) secondFactorRoutes(r *gin.Engine) {
	r.GET("/static/webauthn.js", s.webauthnJS)
	r.GET("/login/factor", s.factorPage)
	r.POST("/login/factor", limitBody, s.factorSubmit)
	r.POST("/login/factor/enrol", limitBody, s.enrolSubmit)
	r.POST("/login/factor/passkey/begin", noStore, s.passkeyBegin)
	r.POST("/login/factor/passkey/finish", noStore, s.passkeyFinish)
	r.POST("/login/factor/passkey/register/begin", noStore, s.enrolPasskeyBegin)
	r.POST("/login/factor/passkey/register/finish", noStore, s.enrolPasskeyFinish)
	r.GET(securityPath, s.securityPage)
	r.POST(securityPath+"/totp", limitBody, s.totpBegin)
	r.POST(securityPath+"/totp/confirm", limitBody, s.totpConfirm)
	r.POST(securityPath+"/totp/remove", limitBody, s.totpRemove)
	r.POST(securityPath+"/recovery", limitBody, s.recoveryNew)
	r.POST(securityPath+"/passkeys/begin", noStore, s.registerBegin)
	r.POST(securityPath+"/passkeys/finish", noStore, s.registerFinish)
	r.POST(securityPath+"/passkeys/remove", limitBody, s.registerRemove)
}
