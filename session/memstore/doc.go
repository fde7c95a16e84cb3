// Package memstore is the embedded, in-memory session.Store and
// session.KeyStore: the default when no Redis is configured, and a real
// implementation (with an injectable clock) for fast tests elsewhere.
//
// Sessions live as long as the process. The store is bounded: when it is
// full, Create evicts the session that would die first, so a login is never
// refused. A background sweeper drops expired sessions and keys.
//
//	store := memstore.New(memstore.Options{MaxSessions: 50_000})
//	defer store.Close()
//	var _ session.Store = store
package memstore
