package redisstore

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/example/sso/session"
	"github.com/redis/go-redis/v9"
)

var (
	_ session.Store    = (*Store)(nil)
	_ session.KeyStore = (*Store)(nil)
)

// Options configure a Store. Zero values select the defaults.
type Options struct {
	// Prefix starts every key; default "sso:".
	Prefix string
	// Now is the clock used to refuse expired records that Redis has not
	// dropped yet; default time.Now. Redis's own clock rules the TTLs.
	Now func() time.Time
	// MaxSessionsPerUser bounds the sessions of one user; default 100,
	// negative: unlimited. See Create for how the cap is kept.
	MaxSessionsPerUser int
}

// Store is a session.Store, session.KeyStore and session.Limiter on Redis.
// It is safe for concurrent use; it does not own the client and never
// closes it.
type Store struct {
	client     redis.UniversalClient
	prefix     string
	now        func() time.Time
	maxPerUser int // <= 0: unlimited
}

// New returns a Store on client.
func New(client redis.UniversalClient, opts Options) *Store {
	if opts.Prefix == "" {
		opts.Prefix = "sso:"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	switch {
	case opts.MaxSessionsPerUser == 0:
		opts.MaxSessionsPerUser = 100
	case opts.MaxSessionsPerUser < 0:
		opts.MaxSessionsPerUser = -1
	}
	return &Store{client: client, prefix: opts.Prefix, now: opts.Now, maxPerUser: opts.MaxSessionsPerUser}
}

func (s *Store) sessionKey(id string) string { return s.prefix + "s:" + id }
func (s *Store) apiKey(hash string) string   { return s.prefix + "k:" + hash }
func (s *Store) userSessions(user string) string {
	return s.prefix + "u:" + base64.RawURLEncoding.EncodeToString([]byte(user)) + ":s"
}
func (s *Store) userKeys(user string) string {
	return s.prefix + "u:" + base64.RawURLEncoding.EncodeToString([]byte(user)) + ":k"
}

// indexScript adds a session to a user's index, drops members whose
// absolute expiry (the score) has passed, and lets the index expire with its
// last member. It touches only KEYS[1], so it is safe on Redis Cluster.
var indexScript = redis.NewScript(`
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] then
	-- tonumber: Lua formats numbers with %.17g, an integer PEXPIREAT accepts
	redis.call('PEXPIREAT', KEYS[1], tonumber(top[2]))
end
return 1
`)

// Create implements session.Store. Once the session is stored and indexed,
// a user over MaxSessionsPerUser loses the index entries whose session has
// already expired, then their oldest live sessions (lowest ExpiresAt, which
// is CreatedAt + SSO_SESSION_MAX) until the count fits; see trim.
func (s *Store) Create(ctx context.Context, sess *session.Session) error {
	if err := sess.Validate(); err != nil {
		return fmt.Errorf("redisstore: create: %w", err)
	}
	now := s.now()
	if sess.Expired(now) {
		return errors.New("redisstore: create: session is past its deadline")
	}
	b := encodeSession(sess)
	err := s.client.SetArgs(ctx, s.sessionKey(sess.ID), b, redis.SetArgs{Mode: "NX", ExpireAt: sess.Deadline()}).Err()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: create: %w", session.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("redisstore: create: %w", err)
	}
	err = indexScript.Run(ctx, s.client, []string{s.userSessions(sess.User)},
		sess.ExpiresAt.UnixMilli(), sess.ID, now.UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("redisstore: create: index: %w", err)
	}
	if err := s.trim(ctx, sess); err != nil {
		return fmt.Errorf("redisstore: create: cap: %w", err)
	}
	return nil
}

// trim keeps the user of the just-indexed session sess within the cap. The
// session keys and the index live in different hash slots, so no script
// can do this atomically on a cluster; instead, each step touches one key:
// ZCARD; ZRANGE; EXISTS per candidate; DEL per evicted session; one ZREM.
// Sessions are deleted before their index entries, so a failure half-way
// leaves them reachable by DeleteUser.
//
// Only entries ordered before sess in the index (score, then id, as Redis
// orders them) are candidates. Two concurrent logins of one user therefore
// cannot evict each other's new session (with a cap of 1 both would be
// lost otherwise), but each may miss the other's entry, so the count can
// stay one or two over the cap until the user's next login.
func (s *Store) trim(ctx context.Context, sess *session.Session) error {
	if s.maxPerUser <= 0 {
		return nil
	}
	idx := s.userSessions(sess.User)
	n, err := s.client.ZCard(ctx, idx).Result()
	if err != nil {
		return err
	}
	if n <= int64(s.maxPerUser) {
		return nil
	}
	entries, err := s.client.ZRangeWithScores(ctx, idx, 0, -1).Result()
	if err != nil {
		return err
	}
	score := float64(sess.ExpiresAt.UnixMilli())
	var older []string // oldest first
	for _, z := range entries {
		id, _ := z.Member.(string)
		if z.Score < score || (z.Score == score && id < sess.ID) {
			older = append(older, id)
		}
	}
	if len(older) == 0 {
		return nil
	}
	// Entries whose session is gone (idle timeout, or a Delete that lost
	// its index write) go first: dropping them frees room for nothing.
	exists := make([]*redis.IntCmd, len(older))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range older {
			exists[i] = p.Exists(ctx, s.sessionKey(id))
		}
		return nil
	})
	if err != nil {
		return err
	}
	var drop []any
	var live []string
	for i, c := range exists {
		if c.Val() == 0 {
			drop = append(drop, older[i])
		} else {
			live = append(live, older[i])
		}
	}
	surplus := len(entries) - len(drop) - s.maxPerUser
	evict := live[:max(0, min(surplus, len(live)))]
	if len(evict) > 0 {
		// One DEL per key: a multi-key DEL would span hash slots.
		_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, id := range evict {
				p.Del(ctx, s.sessionKey(id))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range evict {
			drop = append(drop, id)
		}
	}
	if len(drop) == 0 {
		return nil
	}
	return s.client.ZRem(ctx, idx, drop...).Err()
}

