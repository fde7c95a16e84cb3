package server

import (
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/example/sso/authz"
	"github.com/example/sso/login"
	"github.com/example/sso/redirect"
	"github.com/example/sso/session"
	"github.com/example/sso/users"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

type pageData struct {
	Title     string
	Error     string
	RD        string
	FormToken string
	CSRFToken string
	User      string
	Email     string
	Groups    []string
	CurrentID string
	// Accounts and RDHost describe an ambiguous request (ambiguous.html).
	Accounts []string
	RDHost   string
	// Domains and HubURL tell a browser that asked by an unknown host
	// which hosts to use instead (unknownhost.html).
	Domains []string
	HubURL  string
	// Account is the account page's (home.html, key.html).
	Account *accountData
	// Link and LinkText lead on from a notice (notice.html).
	Link, LinkText string
	// Password: the login page offers the password form; Providers: a
	// button per upstream OpenID provider (Start links carrying RD).
	Password  bool
	Providers []providerButton
	// Passkey: the login page offers passwordless sign-in with a passkey.
	Passkey bool
}

// providerButton is one provider's button on the login page.
type providerButton struct {
	Name string
	URL  string // /oauth2/start/<id>?rd=…
	ID   string
}

func (s *Server) render(c *gin.Context, status int, name string, d pageData) {
	s.renderWith(c, status, name, d, s.formCSP)
}

// renderWith renders page name with d under the Content-Security-Policy csp.
func (s *Server) renderWith(c *gin.Context, status int, name string, d any, csp string) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer browsers send
	// "Origin: null" on form posts, which the origin check must refuse.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
	c.Status(status)
	if err := pages.ExecuteTemplate(c.Writer, name, d); err != nil {
		s.opt.Log.Error("render page", "page", name, "err", err)
	}
}

// pageSessions returns the browser's live session, or the sessions of
// different users its cookies name (ambiguous), or neither. A store failure
// is answered here and reported as not ok.
func (s *Server) pageSessions(c *gin.Context) (sess *session.Session, ambiguous []*session.Session, ok bool) {
	list, err := s.auth.SessionsFromRequest(c.Request.Context(), c.Request)
	switch {
	case err == nil:
		sess, err = s.auth.Touch(c.Request.Context(), list[0])
		if err == nil {
			return sess, nil, true
		}
		if errors.Is(err, authz.ErrUnauthenticated) {
			return nil, nil, true
		}
	case errors.Is(err, authz.ErrAmbiguous):
		if list == nil {
			// More signed cookies than are read: say so without names.
			list = []*session.Session{}
		}
		return nil, list, true
	case errors.Is(err, authz.ErrUnauthenticated):
		return nil, nil, true
	}
	s.fail(c, err)
	return nil, nil, false
}

func (s *Server) loginPage(c *gin.Context) {
	if _, err := s.opt.Cookies.For(s.requestHost(c.Request)); err != nil {
		s.fail(c, &login.HostError{Host: s.requestHost(c.Request), Err: err})
		return
	}
	sess, amb, ok := s.pageSessions(c)
	if !ok {
		return
	}
	rd := c.Query("rd")
	switch {
	case amb != nil:
		s.showAmbiguous(c, http.StatusUnauthorized, amb, rd, "")
	case c.Query("reason") == "ambiguous_session":
		// /auth saw cookies of several users where the hub may see one
		// (a tossed cookie's Path can leave the hub out): bouncing back
		// to rd would loop, signing out clears them under rd's path.
		s.showAmbiguous(c, http.StatusOK, nil, rd, "")
	case sess != nil:
		c.Redirect(http.StatusSeeOther, s.redirectTarget(rd))
	default:
		s.showLoginForm(c, http.StatusOK, rd, "")
	}
}

