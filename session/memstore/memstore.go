package memstore

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/example/sso/session"
)

var (
	_ session.Store    = (*Store)(nil)
	_ session.KeyStore = (*Store)(nil)
)

// Options configure a Store. Zero values select the defaults.
type Options struct {
	// MaxSessions bounds the number of sessions; default 100_000.
	MaxSessions int
	// MaxSessionsPerUser bounds the sessions of one user; default 100,
	// negative: unlimited. Create drops the user's expired sessions, then
	// the oldest (CreatedAt) of the others, so that one user logging in
	// over and over displaces only their own sessions.
	MaxSessionsPerUser int
	// MaxKeys bounds the number of API keys; default 100_000. Unlike
	// sessions, keys are never evicted: CreateKey fails when full.
	MaxKeys int
	// MaxLimits bounds the number of Limiter keys (login counters and
	// blocks); default 100_000. When full, the key closest to its end is
	// dropped to make room.
	MaxLimits int
	// SweepInterval is how often expired entries are dropped; default 1m,
	// negative: no background sweeper (call Sweep yourself).
	SweepInterval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Store is an in-memory session.Store, session.KeyStore and session.Limiter,
// safe for concurrent use. Create it with New and stop its sweeper with
// Close.
type Store struct {
	now         func() time.Time
	maxSessions int
	maxPerUser  int // <= 0: unlimited
	maxKeys     int
	maxLimits   int

	mu         sync.RWMutex
	sessions   map[string]*entry
	byDL       byDeadline[*entry]             // every entry, earliest Deadline on top
	byUser     map[string]map[string]struct{} // user -> session ids
	keys       map[string]*session.APIKey     // by hash
	keysByID   map[string]map[string]string   // user -> key id -> hash
	limits     map[string]*limit              // Limiter keys
	limitsByDL byDeadline[*limit]             // every limit, earliest deadline on top

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New returns a Store and starts its sweeper.
func New(opts Options) *Store {
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 100_000
	}
	switch {
	case opts.MaxSessionsPerUser == 0:
		opts.MaxSessionsPerUser = 100
	case opts.MaxSessionsPerUser < 0:
		opts.MaxSessionsPerUser = -1
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 100_000
	}
	if opts.MaxLimits <= 0 {
		opts.MaxLimits = 100_000
	}
	if opts.SweepInterval == 0 {
		opts.SweepInterval = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{
		now:         opts.Now,
		maxSessions: opts.MaxSessions,
		maxPerUser:  opts.MaxSessionsPerUser,
		maxKeys:     opts.MaxKeys,
		maxLimits:   opts.MaxLimits,
		sessions:    make(map[string]*entry),
		byUser:      make(map[string]map[string]struct{}),
		keys:        make(map[string]*session.APIKey),
		keysByID:    make(map[string]map[string]string),
		limits:      make(map[string]*limit),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	if opts.SweepInterval > 0 {
		go s.sweeper(opts.SweepInterval)
	} else {
		close(s.done)
	}
	return s
}

// Close stops the sweeper. The store stays usable; Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func (s *Store) sweeper(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Sweep drops expired sessions, API keys and Limiter keys now and returns
// how many it dropped.
func (s *Store) Sweep() int {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.dropExpiredLocked(now) + s.dropExpiredLimitsLocked(now)
	for h, k := range s.keys {
		if k.Expired(now) {
			s.removeKeyLocked(h)
			n++
		}
	}
	return n
}

// Len returns the number of sessions held, expired ones not yet swept included.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.sessions)
}

func (s *Store) dropExpiredLocked(now time.Time) int {
	n := 0
	for len(s.byDL) > 0 && !now.Before(s.byDL[0].deadline) {
		s.removeLocked(s.byDL[0].s.ID)
		n++
	}
	return n
}

// Create implements session.Store. When the user is at MaxSessionsPerUser
// it first makes room among the user's own sessions (see trimUserLocked).
// When the store is full it then evicts the session with the earliest
// Deadline: refusing would lock a user out, and that session is the one
// closest to dying anyway.
func (s *Store) Create(_ context.Context, sess *session.Session) error {
	if err := sess.Validate(); err != nil {
		return fmt.Errorf("memstore: create: %w", err)
	}
	now := s.now()
	if sess.Expired(now) {
		return errors.New("memstore: create: session is past its deadline")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[sess.ID]; ok {
		return fmt.Errorf("memstore: create: %w", session.ErrExists)
	}
	s.trimUserLocked(sess.User, now)
	if len(s.sessions) >= s.maxSessions {
		s.dropExpiredLocked(now)
	}
	for len(s.sessions) >= s.maxSessions {
		s.removeLocked(s.byDL[0].s.ID)
	}
	e := &entry{s: sess.Clone()}
	e.deadline = e.s.Deadline()
	s.sessions[sess.ID] = e
	heap.Push(&s.byDL, e)
	ids := s.byUser[sess.User]
	if ids == nil {
		ids = make(map[string]struct{})
		s.byUser[sess.User] = ids
	}
	ids[sess.ID] = struct{}{}
	return nil
}

// trimUserLocked makes room for one more session of user under the
// per-user cap: it drops the user's expired sessions, then the oldest
// (CreatedAt, then ID) until one more fits. Finding the oldest is a scan of
// the user's sessions, which the cap keeps short.
func (s *Store) trimUserLocked(user string, now time.Time) {
	if s.maxPerUser <= 0 || len(s.byUser[user]) < s.maxPerUser {
		return
	}
	for id := range s.byUser[user] {
		if !now.Before(s.sessions[id].deadline) {
			s.removeLocked(id)
		}
	}
	for len(s.byUser[user]) >= s.maxPerUser {
		var oldest *session.Session
		for id := range s.byUser[user] {
			c := s.sessions[id].s
			if oldest == nil || cmp.Or(c.CreatedAt.Compare(oldest.CreatedAt), cmp.Compare(c.ID, oldest.ID)) < 0 {
				oldest = c
			}
		}
		s.removeLocked(oldest.ID)
	}
}

// removeLocked drops session id from every index.
func (s *Store) removeLocked(id string) (*session.Session, bool) {
	e, ok := s.sessions[id]
	if !ok {
		return nil, false
	}
	delete(s.sessions, id)
	heap.Remove(&s.byDL, e.index)
	if ids := s.byUser[e.s.User]; ids != nil {
		delete(ids, id)
		if len(ids) == 0 {
			delete(s.byUser, e.s.User)
		}
	}
	return e.s, true
}

// Get implements session.Store.
func (s *Store) Get(_ context.Context, id string) (*session.Session, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, ok := s.sessions[id]
	if !ok || !now.Before(e.deadline) {
		return nil, session.ErrNotFound
	}
	return e.s.Clone(), nil
}

// Touch implements session.Store.
func (s *Store) Touch(_ context.Context, id string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.sessions[id]
	if !ok {
		return session.ErrNotFound
	}
	if e.s.Expired(s.now()) || e.s.Expired(now) {
		s.removeLocked(id)
		return session.ErrNotFound
	}
	if now.After(e.s.LastSeen) {
		e.s.LastSeen = now
		e.deadline = e.s.Deadline()
		heap.Fix(&s.byDL, e.index)
	}
	return nil
}

// Delete implements session.Store.
func (s *Store) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(id)
	return nil
}

// List implements session.Store.
func (s *Store) List(_ context.Context, user string) ([]*session.Session, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*session.Session
	for id := range s.byUser[user] {
		if e := s.sessions[id]; now.Before(e.deadline) {
			out = append(out, e.s.Clone())
		}
	}
	sortSessions(out)
	return out, nil
}

func sortSessions(ss []*session.Session) {
	slices.SortFunc(ss, func(a, b *session.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
}

// DeleteUser implements session.Store. The count leaves out sessions that
// had already expired.
func (s *Store) DeleteUser(_ context.Context, user, keep string) (int, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id := range s.byUser[user] {
		if id == keep {
			continue
		}
		if old, _ := s.removeLocked(id); !old.Expired(now) {
			n++
		}
	}
	return n, nil
}

// Ping implements session.Store; memory always answers.
func (s *Store) Ping(context.Context) error { return nil }

// CreateKey implements session.KeyStore.
func (s *Store) CreateKey(_ context.Context, k *session.APIKey) error {
	if err := k.Validate(); err != nil {
		return fmt.Errorf("memstore: create key: %w", err)
	}
	now := s.now()
	if k.Expired(now) {
		return errors.New("memstore: create key: key is already expired")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.keys[k.Hash]; ok {
		if !old.Expired(now) {
			return fmt.Errorf("memstore: create key: %w", session.ErrExists)
		}
		s.removeKeyLocked(k.Hash)
	}
	if _, ok := s.keysByID[k.User][k.ID]; ok {
		return fmt.Errorf("memstore: create key: id: %w", session.ErrExists)
	}
	if len(s.keys) >= s.maxKeys {
		return fmt.Errorf("memstore: create key: limit of %d keys reached", s.maxKeys)
	}
	s.keys[k.Hash] = k.Clone()
	ids := s.keysByID[k.User]
	if ids == nil {
		ids = make(map[string]string)
		s.keysByID[k.User] = ids
	}
	ids[k.ID] = k.Hash
	return nil
}

func (s *Store) removeKeyLocked(hash string) {
	k, ok := s.keys[hash]
	if !ok {
		return
	}
	delete(s.keys, hash)
	if ids := s.keysByID[k.User]; ids != nil {
		delete(ids, k.ID)
		if len(ids) == 0 {
			delete(s.keysByID, k.User)
		}
	}
}

// KeyByHash implements session.KeyStore.
func (s *Store) KeyByHash(_ context.Context, hash string) (*session.APIKey, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[hash]
	if !ok || k.Expired(now) {
		return nil, session.ErrNotFound
	}
	return k.Clone(), nil
}

// ListKeys implements session.KeyStore.
func (s *Store) ListKeys(_ context.Context, user string) ([]*session.APIKey, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*session.APIKey
	for _, h := range s.keysByID[user] {
		if k := s.keys[h]; !k.Expired(now) {
			out = append(out, k.Clone())
		}
	}
	sortKeys(out)
	return out, nil
}

func sortKeys(ks []*session.APIKey) {
	slices.SortFunc(ks, func(a, b *session.APIKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
}

// DeleteKey implements session.KeyStore.
func (s *Store) DeleteKey(_ context.Context, user, id string) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := s.keysByID[user][id]
	if !ok {
		return session.ErrNotFound
	}
	expired := s.keys[h].Expired(now)
	s.removeKeyLocked(h)
	if expired {
		return session.ErrNotFound
	}
	return nil
}

// TouchKey implements session.KeyStore.
func (s *Store) TouchKey(_ context.Context, hash string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[hash]
	if !ok || k.Expired(s.now()) {
		return session.ErrNotFound
	}
	if now.After(k.LastUsed) {
		k.LastUsed = now
	}
	return nil
}

// entry is a session and its place in the deadline heap.
type entry struct {
	s    *session.Session
	slot // deadline: s.Deadline(), cached for the heap
}
