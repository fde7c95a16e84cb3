package deadline_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/example/sso/internal/testredis"
	"github.com/example/sso/session"
	"github.com/example/sso/session/deadline"
	"github.com/example/sso/session/memstore"
	"github.com/example/sso/session/redisstore"
	"github.com/example/sso/session/storetest"
)

// The wrapper is a store like any other: the conformance suite passes
// through it, on memstore and on a real Redis.
func TestConformance(t *testing.T) {
	t.Run("memstore", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T, perUser int) storetest.Store {
			m := memstore.New(memstore.Options{MaxSessionsPerUser: perUser})
			t.Cleanup(func() { _ = m.Close() })
			return mustNew(t, m, time.Second, nil)
		})
	})
	t.Run("redis", func(t *testing.T) {
		c := redis.NewClient(&redis.Options{Addr: testredis.Start(t), ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = c.Close() })
		var n atomic.Int64
		storetest.Run(t, func(t *testing.T, perUser int) storetest.Store {
			b := redisstore.New(c, redisstore.Options{Prefix: fmt.Sprintf("t%d:", n.Add(1)), MaxSessionsPerUser: perUser})
			return mustNew(t, b, time.Second, nil)
		})
	})
}

func mustNew(t *testing.T, b deadline.Backend, d time.Duration, f func(string)) *deadline.Store {
	t.Helper()
	s, err := deadline.New(b, d, f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A Redis that stalls (DEBUG SLEEP holds its only thread) costs a call its
// deadline, not the stall: the call fails with ErrTimeout, the timeout is
// counted, and the store answers again once Redis does.
func TestStalledRedis(t *testing.T) {
	addr := testredis.StartArgs(t, "--enable-debug-command", "yes")
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	var timeouts atomic.Int64
	s := mustNew(t, redisstore.New(c, redisstore.Options{}), 200*time.Millisecond, func(op string) {
		if op != "get" {
			t.Errorf("timeout reported for %q, want get", op)
		}
		timeouts.Add(1)
	})
	ctx := context.Background()
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get before the stall = %v, want ErrNotFound", err)
	}
	stall := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = stall.Close() })
	const sleep = 3 * time.Second
	done := make(chan error, 1)
	go func() { done <- stall.Do(ctx, "DEBUG", "SLEEP", sleep.Seconds()).Err() }()
	time.Sleep(100 * time.Millisecond) // let DEBUG SLEEP start
	select {
	case err := <-done:
		t.Fatalf("DEBUG SLEEP ended at once: %v", err)
	default:
	}

	start := time.Now()
	_, err := s.Get(ctx, "nope")
	took := time.Since(start)
	if !errors.Is(err, deadline.ErrTimeout) {
		t.Fatalf("Get during the stall = %v, want ErrTimeout", err)
	}
	t.Logf("Get during a %v stall failed after %v", sleep, took.Round(time.Millisecond))
	if took >= sleep-200*time.Millisecond {
		t.Errorf("Get waited %v, as long as the stall: the deadline did not hold", took)
	}
	if timeouts.Load() != 1 {
		t.Errorf("%d timeouts counted, want 1", timeouts.Load())
	}
	if err := <-done; err != nil {
		t.Fatalf("DEBUG SLEEP: %v", err)
	}
	recovered := time.Now()
	for {
		_, err := s.Get(ctx, "nope")
		if errors.Is(err, session.ErrNotFound) {
			break
		}
		if time.Since(recovered) > 5*time.Second {
			t.Fatalf("store still failing 5s after the stall: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("answering again %v after the stall ended", time.Since(recovered).Round(time.Millisecond))
}

func TestNewRefusesZero(t *testing.T) {
	m := memstore.New(memstore.Options{})
	defer m.Close()
	if _, err := deadline.New(m, 0, nil); err == nil {
		t.Error("New with a zero timeout: no error")
	}
}
