// Package storetest is the conformance suite every mfa.Store passes: the
// Store primitives (Load, Swap, DeleteUser, ceremonies), then the rules
// the mfa package builds on them, run through an mfa.Manager on the store
// under test: a TOTP step used once, a recovery code used once, a
// WebAuthn signature counter that only grows, each under concurrency.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/sso/internal/softauthn"
	"github.com/example/sso/mfa"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Parallel is how many goroutines the concurrency tests start.
const Parallel = 16

// Keys is the secret key ring the suite's Managers use.
var Keys = [][]byte{bytes.Repeat([]byte{7}, 32)}

// Run runs the suite. newStore returns a fresh, empty store for each
// subtest; subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) mfa.Store) {
	tests := []struct {
		name string
		f    func(*testing.T, mfa.Store)
	}{
		{"LoadMissing", testLoadMissing},
		{"Swap", testSwap},
		{"SwapRefusesEmpty", testSwapEmpty},
		{"RecordsApart", testRecordsApart},
		{"Copies", testCopies},
		{"DeleteUser", testDeleteUser},
		{"SwapConcurrent", testSwapConcurrent},
		{"Ceremony", testCeremony},
		{"CeremonyExpires", testCeremonyExpires},
		{"CeremonyTakeConcurrent", testCeremonyTakeConcurrent},
		{"Ping", testPing},
		{"TOTPReplayConcurrent", testTOTPReplayConcurrent},
		{"RecoverySingleUseConcurrent", testRecoveryConcurrent},
		{"RecoveryDistinctConcurrent", testRecoveryDistinctConcurrent},
		{"PasskeyCounterConcurrent", testPasskeyCounterConcurrent},
		{"RecordMovedToAnotherUser", testRecordMoved},
		{"Handle", testHandle},
		{"HandleIndexMaintained", testHandleIndexMaintained},
		{"PasswordlessCounterConcurrent", testPasswordlessCounterConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f(t, newStore(t))
		})
	}
}

var ctx = context.Background()

// users includes names that would break a naive key layout.
var users = []string{"alice", "bob", "a:b", "{x}", "a}b{", "ünï", "", "alice\x00"}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, mfa.ErrNotFound) {
		t.Errorf("%s = %v, want ErrNotFound", what, err)
	}
}

func testLoadMissing(t *testing.T, st mfa.Store) {
	for _, k := range mfa.Kinds {
		_, err := st.Load(ctx, "alice", k)
		wantNotFound(t, fmt.Sprintf("Load(%s)", k), err)
	}
}

func testSwap(t *testing.T, st mfa.Store) {
	v1, v2 := []byte("one"), []byte("two")
	check := func(what string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) && !(err == nil && want == nil) {
			t.Errorf("%s = %v, want %v", what, err, want)
		}
	}
	check("Swap(nil -> v1)", st.Swap(ctx, "alice", mfa.KindTOTP, nil, v1), nil)
	check("Swap(nil -> v2) over v1", st.Swap(ctx, "alice", mfa.KindTOTP, nil, v2), mfa.ErrConflict)
	check("Swap(v2 -> v1) over v1", st.Swap(ctx, "alice", mfa.KindTOTP, v2, v1), mfa.ErrConflict)
	check("Swap(v1+ -> v2) over v1", st.Swap(ctx, "alice", mfa.KindTOTP, []byte("one+"), v2), mfa.ErrConflict)
	if got, err := st.Load(ctx, "alice", mfa.KindTOTP); err != nil || !bytes.Equal(got, v1) {
		t.Fatalf("Load = %q, %v; want %q", got, err, v1)
	}
	check("Swap(v1 -> v2)", st.Swap(ctx, "alice", mfa.KindTOTP, v1, v2), nil)
	if got, err := st.Load(ctx, "alice", mfa.KindTOTP); err != nil || !bytes.Equal(got, v2) {
		t.Fatalf("Load = %q, %v; want %q", got, err, v2)
	}
	check("Swap(v1 -> nil) over v2", st.Swap(ctx, "alice", mfa.KindTOTP, v1, nil), mfa.ErrConflict)
	check("Swap(v2 -> nil)", st.Swap(ctx, "alice", mfa.KindTOTP, v2, nil), nil)
	_, err := st.Load(ctx, "alice", mfa.KindTOTP)
	wantNotFound(t, "Load after delete", err)
	check("Swap(v2 -> nil) when absent", st.Swap(ctx, "alice", mfa.KindTOTP, v2, nil), mfa.ErrConflict)
	// Binary values survive: sealed records are arbitrary bytes.
	bin := []byte{0, 1, 0xff, '\'', '"', '\n', 0}
	check("Swap(nil -> binary)", st.Swap(ctx, "alice", mfa.KindTOTP, nil, bin), nil)
	if got, _ := st.Load(ctx, "alice", mfa.KindTOTP); !bytes.Equal(got, bin) {
		t.Errorf("Load(binary) = %x, want %x", got, bin)
	}
	check("Swap(binary -> v1)", st.Swap(ctx, "alice", mfa.KindTOTP, bin, v1), nil)
}

