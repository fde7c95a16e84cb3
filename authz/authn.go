package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
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

// ErrAmbiguous means the request carries session cookies that name live
// sessions of different users. A sibling host can set cookies of our name for
// the parent domain (cookie tossing), and the Cookie header does not say who
// set which, so no identity is chosen: picking the first would let the
// sibling swap the victim into its own account. It wraps ErrUnauthenticated,
// so a caller that does not single it out answers 401.
var ErrAmbiguous = fmt.Errorf("%w: session cookies of different users", ErrUnauthenticated)

// MaxSessionCookies is how many distinct signed session cookies one request
// may carry; each costs a store read. More is refused as ambiguous without
// reading any: trying only some could pick one user while an untried cookie
// names another. A browser has one or two (the parent-domain cookie and a
// host-only copy left by an earlier configuration).
const MaxSessionCookies = 3

// maxCookieValues bounds the distinct values of our cookie one request may
// carry, signed or not; each costs a MAC check, no store read.
const maxCookieValues = 32

// Authenticate tries, in the contract's order, the session cookie,
// `Authorization: Bearer <API key or JWT>` and `X-API-Key`. A credential that
// is present but invalid does not stop the search: a stale cookie must not
// hide a valid API key the same client sends. Ambiguous session cookies do
// stop it (ErrAmbiguous): a browser whose cookies were tossed gets no
// identity at all.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (Identity, error) {
	s, err := a.SessionFromRequest(ctx, r)
	switch {
	case err == nil:
		// A header credential of another user next to the cookie is
		// ambiguous too: a sibling can toss its own cookie onto a page
		// that sends the victim's token, and the victim's writes would
		// land in the sibling's account.
		if other, err := a.fromHeaders(ctx, r); err == nil && other.User != s.User {
			return Identity{}, fmt.Errorf("%w (a session cookie and a header credential of different users)", ErrAmbiguous)
		} else if err != nil && !errors.Is(err, ErrUnauthenticated) {
			return Identity{}, err
		}
		return Identity{User: s.User, Email: s.Email, Groups: s.Groups, Method: MethodSession, Session: s}, nil
	case errors.Is(err, ErrAmbiguous), !errors.Is(err, ErrUnauthenticated):
		return Identity{}, err
	}
	return a.fromHeaders(ctx, r)
}

// fromHeaders tries `Authorization: Bearer <API key or JWT>`, then
// `X-API-Key`.
func (a *Authenticator) fromHeaders(ctx context.Context, r *http.Request) (Identity, error) {
	if bearer, ok := bearerToken(r); ok {
		id, err := a.fromBearer(ctx, bearer)
		if !errors.Is(err, ErrUnauthenticated) {
			return id, err
		}
	}
	if key := get(r.Header, hAPIKey); key != "" {
		return a.fromAPIKey(ctx, strings.TrimSpace(key))
	}
	return Identity{}, ErrUnauthenticated
}

// SessionFromRequest returns the live session named by the request's session
// cookies, refreshing its last-seen time when due. Several cookies of one
// user are fine (the first live one is taken); cookies of different users
// are ErrAmbiguous.
func (a *Authenticator) SessionFromRequest(ctx context.Context, r *http.Request) (*session.Session, error) {
	list, err := a.SessionsFromRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	return a.Touch(ctx, list[0])
}

// SessionsFromRequest returns every live session the request's session
// cookies name, in cookie order, each once. Signatures are checked first, so
// forged or garbled values cost no store read; a value sent several times is
// read once; more than MaxSessionCookies distinct signed values are refused
// unread. It returns ErrUnauthenticated when none is live, ErrAmbiguous when
// they belong to different users (the list is still returned, so the hub can
// say whose and end them on sign-out), and a wrapped store error otherwise.
// It does not refresh last-seen.
func (a *Authenticator) SessionsFromRequest(ctx context.Context, r *http.Request) ([]*session.Session, error) {
	ids, err := a.signedIDs(r)
	if err != nil {
		return nil, err
	}
	var (
		live []*session.Session
		now  = a.now()
	)
	for _, id := range ids {
		s, err := a.Sessions.Get(ctx, id)
		if errors.Is(err, session.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("authz: read session: %w", err)
		}
		if !now.Before(s.Deadline()) {
			continue
		}
		// A federated identity (LDAP, OIDC) is not in the users file: its
		// email and groups are the snapshot taken at login.
		if s.Source == "" {
			// A user disabled in or removed from the users file loses the
			// sessions it holds at once, not when they expire (they may
			// outlive a restart in Redis).
			u, ok := a.Users.Lookup(s.User)
			if !ok {
				continue
			}
			// Email and groups are the users file's now, not what they
			// were at login: a user taken out of a group loses it at once.
			s.Email, s.Groups = u.Email, u.Groups
		}
		live = append(live, s)
	}
	if len(live) == 0 {
		return nil, ErrUnauthenticated
	}
	for _, s := range live[1:] {
		if s.User != live[0].User {
			return live, ErrAmbiguous
		}
	}
	return live, nil
}

// signedIDs returns the session ids of the request's session cookies whose
// signature holds, without duplicates, in cookie order; ErrAmbiguous when
// there are too many to read (see MaxSessionCookies, maxCookieValues).
func (a *Authenticator) signedIDs(r *http.Request) ([]string, error) {
	ids, all := a.SignedSessionIDs(r)
	switch {
	case !all:
		// Refused, not truncated: ignoring the rest would let a sibling
		// hide the victim's cookie behind garbage with longer paths, as a
		// plain 401 with no way out; ambiguous, the hub offers the
		// sign-out that clears them.
		return nil, fmt.Errorf("%w (more than %d session cookies)", ErrAmbiguous, maxCookieValues)
	case len(ids) > MaxSessionCookies:
		return nil, fmt.Errorf("%w (more than %d signed session cookies)", ErrAmbiguous, MaxSessionCookies)
	case len(ids) == 0:
		return nil, ErrUnauthenticated
	}
	return ids, nil
}

