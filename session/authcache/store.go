package authcache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/example/sso/session"
)

// Backend is what Store wraps: the sessions and API keys of one store.
type Backend interface {
	session.Store
	session.KeyStore
}

// Publisher sends an invalidation message (see Message) to every instance
// sharing the store. The Redis bus (redisstore.Bus) implements it.
type Publisher interface {
	Publish(ctx context.Context, msg string) error
}

// Store is a Backend whose Get and KeyByHash answer from a Cache when they
// can, and whose calls that end sessions or keys invalidate it here and,
// through the Publisher, everywhere. Other calls pass through.
type Store struct {
	Backend
	cache *Cache
	pub   Publisher
}

var _ Backend = (*Store)(nil)

// NewStore wraps b. pub may be nil only for a Local cache: with several
// instances, an invalidation nobody else hears would leave them serving a
// revoked session until their entries expire.
func NewStore(b Backend, c *Cache, pub Publisher) (*Store, error) {
	if pub == nil && !c.opt.Local {
		return nil, errors.New("authcache: a cache shared by several instances needs a Publisher")
	}
	return &Store{Backend: b, cache: c, pub: pub}, nil
}

// Cache returns the cache the store fills.
func (s *Store) Cache() *Cache { return s.cache }

// Get implements session.Store: a cached live session, or the store's
// answer (cached when live). The caller gets its own copy either way.
func (s *Store) Get(ctx context.Context, id string) (*session.Session, error) {
	if e, ok := s.cache.lookup("session", kindSession, id); ok {
		return e.sess.Clone(), nil
	}
	name := string(kindSession) + id
	f := s.cache.begin()
	sess, err := s.Backend.Get(ctx, id)
	if err == nil && sess.ID == id {
		s.cache.put(f, name, s.cache.sessionEntry(f, sess))
	}
	return sess, err
}

// KeyByHash implements session.KeyStore, as Get does for sessions.
func (s *Store) KeyByHash(ctx context.Context, hash string) (*session.APIKey, error) {
	if e, ok := s.cache.lookup("key", kindKey, hash); ok {
		return e.key.Clone(), nil
	}
	name := string(kindKey) + hash
	f := s.cache.begin()
	k, err := s.Backend.KeyByHash(ctx, hash)
	if err == nil && k.Hash == hash {
		s.cache.put(f, name, s.cache.keyEntry(f, k))
	}
	return k, err
}

// Create implements session.Store. A store at its per-user cap deletes the
// user's oldest sessions to make room, and does not say which: every
// Create invalidates the user, so that no instance serves an evicted one.
func (s *Store) Create(ctx context.Context, sess *session.Session) error {
	err := s.Backend.Create(ctx, sess)
	if errors.Is(err, session.ErrExists) {
		return err
	}
	return errors.Join(err, s.invalidate(ctx, kindUser, sess.User))
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	err := s.Backend.Delete(ctx, id)
	return errors.Join(err, s.invalidate(ctx, kindSession, id))
}

// DeleteUser implements session.Store. It invalidates all of the user's
// entries, the kept session's too (its next request reads the store).
func (s *Store) DeleteUser(ctx context.Context, user, keep string) (int, error) {
	n, err := s.Backend.DeleteUser(ctx, user, keep)
	return n, errors.Join(err, s.invalidate(ctx, kindUser, user))
}

// DeleteKey implements session.KeyStore. The key's hash is not known here,
// so the user is invalidated: keys are deleted rarely.
func (s *Store) DeleteKey(ctx context.Context, user, id string) error {
	err := s.Backend.DeleteKey(ctx, user, id)
	if errors.Is(err, session.ErrNotFound) {
		return err
	}
	return errors.Join(err, s.invalidate(ctx, kindUser, user))
}

// Touch implements session.Store. The entry here is dropped, so that the
// next read sees the new LastSeen; other instances keep theirs, whose
// older LastSeen only makes their deadline earlier.
func (s *Store) Touch(ctx context.Context, id string, now time.Time) error {
	err := s.Backend.Touch(ctx, id, now)
	s.cache.invalidate(kindSession, id, "local")
	return err
}

// TouchKey implements session.KeyStore, as Touch does for sessions.
func (s *Store) TouchKey(ctx context.Context, hash string, now time.Time) error {
	err := s.Backend.TouchKey(ctx, hash, now)
	s.cache.invalidate(kindKey, hash, "local")
	return err
}

// invalidate applies an invalidation here, after the store has answered
// (applied earlier, a read in flight could fill the cache with what the
// store held before), then publishes it. Whether the store call failed or
// not: it may have taken effect anyway. A failed publish is an error: the
// other instances may serve what was revoked until their entries expire
// (SSO_AUTH_CACHE) or their bus notices it is down.
func (s *Store) invalidate(ctx context.Context, kind byte, value string) error {
	s.cache.invalidate(kind, value, "local")
	if s.pub == nil {
		return nil
	}
	if err := s.pub.Publish(ctx, Message(kind, value)); err != nil {
		return fmt.Errorf("authcache: publish the invalidation: %w", err)
	}
	return nil
}
