package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/example/sso/apikey"
	"github.com/example/sso/audit"
	"github.com/example/sso/authz"
	"github.com/example/sso/session"
	"github.com/example/sso/token"
)

const (
	ctxIdentity = "sso.identity"
	maxBody     = 64 << 10
)

type userJSON struct {
	Name   string   `json:"name"`
	Email  string   `json:"email"`
	Groups []string `json:"groups"`
}

type sessionCookieJSON struct {
	Name      string    `json:"name"`
	Value     string    `json:"value,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

type sessionJSON struct {
	User      userJSON          `json:"user"`
	Session   sessionCookieJSON `json:"session"`
	CSRFToken string            `json:"csrf_token"`
}

func userOf(name, email string, groups []string) userJSON {
	if groups == nil {
		groups = []string{}
	}
	return userJSON{Name: name, Email: email, Groups: groups}
}

// decodeJSON reads a small JSON body into v. Requiring the JSON media type
// means a cross-origin caller always needs a preflight, which the CORS policy
// answers.
func decodeJSON(c *gin.Context, v any) error {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		return errContentType
	}
	dec := json.NewDecoder(io.LimitReader(c.Request.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

// createSession is POST /api/session: a login for scripts and single-page
// apps. The cookie value in the answer works from any other process.
func (s *Server) createSession(c *gin.Context) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decodeJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	if in.Username == "" || in.Password == "" {
		s.fail(c, badRequest("username and password are required"))
		return
	}
	if err := s.checkLoginOrigin(c); err != nil {
		s.fail(c, err)
		return
	}
	req := s.loginRequest(c, "api")
	res, err := s.passwordLogin(c, req, in.Username, in.Password)
	if err != nil {
		s.fail(c, err)
		return
	}
	// A script cannot pass a second factor here: such an account signs in
	// at the hub. Nothing is held and no session made.
	if need, err := s.pipe.NeedSecond(c.Request.Context(), res.Identity, res.Factors); err != nil {
		s.fail(c, err)
		return
	} else if need.Second {
		s.fail(c, errSecondFactor)
		return
	}
	m, err := s.mint(c, req, res)
	if err != nil {
		s.fail(c, err)
		return
	}
	id := res.Identity
	c.JSON(http.StatusCreated, sessionJSON{
		User:      userOf(id.User, id.Email, id.Groups),
		Session:   sessionCookieJSON{Name: m.Cookie.Name, Value: m.Value, ExpiresAt: m.Session.ExpiresAt.UTC()},
		CSRFToken: m.Session.CSRFToken,
	})
}

func (s *Server) getSession(c *gin.Context) {
	sess := currentSession(c)
	c.JSON(http.StatusOK, sessionJSON{
		User:      userOf(sess.User, sess.Email, sess.Groups),
		Session:   sessionCookieJSON{Name: s.opt.Cookies.Name(), ExpiresAt: sess.ExpiresAt.UTC()},
		CSRFToken: sess.CSRFToken,
	})
}

// deleteSession is DELETE /api/session, the JSON logout. Without a live
// session it still clears the cookies (logging out is idempotent), for a
// request from an allowed origin or none. With cookies of several users it
// ends every session they name and clears them: DELETE needs a preflight
// from another origin, which only allowed origins pass.
func (s *Server) deleteSession(c *gin.Context) {
	list, err := s.auth.SessionsFromRequest(c.Request.Context(), c.Request)
	ambiguous := errors.Is(err, authz.ErrAmbiguous)
	switch {
	case err == nil:
		if err := s.checkCSRF(c, list[0]); err != nil {
			s.fail(c, err)
			return
		}
	case ambiguous, errors.Is(err, authz.ErrUnauthenticated):
		if err := s.checkOrigin(c); err != nil {
			s.fail(c, err)
			return
		}
	default:
		s.fail(c, err)
		return
	}
	if err := s.endSessions(c, list, ambiguous, "api"); err != nil {
		s.fail(c, err)
		return
	}
	if ambiguous {
		s.clearCookies(c, c.Request.URL.Path)
	} else {
		s.clearCookies(c)
	}
	c.Status(http.StatusNoContent)
}

// endSessions deletes each session of list and logs the logout. With
// ambiguous cookies it deletes every session the request's signed cookies
// name as well, read or not (more than sso reads per request): the user
// asked to sign out of everything this browser holds. With no live session
// (list empty) it deletes what the signed cookies name all the same,
// without an audit event: nothing was live, but this may be the retry of a
// logout whose invalidation was not published, and the delete publishes it
// again (cheap, idempotent; only ids sso signed).
func (s *Server) endSessions(c *gin.Context, list []*session.Session, ambiguous bool, via string) error {
	for _, sess := range list {
		if err := s.opt.Store.Delete(c.Request.Context(), sess.ID); err != nil {
			return err
		}
		s.audit(c, audit.Event{Name: audit.Logout, User: sess.User, Session: audit.SessionRef(sess.ID), Outcome: audit.OK, Via: via})
	}
	if !ambiguous && len(list) > 0 {
		return nil
	}
	ids, _ := s.auth.SignedSessionIDs(c.Request)
	for _, id := range ids {
		if slices.ContainsFunc(list, func(x *session.Session) bool { return x.ID == id }) {
			continue
		}
		if err := s.opt.Store.Delete(c.Request.Context(), id); err != nil {
			return err
		}
		if !ambiguous {
			continue
		}
		// A session of whoever held it: its user was not read.
		s.audit(c, audit.Event{Name: audit.Logout, Session: audit.SessionRef(id), Outcome: audit.OK, Via: via})
	}
	return nil
}

type sessionInfoJSON struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	ExpiresAt time.Time `json:"expires_at"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	Current   bool      `json:"current"`
}

