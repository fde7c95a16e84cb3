package server

import (
	"embed"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/example/sso/authz"
	"github.com/example/sso/session"
)

// The account page is the hub's signed-in page (GET /): who you are, your
// sessions and API keys, with plain HTML forms that POST under /account/.
// Every form carries the session's CSRF token and must come from the hub's
// own origin (accountForm); the only script is static/localtime.js, served
// by the hub itself (CSP script-src 'self'), which shows the times in the
// browser's time zone.

//go:embed static/localtime.js
var staticFS embed.FS

var localTimeJS = mustRead(staticFS, "static/localtime.js")

func mustRead(fs embed.FS, name string) []byte {
	b, err := fs.ReadFile(name)
	if err != nil {
		panic(err) // embedded at build time: cannot happen at run time
	}
	return b
}

// timeView is a time as the account page shows it: RFC 3339 for the
// <time datetime> attribute and UTC text; both empty for the zero time.
type timeView struct{ ISO, UTC string }

func viewTime(t time.Time) timeView {
	if t.IsZero() {
		return timeView{}
	}
	u := t.UTC()
	return timeView{ISO: u.Format(time.RFC3339), UTC: u.Format("2006-01-02 15:04 UTC")}
}

type sessionView struct {
	ID, Browser, IP           string
	Created, LastSeen, Expiry timeView
	Current                   bool
}

type keyView struct {
	ID, Name                  string
	Created, LastUsed, Expiry timeView
}

// keyLifetimes are the expiries the account page offers; "" is never.
var keyLifetimes = []struct{ Value, Label string }{
	{"1d", "1 day"}, {"7d", "7 days"}, {"30d", "30 days"}, {"90d", "90 days"}, {"365d", "1 year"}, {"never", "never"},
}

var keyLifetime = map[string]time.Duration{
	"1d": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour,
	"90d": 90 * 24 * time.Hour, "365d": 365 * 24 * time.Hour, "never": 0,
}

// doneNotes are the confirmations the account page shows after a form,
// by the done= its redirect carries (never free text from the URL).
var doneNotes = map[string]string{
	"session_revoked":  "The session was signed out.",
	"sessions_revoked": "Every other session was signed out.",
	"key_revoked":      "The API key was revoked.",
}

// accountData is what home.html shows besides pageData's identity.
type accountData struct {
	SessionList []sessionView
	Keys        []keyView
	Lifetimes   []struct{ Value, Label string }
	Notice      string
	// NewKey is the key just created, shown once (key.html).
	NewKey     string
	NewKeyInfo keyView
}

// home is GET /: the account page of a signed-in browser.
func (s *Server) home(c *gin.Context) {
	sess, amb, ok := s.pageSessions(c)
	if !ok {
		return
	}
	if amb != nil {
		s.showAmbiguous(c, http.StatusUnauthorized, amb, "", "")
		return
	}
	if sess == nil {
		c.Redirect(http.StatusSeeOther, "/login")
		return
	}
	s.showAccount(c, http.StatusOK, sess, "", doneNotes[c.Query("done")])
}

// showAccount renders the account page of sess with an error or a notice.
func (s *Server) showAccount(c *gin.Context, status int, sess *session.Session, msg, notice string) {
	ctx := c.Request.Context()
	list, err := s.opt.Store.List(ctx, sess.User)
	if err != nil {
		s.fail(c, err)
		return
	}
	keys, err := s.opt.Store.ListKeys(ctx, sess.User)
	if err != nil {
		s.fail(c, err)
		return
	}
	acc := &accountData{Lifetimes: keyLifetimes, Notice: notice}
	for _, x := range list {
		acc.SessionList = append(acc.SessionList, sessionView{
			ID: x.ID, Browser: x.UserAgent, IP: x.IP, Current: x.ID == sess.ID,
			Created: viewTime(x.CreatedAt), LastSeen: viewTime(x.LastSeen), Expiry: viewTime(x.Deadline()),
		})
	}
	for _, k := range keys {
		acc.Keys = append(acc.Keys, viewKey(k))
	}
	s.render(c, status, "home.html", pageData{
		Title: "Your account", Error: msg, User: sess.User, Email: sess.Email, Groups: sess.Groups,
		CSRFToken: sess.CSRFToken, CurrentID: sess.ID, Account: acc,
	})
}

func viewKey(k *session.APIKey) keyView {
	return keyView{ID: k.ID, Name: k.Name, Created: viewTime(k.CreatedAt), LastUsed: viewTime(k.LastUsed), Expiry: viewTime(k.ExpiresAt)}
}

