// Package session defines the server-side session and API key records and
// the Store and KeyStore interfaces that back them, and Limiter, the shared
// counters that regulate logins. It owns no backend: memstore (embedded
// default) and redisstore implement the interfaces, and storetest checks
// that they behave alike.
//
//	s := &session.Session{
//		ID:        ticket.Hash(id), // never the raw id from the cookie
//		User:      "alice",
//		CreatedAt: now, LastSeen: now,
//		ExpiresAt: now.Add(12 * time.Hour),
//		Idle:      time.Hour,
//	}
//	if err := store.Create(ctx, s); err != nil { ... }
//
//	s, err := store.Get(ctx, ticket.Hash(id))
//	if errors.Is(err, session.ErrNotFound) { ... } // 401: absent or expired
//	if err != nil { ... }                          // 500: the store is down
//
//	// Login regulation: count failures per key, block a key that has too many.
//	if n, err := limiter.Hit(ctx, "ip:192.0.2.1", 2*time.Minute); err == nil && n >= 20 {
//		err = limiter.Block(ctx, "ip:192.0.2.1", 5*time.Minute)
//	}
//	wait, err := limiter.Blocked(ctx, "ip:192.0.2.1") // > 0: refuse with Retry-After
package session