// get returns the stored session, expired or not; ErrNotFound when absent.
func (s *Store) get(ctx context.Context, id string) (*session.Session, error) {
	b, err := s.client.Get(ctx, s.sessionKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, session.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	sess, err := decodeSession(id, b)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return sess, nil
}

// Get implements session.Store.
func (s *Store) Get(ctx context.Context, id string) (*session.Session, error) {
	sess, err := s.get(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("redisstore: get: %w", err)
	}
	if sess.Expired(s.now()) {
		return nil, session.ErrNotFound
	}
	return sess, nil
}

// Touch implements session.Store. The write is SET XX: should the session
// be deleted between the read and the write, the write fails rather than
// bringing it back.
func (s *Store) Touch(ctx context.Context, id string, now time.Time) error {
	sess, err := s.get(ctx, id)
	if errors.Is(err, session.ErrNotFound) {
		return err
	}
	if err != nil {
		return fmt.Errorf("redisstore: touch: %w", err)
	}
	if sess.Expired(s.now()) || sess.Expired(now) {
		return session.ErrNotFound
	}
	if !now.After(sess.LastSeen) {
		return nil
	}
	sess.LastSeen = now
	b := encodeSession(sess)
	err = s.client.SetArgs(ctx, s.sessionKey(id), b, redis.SetArgs{Mode: "XX", ExpireAt: sess.Deadline()}).Err()
	if errors.Is(err, redis.Nil) {
		return session.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("redisstore: touch: %w", err)
	}
	return nil
}

// Delete implements session.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	b, err := s.client.GetDel(ctx, s.sessionKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("redisstore: delete: %w", err)
	}
	sess, err := decodeSession(id, b)
	if err != nil {
		// The session is gone; its index entry will be pruned lazily.
		return nil
	}
	if err := s.client.ZRem(ctx, s.userSessions(sess.User), id).Err(); err != nil {
		return fmt.Errorf("redisstore: delete: index: %w", err)
	}
	return nil
}

// List implements session.Store.
func (s *Store) List(ctx context.Context, user string) ([]*session.Session, error) {
	now := s.now()
	idx := s.userSessions(user)
	if err := s.client.ZRemRangeByScore(ctx, idx, "-inf", strconv.FormatInt(now.UnixMilli(), 10)).Err(); err != nil {
		return nil, fmt.Errorf("redisstore: list: %w", err)
	}
	ids, err := s.client.ZRange(ctx, idx, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("redisstore: list: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	// One GET per key: MGET would span hash slots on a cluster.
	cmds := make([]*redis.StringCmd, len(ids))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, s.sessionKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: list: %w", err)
	}
	var out []*session.Session
	var stale []any
	for i, c := range cmds {
		b, err := c.Bytes()
		if errors.Is(err, redis.Nil) {
			stale = append(stale, ids[i])
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("redisstore: list: %w", err)
		}
		sess, err := decodeSession(ids[i], b)
		if err != nil {
			return nil, fmt.Errorf("redisstore: list: decode: %w", err)
		}
		if sess.User != user || sess.Expired(now) {
			continue
		}
		out = append(out, sess)
	}
	if len(stale) > 0 {
		if err := s.client.ZRem(ctx, idx, stale...).Err(); err != nil {
			return nil, fmt.Errorf("redisstore: list: prune: %w", err)
		}
	}
	slices.SortFunc(out, func(a, b *session.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// DeleteUser implements session.Store. It counts the session records it
// deleted; ones Redis had already expired are not counted.
func (s *Store) DeleteUser(ctx context.Context, user, keep string) (int, error) {
	idx := s.userSessions(user)
	ids, err := s.client.ZRange(ctx, idx, 0, -1).Result()
	if err != nil {
		return 0, fmt.Errorf("redisstore: delete user: %w", err)
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return id == keep })
	if len(ids) == 0 {
		return 0, nil
	}
	cmds := make([]*redis.IntCmd, len(ids))
	members := make([]any, len(ids))
	_, err = s.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Del(ctx, s.sessionKey(id))
			members[i] = id
		}
		p.ZRem(ctx, idx, members...)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("redisstore: delete user: %w", err)
	}
	n := 0
	for _, c := range cmds {
		n += int(c.Val())
	}
	return n, nil
}

// Ping implements session.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}