// accountForm admits a POST of the account page: a live session, the
// session's CSRF token in the form, and the hub's own origin (a sibling's
// page is refused even when SSO_LOGIN_ORIGINS lists it: these forms are
// the hub's alone). Refusals are pages with a precise status.
func (s *Server) accountForm(c *gin.Context) {
	sess, amb, ok := s.pageSessions(c)
	switch {
	case !ok:
		c.Abort()
		return
	case amb != nil:
		s.showAmbiguous(c, http.StatusUnauthorized, amb, "", "")
		c.Abort()
		return
	case sess == nil:
		s.notice(c, http.StatusUnauthorized, "Not signed in", "You are not signed in (any more).", "/login", "Sign in")
		return
	}
	if !s.ownOrigin(c) || !equalSecret(c.PostForm("csrf_token"), sess.CSRFToken) {
		s.opt.Log.Info("account form refused: no proof it came from the hub's page", "user", sess.User, "path", c.FullPath(), "client", c.ClientIP())
		s.notice(c, http.StatusForbidden, "Form refused", "This form expired or came from another site. Nothing was changed.", "/", "Back to your account")
		return
	}
	c.Set(ctxIdentity, authz.Identity{User: sess.User, Email: sess.Email, Groups: sess.Groups, Method: authz.MethodSession, Session: sess})
	c.Next()
}

// notice answers a refused account form with a short page and aborts.
func (s *Server) notice(c *gin.Context, status int, title, msg, link, linkText string) {
	s.render(c, status, "notice.html", pageData{Title: title, Error: msg, Link: link, LinkText: linkText})
	c.Abort()
}

// accountFail answers an account form whose action failed: a refusal the
// person can act on is a page with its status, anything else is fail's.
func (s *Server) accountFail(c *gin.Context, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		s.notice(c, ae.status, "Not done", upperFirst(ae.message)+".", "/", "Back to your account")
		return
	}
	s.fail(c, err)
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// accountRevokeSession is POST /account/sessions/revoke (id): signs out
// one session of the user. The browser's own: as the sign-out does.
func (s *Server) accountRevokeSession(c *gin.Context) {
	cur := currentSession(c)
	id := c.PostForm("id")
	if id == "" {
		s.accountFail(c, badRequest("the form names no session"))
		return
	}
	if err := s.endUserSession(c, cur, id, "account"); err != nil {
		s.accountFail(c, err)
		return
	}
	if id == cur.ID {
		s.clearCookies(c)
		c.Redirect(http.StatusSeeOther, "/login")
		return
	}
	c.Redirect(http.StatusSeeOther, "/?done=session_revoked")
}

// accountRevokeOthers is POST /account/sessions/revoke-others.
func (s *Server) accountRevokeOthers(c *gin.Context) {
	if _, err := s.endUserSessions(c, currentSession(c), "account"); err != nil {
		s.accountFail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/?done=sessions_revoked")
}

// accountCreateKey is POST /account/keys (name, expires): the answer is a
// page that shows the key once (no-store, like every page of the hub).
func (s *Server) accountCreateKey(c *gin.Context) {
	cur := currentSession(c)
	life, ok := keyLifetime[c.PostForm("expires")]
	if !ok {
		s.showAccount(c, http.StatusBadRequest, cur, "Choose when the key expires.", "")
		return
	}
	key, k, err := s.newKey(c, cur, c.PostForm("name"), life, "account")
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusBadRequest {
		s.showAccount(c, http.StatusBadRequest, cur, "Give the key a name of at most 100 bytes.", "")
		return
	}
	if err != nil {
		s.accountFail(c, err)
		return
	}
	s.render(c, http.StatusCreated, "key.html", pageData{
		Title: "New API key", User: cur.User,
		Account: &accountData{NewKey: key, NewKeyInfo: viewKey(k)},
	})
}

// accountRevokeKey is POST /account/keys/revoke (id).
func (s *Server) accountRevokeKey(c *gin.Context) {
	id := c.PostForm("id")
	if id == "" {
		s.accountFail(c, badRequest("the form names no API key"))
		return
	}
	if err := s.dropKey(c, currentSession(c), id, "account"); err != nil {
		s.accountFail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, "/?done=key_revoked")
}

// localTime serves static/localtime.js, the account page's one script.
func (s *Server) localTime(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=3600")
	c.Data(http.StatusOK, "text/javascript; charset=utf-8", localTimeJS)
}