func testSwapEmpty(t *testing.T, st mfa.Store) {
	if err := st.Swap(ctx, "alice", mfa.KindTOTP, nil, []byte{}); err == nil {
		t.Error("Swap to an empty value accepted: it could not be told from absent")
	}
}

func testRecordsApart(t *testing.T, st mfa.Store) {
	for _, u := range users {
		for _, k := range mfa.Kinds {
			if err := st.Swap(ctx, u, k, nil, []byte(u+"|"+string(k))); err != nil {
				t.Fatalf("Swap(%q, %s): %v", u, k, err)
			}
		}
	}
	for _, u := range users {
		for _, k := range mfa.Kinds {
			got, err := st.Load(ctx, u, k)
			if err != nil || string(got) != u+"|"+string(k) {
				t.Errorf("Load(%q, %s) = %q, %v", u, k, got, err)
			}
		}
	}
}

func testCopies(t *testing.T, st mfa.Store) {
	v := []byte("value")
	if err := st.Swap(ctx, "alice", mfa.KindRecovery, nil, v); err != nil {
		t.Fatal(err)
	}
	v[0] = 'X'
	got, _ := st.Load(ctx, "alice", mfa.KindRecovery)
	if string(got) != "value" {
		t.Fatalf("the store kept the caller's slice: %q", got)
	}
	got[0] = 'Y'
	again, _ := st.Load(ctx, "alice", mfa.KindRecovery)
	if string(again) != "value" {
		t.Errorf("the store handed out its own slice: %q", again)
	}
}