func (s *Server) listSessions(c *gin.Context) {
	cur := currentSession(c)
	list, err := s.opt.Store.List(c.Request.Context(), cur.User)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]sessionInfoJSON, 0, len(list))
	for _, x := range list {
		out = append(out, sessionInfoJSON{
			ID: x.ID, CreatedAt: x.CreatedAt.UTC(), LastSeen: x.LastSeen.UTC(), ExpiresAt: x.Deadline().UTC(),
			IP: x.IP, UserAgent: x.UserAgent, Current: x.ID == cur.ID,
		})
	}
	c.JSON(http.StatusOK, gin.H{"sessions": out})
}

func (s *Server) revokeSession(c *gin.Context) {
	cur := currentSession(c)
	id := c.Param("id")
	if err := s.endUserSession(c, cur, id, "api"); err != nil {
		s.fail(c, err)
		return
	}
	if id == cur.ID {
		s.clearCookies(c)
	}
	c.Status(http.StatusNoContent)
}

// endUserSession deletes session id of cur's user, from cur. Another
// user's session id is answered like a missing one (errSessionOwner).
func (s *Server) endUserSession(c *gin.Context, cur *session.Session, id, via string) error {
	target, err := s.opt.Store.Get(c.Request.Context(), id)
	if errors.Is(err, session.ErrNotFound) {
		// Deleted anyway, a no-op in the store: this may be the retry of a
		// revocation whose invalidation was not published, and the delete
		// publishes it again. Its failure is a 503, not this 404.
		if err := s.opt.Store.Delete(c.Request.Context(), id); err != nil {
			return err
		}
		return errSessionOwner
	}
	if err == nil && target.User != cur.User {
		return errSessionOwner
	}
	if err != nil {
		return err
	}
	if err := s.opt.Store.Delete(c.Request.Context(), id); err != nil {
		return err
	}
	s.audit(c, audit.Event{Name: audit.SessionRevoked, User: cur.User, Session: audit.SessionRef(id), Outcome: audit.OK, Via: via,
		Attrs: []slog.Attr{slog.String("by_session", audit.SessionRef(cur.ID))}})
	return nil
}

