package redisstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/internal/testredis"
	"github.com/example/sso/session"
	"github.com/redis/go-redis/v9"
)

const chromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"

// typicalSession is a browser session as the server creates it: a real
// Chrome header, a few groups, an IPv6 client and a CSRF token.
func typicalSession(ua string) *session.Session {
	now := time.Now()
	return &session.Session{
		ID:        strings.Repeat("3f", 32), // ticket.Hash: 64 hex digits
		User:      "alice",
		Email:     "alice@example.com",
		Groups:    []string{"admins", "dev", "ops"},
		Domain:    "example.com",
		CreatedAt: now,
		LastSeen:  now.Add(42 * time.Minute),
		ExpiresAt: now.Add(168 * time.Hour),
		Idle:      8 * time.Hour,
		IP:        "2001:db8:85a3:8d3:1319:8a2e:370:7348",
		UserAgent: ua,
		CSRFToken: "q5Vd3yH0cX9o8kq1mB2sT7wYzJ4nR6pLa0eUfGhIjKs", // 32 random bytes, base64url
		Factors:   []session.Factor{{Method: "pwd", At: now}},
	}
}

// encodeV1 writes s (without source and factors) as version 1 did: the
// same body without the two trailing fields.
func encodeV1(t testing.TB, s *session.Session) []byte {
	t.Helper()
	c := s.Clone()
	c.Source, c.Factors = "", nil
	b := encodeSession(c)
	if b[0] != recordV2 || !bytes.HasSuffix(b, []byte{0, 0}) {
		t.Fatalf("encodeSession does not write version 2 with empty trailing fields: %x", b)
	}
	b = bytes.Clone(b[:len(b)-2])
	b[0] = recordV1
	return b
}

