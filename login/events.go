package login

import (
	"context"
	"time"

	"github.com/example/sso/session"
)

// EventKind is what happened to a login attempt.
type EventKind string

const (
	// EventSucceeded: a factor passed (User is set).
	EventSucceeded EventKind = "succeeded"
	// EventFailed: wrong credentials; counted by regulation.
	EventFailed EventKind = "failed"
	// EventBlocked: refused before any check, a bucket is banned
	// (RetryAfter is set).
	EventBlocked EventKind = "blocked"
	// EventBusy: refused, no check slot or reservation within Options.Wait.
	EventBusy EventKind = "busy"
	// EventLocked: a failure banned a bucket (Lock is set). The attempt
	// that caused it has its own EventFailed.
	EventLocked EventKind = "locked"
	// EventMinted: a session was created (User and Session are set).
	EventMinted EventKind = "minted"
)

// Event is one outcome of a login, for audit logs and metrics. It never
// holds a password nor the login as typed (people type passwords into the
// name field).
type Event struct {
	Kind     EventKind
	Method   string // amr of the method: "pwd", "oidc"; for minted, the last factor's
	Source   string // the identity's source ("" = users file)
	User     string // the user, once known
	ClientIP string
	// UserAgent is session.UserAgentSummary of Request.UserAgent.
	UserAgent string
	Via       string // Request.Via
	// Session is the minted session (EventMinted).
	Session *session.Session
	// RetryAfter is how long the ban has left (EventBlocked).
	RetryAfter time.Duration
	// Lock describes a ban just set (EventLocked).
	Lock *Lock
	// Detail qualifies second-factor events: "totp", "recovery",
	// "passkey", "replay" (a TOTP code already used).
	Detail string
}

// Lock is a ban set on one regulation bucket.
type Lock struct {
	Bucket   string // "untrusted clients", "one device", "one client address"
	Failures int
	Window   time.Duration // Regulation.FindTime
	Ban      time.Duration // Regulation.BanTime
}

// Observer is told of login events, synchronously, on the request's
// goroutine: keep it quick. New kinds of event may be added; an observer
// ignores what it does not know.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// ObserverFunc is an Observer.
type ObserverFunc func(ctx context.Context, e Event)

// Observe implements Observer.
func (f ObserverFunc) Observe(ctx context.Context, e Event) { f(ctx, e) }

// Observers tells each of obs, in order (nil ones are skipped).
func Observers(obs ...Observer) Observer {
	return ObserverFunc(func(ctx context.Context, e Event) {
		for _, o := range obs {
			if o != nil {
				o.Observe(ctx, e)
			}
		}
	})
}