func (s *Server) showLoginForm(c *gin.Context, status int, rd, msg string) {
	tok, err := s.newFormToken(c, "login")
	if err != nil {
		s.fail(c, err)
		return
	}
	d := pageData{
		Title: "Sign in", Error: msg, RD: rd, FormToken: tok,
		Password: s.opt.Password.Checker != nil, Providers: s.providerButtons(rd),
		Passkey: s.passwordlessOn(),
	}
	csp := s.formCSP
	if d.Passkey {
		csp = s.scriptCSP() // webauthn.js and its fetches to the hub
	}
	s.renderWith(c, status, "login.html", d, csp)
}

// providerButtons are the login page's buttons, one per OIDC provider, in
// configuration order; each starts the provider's flow with rd.
func (s *Server) providerButtons(rd string) []providerButton {
	if s.opt.Federation == nil {
		return nil
	}
	var out []providerButton
	for _, b := range s.opt.Federation.Buttons() {
		u := "/oauth2/start/" + url.PathEscape(b.ID)
		if rd != "" {
			u += "?rd=" + url.QueryEscape(rd)
		}
		out = append(out, providerButton{Name: b.Name, URL: u, ID: b.ID})
	}
	return out
}

// showAmbiguous is the page for a browser whose cookies name sessions of
// different users: it says whose, and offers a sign-out that ends them all
// and clears the cookies, including tossed copies under rd's path.
func (s *Server) showAmbiguous(c *gin.Context, status int, list []*session.Session, rd, msg string) {
	tok, err := s.newFormToken(c, "signout")
	if err != nil {
		s.fail(c, err)
		return
	}
	var accounts []string
	for _, x := range list {
		if !slices.Contains(accounts, x.User) {
			accounts = append(accounts, x.User)
		}
	}
	d := pageData{Title: "Several accounts", Error: msg, RD: rd, FormToken: tok, Accounts: accounts}
	if u, ok := s.checkedRD(rd); ok {
		d.RDHost = u.Host
	}
	s.render(c, status, "ambiguous.html", d)
}

// checkedRD parses rd when the contract's rd rule would follow it.
func (s *Server) checkedRD(rd string) (*url.URL, bool) {
	if rd == "" {
		return nil, false
	}
	t, ok := redirect.Check(rd, s.opt.Cookies.Contains)
	if !ok {
		return nil, false
	}
	u, err := url.Parse(t)
	return u, err == nil
}

func (s *Server) loginSubmit(c *gin.Context) {
	host := s.requestHost(c.Request)
	if _, err := s.opt.Cookies.For(host); err != nil {
		s.fail(c, &login.HostError{Host: host, Err: err})
		return
	}
	rd := c.PostForm("rd")
	if !s.checkFormToken(c, "login") {
		s.showLoginForm(c, http.StatusForbidden, rd, "The form expired or came from another site. Please try again.")
		return
	}
	req := s.loginRequest(c, "form")
	res, err := s.passwordLogin(c, req, c.PostForm("username"), c.PostForm("password"))
	var be *login.BlockedError
	if errors.Is(err, users.ErrInvalidCredentials) {
		// One generic message: no hint whether the user exists.
		s.showLoginForm(c, http.StatusUnauthorized, rd, "Invalid username or password.")
		return
	}
	if errors.As(err, &be) {
		c.Header("Retry-After", strconv.FormatInt(be.RetryAfter(), 10))
		s.showLoginForm(c, http.StatusTooManyRequests, rd, "Too many failed sign-ins. Please wait a few minutes and try again.")
		return
	}
	if errors.Is(err, login.ErrBusy) {
		s.showLoginForm(c, http.StatusServiceUnavailable, rd, "Too many sign-ins at this moment. Please try again in a second.")
		return
	}
	if errors.Is(err, login.ErrNoMethod) {
		s.showLoginForm(c, http.StatusNotFound, rd, "Password sign-in is not offered here. Use a provider below.")
		return
	}
	if err != nil {
		// A person gets the form back, not JSON; the cause is logged.
		s.opt.Log.Error("login failed", "client", c.ClientIP(), "via", "form", "err", err)
		s.showLoginForm(c, http.StatusServiceUnavailable, rd, "Signing in is not possible right now. Please try again later.")
		return
	}
	if held, err := s.secondStep(c, res, rd); err != nil {
		s.opt.Log.Error("login failed", "client", c.ClientIP(), "via", "form", "err", err)
		s.showLoginForm(c, http.StatusServiceUnavailable, rd, "Signing in is not possible right now. Please try again later.")
		return
	} else if held {
		// No session before the second factor: the pending cookie names
		// the login, the page asks for the factor.
		s.dropFormNonce(c)
		c.Redirect(http.StatusSeeOther, "/login/factor")
		return
	}
	if _, err := s.mint(c, req, res); err != nil {
		s.fail(c, err)
		return
	}
	s.dropFormNonce(c)
	c.Redirect(http.StatusSeeOther, s.redirectTarget(rd))
}

