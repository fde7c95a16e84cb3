// Package memstore is the embedded, in-memory session.Store,
// session.KeyStore and session.Limiter: the default when no Redis is configured, and a real
// implementation (with an injectable clock) for fast tests elsewhere.
//
// Sessions live as long as the process. The store is bounded: a user at
// Options.MaxSessionsPerUser loses their own oldest session to a new login,
// and when the whole store is full, Create evicts the session that would
// die first, so a login is never refused. Limiter keys (login counters and blocks) are bounded the same
// way. A background sweeper drops expired sessions, keys and counters.
// Counters are per process: several sso instances share them only through
// Redis.
//
//	store := memstore.New(memstore.Options{MaxSessions: 50_000})
//	defer store.Close()
//	var _ session.Store = store
package memstore
