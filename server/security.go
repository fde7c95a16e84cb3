package server

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/example/sso/login"
	"github.com/example/sso/mfa"
	"github.com/example/sso/session"
)

const securityPath = "/account/security"

// securityURL is the account security page, keeping rd when the rd rule
// would follow it.
func (s *Server) securityURL(rd string) string {
	if _, ok := s.checkedRD(rd); ok {
		return securityPath + "?rd=" + url.QueryEscape(rd)
	}
	return securityPath
}

// recentSecond is how recent a session's second factor must be for a
// change of factors on the account security page (removing one, adding
// another, new recovery codes, the passwordless mark). A session lives
// for hours; without this a stolen session cookie could mint recovery
// codes, or add its own passkey, that outlive the session. An older
// factor is confirmed again through the step-up link.
const recentSecond = 10 * time.Minute

// securitySession is the session of an account security request. Without
// one the browser is sent to sign in. A user who has a second factor may
// look at the page with any session, but changes need a session that
// passed it within recentSecond (a stolen password or session cookie
// alone must not remove or add factors): for them (change true) any other
// session is refused. stepUp tells the page to offer that step. A user
// with no factor yet may enrol a first one. ok false: answered.
func (s *Server) securitySession(c *gin.Context, rd string, change bool) (sess *session.Session, stepUp, ok bool) {
	sess, amb, ok := s.pageSessions(c)
	if !ok {
		return nil, false, false
	}
	if amb != nil {
		s.showAmbiguous(c, http.StatusUnauthorized, amb, "", "")
		return nil, false, false
	}
	if sess == nil {
		if change {
			s.fail(c, errNoSession)
		} else {
			c.Redirect(http.StatusSeeOther, "/login?rd="+url.QueryEscape(s.securityURL(rd)))
		}
		return nil, false, false
	}
	if login.HasSecond(sess.Factors, s.opt.Now().Add(-recentSecond)) {
		return sess, false, true
	}
	totp, keys, err := s.opt.MFA.Enrolled(c.Request.Context(), mfaUser(sess), "")
	if err != nil {
		s.fail(c, err)
		return nil, false, false
	}
	if (totp || keys > 0) && change {
		s.fail(c, errNeedSecond)
		return nil, false, false
	}
	return sess, totp || keys > 0, true
}

// securityCSRF checks a change on the account security page: the hub's own
// origin and the session's CSRF token (form field or X-CSRF-Token).
func (s *Server) securityCSRF(c *gin.Context, sess *session.Session) bool {
	tok := c.GetHeader("X-CSRF-Token")
	if tok == "" {
		tok = c.PostForm("csrf_token")
	}
	if s.ownOrigin(c) && equalSecret(tok, sess.CSRFToken) {
		return true
	}
	s.opt.Log.Info("csrf token refused", "user", sess.User, "path", c.FullPath())
	s.fail(c, errCSRF)
	return false
}

func (s *Server) securityPage(c *gin.Context) {
	rd := c.Query("rd")
	sess, stepUp, ok := s.securitySession(c, rd, false)
	if !ok {
		return
	}
	s.showSecurity(c, http.StatusOK, sess, rd, nil, "", c.Query("done"), stepUp)
}

var securityNotices = map[string]string{
	"passkey": "Passkey added.", "first-factor": "Second factor added.", "passkey-removed": "Passkey removed.", "totp-removed": "Authenticator app removed.",
	"passwordless-on": "The passkey now signs you in without a password.", "passwordless-off": "The passkey no longer signs you in without a password.",
}

// showSecurity renders the account security page; e, when set, is a TOTP
// enrolment under way.
func (s *Server) showSecurity(c *gin.Context, status int, sess *session.Session, rd string, e *mfa.Enrolment, msg, notice string, stepUp bool) {
	ctx := c.Request.Context()
	totp, err := s.opt.MFA.HasTOTP(ctx, mfaUser(sess))
	if err != nil {
		s.fail(c, err)
		return
	}
	left, err := s.opt.MFA.RecoveryCodesLeft(ctx, mfaUser(sess))
	if err != nil {
		s.fail(c, err)
		return
	}
	creds, err := s.opt.MFA.Credentials(ctx, mfaUser(sess))
	if err != nil {
		s.fail(c, err)
		return
	}
	d := factorData{Title: "Account security", Error: msg, Notice: securityNotices[notice], User: sess.User,
		CSRFToken: sess.CSRFToken, TOTP: totp, RecoveryLeft: left, Credentials: creds,
		Required: s.pipe.Required(login.Identity{Groups: sess.Groups}), StepUpURL: stepUpURL(stepUp, s.securityURL(rd)),
		Passwordless: s.passwordlessFor(sess.Source), RevokeOthers: notice == "first-factor"}
	if _, ok := s.checkedRD(rd); ok {
		d.RD = s.redirectTarget(rd)
	}
	if e != nil {
		d.Enrolling, d.QR, d.Secret = true, qrURL(e.PNG), e.Secret
	}
	s.renderFactor(c, status, "security.html", d, true)
}

