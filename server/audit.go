package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/example/sso/audit"
	"github.com/example/sso/internal/shortdur"
	"github.com/example/sso/login"
	"github.com/example/sso/session"
)

// audit logs e for the request c: the client address and user agent are
// the request's unless e names them.
func (s *Server) audit(c *gin.Context, e audit.Event) {
	if e.Client == "" {
		e.Client = c.ClientIP() // believes X-Forwarded-For only from trusted proxies
	}
	if e.UserAgent == "" {
		e.UserAgent = session.UserAgentSummary(c.Request.UserAgent())
	}
	audit.Log(c.Request.Context(), s.opt.Log, e)
}

// loginAudit turns a login pipeline event into its audit event; false for
// the kinds that have none (a first factor passed: the login event comes
// with the session).
func loginAudit(e login.Event) (audit.Event, bool) {
	a := audit.Event{User: e.User, Client: e.ClientIP, UserAgent: e.UserAgent, Via: e.Via}
	if e.Method != "" {
		a.Attrs = append(a.Attrs, slog.String("method", e.Method))
	}
	if e.Source != "" {
		a.Attrs = append(a.Attrs, slog.String("source", e.Source))
	}
	switch e.Kind {
	case login.EventMinted:
		a.Name, a.Outcome = audit.Login, audit.OK
		if e.Session != nil {
			a.Session = audit.SessionRef(e.Session.ID)
		}
	case login.EventFailed:
		a.Name, a.Outcome = audit.LoginFailed, audit.InvalidCredentials
	case login.EventBlocked:
		a.Name, a.Outcome = audit.LoginFailed, audit.Blocked
		a.Attrs = append(a.Attrs, slog.String("retry_after", shortdur.String(e.RetryAfter.Round(time.Second))))
	case login.EventBusy:
		a.Name, a.Outcome = audit.LoginFailed, audit.Busy
	case login.EventLocked:
		a.Name, a.Outcome = audit.Lockout, audit.Blocked
		if l := e.Lock; l != nil {
			a.Attrs = append(a.Attrs, slog.String("bucket", l.Bucket), slog.Int("failures", l.Failures),
				slog.String("window", shortdur.String(l.Window)), slog.String("ban", shortdur.String(l.Ban)))
		}
	case login.EventSecondSucceeded, login.EventSecondFailed, login.EventEnrolled, login.EventRemoved:
		a.Name, a.Outcome = string(e.Kind), audit.OK
		kind := e.Detail
		if e.Kind == login.EventSecondFailed {
			a.Outcome = audit.InvalidCode
			if e.Detail == "replay" {
				a.Outcome, kind = audit.Replay, ""
			}
		}
		if kind != "" {
			a.Attrs = append(a.Attrs, slog.String("kind", kind))
		}
	default:
		return audit.Event{}, false
	}
	return a, true
}

// auditLogin is the login pipeline's observer for the audit log.
func (s *Server) auditLogin(ctx context.Context, e login.Event) {
	if a, ok := loginAudit(e); ok {
		audit.Log(ctx, s.opt.Log, a)
	}
}
