// Package session defines the server-side session and API key records and
// the Store and KeyStore interfaces that back them. It owns no backend:
// memstore (embedded default) and redisstore implement the interfaces, and
// storetest checks that they behave alike.
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
package session
