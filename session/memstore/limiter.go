package memstore

import (
	"container/heap"
	"context"
	"errors"
	"time"

	"github.com/example/sso/session"
)

var _ session.Limiter = (*Store)(nil)

// limit is one Limiter key: a count in its window and a block.
type limit struct {
	key          string
	count        int
	windowEnd    time.Time // the count is void from here on
	blockedUntil time.Time
	slot         // deadline: the later of windowEnd and blockedUntil, cached for the heap
}

func (l *limit) fix() {
	l.deadline = l.windowEnd
	if l.blockedUntil.After(l.deadline) {
		l.deadline = l.blockedUntil
	}
}

// dropExpiredLimitsLocked drops keys with neither a live count nor a block.
func (s *Store) dropExpiredLimitsLocked(now time.Time) int {
	n := 0
	for len(s.limitsByDL) > 0 && !now.Before(s.limitsByDL[0].deadline) {
		s.removeLimitLocked(s.limitsByDL[0].key)
		n++
	}
	return n
}

func (s *Store) removeLimitLocked(key string) {
	l, ok := s.limits[key]
	if !ok {
		return
	}
	delete(s.limits, key)
	heap.Remove(&s.limitsByDL, l.index)
}

// limitLocked returns key's entry, adding one when there is none. When the
// store holds MaxLimits keys it makes room by dropping the key closest to
// its end: refusing would turn a flood of keys into a denial of service,
// and a key about to expire anyway is the cheapest one to forget.
func (s *Store) limitLocked(key string, now time.Time) *limit {
	if l, ok := s.limits[key]; ok {
		return l
	}
	if len(s.limits) >= s.maxLimits {
		s.dropExpiredLimitsLocked(now)
	}
	for len(s.limits) >= s.maxLimits {
		s.removeLimitLocked(s.limitsByDL[0].key)
	}
	l := &limit{key: key}
	s.limits[key] = l
	heap.Push(&s.limitsByDL, l)
	return l
}

// Hit implements session.Limiter.
func (s *Store) Hit(_ context.Context, key string, window time.Duration) (int, error) {
	if window <= 0 {
		return 0, errors.New("memstore: hit: window must be positive")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.limitLocked(key, now)
	if !now.Before(l.windowEnd) {
		l.count = 0
		l.windowEnd = now.Add(window)
	}
	l.count++
	l.fix()
	heap.Fix(&s.limitsByDL, l.index)
	return l.count, nil
}

// Count implements session.Limiter.
func (s *Store) Count(_ context.Context, key string) (int, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.limits[key]
	if !ok || !now.Before(l.windowEnd) {
		return 0, nil
	}
	return l.count, nil
}

// Block implements session.Limiter.
func (s *Store) Block(_ context.Context, key string, d time.Duration) error {
	if d <= 0 {
		return errors.New("memstore: block: duration must be positive")
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.limitLocked(key, now)
	l.blockedUntil = now.Add(d)
	l.fix()
	heap.Fix(&s.limitsByDL, l.index)
	return nil
}

// Blocked implements session.Limiter.
func (s *Store) Blocked(_ context.Context, key string) (time.Duration, error) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	l, ok := s.limits[key]
	if !ok || !now.Before(l.blockedUntil) {
		return 0, nil
	}
	return l.blockedUntil.Sub(now), nil
}

// Clear implements session.Limiter.
func (s *Store) Clear(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLimitLocked(key)
	return nil
}

// Limits returns the number of Limiter keys held, expired ones not yet
// swept included.
func (s *Store) Limits() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.limits)
}