func (s *Server) logoutPage(c *gin.Context) {
	sess, amb, ok := s.pageSessions(c)
	if !ok {
		return
	}
	rd := c.Query("rd")
	if amb != nil {
		s.showAmbiguous(c, http.StatusUnauthorized, amb, rd, "")
		return
	}
	d := pageData{Title: "Sign out", RD: rd}
	if sess != nil {
		d.User, d.CSRFToken = sess.User, sess.CSRFToken
	}
	s.render(c, http.StatusOK, "logout.html", d)
}

// logoutSubmit ends the sessions the browser's cookies name and clears the
// cookies at the parent domain and any host-only copy. It acts only on
// proof that the hub's own page sent it: the session's CSRF token, or the
// form token of the sign-out offered for ambiguous cookies (bound to a
// __Host- nonce). Anything else, such as a form another site posts (which
// under SameSite=Lax arrives without the session cookie), gets the page back
// and no Set-Cookie: no site can log a user out.
func (s *Server) logoutSubmit(c *gin.Context) {
	list, err := s.auth.SessionsFromRequest(c.Request.Context(), c.Request)
	ambiguous := errors.Is(err, authz.ErrAmbiguous)
	if err != nil && !errors.Is(err, authz.ErrUnauthenticated) {
		s.fail(c, err)
		return
	}
	rd := c.PostForm("rd")
	if rd == "" {
		rd = c.Query("rd")
	}
	proven := s.checkFormToken(c, "signout")
	if !proven && err == nil {
		proven = s.checkCSRF(c, list[0]) == nil
	}
	if !proven {
		s.opt.Log.Info("logout refused: no proof it came from the hub's page", "client", c.ClientIP())
		const msg = "This sign-out form expired or came from another site. Sign out here instead."
		switch {
		case ambiguous:
			s.showAmbiguous(c, http.StatusForbidden, list, rd, msg)
		case c.ContentType() != "application/x-www-form-urlencoded" && len(list) > 0:
			s.fail(c, errCSRF)
		default:
			// A person gets the page back, with a form that works.
			d := pageData{Title: "Sign out", RD: rd, Error: msg}
			if len(list) > 0 {
				d.User, d.CSRFToken = list[0].User, list[0].CSRFToken
			}
			s.render(c, http.StatusForbidden, "logout.html", d)
		}
		c.Abort()
		return
	}
	if c.PostForm("scope") == "all" && !ambiguous && len(list) > 0 {
		// "Sign out everywhere": the user's other sessions first, so that
		// a failure leaves this browser signed in to try again.
		if _, err := s.endUserSessions(c, list[0], "form"); err != nil {
			s.fail(c, err)
			return
		}
	}
	if err := s.endSessions(c, list, ambiguous, "form"); err != nil {
		s.fail(c, err)
		return
	}
	if ambiguous || c.PostForm("tossed") == "1" {
		paths := []string{"/login", "/logout", c.Request.URL.Path}
		if u, ok := s.checkedRD(rd); ok {
			paths = append(paths, u.EscapedPath())
		}
		s.clearCookies(c, paths...)
	} else {
		s.clearCookies(c)
	}
	s.dropFormNonce(c)
	target := "/login"
	if rd != "" {
		target = s.redirectTarget(rd)
	}
	c.Redirect(http.StatusSeeOther, target)
}
