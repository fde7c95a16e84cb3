package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/example/sso/authz"
	"github.com/example/sso/login"
	"github.com/example/sso/mfa"
	"github.com/example/sso/users"
)

var (
	errNoPasswordless  = &apiError{http.StatusNotFound, "not_found", "passwordless sign-in is offered to users of the users file only"}
	errNotVerifying    = &apiError{http.StatusConflict, "passkey_not_verifying", "this passkey has not verified you (PIN or biometric): add a passkey for passwordless sign-in instead"}
	errPasswordlessOff = &apiError{http.StatusUnauthorized, "invalid_passkey", "the passkey's answer did not verify, or the passkey is not set up for passwordless sign-in"}
)

// passwordlessOn reports whether the hub offers passwordless sign-in: a
// second factor is configured and the password backend is the users file,
// which is looked up live at sign-in. LDAP users are not offered it: the
// directory is asked only with a password (a bind), so nothing would check
// at sign-in that the account still exists and is enabled; OIDC users sign
// in at their provider.
func (s *Server) passwordlessOn() bool {
	if s.opt.MFA == nil || s.opt.Password.Source != "" {
		return false
	}
	_, none := s.opt.Users.(noUsers)
	return !none
}

// passwordlessFor reports whether a session's user may set up passwordless
// sign-in: a users-file user on a hub that offers it.
func (s *Server) passwordlessFor(source string) bool {
	return s.passwordlessOn() && source == ""
}

// checkLoginToken admits a JSON call of the login page: the hub's own
// origin and the page's login form token in X-SSO-Form-Token.
func (s *Server) checkLoginToken(c *gin.Context) bool {
	if !s.ownOrigin(c) {
		return false
	}
	tok, now := c.GetHeader("X-SSO-Form-Token"), s.opt.Now()
	for i, ck := range c.Request.CookiesNamed(s.formNonceCookie()) {
		if i == 4 {
			break
		}
		if s.formTokenValid("login", ck.Value, tok, now) {
			return true
		}
	}
	return false
}

// passwordlessBegin is POST /login/passkey/begin: the options of a
// discoverable assertion (no allowed credentials, user verification
// required) for navigator.credentials.get().
func (s *Server) passwordlessBegin(c *gin.Context) {
	if !s.checkLoginToken(c) {
		s.fail(c, errFormToken)
		return
	}
	if ok, wait := s.ceremonies.allow(c.ClientIP(), s.opt.Now()); !ok {
		c.Header("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		c.AbortWithStatusJSON(http.StatusTooManyRequests, authz.ErrorBody{Error: "too_many_attempts", Message: "too many passkey sign-ins started from this address, try again later"})
		return
	}
	pk, err := s.passkeys(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	opts, id, err := pk.BeginDiscoverableLogin(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	http.SetCookie(c.Writer, s.opt.MFA.CeremonyCookie(id, s.opt.Cookies.Secure()))
	c.JSON(http.StatusOK, opts)
}

// passwordlessFinish is POST /login/passkey/finish?rd=: the browser's
// assertion. The credential must be marked passwordless and verify the
// user; its user must still be in the users file and enabled. Success
// mints a session whose factors are "user" and hwk or swk, which
// satisfies factor=2 (docs/second-factor.md).
func (s *Server) passwordlessFinish(c *gin.Context) {
	if !s.checkLoginToken(c) {
		s.fail(c, errFormToken)
		return
	}
	pk, err := s.passkeys(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	secure := s.opt.Cookies.Secure()
	id := mfa.CeremonyID(c.Request, secure)
	body := http.MaxBytesReader(c.Writer, c.Request.Body, mfa.MaxResponseBytes)
	check := func(ctx context.Context) (string, mfa.Result, error) {
		return pk.FinishDiscoverableLogin(ctx, id, body)
	}
	// check names the user by its second-factor key (login.MFAUser):
	// "file:ops:eve" is the users file's "ops:eve", never a user literally
	// named "file:ops:eve"; a key of another source is no users-file user.
	lookup := func(_ context.Context, key string) (login.Identity, error) {
		name, source := login.SplitMFAUser(key)
		if source != "" {
			return login.Identity{}, users.ErrInvalidCredentials
		}
		u, ok := s.opt.Users.Lookup(name)
		if !ok || u.Disabled {
			return login.Identity{}, users.ErrInvalidCredentials
		}
		return login.Identity{User: u.Name, Email: u.Email, Groups: u.Groups}, nil
	}
	req := s.loginRequest(c, "form")
	res, err := s.pipe.Passkey(c.Request.Context(), req, check, lookup)
	http.SetCookie(c.Writer, mfa.ClearCeremonyCookie(secure))
	switch {
	case errors.Is(err, mfa.ErrInvalidResponse), errors.Is(err, mfa.ErrNotEnrolled), errors.Is(err, users.ErrInvalidCredentials):
		s.fail(c, errPasswordlessOff)
		return
	case err != nil:
		s.fail(c, passkeyError(err))
		return
	}
	if _, err := s.mint(c, req, res); err != nil {
		s.fail(c, err)
		return
	}
	s.dropFormNonce(c)
	c.JSON(http.StatusOK, gin.H{"redirect": s.redirectTarget(c.Query("rd"))})
}

// passwordlessMark is POST /account/security/passkeys/passwordless (form:
// id, on "1" or "0"): marks a passkey for passwordless sign-in, or not.
func (s *Server) passwordlessMark(c *gin.Context) {
	sess, _, ok := s.securitySession(c, "", true)
	if !ok || !s.securityCSRF(c, sess) {
		return
	}
	if !s.passwordlessFor(sess.Source) {
		s.fail(c, errNoPasswordless)
		return
	}
	on := c.PostForm("on") == "1"
	err := s.opt.MFA.SetPasswordless(c.Request.Context(), mfaUser(sess), c.PostForm("id"), on)
	switch {
	case errors.Is(err, mfa.ErrNotFound):
		s.fail(c, &apiError{http.StatusNotFound, "not_found", "no such passkey"})
		return
	case errors.Is(err, mfa.ErrNotVerifying):
		s.fail(c, errNotVerifying)
		return
	case err != nil:
		s.fail(c, err)
		return
	}
	done := "passwordless-off"
	if on {
		done = "passwordless-on"
	}
	s.opt.Log.Info("passkey passwordless sign-in changed", "user", sess.User, "on", on)
	c.Redirect(http.StatusSeeOther, securityPath+"?done="+done)
}

func (s *Server) passwordlessRoutes(r *gin.Engine) {
	r.POST("/login/passkey/begin", noStore, s.passwordlessBegin)
	r.POST("/login/passkey/finish", noStore, s.passwordlessFinish)
	r.POST(securityPath+"/passkeys/passwordless", limitBody, s.passwordlessMark)
}
