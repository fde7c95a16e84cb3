package authcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
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
	// Log is told when an invalidation could not be published and when a
	// retry delivers it or gives up; nil: not logged.
	Log *slog.Logger

	mu       sync.Mutex
	pending  []unpublished // in order of failure, deduplicated
	retrying bool          // a retry goroutine runs
	closed   bool
	ctx      context.Context // the retries', ended by Close
	cancel   context.CancelFunc
	wg       sync.WaitGroup // the retry goroutine
}

// unpublished is an invalidation whose publish failed, kept for retry.
type unpublished struct {
	msg   string
	since time.Time // when the store call that needed it had answered
}

// Retry backoff between attempts to publish what failed, and how many
// failed invalidations are kept before they are folded into one flush.
const (
	retryMin     = 50 * time.Millisecond
	retryMax     = time.Second
	maxUnpublish = 1000
)

// kindAll is a message every instance applies by flushing its cache (Apply
// flushes on any kind it does not know, older versions included).
const kindAll = '*'

var _ Backend = (*Store)(nil)

// NewStore wraps b. pub may be nil only for a Local cache: with several
// instances, an invalidation nobody else hears would leave them serving a
// revoked session until their entries expire.
func NewStore(b Backend, c *Cache, pub Publisher) (*Store, error) {
	if pub == nil && !c.opt.Local {
		return nil, errors.New("authcache: a cache shared by several instances needs a Publisher")
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Store{Backend: b, cache: c, pub: pub, ctx: ctx, cancel: cancel}, nil
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
		// Published anyway (cheap, idempotent): this may be the retry of a
		// delete whose publish failed. A failed publish wins over the
		// not-found, so the caller answers 503 again rather than 404.
		if perr := s.invalidate(ctx, kindUser, user); perr != nil {
			return perr
		}
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
// not: it may have taken effect anyway. A failed publish is an error (the
// other instances may serve what was revoked until it reaches them), and
// is not lost: it is kept and published again in the background, with
// backoff, until a publish succeeds or SSO_AUTH_CACHE (TTL) has passed
// since the store call, by when every entry it could have ended, on any
// instance, has expired (an entry lives at most TTL from the start of the
// read that filled it, and a read begun after the store call cannot
// return what it ended).
func (s *Store) invalidate(ctx context.Context, kind byte, value string) error {
	s.cache.invalidate(kind, value, "local")
	if s.pub == nil {
		return nil
	}
	msg := Message(kind, value)
	if err := s.pub.Publish(ctx, msg); err != nil {
		s.keep(msg)
		return fmt.Errorf("authcache: publish the invalidation (retried in the background): %w", err)
	}
	return nil
}

// keep queues msg for the retry goroutine, starting it if need be.
func (s *Store) keep(msg string) {
	now := s.cache.opt.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	found := false
	for i := range s.pending {
		if s.pending[i].msg == msg {
			s.pending[i].since, found = now, true
		}
	}
	if !found {
		s.pending = append(s.pending, unpublished{msg: msg, since: now})
	}
	if len(s.pending) > maxUnpublish {
		// One flush stands for them all, and for as long as the newest.
		s.pending = []unpublished{{msg: string(kindAll) + ":", since: now}}
	}
	s.log(slog.LevelWarn, "auth cache: invalidation not published; other instances may serve it from their cache until it is",
		"kind", kindName(msg), "pending", len(s.pending))
	if !s.retrying {
		s.retrying = true
		s.wg.Add(1)
		go s.retry()
	}
}

func kindName(msg string) string {
	if n, ok := kindNames[msg[0]]; ok {
		return n
	}
	return "all"
}

func (s *Store) log(level slog.Level, msg string, args ...any) {
	if s.Log != nil {
		s.Log.Log(context.Background(), level, msg, args...)
	}
}

// Pending returns how many invalidations wait to be published again.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// retry publishes the kept invalidations again, oldest first, waiting from
// retryMin up to retryMax between rounds, until none is left.
func (s *Store) retry() {
	defer s.wg.Done()
	wait := retryMin
	for {
		t := time.NewTimer(wait)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s.mu.Lock()
		batch := append([]unpublished(nil), s.pending...)
		s.mu.Unlock()
		now := s.cache.opt.Now()
		sent := make(map[string]time.Time, len(batch))
		var failed error
		for _, u := range batch {
			if now.Sub(u.since) > s.cache.opt.TTL {
				s.log(slog.LevelWarn, "auth cache: invalidation given up unpublished; every entry it could end has expired",
					"kind", kindName(u.msg))
				sent[u.msg] = u.since
				continue
			}
			if failed != nil {
				continue
			}
			if err := s.pub.Publish(s.ctx, u.msg); err != nil {
				failed = err
				continue
			}
			s.log(slog.LevelInfo, "auth cache: invalidation published on retry", "kind", kindName(u.msg))
			sent[u.msg] = u.since
		}
		s.mu.Lock()
		// Drop what was sent, unless it failed again meanwhile (newer since).
		s.pending = slices.DeleteFunc(s.pending, func(u unpublished) bool {
			at, ok := sent[u.msg]
			return ok && !u.since.After(at)
		})
		if len(s.pending) == 0 {
			s.retrying = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if failed != nil {
			wait = min(2*wait, retryMax)
		} else {
			wait = retryMin
		}
	}
}

// Close stops the retries; what they had not published is dropped (its
// window is SSO_AUTH_CACHE at most). Call it before closing the Publisher.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}