// totpBegin is POST /account/security/totp: a new TOTP secret to scan.
func (s *Server) totpBegin(c *gin.Context) {
	rd := c.PostForm("rd")
	sess, _, ok := s.securitySession(c, rd, true)
	if !ok || !s.securityCSRF(c, sess) {
		return
	}
	e, err := s.opt.MFA.BeginTOTP(c.Request.Context(), mfaUser(sess), cmp.Or(sess.Email, sess.User))
	if err != nil {
		s.fail(c, err)
		return
	}
	http.SetCookie(c.Writer, s.opt.MFA.CeremonyCookie(e.ID, s.opt.Cookies.Secure()))
	s.showSecurity(c, http.StatusOK, sess, rd, e, "", "", false)
}

// totpConfirm is POST /account/security/totp/confirm: the first code. It
// proves the new factor, so the session steps up with it (a new session
// id); recovery codes are made when the user has none left.
func (s *Server) totpConfirm(c *gin.Context) {
	rd := c.PostForm("rd")
	sess, _, ok := s.securitySession(c, rd, true)
	if !ok || !s.securityCSRF(c, sess) {
		return
	}
	f, ok := s.confirmTOTP(c, mfaUser(sess), "account", func(msg string, status int) {
		s.showSecurity(c, status, sess, rd, nil, msg, "", false)
	})
	if !ok {
		return
	}
	m, err := s.pipe.StepUp(c.Request.Context(), sess, f, s.loginRequest(c, "account"))
	if err != nil {
		s.fail(c, err)
		return
	}
	http.SetCookie(c.Writer, m.Cookie)
	left, err := s.opt.MFA.RecoveryCodesLeft(c.Request.Context(), mfaUser(sess))
	if err != nil {
		s.fail(c, err)
		return
	}
	// The app is the first factor when there is no passkey either.
	_, keys, err := s.opt.MFA.Enrolled(c.Request.Context(), mfaUser(sess), "")
	if err != nil {
		s.fail(c, err)
		return
	}
	if left == 0 {
		revoke := ""
		if keys == 0 {
			revoke = m.Session.CSRFToken
		}
		s.showNewCodes(c, mfaUser(sess), s.securityURL(rd), revoke)
		return
	}
	next := s.securityURL(rd)
	if keys == 0 {
		next = securityPath + "?done=first-factor"
	}
	c.Redirect(http.StatusSeeOther, next)
}

// totpRemove is POST /account/security/totp/remove.
func (s *Server) totpRemove(c *gin.Context) {
	sess, _, ok := s.securitySession(c, "", true)
	if !ok || !s.securityCSRF(c, sess) {
		return
	}
	err := s.opt.MFA.RemoveTOTP(c.Request.Context(), mfaUser(sess))
	if err != nil && !errors.Is(err, mfa.ErrNotEnrolled) {
		s.fail(c, err)
		return
	}
	if err == nil {
		s.auditSecond(c, login.EventRemoved, mfa.AMROTP, mfaUser(sess), login.SecondTOTP)
	}
	c.Redirect(http.StatusSeeOther, securityPath+"?done=totp-removed")
}

// recoveryNew is POST /account/security/recovery: new codes, shown once;
// the old ones stop working.
func (s *Server) recoveryNew(c *gin.Context) {
	sess, _, ok := s.securitySession(c, "", true)
	if !ok || !s.securityCSRF(c, sess) {
		return
	}
	s.showNewCodes(c, mfaUser(sess), securityPath, "")
}

