// Package authcache keeps, for a short time, what the session store answered
// for a session id or an API key hash, so that /auth and the other callers
// of authz.Authenticator can answer from memory, while every revocation
// stays instant.
//
// What is cached is the store's answer for one id or hash (a live session,
// a live key), never a decision: the caller still applies the users file,
// and still compares the sessions of several cookies (ambiguity), on each
// request. Negative answers (not found) are never cached.
//
// An entry lives until the earliest of: TTL after the store read began;
// the session's deadline (idle, from the LastSeen the store had, and
// absolute) or the key's expiry; and LastSeen (LastUsed) + Refresh, so
// that a cache hit never finds a last-seen write due and the sliding
// refresh still reads the store first.
//
// Revocation: Store wraps a backend; every call that can end a session or
// a key (Create, which may evict a user's oldest sessions at the cap;
// Delete; DeleteUser; DeleteKey) invalidates locally once the store has
// answered, then publishes the invalidation (by session id, key hash or
// user) for the other instances, whose Cache applies it. A read that began
// before an invalidation never fills the cache after it (generations and
// tombstones), so a revocation cannot be undone by a read in flight. A
// publish that fails is an error to the caller and is kept and retried in
// the background until it succeeds or TTL has passed since the store call
// (when every entry it could end has expired everywhere).
//
// Fail safe: a Cache fed by a bus (Redis pub/sub) answers only while the
// bus vouches for it: Confirm(asOf) says every invalidation published
// before asOf has been applied, and the cache is used until asOf+Lease.
// Lost, or a lease that lapses, empties it; it is used again only after a
// new confirmation. A Cache for the in-memory store (Local) has one
// instance and applies invalidations synchronously, so it is always usable.
//
//	c := authcache.New(authcache.Options{TTL: 2 * time.Second, Refresh: time.Minute})
//	st := authcache.NewStore(backend, c, bus) // bus: nil with Local
//	go bus.Run(ctx, c)                        // Confirm, Lost, Apply
package authcache
