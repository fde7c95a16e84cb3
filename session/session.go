package session

import (
	"context"
	"errors"
	"slices"
	"time"
)

var (
	// ErrNotFound is returned (possibly wrapped) for a session or key that
	// is absent, expired or, for DeleteKey, owned by someone else.
	ErrNotFound = errors.New("session: not found")
	// ErrExists is returned (possibly wrapped) by Create and CreateKey for an
	// ID or key hash already in the store.
	ErrExists = errors.New("session: already exists")
)

// Session is a logged-in browser or client.
type Session struct {
	ID        string // ticket.Hash(raw id)
	User      string
	Email     string
	Groups    []string
	Domain    string // the parent cookie domain it was issued for
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time     // absolute expiry; required
	Idle      time.Duration // idle timeout; zero or less: none, only ExpiresAt applies
	IP        string
	UserAgent string // what the session page shows: UserAgentSummary of the header
	CSRFToken string
	// Source is where the identity comes from: "" is the users file (authz
	// looks the user up on every request and refuses the session once the
	// user is gone); anything else ("ldap", "oidc:<provider>") is a
	// federated identity whose Email and Groups are the snapshot taken at
	// login, which authz uses as it is.
	Source string
	// Factors are how the session was established, in order (its amr).
	Factors []Factor
}

// Factor is one proof a login rested on: an amr value (RFC 8176 where one
// fits: "pwd", "otp", "hwk"; "oidc" for an upstream OIDC login) and when it
// was given.
type Factor struct {
	Method string
	At     time.Time
}

// AMR returns the methods of s.Factors, in order; nil when there are none
// (a session minted before factors were recorded).
func (s *Session) AMR() []string {
	if len(s.Factors) == 0 {
		return nil
	}
	out := make([]string, len(s.Factors))
	for i, f := range s.Factors {
		out[i] = f.Method
	}
	return out
}

// Deadline returns the instant the session dies unless touched:
// min(LastSeen+Idle, ExpiresAt), or ExpiresAt when Idle is not positive.
func (s *Session) Deadline() time.Time {
	if s.Idle > 0 {
		if d := s.LastSeen.Add(s.Idle); d.Before(s.ExpiresAt) {
			return d
		}
	}
	return s.ExpiresAt
}

// Expired reports whether now is at or past the Deadline.
func (s *Session) Expired(now time.Time) bool {
	return !now.Before(s.Deadline())
}

// Clone returns a deep copy, so stores never share state with callers.
func (s *Session) Clone() *Session {
	c := *s
	c.Groups = slices.Clone(s.Groups)
	c.Factors = slices.Clone(s.Factors)
	return &c
}

// Validate reports a session a store must refuse.
func (s *Session) Validate() error {
	switch {
	case s.ID == "":
		return errors.New("session: empty ID")
	case s.User == "":
		return errors.New("session: empty User")
	case s.ExpiresAt.IsZero():
		// Every session needs an upper bound: stores set TTLs from it.
		return errors.New("session: zero ExpiresAt")
	}
	return nil
}

// Store keeps sessions. Implementations are safe for concurrent use and copy
// sessions in and out.
type Store interface {
	// Create stores s. It wraps ErrExists when s.ID is taken. A store may
	// cap the sessions of one user: Create then deletes that user's oldest
	// other sessions to make room, never s itself and never another user's.
	Create(ctx context.Context, s *Session) error
	// Get returns the session; ErrNotFound when absent or past Deadline.
	Get(ctx context.Context, id string) (*Session, error)
	// Touch sets LastSeen = now (never moving it backwards), extending the
	// idle deadline. It returns ErrNotFound when the session is absent or
	// expired, and never resurrects a deleted one.
	Touch(ctx context.Context, id string, now time.Time) error
	// Delete removes the session; nil when absent.
	Delete(ctx context.Context, id string) error
	// List returns user's live sessions, oldest (CreatedAt) first.
	List(ctx context.Context, user string) ([]*Session, error)
	// DeleteUser removes all of user's sessions except the one with ID keep
	// ("" keeps none) and returns how many it removed.
	DeleteUser(ctx context.Context, user, keep string) (int, error)
	// Ping checks that the backend answers.
	Ping(ctx context.Context) error
}

// APIKey is a long-lived credential for scripts. The key itself is never
// stored, only its hash.
type APIKey struct {
	ID        string // public id
	Hash      string // apikey.Hash(key): the lookup key
	User      string
	Name      string
	CreatedAt time.Time
	LastUsed  time.Time // zero: never
	ExpiresAt time.Time // zero: never
	// Source is that of the session the key was created from: "" for a
	// users-file owner (looked up on every use); otherwise Email and Groups
	// are the owner's snapshot, used as they are (see Session.Source).
	Source string
	Email  string
	Groups []string
}

// Expired reports whether the key has an expiry and now is at or past it.
func (k *APIKey) Expired(now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

// Clone returns a copy.
func (k *APIKey) Clone() *APIKey {
	c := *k
	c.Groups = slices.Clone(k.Groups)
	return &c
}

// Validate reports a key a store must refuse.
func (k *APIKey) Validate() error {
	switch {
	case k.ID == "":
		return errors.New("session: empty key ID")
	case k.Hash == "":
		return errors.New("session: empty key Hash")
	case k.User == "":
		return errors.New("session: empty key User")
	}
	return nil
}

// KeyStore keeps API keys. Implementations are safe for concurrent use.
type KeyStore interface {
	// CreateKey stores k. It wraps ErrExists when k.Hash is taken.
	CreateKey(ctx context.Context, k *APIKey) error
	// KeyByHash returns the key; ErrNotFound when absent or expired.
	KeyByHash(ctx context.Context, hash string) (*APIKey, error)
	// ListKeys returns user's unexpired keys, oldest (CreatedAt) first.
	ListKeys(ctx context.Context, user string) ([]*APIKey, error)
	// DeleteKey removes key id; ErrNotFound unless user owns a live key id.
	DeleteKey(ctx context.Context, user, id string) error
	// TouchKey sets LastUsed = now (never moving it backwards); ErrNotFound
	// when absent or expired.
	TouchKey(ctx context.Context, hash string, now time.Time) error
}

// Limiter counts events per key in fixed windows and blocks keys for a
// while; the login pipeline regulates logins with it (Authelia's
// "regulation"). Keys are opaque to the store: the caller chooses them and
// keeps personal data out of them (login hashes user names).
// Implementations are safe for concurrent use, and every instance on one
// backend sees the same counts.
type Limiter interface {
	// Hit adds one to key's count and returns the new count. The first hit
	// starts a window of length window; later hits do not extend it, and
	// the count starts again from 1 once it has ended. window must be
	// positive.
	Hit(ctx context.Context, key string, window time.Duration) (int, error)
	// Count returns key's count in its current window; 0 when there is
	// none or it has ended.
	Count(ctx context.Context, key string) (int, error)
	// Block blocks key for d from now, replacing any block already there.
	// d must be positive.
	Block(ctx context.Context, key string, d time.Duration) error
	// Blocked returns how long key stays blocked; 0 when it is not.
	Blocked(ctx context.Context, key string) (time.Duration, error)
	// Clear forgets key's count and block; nil when there are none.
	Clear(ctx context.Context, key string) error
}
