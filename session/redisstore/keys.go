package redisstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/example/sso/session"
	"github.com/redis/go-redis/v9"
)

// keyRecord is the stored form of an API key.
type keyRecord struct {
	ID        string    `json:"id"`
	Hash      string    `json:"hash"`
	User      string    `json:"user"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used"`
	ExpiresAt time.Time `json:"expires_at"`
	// A federated owner's snapshot (session.APIKey.Source); absent for a
	// users-file owner, as in keys written before these fields.
	Source string   `json:"source,omitempty"`
	Email  string   `json:"email,omitempty"`
	Groups []string `json:"groups,omitempty"`
}

func decodeKey(b []byte) (*session.APIKey, error) {
	var r keyRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	k := session.APIKey(r)
	return &k, nil
}

// CreateKey implements session.KeyStore.
func (s *Store) CreateKey(ctx context.Context, k *session.APIKey) error {
	if err := k.Validate(); err != nil {
		return fmt.Errorf("redisstore: create key: %w", err)
	}
	if k.Expired(s.now()) {
		return errors.New("redisstore: create key: key is already expired")
	}
	b, err := json.Marshal(keyRecord(*k))
	if err != nil {
		return fmt.Errorf("redisstore: create key: %w", err)
	}
	// Zero ExpiresAt leaves the key without a TTL.
	err = s.client.SetArgs(ctx, s.apiKey(k.Hash), b, redis.SetArgs{Mode: "NX", ExpireAt: k.ExpiresAt}).Err()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: create key: %w", session.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("redisstore: create key: %w", err)
	}
	if err := s.indexKey(ctx, k); err != nil {
		// Leave no key that ListKeys and DeleteKey cannot reach.
		_ = s.client.Del(ctx, s.apiKey(k.Hash)).Err()
		return fmt.Errorf("redisstore: create key: %w", err)
	}
	return nil
}

// indexKey records k.ID -> k.Hash in the user's key index, refusing an id
// that names a live key.
func (s *Store) indexKey(ctx context.Context, k *session.APIKey) error {
	idx := s.userKeys(k.User)
	ok, err := s.client.HSetNX(ctx, idx, k.ID, k.Hash).Result()
	if err != nil || ok {
		return err
	}
	old, err := s.client.HGet(ctx, idx, k.ID).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	if err == nil {
		n, err := s.client.Exists(ctx, s.apiKey(old)).Result()
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("id: %w", session.ErrExists)
		}
	}
	// The old entry pointed at an expired key: take its place.
	return s.client.HSet(ctx, idx, k.ID, k.Hash).Err()
}

// getKey returns the stored key, expired or not; ErrNotFound when absent.
func (s *Store) getKey(ctx context.Context, hash string) (*session.APIKey, error) {
	b, err := s.client.Get(ctx, s.apiKey(hash)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, session.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	k, err := decodeKey(b)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return k, nil
}

// KeyByHash implements session.KeyStore.
func (s *Store) KeyByHash(ctx context.Context, hash string) (*session.APIKey, error) {
	k, err := s.getKey(ctx, hash)
	if errors.Is(err, session.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: key by hash: %w", err)
	}
	if k.Expired(s.now()) {
		return nil, session.ErrNotFound
	}
	return k, nil
}

// ListKeys implements session.KeyStore.
func (s *Store) ListKeys(ctx context.Context, user string) ([]*session.APIKey, error) {
	now := s.now()
	idx := s.userKeys(user)
	byID, err := s.client.HGetAll(ctx, idx).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: list keys: %w", err)
	}
	if len(byID) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(byID))
	cmds := make([]*redis.StringCmd, 0, len(byID))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for id, hash := range byID {
			ids = append(ids, id)
			cmds = append(cmds, p.Get(ctx, s.apiKey(hash)))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: list keys: %w", err)
	}
	var out []*session.APIKey
	var stale []string
	for i, c := range cmds {
		b, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			stale = append(stale, ids[i])
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("redisstore: list keys: %w", err)
		}
		k, err := decodeKey(b)
		if err != nil {
			return nil, fmt.Errorf("redisstore: list keys: decode: %w", err)
		}
		if k.User != user || k.ID != ids[i] || k.Expired(now) {
			continue
		}
		out = append(out, k)
	}
	if len(stale) > 0 {
		if err := s.client.HDel(ctx, idx, stale...).Err(); err != nil {
			return nil, fmt.Errorf("redisstore: list keys: prune: %w", err)
		}
	}
	slices.SortFunc(out, func(a, b *session.APIKey) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteKey implements session.KeyStore. The user's own index is the proof
// of ownership: another user's id is simply not in it.
func (s *Store) DeleteKey(ctx context.Context, user, id string) error {
	idx := s.userKeys(user)
	hash, err := s.client.HGet(ctx, idx, id).Result()
	if errors.Is(err, redis.Nil) {
		return session.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("redisstore: delete key: %w", err)
	}
	b, err := s.client.GetDel(ctx, s.apiKey(hash)).Bytes()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: delete key: %w", err)
	}
	if err := s.client.HDel(ctx, idx, id).Err(); err != nil {
		return fmt.Errorf("redisstore: delete key: index: %w", err)
	}
	if b == nil {
		return session.ErrNotFound
	}
	if k, err := decodeKey(b); err == nil && k.Expired(s.now()) {
		return session.ErrNotFound
	}
	return nil
}

// TouchKey implements session.KeyStore. SET XX KEEPTTL neither revives a
// deleted key nor changes its expiry.
func (s *Store) TouchKey(ctx context.Context, hash string, now time.Time) error {
	k, err := s.getKey(ctx, hash)
	if errors.Is(err, session.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("redisstore: touch key: %w", err)
	}
	if k.Expired(s.now()) {
		return session.ErrNotFound
	}
	if !now.After(k.LastUsed) {
		return nil
	}
	k.LastUsed = now
	b, err := json.Marshal(keyRecord(*k))
	if err != nil {
		return fmt.Errorf("redisstore: touch key: %w", err)
	}
	err = s.client.SetArgs(ctx, s.apiKey(hash), b, redis.SetArgs{Mode: "XX", KeepTTL: true}).Err()
	if errors.Is(err, redis.Nil) {
		return session.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("redisstore: touch key: %w", err)
	}
	return nil
}
