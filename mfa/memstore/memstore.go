// Package memstore is an in-memory mfa.Store, for the embedded dev mode
// and tests. Records live as long as the process; ceremonies expire by the
// injected clock.
package memstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/example/sso/mfa"
)

var _ mfa.Store = (*Store)(nil)

type recKey struct {
	user string
	kind mfa.Kind
}

type ceremony struct {
	value   []byte
	expires time.Time
}

// Store is safe for concurrent use.
type Store struct {
	now func() time.Time

	mu         sync.Mutex
	records    map[recKey][]byte
	ceremonies map[string]ceremony
	handles    map[string][]byte
}

// New returns an empty Store; now nil means time.Now.
func New(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{now: now, records: map[recKey][]byte{}, ceremonies: map[string]ceremony{}, handles: map[string][]byte{}}
}

// Load implements mfa.Store.
func (s *Store) Load(_ context.Context, user string, k mfa.Kind) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.records[recKey{user, k}]
	if !ok {
		return nil, mfa.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// Swap implements mfa.Store.
func (s *Store) Swap(_ context.Context, user string, k mfa.Kind, old, new []byte) error {
	if new != nil && len(new) == 0 {
		return errors.New("memstore: swap: empty value")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := recKey{user, k}
	cur, ok := s.records[key]
	if ok != (old != nil) || (ok && !bytes.Equal(cur, old)) {
		return mfa.ErrConflict
	}
	if new == nil {
		delete(s.records, key)
	} else {
		s.records[key] = bytes.Clone(new)
	}
	return nil
}

// DeleteUser implements mfa.Store.
func (s *Store) DeleteUser(_ context.Context, user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range mfa.Kinds {
		delete(s.records, recKey{user, k})
	}
	return nil
}

// PutCeremony implements mfa.Store.
func (s *Store) PutCeremony(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if len(value) == 0 || ttl <= 0 {
		return fmt.Errorf("memstore: put ceremony: empty value or ttl %v", ttl)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	// Drop expired ones here, so abandoned ceremonies cannot pile up.
	for k, c := range s.ceremonies {
		if !now.Before(c.expires) {
			delete(s.ceremonies, k)
		}
	}
	s.ceremonies[key] = ceremony{value: bytes.Clone(value), expires: now.Add(ttl)}
	return nil
}

// GetCeremony implements mfa.Store.
func (s *Store) GetCeremony(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.ceremonies[key]
	if !ok || !s.now().Before(c.expires) {
		return nil, mfa.ErrNotFound
	}
	return bytes.Clone(c.value), nil
}

// TakeCeremony implements mfa.Store.
func (s *Store) TakeCeremony(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.ceremonies[key]
	delete(s.ceremonies, key)
	if !ok || !s.now().Before(c.expires) {
		return nil, mfa.ErrNotFound
	}
	return c.value, nil
}

// PutHandle implements mfa.Store.
func (s *Store) PutHandle(_ context.Context, key string, value []byte) error {
	if len(value) == 0 {
		return errors.New("memstore: put handle: empty value")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handles[key] = bytes.Clone(value)
	return nil
}

// GetHandle implements mfa.Store.
func (s *Store) GetHandle(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.handles[key]
	if !ok {
		return nil, mfa.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// DeleteHandle implements mfa.Store.
func (s *Store) DeleteHandle(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.handles, key)
	return nil
}

// Ping implements mfa.Store.
func (s *Store) Ping(context.Context) error { return nil }
