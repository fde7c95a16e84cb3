package redisstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/sso/internal/softauthn"
	"github.com/example/sso/internal/testredis"
	"github.com/example/sso/mfa"
	"github.com/example/sso/mfa/redisstore"
	"github.com/example/sso/mfa/storetest"
	"github.com/redis/go-redis/v9"
)

func newClient(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// run runs the suite with one Store per subtest, each under its own prefix
// of one shared client.
func run(t *testing.T, client redis.UniversalClient) {
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) mfa.Store {
		return redisstore.New(client, fmt.Sprintf("t%d:", n.Add(1)))
	})
}

func TestConformance(t *testing.T) {
	t.Parallel()
	run(t, newClient(t, testredis.Start(t)))
}

// TestConformanceCluster: a one-node cluster refuses commands whose keys
// span hash slots (CROSSSLOT), as a real one does: DeleteUser's one DEL
// passes only because a user's keys share a hash tag.
func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{testredis.StartCluster(t)}})
	t.Cleanup(func() { c.Close() })
	run(t, c)
}

func TestLayout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, testredis.Start(t))
	st := redisstore.New(c, "")
	for _, k := range mfa.Kinds {
		if err := st.Swap(ctx, "a:{b}", k, nil, []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutCeremony(ctx, "abc", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	tag := "{" + base64.RawURLEncoding.EncodeToString([]byte("a:{b}")) + "}"
	want := map[string]time.Duration{ // -1: no TTL
		"sso:mfa:" + tag + ":totp":     -1,
		"sso:mfa:" + tag + ":recovery": -1,
		"sso:mfa:" + tag + ":webauthn": -1,
		"sso:mfa:c:abc":                time.Minute,
	}
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(want) {
		t.Errorf("keys %q, want %d", keys, len(want))
	}
	for key, ttl := range want {
		got, err := c.PTTL(ctx, key).Result()
		switch {
		case err != nil:
			t.Errorf("PTTL(%s): %v", key, err)
		case got == -2*time.Nanosecond:
			t.Errorf("key %s missing; have %q", key, keys)
		case ttl < 0 && got != -1*time.Nanosecond:
			t.Errorf("PTTL(%s) = %v, want none", key, got)
		case ttl > 0 && (got <= ttl-10*time.Second || got > ttl):
			t.Errorf("PTTL(%s) = %v, want about %v", key, got, ttl)
		}
	}
}

// TestNothingInClear enrols TOTP, recovery codes and a passkey on Redis,
// then reads every raw key and value in the database: none may contain
// the TOTP secret, a recovery code or its hash, the credential id or its
// public key, a pending challenge or a ceremony id, in any of the
// encodings they travel in.
func TestNothingInClear(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, testredis.Start(t))
	now := time.Now()
	m, err := mfa.New(mfa.Options{Store: redisstore.New(c, ""), Keys: storetest.Keys, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	const user = "alice"
	e, err := m.BeginTOTP(ctx, user, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	// A pending enrolment is in the store too (as a ceremony).
	// The ceremony id is a cookie value: the store keys it by its hash.
	secrets := []string{e.ID}
	secrets = append(secrets, variants(e.Secret)...)
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, variants(string(raw))...)
	dumpHas(t, c, "pending TOTP enrolment", secrets)

	if err := m.ConfirmTOTP(ctx, e.ID, user, storetest.Code(t, e.Secret, now)); err != nil {
		t.Fatal(err)
	}
	codes, err := m.NewRecoveryCodes(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range codes {
		plain := strings.ReplaceAll(code, "-", "")
		secrets = append(secrets, code, plain, strings.ToUpper(plain))
		secrets = append(secrets, variants(string(sha256Of(plain)))...)
	}
	const origin = "https://login.example.com"
	p, err := m.Passkeys(mfa.RP{ID: "example.com", Origins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	a := softauthn.New(origin)
	creation, id, err := p.BeginRegistration(ctx, mfa.User{Name: user})
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Register(creation)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.FinishRegistration(ctx, id, mfa.User{Name: user}, "key", bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	cred := a.Creds[0]
	ecdh, _ := cred.Key.PublicKey.ECDH()
	secrets = append(secrets, variants(string(cred.ID))...)
	secrets = append(secrets, variants(string(cred.PublicKey))...)
	secrets = append(secrets, variants(string(ecdh.Bytes()[1:33]))...) // X alone
	// A login ceremony pending, with its challenge, as well.
	assertion, loginID, err := p.BeginLogin(ctx, mfa.User{Name: user})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, loginID)
	secrets = append(secrets, variants(string(assertion.Response.Challenge))...)
	n := dumpHas(t, c, "after enrolment", secrets)
	if n < 4 {
		t.Errorf("read %d values, want at least the 3 records and a ceremony", n)
	}
	// The store does hold them: they open with the keys.
	if left, err := m.RecoveryCodesLeft(ctx, user); left != mfa.RecoveryCodes || err != nil {
		t.Errorf("RecoveryCodesLeft = %d, %v", left, err)
	}
	other, err := mfa.New(mfa.Options{Store: redisstore.New(c, ""), Keys: [][]byte{bytes.Repeat([]byte{9}, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.RecoveryCodesLeft(ctx, user); err == nil {
		t.Error("the recovery record opened with another secret key ring")
	}
}

func sha256Of(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// variants returns b as raw bytes, hex, base64 and base32 in their usual
// alphabets, padded and not.
func variants(b string) []string {
	raw := []byte(b)
	out := []string{b, hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw))}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		out = append(out, enc.EncodeToString(raw))
	}
	for _, enc := range []*base32.Encoding{base32.StdEncoding, base32.StdEncoding.WithPadding(base32.NoPadding)} {
		s := enc.EncodeToString(raw)
		out = append(out, s, strings.ToLower(s))
	}
	return out
}

// dumpHas reads every key's raw value and fails on any that contains one
// of secrets (ignoring fragments too short to mean anything); it returns
// how many values it read.
func dumpHas(t *testing.T, c *redis.Client, when string, secrets []string) int {
	t.Helper()
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		v, err := c.Get(ctx, k).Bytes()
		if err != nil {
			t.Fatalf("GET %s: %v", k, err)
		}
		for _, s := range secrets {
			if len(s) >= 8 && (bytes.Contains(v, []byte(s)) || strings.Contains(k, s)) {
				t.Errorf("%s: key %s holds %q in clear", when, k, s)
			}
		}
	}
	return len(keys)
}

// TestStalledRedis: while Redis is stuck (DEBUG SLEEP), a code check fails
// after StoreTimeout with ErrStoreTimeout: never a success, and never a
// wrong code that would count against the user.
func TestStalledRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := testredis.StartArgs(t, "--enable-debug-command", "yes")
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	now := time.Now()
	m, err := mfa.New(mfa.Options{Store: redisstore.New(c, ""), Keys: storetest.Keys, StoreTimeout: 200 * time.Millisecond,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	e, err := m.BeginTOTP(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ConfirmTOTP(ctx, e.ID, "alice", storetest.Code(t, e.Secret, now)); err != nil {
		t.Fatal(err)
	}
	stall := newClient(t, addr)
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
	_, err = m.VerifyTOTP(ctx, "alice", storetest.Code(t, e.Secret, now.Add(30*time.Second)))
	took := time.Since(start)
	if !errors.Is(err, mfa.ErrStoreTimeout) || errors.Is(err, mfa.ErrInvalidCode) {
		t.Fatalf("VerifyTOTP during the stall = %v, want ErrStoreTimeout", err)
	}
	if took >= sleep-200*time.Millisecond {
		t.Errorf("VerifyTOTP waited %v, as long as the stall: the deadline did not hold", took)
	}
	t.Logf("VerifyTOTP during a %v stall failed after %v", sleep, took.Round(time.Millisecond))
	if err := <-done; err != nil {
		t.Fatalf("DEBUG SLEEP: %v", err)
	}
}

// TestHandleIndexInRedis: a passwordless registration writes one
// sso:mfa:h:<hex> key, without TTL, in which neither the user name nor the
// user handle appears in any encoding, key or value; removing the
// credential deletes it.
func TestHandleIndexInRedis(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newClient(t, testredis.Start(t))
	m, err := mfa.New(mfa.Options{Store: redisstore.New(c, ""), Keys: storetest.Keys})
	if err != nil {
		t.Fatal(err)
	}
	const origin = "https://login.example.com"
	p, err := m.Passkeys(mfa.RP{ID: "example.com", Origins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	u := mfa.User{Name: "alice.passwordless@example.com"}
	a := softauthn.New(origin)
	creation, id, err := p.BeginPasswordlessRegistration(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Register(creation)
	if err != nil {
		t.Fatal(err)
	}
	info, err := p.FinishRegistration(ctx, id, u, "", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(ctx, "sso:mfa:h:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Fatalf("index keys %q, want one", keys)
	}
	if ttl, err := c.PTTL(ctx, keys[0]).Result(); err != nil || ttl != -1*time.Nanosecond {
		t.Errorf("PTTL(%s) = %v, %v; want none", keys[0], ttl, err)
	}
	secrets := append(variants(u.Name), variants(string(a.Creds[0].UserID))...)
	v, err := c.Get(ctx, keys[0]).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if bytes.Contains(v, []byte(s)) || strings.Contains(keys[0], s) {
			t.Errorf("index entry %s holds %q in clear", keys[0], s)
		}
	}
	if err := m.RemoveCredential(ctx, u.Name, info.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, keys[0]).Result(); err != nil || n != 0 {
		t.Errorf("index entry after removing the last passwordless credential: exists=%d, %v", n, err)
	}
	// RemoveUser takes the entry with the user's records.
	creation, id, err = p.BeginPasswordlessRegistration(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if body, err = a.Register(creation); err != nil {
		t.Fatal(err)
	}
	if _, err := p.FinishRegistration(ctx, id, u, "", bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, keys[0]).Result(); err != nil || n != 1 {
		t.Fatalf("index entry after a new passwordless registration: exists=%d, %v; want the same key again", n, err)
	}
	if err := m.RemoveUser(ctx, u.Name); err != nil {
		t.Fatal(err)
	}
	if left, err := c.Keys(ctx, "sso:mfa:*").Result(); err != nil || len(left) != 0 {
		t.Errorf("keys after RemoveUser: %q, %v; want none", left, err)
	}
}
