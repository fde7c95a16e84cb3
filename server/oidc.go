package server

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/example/sso/federation"
	"github.com/example/sso/login"
	"github.com/example/sso/session"
	"github.com/example/sso/users"
)

// oidcStart is GET /oauth2/start/:id?rd=: it sends the browser to the
// provider (federation.Start sets the __Host- state cookie). It refuses a
// host under no cookie domain first, since the callback could not set a
// session cookie there.
func (s *Server) oidcStart(c *gin.Context) {
	host := s.requestHost(c.Request)
	if _, err := s.opt.Cookies.For(host); err != nil {
		s.fail(c, &login.HostError{Host: host, Err: err})
		return
	}
	id, rd := c.Param("id"), c.Query("rd")
	if err := s.opt.Federation.Start(c.Writer, c.Request, id, rd); err != nil {
		s.oidcFailed(c, id, rd, err)
		return
	}
	c.Abort()
}

// oidcCallback is GET /oauth2/callback/:id: the provider's redirect back.
// On success the pipeline mints a session of the mapped identity (source
// "oidc:<id>", factor "oidc"; no password regulation: no password was
// tried here) and the browser goes on to the rd kept by Start, unless the
// user must pass a second factor first (held, as after a password).
func (s *Server) oidcCallback(c *gin.Context) {
	host := s.requestHost(c.Request)
	if _, err := s.opt.Cookies.For(host); err != nil {
		s.fail(c, &login.HostError{Host: host, Err: err})
		return
	}
	id := c.Param("id")
	ident, rd, err := s.opt.Federation.Callback(c.Writer, c.Request, id)
	if err != nil {
		s.oidcFailed(c, id, "", err)
		return
	}
	req := s.loginRequest(c, "oidc")
	res := login.Result{
		Identity: login.Identity{User: ident.User, Email: ident.Email, Groups: ident.Groups, Source: "oidc:" + ident.Provider},
		Factors:  []session.Factor{login.Factor(login.Federated{Method: login.AMROIDC}, s.opt.Now())},
	}
	// The provider proved the first factor only: a user with a second
	// factor, or in a required group, passes it at the hub as after a
	// password, before any session exists. The page is shown here, not
	// behind a redirect: this navigation came from the provider's site,
	// and a browser sends no SameSite=Strict cookie (the pending login's)
	// on a redirect of a cross-site navigation; the page's own posts are
	// same-site.
	if st, err := s.holdSecond(c, res, rd); err != nil {
		s.opt.Log.Error("oidc sign-in: no session", "provider", id, "client", c.ClientIP(), "err", err)
		s.showLoginForm(c, http.StatusServiceUnavailable, rd, "Signing in is not possible right now. Please try again later.")
		return
	} else if st != nil {
		s.showFactor(c, http.StatusOK, st, "", "")
		return
	}
	if _, err := s.mint(c, req, res); err != nil {
		var he *login.HostError
		if errors.As(err, &he) {
			s.fail(c, err)
			return
		}
		s.opt.Log.Error("oidc sign-in: no session", "provider", id, "client", c.ClientIP(), "err", err)
		s.showLoginForm(c, http.StatusServiceUnavailable, rd, "Signing in is not possible right now. Please try again later.")
		return
	}
	s.opt.Log.Info("oidc sign-in", "provider", id, "user", ident.User, "client", c.ClientIP())
	c.Redirect(http.StatusSeeOther, s.redirectTarget(rd))
}

// oidcFailed answers a refused or failed OIDC step with the login page, the
// status federation.Status gives (404, 400, 403, 502; never 500) and a
// message of ours: the provider's own text goes to the log only. A
// *federation.DeniedError's Reason is written for the user and is shown.
func (s *Server) oidcFailed(c *gin.Context, id, rd string, err error) {
	status := federation.Status(err)
	name := id
	known := false
	for _, b := range s.opt.Federation.Buttons() {
		if b.ID == id {
			name, known = b.Name, true
		}
	}
	var (
		msg    string
		denied *federation.DeniedError
	)
	switch {
	case !known || errors.Is(err, federation.ErrUnknownProvider):
		msg = "There is no such sign-in provider here."
	case errors.As(err, &denied):
		msg = "Sign-in with " + name + " was refused: " + denied.Reason + "."
	case errors.Is(err, federation.ErrState):
		msg = "This sign-in was not started in this browser, expired or was already used. Please sign in again."
	case errors.Is(err, federation.ErrInvalid):
		msg = "Sign-in with " + name + " could not be completed: the answer was not valid. Please sign in again."
	default:
		msg = name + " cannot be reached right now. Please try again later."
	}
	level := s.opt.Log.Warn
	if status < 500 {
		level = s.opt.Log.Info
	}
	level("oidc sign-in failed", "provider", id, "status", status, "client", c.ClientIP(), "err", err)
	s.showLoginForm(c, status, rd, msg)
	c.Abort()
}

// noUsers is the users directory of a hub without a users file: nobody is
// in it, so a session or key of Source "" (from an earlier configuration)
// is refused and nothing signs in by password through it.
type noUsers struct{}

func (noUsers) Authenticate(string, string) (users.User, error) {
	return users.User{}, users.ErrInvalidCredentials
}

func (noUsers) Lookup(string) (users.User, bool) { return users.User{}, false }