func (s *Server) revokeOtherSessions(c *gin.Context) {
	n, err := s.endUserSessions(c, currentSession(c), "api")
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"revoked": n})
}

// endUserSessions deletes every session of cur's user but cur and returns
// how many it deleted: one audit event for them all, with the count.
func (s *Server) endUserSessions(c *gin.Context, cur *session.Session, via string) (int, error) {
	n, err := s.opt.Store.DeleteUser(c.Request.Context(), cur.User, cur.ID)
	if err != nil {
		return 0, err
	}
	s.audit(c, audit.Event{Name: audit.SessionRevoked, User: cur.User, Outcome: audit.OK, Via: via,
		Attrs: []slog.Attr{slog.String("scope", "others"), slog.Int("count", n), slog.String("by_session", audit.SessionRef(cur.ID))}})
	return n, nil
}

type keyJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Key       string     `json:"key,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used"`
	ExpiresAt *time.Time `json:"expires_at"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func keyOf(k *session.APIKey) keyJSON {
	return keyJSON{ID: k.ID, Name: k.Name, CreatedAt: k.CreatedAt.UTC(), LastUsed: timePtr(k.LastUsed), ExpiresAt: timePtr(k.ExpiresAt)}
}

// expiresIn accepts a Go duration ("720h") or a number of seconds.
type expiresIn time.Duration

func (e *expiresIn) UnmarshalJSON(b []byte) error {
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		secs, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return fmt.Errorf("expires_in %s: want whole seconds or a duration like \"720h\"", n)
		}
		*e = expiresIn(time.Duration(secs) * time.Second)
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return errors.New("expires_in: want whole seconds or a duration like \"720h\"")
	}
	d, err := time.ParseDuration(str)
	if err != nil {
		return fmt.Errorf("expires_in %q: want whole seconds or a duration like \"720h\"", str)
	}
	*e = expiresIn(d)
	return nil
}

const maxKeyLifetime = 366 * 24 * time.Hour

func (s *Server) createKey(c *gin.Context) {
	cur := currentSession(c)
	var in struct {
		Name      string     `json:"name"`
		ExpiresIn *expiresIn `json:"expires_in"`
	}
	if err := decodeJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	var life time.Duration
	if in.ExpiresIn != nil {
		life = time.Duration(*in.ExpiresIn)
		if life <= 0 || life > maxKeyLifetime {
			s.fail(c, badRequest("expires_in must be between 1s and %s", maxKeyLifetime))
			return
		}
	}
	key, k, err := s.newKey(c, cur, in.Name, life, "api")
	if err != nil {
		s.fail(c, err)
		return
	}
	out := keyOf(k)
	out.Key = key
	c.JSON(http.StatusCreated, out)
}

// newKey creates an API key of cur's user named name (trimmed; 1 to 100
// bytes), expiring after life (0: never; the caller checks the bound), and
// returns the key, which is shown once and stored only as its hash.
func (s *Server) newKey(c *gin.Context, cur *session.Session, name string, life time.Duration, via string) (string, *session.APIKey, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", nil, badRequest("name is required, at most 100 bytes")
	}
	now := s.opt.Now()
	var exp time.Time
	if life > 0 {
		exp = now.Add(life)
	}
	// Counting and creating under one lock, so that a burst of creations
	// cannot overshoot the limit (within this instance; across instances by
	// at most one key each).
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	held, err := s.opt.Store.ListKeys(c.Request.Context(), cur.User)
	if err != nil {
		return "", nil, err
	}
	if len(held) >= s.opt.MaxKeysPerUser {
		return "", nil, errTooManyKeys
	}
	key, id, hash, err := apikey.Generate()
	if err != nil {
		return "", nil, err
	}
	k := &session.APIKey{ID: id, Hash: hash, User: cur.User, Name: name, CreatedAt: now, ExpiresAt: exp, Source: cur.Source}
	if cur.Source != "" {
		// A federated owner is in no users file: the key keeps the
		// session's snapshot, as the session does.
		k.Email, k.Groups = cur.Email, slices.Clone(cur.Groups)
	}
	if err := s.opt.Store.CreateKey(c.Request.Context(), k); err != nil {
		return "", nil, err
	}
	attrs := []slog.Attr{slog.String("key_id", id), slog.String("key_name", name)}
	if !exp.IsZero() {
		attrs = append(attrs, slog.Time("expires", exp.UTC()))
	}
	s.audit(c, audit.Event{Name: audit.KeyCreated, User: cur.User, Session: audit.SessionRef(cur.ID), Outcome: audit.OK, Via: via, Attrs: attrs})
	return key, k, nil
}

func (s *Server) listKeys(c *gin.Context) {
	id := currentIdentity(c)
	keys, err := s.opt.Store.ListKeys(c.Request.Context(), id.User)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]keyJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, keyOf(k))
	}
	c.JSON(http.StatusOK, gin.H{"keys": out})
}

func (s *Server) deleteKey(c *gin.Context) {
	if err := s.dropKey(c, currentSession(c), c.Param("id"), "api"); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// dropKey revokes API key id of cur's user; errKeyOwner when cur's user
// holds no live key id.
func (s *Server) dropKey(c *gin.Context, cur *session.Session, id, via string) error {
	err := s.opt.Store.DeleteKey(c.Request.Context(), cur.User, id)
	if errors.Is(err, session.ErrNotFound) {
		return errKeyOwner
	}
	if err != nil {
		return err
	}
	s.audit(c, audit.Event{Name: audit.KeyRevoked, User: cur.User, Session: audit.SessionRef(cur.ID), Outcome: audit.OK, Via: via,
		Attrs: []slog.Attr{slog.String("key_id", id)}})
	return nil
}

func (s *Server) issueToken(c *gin.Context) {
	if s.opt.Tokens == nil {
		s.fail(c, errNotFound)
		return
	}
	id := currentIdentity(c)
	if id.Method == authz.MethodJWT {
		// A JWT cannot renew itself: a stolen one would otherwise live past
		// its exp for as long as its session or key does.
		s.fail(c, errTokenRenewal)
		return
	}
	// The token names the session or key it comes from, so that /auth
	// refuses it once that is revoked rather than only at its exp.
	claims := token.Claims{Subject: id.User, Email: id.Email, Groups: id.Groups}
	switch id.Method {
	case authz.MethodSession:
		claims.SessionID = id.Session.ID
	case authz.MethodAPIKey:
		claims.KeyHash = id.KeyHash
	}
	tok, err := s.opt.Tokens.IssueAccess(claims, s.opt.Now())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(s.opt.Tokens.TTL().Seconds()),
	})
}

// requireSession admits only requests with a live session cookie.
func (s *Server) requireSession(c *gin.Context) {
	sess, err := s.auth.SessionFromRequest(c.Request.Context(), c.Request)
	if errors.Is(err, authz.ErrUnauthenticated) && !errors.Is(err, authz.ErrAmbiguous) {
		s.fail(c, errNoSession)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Set(ctxIdentity, authz.Identity{User: sess.User, Email: sess.Email, Groups: sess.Groups, Method: authz.MethodSession, Session: sess})
	c.Next()
}

// requireIdentity admits any credential: cookie, API key or bearer JWT.
func (s *Server) requireIdentity(c *gin.Context) {
	id, err := s.auth.Authenticate(c.Request.Context(), c.Request)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Set(ctxIdentity, id)
	c.Next()
}

// csrf guards state-changing requests authenticated by the cookie: they must
// bring the session's CSRF token and, with an Origin, an allowed one. API keys
// and bearer tokens are not sent by browsers on their own, so they pass.
func (s *Server) csrf(c *gin.Context) {
	id := currentIdentity(c)
	if id.Method != authz.MethodSession {
		c.Next()
		return
	}
	if err := s.checkCSRF(c, id.Session); err != nil {
		s.fail(c, err)
		return
	}
	c.Next()
}

func (s *Server) checkCSRF(c *gin.Context, sess *session.Session) error {
	if err := s.checkOrigin(c); err != nil {
		return err
	}
	tok := c.GetHeader("X-CSRF-Token")
	if tok == "" && c.ContentType() == "application/x-www-form-urlencoded" {
		tok = c.PostForm("csrf_token")
	}
	if !equalSecret(tok, sess.CSRFToken) {
		s.opt.Log.Info("csrf token refused", "user", sess.User, "path", c.FullPath())
		return errCSRF
	}
	return nil
}

// checkOrigin guards the hub's API for cookie-authenticated requests that
// change state: from a browser only the hub itself and the origins listed in
// SSO_LOGIN_ORIGINS pass. SSO_CORS_ORIGINS (every sibling, by default) is
// for the upstream APIs behind /auth, not for the hub: a sibling allowed
// here could read the CSRF token and act as the user (outside review).
// Requests without Origin (curl, scripts) pass.
func (s *Server) checkOrigin(c *gin.Context) error {
	if s.trustedOrigin(c) {
		return nil
	}
	return errCrossOrigin
}

// checkLoginOrigin guards the requests that set the session cookie, by the
// same rule: any allowed origin could otherwise log the user into an
// account of its choosing (login CSRF).
func (s *Server) checkLoginOrigin(c *gin.Context) error {
	if s.trustedOrigin(c) {
		return nil
	}
	return errLoginOrigin
}

// trustedOrigin reports whether the request comes from the hub itself, an
// origin in SSO_LOGIN_ORIGINS, or no browser page at all.
func (s *Server) trustedOrigin(c *gin.Context) bool {
	if s.ownOrigin(c) {
		return true
	}
	o := c.Request.Header.Values("Origin")
	return len(o) == 1 && s.opt.LoginOrigins != nil && s.opt.LoginOrigins.Allowed(o[0])
}

// ownOrigin reports whether the request has no Origin header (and no
// browser says it is cross-origin) or the login hub's own: that of
// SSO_LOGIN_URL, or the host the request was sent to.
func (s *Server) ownOrigin(c *gin.Context) bool {
	values := c.Request.Header.Values("Origin")
	switch {
	case len(values) > 1:
		return false // which one would a browser have meant? none sends two
	case len(values) == 0 || values[0] == "":
		// Scripts send neither Origin nor Sec-Fetch-Site; a browser that
		// sends no Origin but says the request is from another site, or
		// whose Referer names another origin, is not the hub.
		switch c.GetHeader("Sec-Fetch-Site") {
		case "cross-site", "same-site":
			return false
		}
		if ref := c.GetHeader("Referer"); ref != "" {
			u, err := url.Parse(ref)
			return err == nil && s.isOwn(u.Scheme+"://"+u.Host, c)
		}
		return true
	}
	return s.isOwn(values[0], c)
}

// isOwn reports whether origin o is the hub's: that of SSO_LOGIN_URL, or
// the host the request was sent to.
func (s *Server) isOwn(o string, c *gin.Context) bool {
	if strings.EqualFold(o, s.hubOrigin) {
		return true
	}
	scheme, host, ok := strings.Cut(o, "://")
	if !ok || !strings.EqualFold(host, s.requestHost(c.Request)) {
		return false
	}
	// Secure cookies are never sent over http, so neither is a login.
	return scheme == "https" || (scheme == "http" && !s.opt.Cookies.Secure())
}

func currentIdentity(c *gin.Context) authz.Identity {
	v, _ := c.Get(ctxIdentity)
	id, _ := v.(authz.Identity)
	return id
}

func currentSession(c *gin.Context) *session.Session {
	return currentIdentity(c).Session
}
