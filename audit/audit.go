// Package audit names the security events sso logs and writes them as
// structured log records: one record per event, with an "event" field a log
// pipeline (a SIEM) can select on. The events go through the process's one
// slog.Logger, so SSO_LOG_FORMAT=json makes each a JSON object on a line.
//
// An event never holds a secret: no password, cookie value, session id as
// stored, API key, token or CSRF token. Sessions are named by SessionRef, a
// short hash of the stored id that is no credential and cannot be turned
// back into one, yet is the same in every event about one session.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
)

// Event names: the value of the "event" field.
const (
	Login          = "login"           // a session was minted
	LoginFailed    = "login_failed"    // wrong credentials, or refused (blocked, busy)
	Lockout        = "lockout"         // a failure banned a regulation bucket
	Logout         = "logout"          // a session was ended by its own browser or client
	SessionRevoked = "session_revoked" // a session was ended from another one (account page, API)
	KeyCreated     = "key_created"
	KeyRevoked     = "key_revoked"
	UsersReloaded  = "users_reloaded" // the users file was read again (outcome ok or refused)

	SecondFactorOK       = "second_factor_succeeded" // a TOTP code, recovery code or passkey was accepted
	SecondFactorFailed   = "second_factor_failed"    // one was refused (outcome invalid_code or replay)
	SecondFactorEnrolled = "second_factor_enrolled"  // one was added (kind totp, recovery or passkey)
	SecondFactorRemoved  = "second_factor_removed"
)

// Outcomes: the value of the "outcome" field.
const (
	OK                 = "ok"
	InvalidCredentials = "invalid_credentials"
	Blocked            = "blocked" // refused unchecked: a ban is in force
	Busy               = "busy"    // refused unchecked: no password-check slot
	Refused            = "refused" // users_reloaded: the file was refused, the previous users stay
	InvalidCode        = "invalid_code"
	Replay             = "replay" // a TOTP code already used in its window

	// login_failed of an OIDC callback (field provider: the provider's id).
	InvalidState        = "invalid_state"        // not a flow this browser started, expired or used
	InvalidResponse     = "invalid_response"     // malformed callback, refused code, ID token failing a check
	Denied              = "denied"               // the provider vouched, but the user may not sign in here (or cancelled)
	ProviderUnavailable = "provider_unavailable" // the provider could not be reached or answered an error
	UnknownProvider     = "unknown_provider"     // no provider has that id (no provider field)
)

// Event is one audit record. Empty fields are left out of the record.
type Event struct {
	Name      string // one of the constants above
	Msg       string // the record's message; "" = Name
	User      string
	Client    string // the client address (trusted-proxy aware)
	Session   string // SessionRef of the session concerned
	UserAgent string // session.UserAgentSummary of the request's User-Agent
	Outcome   string
	Via       string      // "form", "api", "account", "oidc", ...
	Attrs     []slog.Attr // what only this kind of event has
}

// refLen is how many hex digits of the hash SessionRef keeps: 64 bits,
// enough to tell a user's sessions apart, too few to be worth storing.
const refLen = 16

// SessionRef names a session in logs: a short hash of its stored id
// (session.Session.ID, itself a hash of the cookie's id). "" for "".
func SessionRef(id string) string {
	if id == "" {
		return ""
	}
	sum := sha256.Sum256([]byte("sso audit session ref|" + id))
	return hex.EncodeToString(sum[:])[:refLen]
}

// Log writes e through l at info level (warn for a lockout).
func Log(ctx context.Context, l *slog.Logger, e Event) {
	if l == nil {
		return
	}
	level := slog.LevelInfo
	if e.Name == Lockout {
		level = slog.LevelWarn
	}
	if !l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 8+len(e.Attrs))
	attrs = append(attrs, slog.String("event", e.Name))
	for _, f := range [...]struct{ k, v string }{
		{"user", e.User}, {"client", e.Client}, {"session", e.Session},
		{"user_agent", e.UserAgent}, {"outcome", e.Outcome}, {"via", e.Via},
	} {
		if f.v != "" {
			attrs = append(attrs, slog.String(f.k, f.v))
		}
	}
	attrs = append(attrs, e.Attrs...)
	msg := e.Msg
	if msg == "" {
		msg = e.Name
	}
	l.LogAttrs(ctx, level, msg, attrs...)
}
