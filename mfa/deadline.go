package mfa

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrStoreTimeout is wrapped by the error of a store call that ran past
// Options.StoreTimeout: a stalled store costs a login that long, then
// fails (503), and is never taken for a wrong code.
var ErrStoreTimeout = errors.New("mfa: store deadline exceeded")

// timedStore gives each call to a Store a deadline of its own, as
// session/deadline does for the session store (SSO_STORE_TIMEOUT). Ping
// keeps the caller's context: readiness probes bring their own.
type timedStore struct {
	Store
	d time.Duration
}

func (s timedStore) call(ctx context.Context, f func(context.Context) error) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.d)
	defer cancel()
	err := f(ctx)
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) {
		return err
	}
	if ctx.Err() != nil && parent.Err() == nil {
		return fmt.Errorf("%w after %v: %w", ErrStoreTimeout, s.d, err)
	}
	return err
}

func (s timedStore) Load(ctx context.Context, user string, k Kind) (b []byte, err error) {
	err = s.call(ctx, func(ctx context.Context) error { b, err = s.Store.Load(ctx, user, k); return err })
	return b, err
}

func (s timedStore) Swap(ctx context.Context, user string, k Kind, old, new []byte) error {
	return s.call(ctx, func(ctx context.Context) error { return s.Store.Swap(ctx, user, k, old, new) })
}

func (s timedStore) DeleteUser(ctx context.Context, user string) error {
	return s.call(ctx, func(ctx context.Context) error { return s.Store.DeleteUser(ctx, user) })
}

func (s timedStore) PutCeremony(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	return s.call(ctx, func(ctx context.Context) error { return s.Store.PutCeremony(ctx, key, v, ttl) })
}

func (s timedStore) GetCeremony(ctx context.Context, key string) (b []byte, err error) {
	err = s.call(ctx, func(ctx context.Context) error { b, err = s.Store.GetCeremony(ctx, key); return err })
	return b, err
}

func (s timedStore) TakeCeremony(ctx context.Context, key string) (b []byte, err error) {
	err = s.call(ctx, func(ctx context.Context) error { b, err = s.Store.TakeCeremony(ctx, key); return err })
	return b, err
}

func (s timedStore) PutHandle(ctx context.Context, key string, v []byte) error {
	return s.call(ctx, func(ctx context.Context) error { return s.Store.PutHandle(ctx, key, v) })
}

func (s timedStore) GetHandle(ctx context.Context, key string) (b []byte, err error) {
	err = s.call(ctx, func(ctx context.Context) error { b, err = s.Store.GetHandle(ctx, key); return err })
	return b, err
}

func (s timedStore) DeleteHandle(ctx context.Context, key string) error {
	return s.call(ctx, func(ctx context.Context) error { return s.Store.DeleteHandle(ctx, key) })
}
