package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/example/sso/session"
	"github.com/redis/go-redis/v9"
)

var _ session.Limiter = (*Store)(nil)

func (s *Store) countKey(key string) string { return s.prefix + "rl:n:" + key }
func (s *Store) blockKey(key string) string { return s.prefix + "rl:b:" + key }

// hitScript counts a hit and starts the window on the first one. PEXPIRE's
// NX flag would do this in one command but needs Redis 7; we support 6.2.
// A count without a TTL (written by hand, say) gets one too rather than
// living forever. It touches only KEYS[1], so it is safe on Redis Cluster.
var hitScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) == -1 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`)

// millis rounds d up to whole milliseconds, Redis's TTL resolution.
func millis(d time.Duration) int64 {
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// Hit implements session.Limiter.
func (s *Store) Hit(ctx context.Context, key string, window time.Duration) (int, error) {
	if window <= 0 {
		return 0, errors.New("redisstore: hit: window must be positive")
	}
	n, err := hitScript.Run(ctx, s.client, []string{s.countKey(key)}, millis(window)).Int()
	if err != nil {
		return 0, fmt.Errorf("redisstore: hit: %w", err)
	}
	return n, nil
}

// Count implements session.Limiter.
func (s *Store) Count(ctx context.Context, key string) (int, error) {
	n, err := s.client.Get(ctx, s.countKey(key)).Int()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("redisstore: count: %w", err)
	}
	return n, nil
}

// Block implements session.Limiter.
func (s *Store) Block(ctx context.Context, key string, d time.Duration) error {
	if d <= 0 {
		return errors.New("redisstore: block: duration must be positive")
	}
	if err := s.client.Set(ctx, s.blockKey(key), "1", time.Duration(millis(d))*time.Millisecond).Err(); err != nil {
		return fmt.Errorf("redisstore: block: %w", err)
	}
	return nil
}

// Blocked implements session.Limiter. A block key without a TTL can only
// have been written by hand, as a ban until someone deletes it: it is
// reported as blocked for the longest Duration.
func (s *Store) Blocked(ctx context.Context, key string) (time.Duration, error) {
	ttl, err := s.client.PTTL(ctx, s.blockKey(key)).Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore: blocked: %w", err)
	}
	// go-redis passes PTTL's -2 (no key) and -1 (no TTL) through unscaled.
	switch {
	case ttl == -1:
		return math.MaxInt64, nil
	case ttl <= 0:
		return 0, nil
	}
	return ttl, nil
}

// Clear implements session.Limiter. Two DELs rather than one: the keys may
// live in different hash slots of a cluster.
func (s *Store) Clear(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, s.countKey(key)).Err(); err != nil {
		return fmt.Errorf("redisstore: clear: %w", err)
	}
	if err := s.client.Del(ctx, s.blockKey(key)).Err(); err != nil {
		return fmt.Errorf("redisstore: clear: %w", err)
	}
	return nil
}