func testDeleteUser(t *testing.T, st mfa.Store) {
	for _, u := range []string{"alice", "bob"} {
		for _, k := range mfa.Kinds {
			if err := st.Swap(ctx, u, k, nil, []byte("v")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := st.PutCeremony(ctx, "c1", []byte("c"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteUser(ctx, "alice"); err != nil {
		t.Errorf("second DeleteUser: %v", err)
	}
	for _, k := range mfa.Kinds {
		_, err := st.Load(ctx, "alice", k)
		wantNotFound(t, fmt.Sprintf("Load(alice, %s) after DeleteUser", k), err)
		if _, err := st.Load(ctx, "bob", k); err != nil {
			t.Errorf("Load(bob, %s) after DeleteUser(alice): %v", k, err)
		}
	}
	if _, err := st.GetCeremony(ctx, "c1"); err != nil {
		t.Errorf("GetCeremony after DeleteUser: %v", err)
	}
}

// testSwapConcurrent: a counter incremented by read-Swap loops from many
// goroutines loses no increment, which holds only if Swap is atomic.
func testSwapConcurrent(t *testing.T, st mfa.Store) {
	const each = 10
	var wg sync.WaitGroup
	var conflicts atomic.Int64
	for range Parallel {
		wg.Go(func() {
			for range each {
				for {
					old, err := st.Load(ctx, "alice", mfa.KindTOTP)
					n := 0
					if errors.Is(err, mfa.ErrNotFound) {
						old = nil
					} else if err != nil {
						t.Error(err)
						return
					} else {
						fmt.Sscan(string(old), &n)
					}
					err = st.Swap(ctx, "alice", mfa.KindTOTP, old, fmt.Append(nil, n+1))
					if err == nil {
						break
					}
					if !errors.Is(err, mfa.ErrConflict) {
						t.Error(err)
						return
					}
					conflicts.Add(1)
				}
			}
		})
	}
	wg.Wait()
	got, err := st.Load(ctx, "alice", mfa.KindTOTP)
	if err != nil || string(got) != fmt.Sprint(Parallel*each) {
		t.Errorf("counter = %q, %v; want %d", got, err, Parallel*each)
	}
	t.Logf("%d increments, %d conflicts retried", Parallel*each, conflicts.Load())
}

func testCeremony(t *testing.T, st mfa.Store) {
	_, err := st.GetCeremony(ctx, "c1")
	wantNotFound(t, "GetCeremony(missing)", err)
	_, err = st.TakeCeremony(ctx, "c1")
	wantNotFound(t, "TakeCeremony(missing)", err)
	if err := st.PutCeremony(ctx, "c1", []byte("a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := st.PutCeremony(ctx, "c2", []byte("b"), time.Minute); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, err := st.GetCeremony(ctx, "c1"); err != nil || string(got) != "a" {
			t.Errorf("GetCeremony = %q, %v; want a, more than once", got, err)
		}
	}
	if err := st.PutCeremony(ctx, "c1", []byte("a2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err := st.TakeCeremony(ctx, "c1"); err != nil || string(got) != "a2" {
		t.Errorf("TakeCeremony = %q, %v; want the replacement a2", got, err)
	}
	_, err = st.TakeCeremony(ctx, "c1")
	wantNotFound(t, "second TakeCeremony", err)
	_, err = st.GetCeremony(ctx, "c1")
	wantNotFound(t, "GetCeremony after Take", err)
	if got, err := st.GetCeremony(ctx, "c2"); err != nil || string(got) != "b" {
		t.Errorf("GetCeremony(c2) = %q, %v", got, err)
	}
	if err := st.PutCeremony(ctx, "c3", []byte("x"), 0); err == nil {
		t.Error("PutCeremony with no TTL accepted: it would never expire")
	}
}

func testCeremonyExpires(t *testing.T, st mfa.Store) {
	if err := st.PutCeremony(ctx, "short", []byte("a"), 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := st.PutCeremony(ctx, "long", []byte("b"), time.Hour); err != nil {
		t.Fatal(err)
	}
	time.Sleep(250 * time.Millisecond)
	_, err := st.GetCeremony(ctx, "short")
	wantNotFound(t, "GetCeremony after its TTL", err)
	_, err = st.TakeCeremony(ctx, "short")
	wantNotFound(t, "TakeCeremony after its TTL", err)
	if _, err := st.GetCeremony(ctx, "long"); err != nil {
		t.Errorf("GetCeremony(long): %v", err)
	}
}

func testCeremonyTakeConcurrent(t *testing.T, st mfa.Store) {
	if err := st.PutCeremony(ctx, "c", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var won atomic.Int64
	for range Parallel {
		wg.Go(func() {
			_, err := st.TakeCeremony(ctx, "c")
			switch {
			case err == nil:
				won.Add(1)
			case !errors.Is(err, mfa.ErrNotFound):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := won.Load(); n != 1 {
		t.Errorf("%d concurrent TakeCeremony calls got the ceremony, want exactly 1", n)
	}
}

func testPing(t *testing.T, st mfa.Store) {
	if err := st.Ping(ctx); err != nil {
		t.Error(err)
	}
}

func newManager(t *testing.T, st mfa.Store, now func() time.Time) *mfa.Manager {
	t.Helper()
	m, err := mfa.New(mfa.Options{Store: st, Keys: Keys, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Code returns what an authenticator app shows for secret at t.
func Code(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// concurrently runs f Parallel times at once and returns how many
// succeeded; every failure must satisfy refused.
func concurrently(t *testing.T, f func(i int) error, refused func(error) bool) int {
	t.Helper()
	var wg sync.WaitGroup
	var ok atomic.Int64
	start := make(chan struct{})
	for i := range Parallel {
		wg.Go(func() {
			<-start
			err := f(i)
			switch {
			case err == nil:
				ok.Add(1)
			case !refused(err):
				t.Errorf("call %d: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	return int(ok.Load())
}

func testTOTPReplayConcurrent(t *testing.T, st mfa.Store) {
	now := time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	m := newManager(t, st, clock)
	e, err := m.BeginTOTP(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ConfirmTOTP(ctx, e.ID, "alice", Code(t, e.Secret, now)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	code := Code(t, e.Secret, now)
	n := concurrently(t, func(int) error {
		_, err := m.VerifyTOTP(ctx, "alice", code)
		return err
	}, func(err error) bool { return errors.Is(err, mfa.ErrReplay) })
	if n != 1 {
		t.Errorf("%d of %d concurrent VerifyTOTP with one code succeeded, want exactly 1", n, Parallel)
	}
}

func testRecoveryConcurrent(t *testing.T, st mfa.Store) {
	m := newManager(t, st, time.Now)
	codes, err := m.NewRecoveryCodes(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	n := concurrently(t, func(int) error {
		_, err := m.UseRecoveryCode(ctx, "alice", codes[3])
		return err
	}, func(err error) bool { return errors.Is(err, mfa.ErrInvalidCode) })
	if n != 1 {
		t.Errorf("%d of %d concurrent uses of one recovery code succeeded, want exactly 1", n, Parallel)
	}
	if left, err := m.RecoveryCodesLeft(ctx, "alice"); left != mfa.RecoveryCodes-1 || err != nil {
		t.Errorf("RecoveryCodesLeft = %d, %v; want %d", left, err, mfa.RecoveryCodes-1)
	}
}

// testRecoveryDistinctConcurrent: different codes used at once all work
// (the retries of Swap lose none), each exactly once.
func testRecoveryDistinctConcurrent(t *testing.T, st mfa.Store) {
	m := newManager(t, st, time.Now)
	codes, err := m.NewRecoveryCodes(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	n := concurrently(t, func(i int) error {
		_, err := m.UseRecoveryCode(ctx, "alice", codes[i%len(codes)])
		return err
	}, func(err error) bool { return errors.Is(err, mfa.ErrInvalidCode) })
	if n != len(codes) {
		t.Errorf("%d of %d concurrent uses of %d distinct codes succeeded, want %d", n, Parallel, len(codes), len(codes))
	}
	if left, err := m.RecoveryCodesLeft(ctx, "alice"); left != 0 || err != nil {
		t.Errorf("RecoveryCodesLeft = %d, %v; want 0", left, err)
	}
}

// testPasskeyCounterConcurrent: assertions with one signature counter
// value, finished at once, pass exactly once.
func testPasskeyCounterConcurrent(t *testing.T, st mfa.Store) {
	const origin = "https://login.example.com"
	m := newManager(t, st, time.Now)
	p, err := m.Passkeys(mfa.RP{ID: "example.com", Origins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	u := mfa.User{Name: "alice"}
	a := softauthn.New(origin)
	creation, id, err := p.BeginRegistration(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Register(creation)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.FinishRegistration(ctx, id, u, "", bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	// Each ceremony is separate; the authenticator signs them all with
	// the same counter value, as a cloned key would.
	ids := make([]string, Parallel)
	bodies := make([][]byte, Parallel)
	a.FreezeCounter = true
	a.Creds[0].Counter = 5
	for i := range Parallel {
		assertion, cid, err := p.BeginLogin(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if bodies[i], err = a.Assert(assertion); err != nil {
			t.Fatal(err)
		}
		ids[i] = cid
	}
	n := concurrently(t, func(i int) error {
		_, err := p.FinishLogin(ctx, ids[i], u, bytes.NewReader(bodies[i]))
		return err
	}, func(err error) bool { return errors.Is(err, mfa.ErrInvalidResponse) })
	if n != 1 {
		t.Errorf("%d of %d concurrent assertions with one counter value passed, want exactly 1", n, Parallel)
	}
}

// testRecordMoved: a sealed record copied into another user's slot (by
// someone with write access to the store) does not open there.
func testRecordMoved(t *testing.T, st mfa.Store) {
	now := time.Now()
	m := newManager(t, st, func() time.Time { return now })
	e, err := m.BeginTOTP(ctx, "mallory", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ConfirmTOTP(ctx, e.ID, "mallory", Code(t, e.Secret, now)); err != nil {
		t.Fatal(err)
	}
	sealed, err := st.Load(ctx, "mallory", mfa.KindTOTP)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Swap(ctx, "alice", mfa.KindTOTP, nil, sealed); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	if _, err := m.VerifyTOTP(ctx, "alice", Code(t, e.Secret, now)); !errors.Is(err, mfa.ErrUnsealable) {
		t.Errorf("VerifyTOTP with mallory's record moved to alice = %v, want ErrUnsealable", err)
	}
}

func testHandle(t *testing.T, st mfa.Store) {
	_, err := st.GetHandle(ctx, "k1")
	wantNotFound(t, "GetHandle(absent)", err)
	if err := st.PutHandle(ctx, "k1", []byte{}); err == nil {
		t.Error("PutHandle of an empty value accepted")
	}
	bin := []byte{0, 'a', 0xff, '\n'}
	for _, v := range [][]byte{[]byte("one"), bin} { // the second replaces the first
		if err := st.PutHandle(ctx, "k1", v); err != nil {
			t.Fatalf("PutHandle: %v", err)
		}
	}
	if err := st.PutHandle(ctx, "k2", []byte("two")); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetHandle(ctx, "k1")
	if err != nil || !bytes.Equal(got, bin) {
		t.Errorf("GetHandle(k1) = %x, %v; want %x", got, err, bin)
	}
	got[0] = 'X'
	if again, _ := st.GetHandle(ctx, "k1"); !bytes.Equal(again, bin) {
		t.Errorf("the store handed out its own slice: %x", again)
	}
	// Handle entries are apart from user records and ceremonies.
	if err := st.DeleteUser(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetHandle(ctx, "k1"); err != nil {
		t.Errorf("GetHandle after DeleteUser(same string) = %v", err)
	}
	if err := st.DeleteHandle(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	_, err = st.GetHandle(ctx, "k1")
	wantNotFound(t, "GetHandle after DeleteHandle", err)
	if err := st.DeleteHandle(ctx, "k1"); err != nil {
		t.Errorf("DeleteHandle(absent) = %v, want nil", err)
	}
	if got, err := st.GetHandle(ctx, "k2"); err != nil || string(got) != "two" {
		t.Errorf("GetHandle(k2) = %q, %v; want two", got, err)
	}
}

// passwordless runs a discoverable sign-in with a.
func passwordless(p *mfa.Passkeys, a *softauthn.Authenticator) (string, error) {
	assertion, id, err := p.BeginDiscoverableLogin(ctx)
	if err != nil {
		return "", err
	}
	body, err := a.Assert(assertion)
	if err != nil {
		return "", err
	}
	user, _, err := p.FinishDiscoverableLogin(ctx, id, bytes.NewReader(body))
	return user, err
}

// testHandleIndexMaintained: a passwordless registration indexes the user
// handle in the store (a Manager started afterwards finds it), marking
// and unmarking and removing the last passwordless credential keep the
// index in step, and a key rotation keeps it readable.
func testHandleIndexMaintained(t *testing.T, st mfa.Store) {
	const origin = "https://login.example.com"
	rp := mfa.RP{ID: "example.com", Origins: []string{origin}}
	passkeys := func(m *mfa.Manager) *mfa.Passkeys {
		p, err := m.Passkeys(rp)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, name := range users {
		m := newManager(t, st, time.Now)
		p := passkeys(m)
		u := mfa.User{Name: name}
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
			t.Fatalf("%q: FinishRegistration: %v", name, err)
		}
		// A second Manager on the same store: the index is in the store.
		p2 := passkeys(newManager(t, st, time.Now))
		if got, err := passwordless(p2, a); err != nil || got != name {
			t.Errorf("passwordless sign-in of %q = %q, %v", name, got, err)
		}
		// Another key ring cannot resolve it.
		stranger, err := mfa.New(mfa.Options{Store: st, Keys: [][]byte{bytes.Repeat([]byte{9}, 32)}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := passwordless(passkeys(stranger), a); !errors.Is(err, mfa.ErrInvalidResponse) {
			t.Errorf("sign-in of %q with another key ring = %v, want ErrInvalidResponse", name, err)
		}
		if err := m.SetPasswordless(ctx, name, info.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := passwordless(p2, a); !errors.Is(err, mfa.ErrInvalidResponse) {
			t.Errorf("sign-in of %q after unmarking = %v, want ErrInvalidResponse", name, err)
		}
		if err := m.SetPasswordless(ctx, name, info.ID, true); err != nil {
			t.Fatal(err)
		}
		if got, err := passwordless(p2, a); err != nil || got != name {
			t.Errorf("sign-in of %q after marking again = %q, %v", name, got, err)
		}
		// After a rotation (a new key first, the old one kept) the entry
		// is still found. From here on the rotated ring is in use: it
		// reseals what it writes, which the old ring cannot open.
		rotated, err := mfa.New(mfa.Options{Store: st, Keys: [][]byte{bytes.Repeat([]byte{8}, 32), Keys[0]}})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := passwordless(passkeys(rotated), a); err != nil || got != name {
			t.Errorf("passwordless sign-in of %q after a key rotation = %q, %v", name, got, err)
		}
		if err := rotated.RemoveCredential(ctx, name, info.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := passwordless(passkeys(rotated), a); !errors.Is(err, mfa.ErrInvalidResponse) {
			t.Errorf("sign-in of %q after removal = %v, want ErrInvalidResponse", name, err)
		}
	}
}

// testPasswordlessCounterConcurrent: passwordless assertions with one
// counter value, finished at once, pass exactly once.
func testPasswordlessCounterConcurrent(t *testing.T, st mfa.Store) {
	const origin = "https://login.example.com"
	m := newManager(t, st, time.Now)
	p, err := m.Passkeys(mfa.RP{ID: "example.com", Origins: []string{origin}})
	if err != nil {
		t.Fatal(err)
	}
	u := mfa.User{Name: "alice"}
	a := softauthn.New(origin)
	creation, id, err := p.BeginPasswordlessRegistration(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Register(creation)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.FinishRegistration(ctx, id, u, "", bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	a.FreezeCounter = true
	a.Creds[0].Counter = 5
	ids := make([]string, Parallel)
	bodies := make([][]byte, Parallel)
	for i := range Parallel {
		assertion, cid, err := p.BeginDiscoverableLogin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if bodies[i], err = a.Assert(assertion); err != nil {
			t.Fatal(err)
		}
		ids[i] = cid
	}
	n := concurrently(t, func(i int) error {
		_, _, err := p.FinishDiscoverableLogin(ctx, ids[i], bytes.NewReader(bodies[i]))
		return err
	}, func(err error) bool { return errors.Is(err, mfa.ErrInvalidResponse) })
	if n != 1 {
		t.Errorf("%d of %d concurrent passwordless assertions with one counter value passed, want exactly 1", n, Parallel)
	}
}
