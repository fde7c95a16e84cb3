package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/example/sso/authz"
	"github.com/example/sso/login"
	"github.com/example/sso/session"
	"github.com/example/sso/users"
)

// apiError is an error with the contract's JSON shape and a status.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

var (
	errNotFound     = &apiError{http.StatusNotFound, "not_found", "no such resource"}
	errMethod       = &apiError{http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed here"}
	errLogin        = &apiError{http.StatusUnauthorized, "invalid_credentials", "invalid username or password"}
	errNoSession    = &apiError{http.StatusUnauthorized, "unauthorized", "a session cookie is required"}
	errCSRF         = &apiError{http.StatusForbidden, "csrf", "missing or wrong X-CSRF-Token"}
	errCrossOrigin  = &apiError{http.StatusForbidden, "cross_origin", "this origin may not use the hub's API with the session cookie (SSO_LOGIN_ORIGINS)"}
	errLoginOrigin  = &apiError{http.StatusForbidden, "cross_origin", "logins from this origin are not allowed (SSO_LOGIN_ORIGINS)"}
	errContentType  = &apiError{http.StatusUnsupportedMediaType, "unsupported_media_type", "send Content-Type: application/json"}
	errSessionOwner = &apiError{http.StatusNotFound, "not_found", "no such session"}
	errKeyOwner     = &apiError{http.StatusNotFound, "not_found", "no such api key"}
	errBusy         = &apiError{http.StatusServiceUnavailable, "busy", "too many logins at once, try again in a second"}
	errTooManyKeys  = &apiError{http.StatusConflict, "too_many_keys", "this user holds the most API keys allowed; delete one first"}
	errNoPassword   = &apiError{http.StatusNotFound, "not_found", "password sign-in is not configured on this hub (no users file, no LDAP directory)"}
	errTokenRenewal = &apiError{http.StatusForbidden, "forbidden", "a JWT cannot be exchanged for a new one: use the session cookie or an API key"}
)

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...)}
}

// fail maps an error to its HTTP answer. This is the one place where errors
// become statuses; anything unknown is a logged 500 with a bland message.
func (s *Server) fail(c *gin.Context, err error) {
	var (
		ae *apiError
		he *login.HostError
		be *login.BlockedError
	)
	switch {
	case errors.Is(err, login.ErrNoMethod):
		c.AbortWithStatusJSON(errNoPassword.status, authz.ErrorBody{Error: errNoPassword.code, Message: errNoPassword.message})
	case errors.Is(err, login.ErrBusy):
		c.Header("Retry-After", "1")
		c.AbortWithStatusJSON(errBusy.status, authz.ErrorBody{Error: errBusy.code, Message: errBusy.message})
	case errors.As(err, &ae):
		c.AbortWithStatusJSON(ae.status, authz.ErrorBody{Error: ae.code, Message: ae.message})
	case errors.As(err, &he) && wantsHTML(c.Request):
		// A person who opened the address the start-up log prints (an IP):
		// tell them where to go instead of showing JSON. Still a 400.
		s.render(c, http.StatusBadRequest, "unknownhost.html", pageData{
			Title: "Wrong address", RDHost: he.Host, Domains: s.opt.Cookies.Domains(), HubURL: s.opt.LoginURL,
		})
		c.Abort()
	case errors.As(err, &he):
		c.AbortWithStatusJSON(http.StatusBadRequest, authz.ErrorBody{
			Error:   "unknown_host",
			Message: fmt.Sprintf("host %q is under none of the cookie domains %v: a session cookie set here would not reach its siblings", he.Host, s.opt.Cookies.Domains()),
		})
	case errors.As(err, &be):
		// One answer whether or not the user exists.
		c.Header("Retry-After", strconv.FormatInt(be.RetryAfter(), 10))
		c.AbortWithStatusJSON(http.StatusTooManyRequests, authz.ErrorBody{Error: "too_many_attempts", Message: "too many failed logins, try again later"})
	case errors.Is(err, authz.ErrAmbiguous):
		c.AbortWithStatusJSON(http.StatusUnauthorized, authz.ErrorBody{Error: "ambiguous_session", Message: "this request carries session cookies of different users; sign out (DELETE /api/session or the login hub) and sign in again", LoginURL: s.opt.LoginURL + "/login"})
	case errors.Is(err, authz.ErrUnauthenticated):
		c.AbortWithStatusJSON(http.StatusUnauthorized, authz.ErrorBody{Error: "unauthorized", Message: "login required", LoginURL: s.opt.LoginURL + "/login"})
	case errors.Is(err, users.ErrInvalidCredentials):
		c.AbortWithStatusJSON(errLogin.status, authz.ErrorBody{Error: errLogin.code, Message: errLogin.message})
	case errors.Is(err, session.ErrNotFound):
		c.AbortWithStatusJSON(http.StatusNotFound, authz.ErrorBody{Error: "not_found", Message: "no such resource"})
	default:
		s.opt.Log.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method, "path", c.FullPath(), "err", err)
		c.AbortWithStatusJSON(http.StatusServiceUnavailable, authz.ErrorBody{Error: "unavailable", Message: "the request could not be completed, try again"})
	}
}

// recovery turns a panic into a logged 500 without the stack reaching the
// client.
func (s *Server) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
					panic(v)
				}
				s.opt.Log.ErrorContext(c.Request.Context(), "panic", "value", fmt.Sprint(v), "stack", string(debug.Stack()))
				c.AbortWithStatusJSON(http.StatusInternalServerError, authz.ErrorBody{Error: "internal", Message: "internal error"})
			}
		}()
		c.Next()
	}
}

// observe logs and counts every request. Query strings are not logged: rd
// values and tokens may be in them.
func (s *Server) observe() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		d := time.Since(start)
		s.metrics.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Inc()
		s.metrics.duration.WithLabelValues(route).Observe(d.Seconds())
		level := slog.LevelDebug
		if status >= 500 {
			level = slog.LevelWarn
		}
		s.opt.Log.Log(c.Request.Context(), level, "request",
			"method", c.Request.Method, "path", c.Request.URL.Path, "status", status,
			"duration", d, "client", c.ClientIP())
	}
}

// wantsHTML reports whether the client asks for a page (a browser's
// navigation) rather than JSON: text/html listed in Accept before any JSON.
func wantsHTML(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	h := strings.Index(accept, "text/html")
	j := strings.Index(accept, "json")
	return h >= 0 && (j < 0 || h < j)
}
