package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/example/sso/apikey"
	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/session"
	"github.com/example/sso/ticket"
	"github.com/example/sso/token"
	"github.com/example/sso/users"
)

// ErrUnauthenticated means the request carries no credential that is valid
// now. Callers answer 401; anything else wrapping a store error is a 5xx.
var ErrUnauthenticated = errors.New("authz: not authenticated")

// Method names how a request proved who it is.
type Method string

const (
	MethodSession Method = "session"
	MethodAPIKey  Method = "apikey"
	MethodJWT     Method = "jwt"
)

// Identity is who a request is, and how it proved it.
type Identity struct {
	User   string
	Email  string
	Groups []string
	Method Method
	// Session is set for MethodSession: the live session the cookie names.
	Session *session.Session
	// KeyID and KeyHash are set for MethodAPIKey: the key's public id, and
	// its hash (session.APIKey.Hash), which a client token minted from the
	// key names in its "key" claim.
	KeyID   string
	KeyHash string
	// Token is set for MethodJWT: the token the request presented. It is
	// passed on as it is, never renewed, so a JWT cannot outlive its expiry
	// by being exchanged for a fresh one.
	Token string
}

// InGroup reports whether the identity holds at least one of groups.
func (id Identity) InGroup(groups ...string) bool {
	for _, want := range groups {
		for _, have := range id.Groups {
			if have == want {
				return true
			}
		}
	}
	return false
}

// Directory is what the authenticator needs of the users file: the current
// identity of an API key's owner.
type Directory interface {
	Lookup(name string) (users.User, bool)
}

// Authenticator turns a request's credentials into an Identity. It holds no
// Gin and no Redis: stores come in as interfaces.
type Authenticator struct {
	Cookies  *cookiedomain.Policy
	Codec    *ticket.Codec
	Sessions session.Store
	Keys     session.KeyStore
	Users    Directory
	Tokens   *token.Issuer
	// Refresh is the least time between two writes of a session's last-seen
	// time, so that /auth does not write to the store on every request.
	Refresh time.Duration
	// KeyTouch is the same for an API key's last-used time.
	KeyTouch time.Duration
	Now      func() time.Time
	// OnTouchError is told when a sliding refresh could not be written; the
	// request still succeeds, since the session was read successfully.
	OnTouchError func(error)
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Authenticate tries, in the contract's order, the session cookie,
// `Authorization: Bearer <API key or JWT>` and `X-API-Key`. A credential that
// is present but invalid does not stop the search: a stale cookie must not
// hide a valid API key the same client sends.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (Identity, error) {
	s, err := a.SessionFromRequest(ctx, r)
	switch {
	case err == nil:
		return Identity{User: s.User, Email: s.Email, Groups: s.Groups, Method: MethodSession, Session: s}, nil
	case !errors.Is(err, ErrUnauthenticated):
		return Identity{}, err
	}
	if bearer, ok := bearerToken(r); ok {
		id, err := a.fromBearer(ctx, bearer)
		if !errors.Is(err, ErrUnauthenticated) {
			return id, err
		}
	}
	if key := r.Header.Get("X-API-Key"); key != "" {
		return a.fromAPIKey(ctx, strings.TrimSpace(key))
	}
	return Identity{}, ErrUnauthenticated
}

// SessionFromRequest returns the live session named by the request's session
// cookie, refreshing its last-seen time when due. Every cookie of our name is
// tried (a host-only copy left by an earlier configuration may come first).
func (a *Authenticator) SessionFromRequest(ctx context.Context, r *http.Request) (*session.Session, error) {
	var lastErr error = ErrUnauthenticated
	for _, c := range r.CookiesNamed(a.Cookies.Name()) {
		s, err := a.SessionFromValue(ctx, c.Value)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, ErrUnauthenticated) {
			return nil, err
		}
		lastErr = err
	}
	return nil, lastErr
}

// SessionFromValue checks a cookie value: its signature first, so a forged or
// garbled value never costs a store look-up, then the store.
func (a *Authenticator) SessionFromValue(ctx context.Context, value string) (*session.Session, error) {
	raw, err := a.Codec.Decode(value)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	id := ticket.Hash(raw)
	s, err := a.Sessions.Get(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("authz: read session: %w", err)
	}
	now := a.now()
	if !now.Before(s.Deadline()) {
		return nil, ErrUnauthenticated
	}
	// A user disabled in or removed from the users file loses the sessions
	// it holds at once, not when they expire (they may outlive a restart in
	// Redis).
	u, ok := a.Users.Lookup(s.User)
	if !ok {
		return nil, ErrUnauthenticated
	}
	// Email and groups are the users file's now, not what they were at
	// login: a user taken out of a group loses it at once.
	s.Email, s.Groups = u.Email, u.Groups
	if now.Sub(s.LastSeen) >= a.Refresh {
		if err := a.Sessions.Touch(ctx, s.ID, now); err != nil {
			if errors.Is(err, session.ErrNotFound) {
				return nil, ErrUnauthenticated // deleted in between: logout wins
			}
			if a.OnTouchError != nil {
				a.OnTouchError(err)
			}
		} else {
			s.LastSeen = now
		}
	}
	return s, nil
}