// registerBegin is POST /account/security/passkeys/begin (JSON).
func (s *Server) registerBegin(c *gin.Context) {
	sess, _, ok := s.securitySession(c, "", true)
	if !ok || !s.securityCSRF(c, sess) {
		return
	}
	pk, err := s.passkeys(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	begin := pk.BeginRegistration
	if c.Query("passwordless") == "1" {
		if !s.passwordlessFor(sess.Source) {
			s.fail(c, errNoPasswordless)
			return
		}
		begin = pk.BeginPasswordlessRegistration
	}
	opts, id, err := begin(c.Request.Context(), mfa.User{Name: mfaUser(sess), DisplayName: cmp.Or(sess.Email, sess.User)})
	if err != nil {
		s.fail(c, passkeyError(err))
		return
	}
	http.SetCookie(c.Writer, s.opt.MFA.CeremonyCookie(id, s.opt.Cookies.Secure()))
	c.JSON(http.StatusOK, opts)
}

// registerFinish is POST /account/security/passkeys/finish?name= (JSON:
// the browser's PublicKeyCredential).
func (s *Server) registerFinish(c *gin.Context) {
	sess, _, ok := s.securitySession(c, "", true)
	if !ok || !s.securityCSRF(c, sess) {
		return
	}
	pk, err := s.passkeys(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	secure := s.opt.Cookies.Secure()
	body := http.MaxBytesReader(c.Writer, c.Request.Body, mfa.MaxResponseBytes)
	info, err := pk.FinishRegistration(c.Request.Context(), mfa.CeremonyID(c.Request, secure), mfa.User{Name: mfaUser(sess), DisplayName: cmp.Or(sess.Email, sess.User)}, c.Query("name"), body)
	if err != nil {
		if !errors.Is(err, mfa.ErrInvalidName) {
			http.SetCookie(c.Writer, mfa.ClearCeremonyCookie(secure))
		}
		s.fail(c, passkeyError(err))
		return
	}
	http.SetCookie(c.Writer, mfa.ClearCeremonyCookie(secure))
	amr := mfa.AMRHardwareKey
	if info.Synced {
		amr = mfa.AMRSoftwareKey
	}
	s.auditSecond(c, login.EventEnrolled, amr, mfaUser(sess), login.SecondPasskey)
	done := "passkey"
	totp, keys, err := s.opt.MFA.Enrolled(c.Request.Context(), mfaUser(sess), "")
	if err == nil && !totp && keys == 1 {
		done = "first-factor" // the page offers to sign out the other sessions
	}
	c.JSON(http.StatusOK, gin.H{"id": info.ID, "name": info.Name, "redirect": securityPath + "?done=" + done})
}

// registerRemove is POST /account/security/passkeys/remove (form: id).
func (s *Server) registerRemove(c *gin.Context) {
	sess, _, ok := s.securitySession(c, "", true)
	if !ok || !s.securityCSRF(c, sess) {
		return
	}
	err := s.opt.MFA.RemoveCredential(c.Request.Context(), mfaUser(sess), c.PostForm("id"))
	if errors.Is(err, mfa.ErrNotFound) {
		s.fail(c, &apiError{http.StatusNotFound, "not_found", "no such passkey"})
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.auditSecond(c, login.EventRemoved, "", mfaUser(sess), login.SecondPasskey)
	c.Redirect(http.StatusSeeOther, securityPath+"?done=passkey-removed")
}

// auditSecond tells the pipeline's observers of a second-factor change of
// key (a login.MFAUser key: the event names the user and source apart).
func (s *Server) auditSecond(c *gin.Context, kind login.EventKind, amr, key string, what login.SecondKind) {
	s.secondEvent(c, kind, amr, key, "account", what)
}

// secondEvent tells the observers of a second-factor change made by the
// request c, with its client address and user agent (as for logins).
func (s *Server) secondEvent(c *gin.Context, kind login.EventKind, amr, key, via string, what login.SecondKind) {
	user, source := login.SplitMFAUser(key)
	s.pipe.Observe(c.Request.Context(), login.Event{Kind: kind, Method: amr, User: user, Source: source, ClientIP: c.ClientIP(),
		UserAgent: session.UserAgentSummary(c.Request.UserAgent()), Via: via, Detail: string(what)})
}

// mfaUser is the key of sess's user's second factors: a provider's or the
// directory's "alice" has factors of their own, not the users file's.
func mfaUser(sess *session.Session) string { return login.MFAUser(sess.User, sess.Source) }

// stepUpURL is the second-factor page that returns to back, when the
// session must step up before changes.
func stepUpURL(need bool, back string) string {
	if !need {
		return ""
	}
	return "/login/factor?rd=" + url.QueryEscape(back)
}
