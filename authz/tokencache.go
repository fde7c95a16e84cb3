package authz

import (
	"slices"
	"sync"
	"time"
)

// tokenCache keeps the upstream JWT minted for a session or API key and one
// upstream origin (the key names both), so that /auth signs once per half
// token lifetime per credential and upstream instead of on every request:
// signing is most of the cost of an /auth decision. Only a request that has
// just been authenticated against the store reaches it, so a revoked session
// or key never gets a cached token.
type tokenCache struct {
	mu      sync.Mutex
	entries map[tokenKey]cachedToken
}

// tokenKey names a credential and an upstream: a struct rather than a
// joined string, so that a look-up builds nothing.
type tokenKey struct {
	kind byte   // 's' session, 'k' API key
	id   string // session id or key id
	aud  string // the upstream's origin
}

type cachedToken struct {
	token   value
	renewAt time.Time
	// The identity the token states: a user whose email or groups
	// changed in the users file gets a fresh token at once, not one that
	// keeps the old groups for half its lifetime.
	user, email string
	groups      []string
}

// maxCachedTokens bounds the cache; past it, the cache starts afresh, which
// costs one signature per credential.
const maxCachedTokens = 50_000

// get returns the token cached under key while it is fresh and states id's
// user, email and groups.
func (c *tokenCache) get(key tokenKey, now time.Time, id Identity) (value, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.renewAt) || e.user != id.User || e.email != id.Email || !slices.Equal(e.groups, id.Groups) {
		return nil, false
	}
	return e.token, true
}

func (c *tokenCache) put(key tokenKey, token value, renewAt time.Time, id Identity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= maxCachedTokens {
		c.entries = make(map[tokenKey]cachedToken)
	}
	c.entries[key] = cachedToken{token: token, renewAt: renewAt, user: id.User, email: id.Email, groups: slices.Clone(id.Groups)}
}
