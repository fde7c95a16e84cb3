package server

import (
	"embed"
	"errors"
	"html/template"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/example/sso/authz"
	"github.com/example/sso/session"
	"github.com/example/sso/users"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

const loginNonceCookie = "sso_login_nonce"

type pageData struct {
	Title     string
	Error     string
	RD        string
	FormToken string
	CSRFToken string
	User      string
	Email     string
	Groups    []string
	Sessions  []*session.Session
	CurrentID string
}

func (s *Server) render(c *gin.Context, status int, name string, d pageData) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", s.formCSP)
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

// pageSession returns the browser's live session, or nil. A store failure is
// answered here and reported as handled.
func (s *Server) pageSession(c *gin.Context) (*session.Session, bool) {
	sess, err := s.auth.SessionFromRequest(c.Request.Context(), c.Request)
	if err == nil {
		return sess, true
	}
	if errors.Is(err, authz.ErrUnauthenticated) {
		return nil, true
	}
	s.fail(c, err)
	return nil, false
}

func (s *Server) home(c *gin.Context) {
	sess, ok := s.pageSession(c)
	if !ok {
		return
	}
	if sess == nil {
		c.Redirect(http.StatusSeeOther, "/login")
		return
	}
	list, err := s.opt.Store.List(c.Request.Context(), sess.User)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.render(c, http.StatusOK, "home.html", pageData{
		Title: "Signed in", User: sess.User, Email: sess.Email, Groups: sess.Groups,
		CSRFToken: sess.CSRFToken, Sessions: list, CurrentID: sess.ID,
	})
}

func (s *Server) loginPage(c *gin.Context) {
	if _, err := s.opt.Cookies.For(s.requestHost(c.Request)); err != nil {
		s.fail(c, &hostError{host: s.requestHost(c.Request), err: err})
		return
	}
	sess, ok := s.pageSession(c)
	if !ok {
		return
	}
	rd := c.Query("rd")
	if sess != nil {
		c.Redirect(http.StatusSeeOther, s.redirectTarget(rd))
		return
	}
	s.showLoginForm(c, http.StatusOK, rd, "")
}

func (s *Server) showLoginForm(c *gin.Context, status int, rd, msg string) {
	nonce, err := randomToken()
	if err != nil {
		s.fail(c, err)
		return
	}
	// Host-only, short-lived: it only has to survive until the form is sent.
	http.SetCookie(c.Writer, &http.Cookie{
		Name: loginNonceCookie, Value: nonce, Path: "/login", MaxAge: 3600,
		Secure: s.opt.Cookies.Secure(), HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	s.render(c, status, "login.html", pageData{Title: "Sign in", Error: msg, RD: rd, FormToken: s.formToken(nonce)})
}

func (s *Server) loginSubmit(c *gin.Context) {
	host := s.requestHost(c.Request)
	if _, err := s.opt.Cookies.For(host); err != nil {
		s.fail(c, &hostError{host: host, err: err})
		return
	}
	rd := c.PostForm("rd")
	nonce, err := c.Cookie(loginNonceCookie)
	if err != nil || !equalSecret(c.PostForm("form_token"), s.formToken(nonce)) || s.checkOrigin(c) != nil {
		s.showLoginForm(c, http.StatusForbidden, rd, "The form expired or came from another site. Please try again.")
		return
	}
	u, err := s.login(c, c.PostForm("username"), c.PostForm("password"))
	var be *blockedError
	if errors.Is(err, users.ErrInvalidCredentials) {
		s.metrics.logins.WithLabelValues("refused").Inc()
		s.opt.Log.Info("login refused", "client", c.ClientIP(), "via", "form")
		// One generic message: no hint whether the user exists.
		s.showLoginForm(c, http.StatusUnauthorized, rd, "Invalid username or password.")
		return
	}
	if errors.As(err, &be) {
		c.Header("Retry-After", be.retryAfter())
		s.showLoginForm(c, http.StatusTooManyRequests, rd, "Too many failed sign-ins. Please wait a few minutes and try again.")
		return
	}
	if errors.Is(err, errBusy) {
		s.showLoginForm(c, http.StatusServiceUnavailable, rd, "Too many sign-ins at this moment. Please try again in a second.")
		return
	}
	if err != nil {
		// A person gets the form back, not JSON; the cause is logged.
		s.opt.Log.Error("login failed", "client", c.ClientIP(), "via", "form", "err", err)
		s.showLoginForm(c, http.StatusServiceUnavailable, rd, "Signing in is not possible right now. Please try again later.")
		return
	}
	_, cookie, _, err := s.newSession(c, u)
	if err != nil {
		s.fail(c, err)
		return
	}
	http.SetCookie(c.Writer, cookie)
	http.SetCookie(c.Writer, &http.Cookie{Name: loginNonceCookie, Path: "/login", MaxAge: -1, Secure: s.opt.Cookies.Secure(), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	s.opt.Log.Info("login", "user", u.Name, "client", c.ClientIP(), "via", "form")
	c.Redirect(http.StatusSeeOther, s.redirectTarget(rd))
}

func (s *Server) logoutPage(c *gin.Context) {
	sess, ok := s.pageSession(c)
	if !ok {
		return
	}
	d := pageData{Title: "Sign out", RD: c.Query("rd")}
	if sess != nil {
		d.User, d.CSRFToken = sess.User, sess.CSRFToken
	}
	s.render(c, http.StatusOK, "logout.html", d)
}

// logoutSubmit deletes the session and clears the cookie at the parent domain
// and any host-only copy. The form carries the session's CSRF token, so
// another site cannot log the user out.
func (s *Server) logoutSubmit(c *gin.Context) {
	sess, ok := s.pageSession(c)
	if !ok {
		return
	}
	if sess != nil {
		if err := s.checkCSRF(c, sess); err != nil {
			if c.ContentType() == "application/x-www-form-urlencoded" {
				// A person gets the page back, with a form that works.
				s.render(c, http.StatusForbidden, "logout.html", pageData{
					Title: "Sign out", RD: c.PostForm("rd"), User: sess.User, CSRFToken: sess.CSRFToken,
					Error: "This sign-out form expired or came from another site. Sign out here instead.",
				})
				c.Abort()
				return
			}
			s.fail(c, err)
			return
		}
		if err := s.opt.Store.Delete(c.Request.Context(), sess.ID); err != nil {
			s.fail(c, err)
			return
		}
		s.opt.Log.Info("logout", "user", sess.User, "via", "form")
	}
	s.clearCookies(c)
	rd := c.PostForm("rd")
	if rd == "" {
		rd = c.Query("rd")
	}
	target := "/login"
	if rd != "" {
		target = s.redirectTarget(rd)
	}
	c.Redirect(http.StatusSeeOther, target)
}