// SignedSessionIDs returns the ids of the request's session cookies whose
// signature holds, without duplicates, in cookie order, reading no store:
// what a proven sign-out deletes, read or not. It looks at no more than
// maxCookieValues distinct values; all is false when there were more.
func (a *Authenticator) SignedSessionIDs(r *http.Request) (ids []string, all bool) {
	var buf [4]string
	seen := buf[:0] // values already looked at; few, so a slice (on the stack for a browser's one or two)
	for v := range cookieValues(r.Header, a.Cookies.Name()) {
		if slices.Contains(seen, v) {
			continue
		}
		if len(seen) == maxCookieValues {
			return ids, false
		}
		seen = append(seen, v)
		raw, err := a.Codec.Decode(v)
		if err != nil {
			continue
		}
		if id := ticket.Hash(raw); !slices.Contains(ids, id) { // one id under two keys of the ring
			ids = append(ids, id)
		}
	}
	return ids, true
}

// SessionFromValue checks one cookie value: its signature first, so a forged
// or garbled value never costs a store look-up, then the store.
func (a *Authenticator) SessionFromValue(ctx context.Context, value string) (*session.Session, error) {
	if _, err := a.Codec.Decode(value); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	// The value passed Decode: strict base64url, safe in a Cookie header.
	r := &http.Request{Header: http.Header{"Cookie": {a.Cookies.Name() + "=" + value}}}
	return a.SessionFromRequest(ctx, r)
}

// Touch refreshes s's last-seen time when due (at most once per Refresh);
// ErrUnauthenticated when the session was deleted in between.
func (a *Authenticator) Touch(ctx context.Context, s *session.Session) (*session.Session, error) {
	now := a.now()
	if now.Sub(s.LastSeen) < a.Refresh {
		return s, nil
	}
	if err := a.Sessions.Touch(ctx, s.ID, now); err != nil {
		if errors.Is(err, session.ErrNotFound) {
			return nil, ErrUnauthenticated // deleted in between: logout wins
		}
		if a.OnTouchError != nil {
			a.OnTouchError(err)
		}
		return s, nil
	}
	s.LastSeen = now
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
	src, err := a.checkTokenSource(ctx, c, now)
	if err != nil {
		return Identity{}, err
	}
	if src.Source != "" {
		// A federated source: the snapshot its session or key holds.
		return Identity{User: c.Subject, Email: src.Email, Groups: src.Groups, Method: MethodJWT, Token: bearer}, nil
	}
	u, ok := a.Users.Lookup(c.Subject)
	if !ok {
		return Identity{}, ErrUnauthenticated
	}
	// Email and groups are the users file's now, as for sessions and keys:
	// the token's own claims are what they were when it was minted. (The
	// token itself still goes upstream unchanged.)
	return Identity{User: u.Name, Email: u.Email, Groups: u.Groups, Method: MethodJWT, Token: bearer}, nil
}

// checkTokenSource asks the store whether the session or API key a client
// token was minted from is still live and still the subject's: a token dies
// with its source (logout, revocation, key deletion) rather than at its
// exp. It costs one store read per request, like a cookie or a key. It does
// not slide the session's idle time nor the key's last use: a token does
// not keep its source alive.
//
// It returns the source's identity snapshot: what a federated source
// (Source != "") says the subject is.
func (a *Authenticator) checkTokenSource(ctx context.Context, c token.Claims, now time.Time) (tokenSource, error) {
	switch {
	case c.SessionID != "" && c.KeyHash == "":
		s, err := a.Sessions.Get(ctx, c.SessionID)
		if errors.Is(err, session.ErrNotFound) {
			return tokenSource{}, ErrUnauthenticated
		}
		if err != nil {
			return tokenSource{}, fmt.Errorf("authz: read session of a token: %w", err)
		}
		if s.User != c.Subject || s.Expired(now) {
			return tokenSource{}, ErrUnauthenticated
		}
		return tokenSource{Source: s.Source, Email: s.Email, Groups: s.Groups}, nil
	case c.KeyHash != "" && c.SessionID == "":
		if a.Keys == nil {
			return tokenSource{}, ErrUnauthenticated
		}
		k, err := a.Keys.KeyByHash(ctx, c.KeyHash)
		if errors.Is(err, session.ErrNotFound) {
			return tokenSource{}, ErrUnauthenticated
		}
		if err != nil {
			return tokenSource{}, fmt.Errorf("authz: read api key of a token: %w", err)
		}
		if k.User != c.Subject || k.Expired(now) {
			return tokenSource{}, ErrUnauthenticated
		}
		return tokenSource{Source: k.Source, Email: k.Email, Groups: k.Groups}, nil
	}
	// No source (token.Verify refuses that already): nothing to revoke it
	// by, so it is no credential.
	return tokenSource{}, ErrUnauthenticated
}

// tokenSource is where a client token's session or key says its subject
// comes from, and that source's snapshot of email and groups.
type tokenSource struct {
	Source, Email string
	Groups        []string
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
	// A users-file owner's key carries only its name: email and groups are
	// read from the users file now, so a disabled or removed user's keys
	// stop working. A federated owner's key carries its snapshot.
	u := users.User{Name: k.User, Email: k.Email, Groups: k.Groups}
	if k.Source == "" {
		var ok bool
		if u, ok = a.Users.Lookup(k.User); !ok {
			return Identity{}, ErrUnauthenticated
		}
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
