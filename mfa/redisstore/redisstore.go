// Package redisstore is an mfa.Store on Redis (standalone, Sentinel or
// Cluster, through redis.UniversalClient; Redis 6.2 or later for GETDEL).
//
//	sso:mfa:{<user>}:totp      sealed TOTP record, no TTL
//	sso:mfa:{<user>}:recovery  sealed recovery-code hashes, no TTL
//	sso:mfa:{<user>}:webauthn  sealed WebAuthn record, no TTL
//	sso:mfa:c:<key>            sealed ceremony, expires (PX) with it
//	sso:mfa:h:<key>            user-handle index: the sealed user name, no TTL
//
// <user> is the unpadded base64url of the user name, inside braces: a
// Cluster hash tag, so that one user's records share a slot and DeleteUser
// is one DEL; the encoding keeps a name containing '{' or '}' from
// choosing another tag. <key> is what the mfa package passes: the hex
// SHA-256 of a ceremony id, or the hex HMAC of a WebAuthn user handle
// (no user name appears in those keys). Values are opaque to this package (mfa seals
// them).
package redisstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/example/sso/mfa"
	"github.com/redis/go-redis/v9"
)

var _ mfa.Store = (*Store)(nil)

// Store is safe for concurrent use; it does not own the client.
type Store struct {
	client redis.UniversalClient
	prefix string
}

// New returns a Store on client; prefix "" means "sso:".
func New(client redis.UniversalClient, prefix string) *Store {
	if prefix == "" {
		prefix = "sso:"
	}
	return &Store{client: client, prefix: prefix}
}

func (s *Store) userTag(user string) string {
	return s.prefix + "mfa:{" + base64.RawURLEncoding.EncodeToString([]byte(user)) + "}:"
}

func (s *Store) recordKey(user string, k mfa.Kind) string { return s.userTag(user) + string(k) }
func (s *Store) ceremonyKey(key string) string            { return s.prefix + "mfa:c:" + key }
func (s *Store) handleKey(key string) string              { return s.prefix + "mfa:h:" + key }

// Load implements mfa.Store.
func (s *Store) Load(ctx context.Context, user string, k mfa.Kind) ([]byte, error) {
	b, err := s.client.Get(ctx, s.recordKey(user, k)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, mfa.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: load %s: %w", k, err)
	}
	return b, nil
}

// swapScript: compare-and-set on one key. ARGV: has-old ("0"/"1"), old,
// has-new, new. GET of a missing key is false in Lua, never equal to a
// string, so "absent" and "some value" cannot be confused.
var swapScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
	if cur then return 0 end
elseif cur ~= ARGV[2] then
	return 0
end
if ARGV[3] == '0' then
	redis.call('DEL', KEYS[1])
else
	redis.call('SET', KEYS[1], ARGV[4])
end
return 1
`)

func flag(b []byte) string {
	if b == nil {
		return "0"
	}
	return "1"
}

// Swap implements mfa.Store.
func (s *Store) Swap(ctx context.Context, user string, k mfa.Kind, old, new []byte) error {
	if new != nil && len(new) == 0 {
		return errors.New("redisstore: swap: empty value")
	}
	ok, err := swapScript.Run(ctx, s.client, []string{s.recordKey(user, k)}, flag(old), old, flag(new), new).Int()
	if err != nil {
		return fmt.Errorf("redisstore: swap %s: %w", k, err)
	}
	if ok != 1 {
		return mfa.ErrConflict
	}
	return nil
}

// DeleteUser implements mfa.Store. The keys share a hash tag, so one DEL
// removes them on a cluster too.
func (s *Store) DeleteUser(ctx context.Context, user string) error {
	keys := make([]string, len(mfa.Kinds))
	for i, k := range mfa.Kinds {
		keys[i] = s.recordKey(user, k)
	}
	if err := s.client.Del(ctx, keys...).Err(); err != nil {
		return fmt.Errorf("redisstore: delete user: %w", err)
	}
	return nil
}

// PutCeremony implements mfa.Store.
func (s *Store) PutCeremony(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if len(value) == 0 || ttl <= 0 {
		return fmt.Errorf("redisstore: put ceremony: empty value or ttl %v", ttl)
	}
	if err := s.client.Set(ctx, s.ceremonyKey(key), value, ttl).Err(); err != nil {
		return fmt.Errorf("redisstore: put ceremony: %w", err)
	}
	return nil
}

// GetCeremony implements mfa.Store.
func (s *Store) GetCeremony(ctx context.Context, key string) ([]byte, error) {
	b, err := s.client.Get(ctx, s.ceremonyKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, mfa.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get ceremony: %w", err)
	}
	return b, nil
}

// TakeCeremony implements mfa.Store with GETDEL: one command, so of two
// takers only one gets the value.
func (s *Store) TakeCeremony(ctx context.Context, key string) ([]byte, error) {
	b, err := s.client.GetDel(ctx, s.ceremonyKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, mfa.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: take ceremony: %w", err)
	}
	return b, nil
}

// PutHandle implements mfa.Store.
func (s *Store) PutHandle(ctx context.Context, key string, value []byte) error {
	if len(value) == 0 {
		return errors.New("redisstore: put handle: empty value")
	}
	if err := s.client.Set(ctx, s.handleKey(key), value, 0).Err(); err != nil {
		return fmt.Errorf("redisstore: put handle: %w", err)
	}
	return nil
}

// GetHandle implements mfa.Store.
func (s *Store) GetHandle(ctx context.Context, key string) ([]byte, error) {
	b, err := s.client.Get(ctx, s.handleKey(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, mfa.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get handle: %w", err)
	}
	return b, nil
}

// DeleteHandle implements mfa.Store.
func (s *Store) DeleteHandle(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, s.handleKey(key)).Err(); err != nil {
		return fmt.Errorf("redisstore: delete handle: %w", err)
	}
	return nil
}

// Ping implements mfa.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}