// encodeLegacy writes s as versions before recordV1 did.
func encodeLegacy(t testing.TB, s *session.Session) []byte {
	t.Helper()
	b, err := json.Marshal(legacyRecord{
		ID: s.ID, User: s.User, Email: s.Email, Groups: s.Groups, Domain: s.Domain,
		CreatedAt: s.CreatedAt, LastSeen: s.LastSeen, ExpiresAt: s.ExpiresAt, Idle: s.Idle,
		IP: s.IP, UserAgent: s.UserAgent, CSRFToken: s.CSRFToken,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameSession(t *testing.T, what string, got, want *session.Session) {
	t.Helper()
	if d := diff(got, want); d != "" {
		t.Errorf("%s: %s", what, d)
	}
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	base := typicalSession(session.UserAgentSummary(chromeUA))
	tests := []struct {
		name string
		edit func(s *session.Session)
	}{
		{"typical", func(s *session.Session) {}},
		{"ipv4", func(s *session.Session) { s.IP = "192.0.2.1" }},
		{"ipv4 in ipv6", func(s *session.Session) { s.IP = "::ffff:192.0.2.1" }},
		{"ip not canonical", func(s *session.Session) { s.IP = "2001:DB8::1" }},
		{"ip with zone", func(s *session.Session) { s.IP = "fe80::1%eth0" }},
		{"not an ip", func(s *session.Session) { s.IP = "unknown" }},
		{"empty fields", func(s *session.Session) {
			s.Email, s.Domain, s.IP, s.UserAgent, s.CSRFToken, s.Groups = "", "", "", "", "", nil
		}},
		{"no idle", func(s *session.Session) { s.Idle = 0 }},
		{"negative idle", func(s *session.Session) { s.Idle = -time.Hour }},
		{"short idle", func(s *session.Session) { s.Idle = 100 * time.Millisecond }},
		{"last seen before created", func(s *session.Session) { s.LastSeen = s.CreatedAt.Add(-time.Second) }},
		{"raw user agent", func(s *session.Session) { s.UserAgent = chromeUA }},
		{"unicode", func(s *session.Session) { s.User, s.Groups = "zoë:ü", []string{"", "ünï"} }},
		{"zero created", func(s *session.Session) { s.CreatedAt = time.Time{} }},
		{"federated", func(s *session.Session) { s.Source = "oidc:corp" }},
		{"no factors", func(s *session.Session) { s.Factors = nil }},
		{"two factors", func(s *session.Session) {
			s.Factors = append(s.Factors, session.Factor{Method: "otp", At: s.CreatedAt.Add(3 * time.Second)})
		}},
		{"factor before created", func(s *session.Session) { s.Factors[0].At = s.CreatedAt.Add(-time.Minute) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := base.Clone()
			tc.edit(s)
			got, err := decodeSession(s.ID, encodeSession(s))
			if err != nil {
				t.Fatalf("decode(encode(s)): %v", err)
			}
			sameSession(t, "decode(encode(s))", got, s)
			if got.Idle != s.Idle && !(s.Idle <= 0 && got.Idle <= 0) {
				t.Errorf("Idle = %v, want %v", got.Idle, s.Idle)
			}
		})
	}
	// A positive idle timeout below a millisecond stays positive.
	s := base.Clone()
	s.Idle = time.Nanosecond
	if got, err := decodeSession(s.ID, encodeSession(s)); err != nil || got.Idle <= 0 {
		t.Errorf("Idle 1ns reads back as %v, %v; want a positive timeout", got.Idle, err)
	}
}

func TestRecordCorrupt(t *testing.T) {
	t.Parallel()
	good := encodeSession(typicalSession("Chrome 156 · Linux"))
	tests := map[string][]byte{
		"empty":           nil,
		"unknown":         {0x7f, 1, 2},
		"bad json":        []byte("{not json"),
		"truncated":       good[:len(good)-1],
		"trailing bytes":  append(bytes.Clone(good), 0),
		"only version":    {recordV1},
		"huge length":     {recordV1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge groups":     {recordV1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"v1 with v2 tail": append(encodeV1(t, typicalSession("x")), 0, 0),
		"huge factors":    append(encodeV1(t, typicalSession("x")), 0, 0xff, 0xff, 0x03),
		"factor truncated": func() []byte {
			b := append(encodeV1(t, typicalSession("x")), 0, 1, 3, 'p', 'w', 'd')
			b[0] = recordV2
			return b
		}(),
	}
	for name, b := range tests {
		if s, err := decodeSession("x", b); err == nil {
			t.Errorf("decode(%s %q) = %+v, want an error", name, b, s)
		}
	}
}

func FuzzDecodeSession(f *testing.F) {
	f.Add(encodeSession(typicalSession("Chrome 156 · Linux")))
	f.Add(encodeLegacy(f, typicalSession(chromeUA)))
	f.Add([]byte{recordV1})
	f.Add(encodeV1(f, typicalSession("Chrome 156 · Linux")))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSession("id", b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to a record that decodes alike.
		again, err := decodeSession("id", encodeSession(s))
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if d := diff(again, s); d != "" && !strings.Contains(d, "Time") {
			t.Fatalf("re-encoded record differs: %s", d)
		}
	})
}

// A record written by an earlier version (JSON) is read, listed, touched
// (and so rewritten in the current format) and deleted: an upgrade logs
// nobody out.
func TestLegacyRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, testredis.Start(t))
	st := New(c, Options{})
	s := typicalSession(chromeUA)
	s.LastSeen = s.CreatedAt
	s.Factors = nil // legacy records have none
	legacy := encodeLegacy(t, s)
	if legacy[0] != '{' {
		t.Fatalf("legacy record starts with %q", legacy[0])
	}
	if err := c.Set(ctx, st.sessionKey(s.ID), legacy, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ZAdd(ctx, st.userSessions(s.User), redisZ(s)).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := st.Get(ctx, s.ID)
	if err != nil {
		t.Fatalf("Get(legacy record): %v", err)
	}
	sameSession(t, "Get(legacy record)", got, s)
	list, err := st.List(ctx, s.User)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %d sessions, %v; want the legacy one", len(list), err)
	}
	sameSession(t, "List(legacy record)", list[0], s)

	now := time.Now().Add(time.Second)
	if err := st.Touch(ctx, s.ID, now); err != nil {
		t.Fatalf("Touch(legacy record): %v", err)
	}
	b, err := c.Get(ctx, st.sessionKey(s.ID)).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != recordVersion {
		t.Errorf("record after Touch starts with %#x, want the current version %#x", b[0], recordVersion)
	}
	s.LastSeen = now
	sameSession(t, "Get after Touch", must(st.Get(ctx, s.ID)), s)

	if err := c.Set(ctx, st.sessionKey(s.ID), legacy, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, s.ID); err != nil {
		t.Fatalf("Delete(legacy record): %v", err)
	}
	if n := c.Exists(ctx, st.sessionKey(s.ID), st.userSessions(s.User)).Val(); n != 0 {
		t.Errorf("EXISTS after Delete(legacy record) = %d, want 0 (record and index gone)", n)
	}
}

// TestMemoryUsage measures what one typical browser session takes in Redis
// (MEMORY USAGE of its key), as stored before issue 10 (JSON, raw user
// agent) and now; the figure depends on the record and the Redis version,
// not on timing.
func TestMemoryUsage(t *testing.T) {
	t.Parallel()
	const limit = 350
	ctx := context.Background()
	c := newClient(t, testredis.Start(t))
	st := New(c, Options{})

	before := typicalSession(chromeUA)
	if err := c.Set(ctx, st.sessionKey(before.ID), encodeLegacy(t, before), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	old := c.MemoryUsage(ctx, st.sessionKey(before.ID)).Val()
	if err := c.Del(ctx, st.sessionKey(before.ID)).Err(); err != nil {
		t.Fatal(err)
	}

	s := typicalSession(session.UserAgentSummary(chromeUA))
	if err := st.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := st.Touch(ctx, s.ID, s.CreatedAt.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	b := c.Get(ctx, st.sessionKey(s.ID)).Val()
	got, err := c.MemoryUsage(ctx, st.sessionKey(s.ID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MEMORY USAGE of a typical session key (%s): before %d bytes (%d-byte JSON record, raw user agent), after %d bytes (%d-byte record, %q)",
		redisVersion(ctx, t, c), old, len(encodeLegacy(t, before)), got, len(b), s.UserAgent)
	if got > limit {
		t.Errorf("MEMORY USAGE of a typical session key = %d bytes, want at most %d", got, limit)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// diff describes how got differs from want (times to the millisecond the
// record keeps), or returns "".
func diff(got, want *session.Session) string {
	var d []string
	str := func(name, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	tm := func(name string, g, w time.Time) {
		if g.UnixMilli() != w.UnixMilli() {
			d = append(d, fmt.Sprintf("Time %s = %v, want %v", name, g, w))
		}
	}
	str("ID", got.ID, want.ID)
	str("User", got.User, want.User)
	str("Email", got.Email, want.Email)
	str("Domain", got.Domain, want.Domain)
	str("IP", got.IP, want.IP)
	str("UserAgent", got.UserAgent, want.UserAgent)
	str("CSRFToken", got.CSRFToken, want.CSRFToken)
	str("Source", got.Source, want.Source)
	if len(got.Factors) != len(want.Factors) {
		d = append(d, fmt.Sprintf("Factors = %v, want %v", got.Factors, want.Factors))
	} else {
		for i := range got.Factors {
			str(fmt.Sprint("Factors[", i, "].Method"), got.Factors[i].Method, want.Factors[i].Method)
			tm(fmt.Sprint("Factors[", i, "].At"), got.Factors[i].At, want.Factors[i].At)
		}
	}
	if !slices.Equal(got.Groups, want.Groups) {
		d = append(d, fmt.Sprintf("Groups = %q, want %q", got.Groups, want.Groups))
	}
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	tm("LastSeen", got.LastSeen, want.LastSeen)
	tm("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	if got.Idle.Milliseconds() != want.Idle.Milliseconds() && !(got.Idle <= 0 && want.Idle <= 0) {
		d = append(d, fmt.Sprintf("Idle = %v, want %v", got.Idle, want.Idle))
	}
	return strings.Join(d, "; ")
}

func redisZ(s *session.Session) redis.Z {
	return redis.Z{Score: float64(s.ExpiresAt.UnixMilli()), Member: s.ID}
}

func redisVersion(ctx context.Context, t *testing.T, c *redis.Client) string {
	t.Helper()
	info := c.Info(ctx, "server").Val()
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return "Redis " + v
		}
	}
	return "Redis ?"
}

// A version 1 record (before source and factors) reads back as a
// users-file session without factors, and Touch rewrites it as the current
// version: an upgrade logs nobody out.
func TestRecordV1(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := typicalSession(session.UserAgentSummary(chromeUA))
	v1 := encodeV1(t, s)
	want := s.Clone()
	want.Source, want.Factors = "", nil
	got, err := decodeSession(s.ID, v1)
	if err != nil {
		t.Fatalf("decode(v1): %v", err)
	}
	sameSession(t, "decode(v1)", got, want)

	c := newClient(t, testredis.Start(t))
	st := New(c, Options{})
	if err := c.Set(ctx, st.sessionKey(s.ID), v1, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ZAdd(ctx, st.userSessions(s.User), redisZ(s)).Err(); err != nil {
		t.Fatal(err)
	}
	sameSession(t, "Get(v1 record)", must(st.Get(ctx, s.ID)), want)
	now := s.LastSeen.Add(time.Second)
	if err := st.Touch(ctx, s.ID, now); err != nil {
		t.Fatalf("Touch(v1 record): %v", err)
	}
	if b := c.Get(ctx, st.sessionKey(s.ID)).Val(); b[0] != recordVersion {
		t.Errorf("record after Touch starts with %#x, want %#x", b[0], recordVersion)
	}
	want.LastSeen = now
	sameSession(t, "Get after Touch", must(st.Get(ctx, s.ID)), want)
}

func TestRecordBounds(t *testing.T) {
	t.Parallel()
	s := typicalSession("x")
	s.Idle = time.Duration(math.MaxInt64)
	got, err := decodeSession(s.ID, encodeSession(s))
	if err != nil || got.Idle <= 0 {
		t.Errorf("longest Idle reads back as %v, %v; want a positive timeout", got, err)
	}
	for _, v := range []int64{0, maxMillis, -maxMillis, math.MinInt64, math.MaxInt64, maxMillis + 1} {
		b := []byte{recordV1, 1, 'u', 0, 0, 0}
		b = binary.AppendVarint(b, v)
		b = append(b, 0, 0, 0, 0, 0, 0, 0)
		s, err := decodeSession("x", b)
		if ok := within(v, maxMillis); ok != (err == nil) {
			t.Errorf("decode(created %d) = %+v, %v; want an error: %t", v, s, err, !ok)
		}
	}
}