func (a *Authenticator) fromBearer(ctx context.Context, bearer string) (Identity, error) {
	if apikey.Valid(bearer) {
		return a.fromAPIKey(ctx, bearer)
	}
	if a.Tokens == nil || !token.LooksLikeJWT(bearer) {
		return Identity{}, ErrUnauthenticated
	}
	// Verify takes client access tokens only: an upstream's X-Auth-Token
	// (typ sso-upstream+jwt) is refused here whatever its audience, so an
	// upstream that logs its headers holds no key to its siblings.
	now := a.now()
	c, err := a.Tokens.Verify(bearer, now)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	if err := a.checkTokenSource(ctx, c, now); err != nil {
		return Identity{}, err
	}
	if _, ok := a.Users.Lookup(c.Subject); !ok {
		return Identity{}, ErrUnauthenticated
	}
	return Identity{User: c.Subject, Email: c.Email, Groups: c.Groups, Method: MethodJWT, Token: bearer}, nil
}

// checkTokenSource asks the store whether the session or API key a client
// token was minted from is still live and still the subject's: a token dies
// with its source (logout, revocation, key deletion) rather than at its
// exp. It costs one store read per request, like a cookie or a key. It does
// not slide the session's idle time nor the key's last use: a token does
// not keep its source alive.
func (a *Authenticator) checkTokenSource(ctx context.Context, c token.Claims, now time.Time) error {
	switch {
	case c.SessionID != "" && c.KeyHash == "":
		s, err := a.Sessions.Get(ctx, c.SessionID)
		if errors.Is(err, session.ErrNotFound) {
			return ErrUnauthenticated
		}
		if err != nil {
			return fmt.Errorf("authz: read session of a token: %w", err)
		}
		if s.User != c.Subject || s.Expired(now) {
			return ErrUnauthenticated
		}
		return nil
	case c.KeyHash != "" && c.SessionID == "":
		if a.Keys == nil {
			return ErrUnauthenticated
		}
		k, err := a.Keys.KeyByHash(ctx, c.KeyHash)
		if errors.Is(err, session.ErrNotFound) {
			return ErrUnauthenticated
		}
		if err != nil {
			return fmt.Errorf("authz: read api key of a token: %w", err)
		}
		if k.User != c.Subject || k.Expired(now) {
			return ErrUnauthenticated
		}
		return nil
	}
	// No source (token.Verify refuses that already): nothing to revoke it
	// by, so it is no credential.
	return ErrUnauthenticated
}

func (a *Authenticator) fromAPIKey(ctx context.Context, key string) (Identity, error) {
	if a.Keys == nil || !apikey.Valid(key) {
		return Identity{}, ErrUnauthenticated
	}
	k, err := a.Keys.KeyByHash(ctx, apikey.Hash(key))
	if errors.Is(err, session.ErrNotFound) {
		return Identity{}, ErrUnauthenticated
	}
	if err != nil {
		return Identity{}, fmt.Errorf("authz: read api key: %w", err)
	}
	now := a.now()
	if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return Identity{}, ErrUnauthenticated
	}
	// The key carries only its owner's name: email and groups are read from
	// the users file now, so a disabled or removed user's keys stop working.
	u, ok := a.Users.Lookup(k.User)
	if !ok {
		return Identity{}, ErrUnauthenticated
	}
	if now.Sub(k.LastUsed) >= a.KeyTouch {
		if err := a.Keys.TouchKey(ctx, k.Hash, now); err != nil && !errors.Is(err, session.ErrNotFound) && a.OnTouchError != nil {
			a.OnTouchError(err)
		}
	}
	return Identity{User: u.Name, Email: u.Email, Groups: u.Groups, Method: MethodAPIKey, KeyID: k.ID, KeyHash: k.Hash}, nil
}

// bearerToken returns the credentials of an `Authorization: Bearer` header;
// the scheme is case-insensitive (RFC 9110 §11.1).
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	cred = strings.TrimSpace(cred)
	return cred, cred != ""
}
