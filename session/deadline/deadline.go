// Package deadline bounds every call to a session store by a deadline of
// its own, so that a store that stalls rather than dies (a Redis stuck in a
// long command, a network partition that drops packets) costs each request
// at most that long: /auth then answers 503 quickly and recovers by itself,
// instead of holding every request, and nginx's connections with it.
package deadline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/example/sso/session"
)

// Backend is what sso keeps in one store: sessions, API keys and the login
// limiter.
type Backend interface {
	session.Store
	session.KeyStore
	session.Limiter
}

// Store is a Backend whose calls each get at most Timeout. Ping is passed
// through with the caller's context: /readyz has a deadline of its own.
type Store struct {
	b       Backend
	timeout time.Duration
	// onTimeout is told the operation whose deadline expired.
	onTimeout func(op string)
}

// New wraps b; timeout must be positive. onTimeout may be nil.
func New(b Backend, timeout time.Duration, onTimeout func(op string)) (*Store, error) {
	if timeout <= 0 {
		return nil, fmt.Errorf("deadline: timeout %v is not positive", timeout)
	}
	if onTimeout == nil {
		onTimeout = func(string) {}
	}
	return &Store{b: b, timeout: timeout, onTimeout: onTimeout}, nil
}

// ErrTimeout is wrapped by the error of a call whose deadline expired.
var ErrTimeout = errors.New("store deadline exceeded")

// call runs f under the deadline and names a timeout as such: a driver
// reports an expired deadline as an i/o timeout, a closed connection or a
// context error, depending on where it was.
func (s *Store) call(ctx context.Context, op string, f func(context.Context) error) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := f(ctx)
	if err == nil || errors.Is(err, session.ErrNotFound) || errors.Is(err, session.ErrExists) {
		return err
	}
	if ctx.Err() != nil && parent.Err() == nil {
		s.onTimeout(op)
		return fmt.Errorf("%s: %w after %v: %w", op, ErrTimeout, s.timeout, err)
	}
	return err
}

func (s *Store) Create(ctx context.Context, x *session.Session) error {
	return s.call(ctx, "create", func(ctx context.Context) error { return s.b.Create(ctx, x) })
}

func (s *Store) Get(ctx context.Context, id string) (out *session.Session, err error) {
	err = s.call(ctx, "get", func(ctx context.Context) error { out, err = s.b.Get(ctx, id); return err })
	return out, err
}

func (s *Store) Touch(ctx context.Context, id string, now time.Time) error {
	return s.call(ctx, "touch", func(ctx context.Context) error { return s.b.Touch(ctx, id, now) })
}

func (s *Store) Delete(ctx context.Context, id string) error {
	return s.call(ctx, "delete", func(ctx context.Context) error { return s.b.Delete(ctx, id) })
}

func (s *Store) List(ctx context.Context, user string) (out []*session.Session, err error) {
	err = s.call(ctx, "list", func(ctx context.Context) error { out, err = s.b.List(ctx, user); return err })
	return out, err
}

func (s *Store) DeleteUser(ctx context.Context, user, keep string) (n int, err error) {
	err = s.call(ctx, "delete_user", func(ctx context.Context) error { n, err = s.b.DeleteUser(ctx, user, keep); return err })
	return n, err
}

// Ping keeps the caller's deadline (see Store).
func (s *Store) Ping(ctx context.Context) error { return s.b.Ping(ctx) }

func (s *Store) CreateKey(ctx context.Context, k *session.APIKey) error {
	return s.call(ctx, "create_key", func(ctx context.Context) error { return s.b.CreateKey(ctx, k) })
}

func (s *Store) KeyByHash(ctx context.Context, hash string) (out *session.APIKey, err error) {
	err = s.call(ctx, "key", func(ctx context.Context) error { out, err = s.b.KeyByHash(ctx, hash); return err })
	return out, err
}

func (s *Store) ListKeys(ctx context.Context, user string) (out []*session.APIKey, err error) {
	err = s.call(ctx, "list_keys", func(ctx context.Context) error { out, err = s.b.ListKeys(ctx, user); return err })
	return out, err
}

func (s *Store) DeleteKey(ctx context.Context, user, id string) error {
	return s.call(ctx, "delete_key", func(ctx context.Context) error { return s.b.DeleteKey(ctx, user, id) })
}

func (s *Store) TouchKey(ctx context.Context, hash string, now time.Time) error {
	return s.call(ctx, "touch_key", func(ctx context.Context) error { return s.b.TouchKey(ctx, hash, now) })
}

func (s *Store) Hit(ctx context.Context, key string, window time.Duration) (n int, err error) {
	err = s.call(ctx, "limiter_hit", func(ctx context.Context) error { n, err = s.b.Hit(ctx, key, window); return err })
	return n, err
}

func (s *Store) Count(ctx context.Context, key string) (n int, err error) {
	err = s.call(ctx, "limiter_count", func(ctx context.Context) error { n, err = s.b.Count(ctx, key); return err })
	return n, err
}

func (s *Store) Block(ctx context.Context, key string, d time.Duration) error {
	return s.call(ctx, "limiter_block", func(ctx context.Context) error { return s.b.Block(ctx, key, d) })
}

func (s *Store) Blocked(ctx context.Context, key string) (d time.Duration, err error) {
	err = s.call(ctx, "limiter_blocked", func(ctx context.Context) error { d, err = s.b.Blocked(ctx, key); return err })
	return d, err
}

func (s *Store) Clear(ctx context.Context, key string) error {
	return s.call(ctx, "limiter_clear", func(ctx context.Context) error { return s.b.Clear(ctx, key) })
}
