package storetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sso/session"
)

// Store is what the suite tests: sessions, API keys and login counters in
// one backend.
type Store interface {
	session.Store
	session.KeyStore
	session.Limiter
}

// Tolerance is how far apart stored and read-back times may be: Redis
// keeps TTLs in milliseconds.
const Tolerance = time.Millisecond

// CapSlack is how far over its per-user cap a store may be right after
// concurrent logins of one user: redisstore cannot trim atomically on a
// cluster. The next login of that user must bring it back to the cap.
const CapSlack = 2

// Run runs the suite. newStore must return a fresh, empty store each time
// it is called, with perUser as its cap on the sessions of one user (the
// stores' MaxSessionsPerUser: 0 for the default, negative for none); most
// subtests pass 0. Subtests run in parallel, each with its own store.
func Run(t *testing.T, newStore func(t *testing.T, perUser int) Store) {
	capped := []struct {
		name    string
		perUser int
		f       func(*testing.T, Store, int)
	}{
		{"CapKeepsNewest", 3, testCapKeepsNewest},
		{"CapDropsDeadFirst", 2, testCapDropsDeadFirst},
		{"CapOne", 1, testCapOne},
		{"CapConcurrent", 5, testCapConcurrent},
		{"CapUnlimited", -1, testCapUnlimited},
	}
	for _, tc := range capped {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f(t, newStore(t, tc.perUser), tc.perUser)
		})
	}
	tests := []struct {
		name string
		f    func(*testing.T, Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Federated", testFederated},
		{"CopiesInAndOut", testCopies},
		{"CreateRefuses", testCreateRefuses},
		{"GetMissing", testGetMissing},
		{"DeleteIdempotent", testDelete},
		{"IdleExpiry", testIdleExpiry},
		{"AbsoluteCapsIdle", testAbsoluteExpiry},
		{"Touch", testTouch},
		{"TouchDeleted", testTouchDeleted},
		{"TouchExpired", testTouchExpired},
		{"List", testList},
		{"DeleteUser", testDeleteUser},
		{"Concurrent", testConcurrent},
		{"Ping", testPing},
		{"KeyRoundTrip", testKeyRoundTrip},
		{"KeyCreateRefuses", testKeyCreateRefuses},
		{"KeyList", testKeyList},
		{"KeyDelete", testKeyDelete},
		{"KeyExpired", testKeyExpired},
		{"TouchKey", testTouchKey},
		{"LimiterCounts", testLimiterCounts},
		{"LimiterWindow", testLimiterWindow},
		{"LimiterBlock", testLimiterBlock},
		{"LimiterClear", testLimiterClear},
		{"LimiterConcurrent", testLimiterConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f(t, newStore(t, 0))
		})
	}
}

// trickyUser has the characters that could break a key layout.
const trickyUser = "o'neil:{x}@example.com ü"

func randID(t *testing.T) string {
	t.Helper()
	return rand.Text() + rand.Text()
}

// newSession returns a session created now with the given timeouts.
func newSession(t *testing.T, user string, idle, max time.Duration) *session.Session {
	t.Helper()
	now := time.Now()
	return &session.Session{
		ID:        randID(t),
		User:      user,
		Email:     user + "@example.com",
		Groups:    []string{"admins", "dev"},
		Domain:    "example.com",
		CreatedAt: now,
		LastSeen:  now,
		ExpiresAt: now.Add(max),
		Idle:      idle,
		IP:        "192.0.2.1",
		UserAgent: "Mozilla/5.0 (storetest)",
		CSRFToken: "csrf-" + user,
		Factors:   []session.Factor{{Method: "pwd", At: now}},
	}
}

func create(t *testing.T, st Store, s *session.Session) {
	t.Helper()
	if err := st.Create(context.Background(), s); err != nil {
		t.Fatalf("Create(%s): %v", s.User, err)
	}
}

func mustGet(t *testing.T, st Store, id string) *session.Session {
	t.Helper()
	s, err := st.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return s
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, session.ErrNotFound) {
		t.Errorf("%s error = %v, want ErrNotFound", what, err)
	}
}

func sameTime(a, b time.Time) bool {
	d := a.Sub(b)
	return -Tolerance <= d && d <= Tolerance
}

// diffSession describes how got differs from want, or returns "".
func diffSession(got, want *session.Session) string {
	var d []string
	str := func(name, g, w string) {
		if g != w {
			d = append(d, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	tm := func(name string, g, w time.Time) {
		if !sameTime(g, w) {
			d = append(d, fmt.Sprintf("%s = %v, want %v", name, g, w))
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
	if !slices.Equal(got.Groups, want.Groups) {
		d = append(d, fmt.Sprintf("Groups = %q, want %q", got.Groups, want.Groups))
	}
	if len(got.Factors) != len(want.Factors) {
		d = append(d, fmt.Sprintf("Factors = %v, want %v", got.Factors, want.Factors))
	} else {
		for i := range got.Factors {
			str(fmt.Sprint("Factors[", i, "].Method"), got.Factors[i].Method, want.Factors[i].Method)
			tm(fmt.Sprint("Factors[", i, "].At"), got.Factors[i].At, want.Factors[i].At)
		}
	}
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	tm("LastSeen", got.LastSeen, want.LastSeen)
	tm("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	if got.Idle != want.Idle {
		d = append(d, fmt.Sprintf("Idle = %v, want %v", got.Idle, want.Idle))
	}
	return strings.Join(d, "; ")
}

func testRoundTrip(t *testing.T, st Store) {
	want := newSession(t, trickyUser, time.Hour, 2*time.Hour)
	create(t, st, want)
	got := mustGet(t, st, want.ID)
	if d := diffSession(got, want); d != "" {
		t.Errorf("Get after Create: %s", d)
	}
	if !sameTime(got.Deadline(), want.Deadline()) {
		t.Errorf("Deadline() = %v, want %v", got.Deadline(), want.Deadline())
	}
}

// testFederated: a federated session keeps its source, its snapshot of
// email and groups, and every factor, through Get, List and Touch.
func testFederated(t *testing.T, st Store) {
	ctx := context.Background()
	want := newSession(t, "fed-"+trickyUser, time.Hour, 2*time.Hour)
	want.Source = "oidc:corp"
	want.Groups = []string{"from-idp", ""}
	want.Factors = []session.Factor{{Method: "oidc", At: want.CreatedAt.Add(-time.Second)}, {Method: "otp", At: want.CreatedAt}}
	create(t, st, want)
	if d := diffSession(mustGet(t, st, want.ID), want); d != "" {
		t.Errorf("Get after Create: %s", d)
	}
	now := want.CreatedAt.Add(time.Minute)
	if err := st.Touch(ctx, want.ID, now); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	want.LastSeen = now
	list, err := st.List(ctx, want.User)
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %d sessions, %v; want 1", len(list), err)
	}
	if d := diffSession(list[0], want); d != "" {
		t.Errorf("List after Touch: %s", d)
	}
	got := mustGet(t, st, want.ID)
	got.Factors[0].Method = "changed"
	if d := diffSession(mustGet(t, st, want.ID), want); d != "" {
		t.Errorf("changing the factors of a session from Get changed the stored one: %s", d)
	}
}

func testCopies(t *testing.T, st Store) {
	s := newSession(t, "alice", time.Hour, 2*time.Hour)
	want := s.Clone()
	create(t, st, s)
	s.Groups[0], s.User, s.Email = "changed", "mallory", "changed"

	got := mustGet(t, st, want.ID)
	if d := diffSession(got, want); d != "" {
		t.Errorf("changing the session after Create changed the stored one: %s", d)
	}
	got.Groups[0], got.CSRFToken = "changed", "changed"
	if d := diffSession(mustGet(t, st, want.ID), want); d != "" {
		t.Errorf("changing a session from Get changed the stored one: %s", d)
	}
}

func testCreateRefuses(t *testing.T, st Store) {
	ctx := context.Background()
	s := newSession(t, "alice", time.Hour, 2*time.Hour)
	create(t, st, s)
	dup := newSession(t, "bob", time.Hour, 2*time.Hour)
	dup.ID = s.ID
	if err := st.Create(ctx, dup); !errors.Is(err, session.ErrExists) {
		t.Errorf("Create(duplicate ID) error = %v, want ErrExists", err)
	}
	if got := mustGet(t, st, s.ID); got.User != "alice" {
		t.Errorf("after a refused duplicate, Get().User = %q, want %q", got.User, "alice")
	}
	bad := []struct {
		name string
		edit func(*session.Session)
	}{
		{"no ID", func(s *session.Session) { s.ID = "" }},
		{"no User", func(s *session.Session) { s.User = "" }},
		{"no ExpiresAt", func(s *session.Session) { s.ExpiresAt = time.Time{} }},
		{"already expired", func(s *session.Session) { s.ExpiresAt = time.Now().Add(-time.Second) }},
	}
	for _, tc := range bad {
		s := newSession(t, "carol", time.Hour, 2*time.Hour)
		tc.edit(s)
		if err := st.Create(ctx, s); err == nil {
			t.Errorf("Create(%s) = nil, want error", tc.name)
		}
	}
	if got, err := st.List(ctx, "carol"); err != nil || len(got) != 0 {
		t.Errorf("List(carol) after refused creates = %d sessions, %v; want none", len(got), err)
	}
}

func testGetMissing(t *testing.T, st Store) {
	_, err := st.Get(context.Background(), randID(t))
	wantNotFound(t, "Get(missing)", err)
}

func testDelete(t *testing.T, st Store) {
	ctx := context.Background()
	if err := st.Delete(ctx, randID(t)); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
	s := newSession(t, "alice", time.Hour, 2*time.Hour)
	other := newSession(t, "alice", time.Hour, 2*time.Hour)
	create(t, st, s)
	create(t, st, other)
	for i := range 2 {
		if err := st.Delete(ctx, s.ID); err != nil {
			t.Errorf("Delete #%d = %v, want nil", i+1, err)
		}
	}
	_, err := st.Get(ctx, s.ID)
	wantNotFound(t, "Get after Delete", err)
	mustGet(t, st, other.ID)
	if got, err := st.List(ctx, "alice"); err != nil || len(got) != 1 || got[0].ID != other.ID {
		t.Errorf("List after Delete = %d sessions, %v; want only the other one", len(got), err)
	}
}

func testIdleExpiry(t *testing.T, st Store) {
	ctx := context.Background()
	// A 2s idle timeout touched every 200ms: 1.8s of slack for a loaded
	// machine's scheduler (a 300ms one failed under CI-like load, a 1s one
	// with eight builds running beside it).
	idle := newSession(t, "alice", 2*time.Second, time.Hour)
	touched := newSession(t, "alice", 2*time.Second, time.Hour)
	create(t, st, idle)
	create(t, st, touched)
	for range 12 {
		time.Sleep(200 * time.Millisecond)
		if err := st.Touch(ctx, touched.ID, time.Now()); err != nil {
			t.Fatalf("Touch every 200ms: %v", err)
		}
	}
	// 2.4s have passed: the untouched one is past its idle deadline.
	_, err := st.Get(ctx, idle.ID)
	wantNotFound(t, "Get(untouched, 2.4s after a 2s idle timeout)", err)
	mustGet(t, st, touched.ID)
	got, err := st.List(ctx, "alice")
	if err != nil || len(got) != 1 || got[0].ID != touched.ID {
		t.Errorf("List = %d sessions, %v; want only the touched one", len(got), err)
	}
}

func testAbsoluteExpiry(t *testing.T, st Store) {
	ctx := context.Background()
	s := newSession(t, "alice", time.Hour, 300*time.Millisecond)
	create(t, st, s)
	if got := mustGet(t, st, s.ID); !sameTime(got.Deadline(), s.ExpiresAt) {
		t.Errorf("Deadline() = %v, want ExpiresAt %v", got.Deadline(), s.ExpiresAt)
	}
	var touchErr error
	for range 5 {
		time.Sleep(100 * time.Millisecond)
		if err := st.Touch(ctx, s.ID, time.Now()); err != nil {
			touchErr = err
			break
		}
	}
	wantNotFound(t, "Touch past ExpiresAt", touchErr)
	_, err := st.Get(ctx, s.ID)
	wantNotFound(t, "Get past ExpiresAt despite touches", err)
}

func testTouch(t *testing.T, st Store) {
	ctx := context.Background()
	s := newSession(t, "alice", time.Hour, 2*time.Hour)
	create(t, st, s)
	later := s.LastSeen.Add(10 * time.Minute)
	if err := st.Touch(ctx, s.ID, later); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	got := mustGet(t, st, s.ID)
	if !sameTime(got.LastSeen, later) {
		t.Errorf("LastSeen after Touch = %v, want %v", got.LastSeen, later)
	}
	if want := later.Add(time.Hour); !sameTime(got.Deadline(), want) {
		t.Errorf("Deadline after Touch = %v, want %v", got.Deadline(), want)
	}
	// An out-of-order Touch (a slower request) does not move LastSeen back.
	if err := st.Touch(ctx, s.ID, s.LastSeen); err != nil {
		t.Fatalf("Touch(earlier): %v", err)
	}
	if got := mustGet(t, st, s.ID); !sameTime(got.LastSeen, later) {
		t.Errorf("LastSeen after an earlier Touch = %v, want %v", got.LastSeen, later)
	}
	if d := diffSession(got, &session.Session{
		ID: s.ID, User: s.User, Email: s.Email, Groups: s.Groups, Domain: s.Domain,
		CreatedAt: s.CreatedAt, LastSeen: later, ExpiresAt: s.ExpiresAt, Idle: s.Idle,
		IP: s.IP, UserAgent: s.UserAgent, CSRFToken: s.CSRFToken, Source: s.Source, Factors: s.Factors,
	}); d != "" {
		t.Errorf("Touch changed more than LastSeen: %s", d)
	}
	wantNotFound(t, "Touch(missing)", st.Touch(ctx, randID(t), time.Now()))
}

func testTouchDeleted(t *testing.T, st Store) {
	ctx := context.Background()
	s := newSession(t, "alice", time.Hour, 2*time.Hour)
	create(t, st, s)
	if err := st.Delete(ctx, s.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, "Touch(deleted)", st.Touch(ctx, s.ID, time.Now()))
	_, err := st.Get(ctx, s.ID)
	wantNotFound(t, "Get(deleted, then touched)", err)
	if got, err := st.List(ctx, "alice"); err != nil || len(got) != 0 {
		t.Errorf("List after Delete and Touch = %d sessions, %v; want none", len(got), err)
	}
}

func testTouchExpired(t *testing.T, st Store) {
	ctx := context.Background()
	s := newSession(t, "alice", 100*time.Millisecond, time.Hour)
	create(t, st, s)
	time.Sleep(200 * time.Millisecond)
	wantNotFound(t, "Touch(idle-expired)", st.Touch(ctx, s.ID, time.Now()))
	_, err := st.Get(ctx, s.ID)
	wantNotFound(t, "Get(idle-expired, then touched)", err)
}

func testList(t *testing.T, st Store) {
	ctx := context.Background()
	base := time.Now()
	var alice []*session.Session
	for i := range 3 {
		s := newSession(t, trickyUser, time.Hour, 2*time.Hour)
		s.CreatedAt = base.Add(time.Duration(i) * time.Second) // 0 oldest
		alice = append(alice, s)
	}
	// Created out of order: List sorts by CreatedAt, not by insertion.
	for _, i := range []int{2, 0, 1} {
		create(t, st, alice[i])
	}
	dying := newSession(t, trickyUser, time.Hour, 150*time.Millisecond)
	create(t, st, dying)
	bob := newSession(t, "bob", time.Hour, 2*time.Hour)
	create(t, st, bob)
	// A user whose name extends alice's must not share her index.
	create(t, st, newSession(t, trickyUser+":s", time.Hour, 2*time.Hour))

	got, err := st.List(ctx, trickyUser)
	if err != nil || len(got) != 4 {
		t.Fatalf("List before expiry = %d sessions, %v; want 4", len(got), err)
	}
	time.Sleep(250 * time.Millisecond)
	got, err = st.List(ctx, trickyUser)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) != len(alice) {
		t.Fatalf("List = %d sessions, want %d", len(got), len(alice))
	}
	for i := range got {
		if d := diffSession(got[i], alice[i]); d != "" {
			t.Errorf("List()[%d]: %s", i, d)
		}
	}
	if got, err := st.List(ctx, "bob"); err != nil || len(got) != 1 || got[0].ID != bob.ID {
		t.Errorf("List(bob) = %d sessions, %v; want his one", len(got), err)
	}
	if got, err := st.List(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Errorf("List(nobody) = %d sessions, %v; want none", len(got), err)
	}
}

func testDeleteUser(t *testing.T, st Store) {
	ctx := context.Background()
	var ids []string
	for range 3 {
		s := newSession(t, trickyUser, time.Hour, 2*time.Hour)
		create(t, st, s)
		ids = append(ids, s.ID)
	}
	bob := newSession(t, "bob", time.Hour, 2*time.Hour)
	create(t, st, bob)

	n, err := st.DeleteUser(ctx, trickyUser, ids[1])
	if err != nil || n != 2 {
		t.Errorf("DeleteUser(keep one of 3) = %d, %v; want 2, nil", n, err)
	}
	got, err := st.List(ctx, trickyUser)
	if err != nil || len(got) != 1 || got[0].ID != ids[1] {
		t.Errorf("List after DeleteUser = %d sessions, %v; want the kept one", len(got), err)
	}
	for _, id := range []string{ids[0], ids[2]} {
		_, err := st.Get(ctx, id)
		wantNotFound(t, "Get(deleted by DeleteUser)", err)
	}
	mustGet(t, st, bob.ID)

	n, err = st.DeleteUser(ctx, trickyUser, "")
	if err != nil || n != 1 {
		t.Errorf("DeleteUser(keep none) = %d, %v; want 1, nil", n, err)
	}
	n, err = st.DeleteUser(ctx, "nobody", "")
	if err != nil || n != 0 {
		t.Errorf("DeleteUser(nobody) = %d, %v; want 0, nil", n, err)
	}
	mustGet(t, st, bob.ID)
}

func testConcurrent(t *testing.T, st Store) {
	ctx := context.Background()
	const workers, rounds = 16, 20
	var wg sync.WaitGroup
	for w := range workers {
		user := fmt.Sprintf("user%d", w)
		wg.Go(func() {
			for r := range rounds {
				// Own sessions: every step has a definite outcome.
				s := newSession(t, user, time.Hour, 2*time.Hour)
				if err := st.Create(ctx, s); err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				if got, err := st.Get(ctx, s.ID); err != nil || got.User != user {
					t.Errorf("Get(own session) = %v, %v", got, err)
					return
				}
				if err := st.Touch(ctx, s.ID, time.Now()); err != nil {
					t.Errorf("Touch(own session): %v", err)
					return
				}
				if got, err := st.List(ctx, user); err != nil || len(got) != 1 {
					t.Errorf("List(own user) = %d sessions, %v; want 1", len(got), err)
					return
				}
				if err := st.Delete(ctx, s.ID); err != nil {
					t.Errorf("Delete: %v", err)
					return
				}
				if _, err := st.Get(ctx, s.ID); !errors.Is(err, session.ErrNotFound) {
					t.Errorf("Get after Delete error = %v, want ErrNotFound", err)
					return
				}
				// One shared user: List, Touch and DeleteUser race with Create.
				sh := newSession(t, "shared", time.Hour, 2*time.Hour)
				if err := st.Create(ctx, sh); err != nil {
					t.Errorf("Create(shared): %v", err)
					return
				}
				if _, err := st.List(ctx, "shared"); err != nil {
					t.Errorf("List(shared): %v", err)
					return
				}
				if err := st.Touch(ctx, sh.ID, time.Now()); err != nil && !errors.Is(err, session.ErrNotFound) {
					t.Errorf("Touch(shared): %v", err)
					return
				}
				if r%5 == 4 {
					if _, err := st.DeleteUser(ctx, "shared", sh.ID); err != nil {
						t.Errorf("DeleteUser(shared): %v", err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if _, err := st.DeleteUser(ctx, "shared", ""); err != nil {
		t.Fatalf("DeleteUser(shared): %v", err)
	}
	for _, user := range []string{"shared", "user0", fmt.Sprintf("user%d", workers-1)} {
		if got, err := st.List(ctx, user); err != nil || len(got) != 0 {
			t.Errorf("List(%s) after every session was deleted = %d sessions, %v", user, len(got), err)
		}
	}
}

func testPing(t *testing.T, st Store) {
	if err := st.Ping(context.Background()); err != nil {
		t.Errorf("Ping = %v, want nil", err)
	}
}

func newKey(t *testing.T, user string, ttl time.Duration) *session.APIKey {
	t.Helper()
	now := time.Now()
	k := &session.APIKey{
		ID:        rand.Text(),
		Hash:      randID(t),
		User:      user,
		Name:      "ci deploys",
		CreatedAt: now,
	}
	if ttl > 0 {
		k.ExpiresAt = now.Add(ttl)
	}
	return k
}

func createKey(t *testing.T, st Store, k *session.APIKey) {
	t.Helper()
	if err := st.CreateKey(context.Background(), k); err != nil {
		t.Fatalf("CreateKey(%s): %v", k.User, err)
	}
}

func diffKey(got, want *session.APIKey) string {
	var d []string
	if got.ID != want.ID || got.Hash != want.Hash || got.User != want.User || got.Name != want.Name {
		d = append(d, fmt.Sprintf("ID, Hash, User, Name = %q %q %q %q, want %q %q %q %q",
			got.ID, got.Hash, got.User, got.Name, want.ID, want.Hash, want.User, want.Name))
	}
	if got.Source != want.Source || got.Email != want.Email || !slices.Equal(got.Groups, want.Groups) {
		d = append(d, fmt.Sprintf("Source, Email, Groups = %q %q %q, want %q %q %q",
			got.Source, got.Email, got.Groups, want.Source, want.Email, want.Groups))
	}
	for _, f := range []struct {
		name string
		g, w time.Time
	}{{"CreatedAt", got.CreatedAt, want.CreatedAt}, {"LastUsed", got.LastUsed, want.LastUsed}, {"ExpiresAt", got.ExpiresAt, want.ExpiresAt}} {
		if f.g.IsZero() != f.w.IsZero() || !sameTime(f.g, f.w) {
			d = append(d, fmt.Sprintf("%s = %v, want %v", f.name, f.g, f.w))
		}
	}
	return strings.Join(d, "; ")
}

func testKeyRoundTrip(t *testing.T, st Store) {
	ctx := context.Background()
	for _, ttl := range []time.Duration{0, time.Hour} {
		want := newKey(t, trickyUser, ttl)
		createKey(t, st, want)
		got, err := st.KeyByHash(ctx, want.Hash)
		if err != nil {
			t.Fatalf("KeyByHash: %v", err)
		}
		if d := diffKey(got, want); d != "" {
			t.Errorf("KeyByHash after CreateKey (ttl %v): %s", ttl, d)
		}
		got.Name = "changed"
		if got, _ := st.KeyByHash(ctx, want.Hash); got.Name != want.Name {
			t.Errorf("changing a key from KeyByHash changed the stored one: Name = %q", got.Name)
		}
	}
	// A federated owner's key keeps the snapshot it was created with.
	fed := newKey(t, "fed-"+trickyUser, time.Hour)
	fed.Source, fed.Email, fed.Groups = "ldap", "fed@example.com", []string{"staff", "ops"}
	createKey(t, st, fed)
	got, err := st.KeyByHash(ctx, fed.Hash)
	if err != nil {
		t.Fatalf("KeyByHash(federated): %v", err)
	}
	if d := diffKey(got, fed); d != "" {
		t.Errorf("KeyByHash after CreateKey (federated): %s", d)
	}
	got.Groups[0] = "changed"
	if again, _ := st.KeyByHash(ctx, fed.Hash); again == nil || again.Groups[0] != "staff" {
		t.Errorf("changing the groups of a key from KeyByHash changed the stored one")
	}
	if list, err := st.ListKeys(ctx, fed.User); err != nil || len(list) != 1 || diffKey(list[0], fed) != "" {
		t.Errorf("ListKeys(federated owner) = %v, %v; want the key with its snapshot", list, err)
	}
	_, err = st.KeyByHash(ctx, randID(t))
	wantNotFound(t, "KeyByHash(missing)", err)
}

func testKeyCreateRefuses(t *testing.T, st Store) {
	ctx := context.Background()
	k := newKey(t, "alice", 0)
	createKey(t, st, k)
	dup := newKey(t, "bob", 0)
	dup.Hash = k.Hash
	if err := st.CreateKey(ctx, dup); !errors.Is(err, session.ErrExists) {
		t.Errorf("CreateKey(duplicate Hash) error = %v, want ErrExists", err)
	}
	sameID := newKey(t, "alice", 0)
	sameID.ID = k.ID
	if err := st.CreateKey(ctx, sameID); !errors.Is(err, session.ErrExists) {
		t.Errorf("CreateKey(duplicate ID for the user) error = %v, want ErrExists", err)
	}
	bad := []struct {
		name string
		edit func(*session.APIKey)
	}{
		{"no ID", func(k *session.APIKey) { k.ID = "" }},
		{"no Hash", func(k *session.APIKey) { k.Hash = "" }},
		{"no User", func(k *session.APIKey) { k.User = "" }},
		{"already expired", func(k *session.APIKey) { k.ExpiresAt = time.Now().Add(-time.Second) }},
	}
	for _, tc := range bad {
		k := newKey(t, "carol", time.Hour)
		tc.edit(k)
		if err := st.CreateKey(ctx, k); err == nil {
			t.Errorf("CreateKey(%s) = nil, want error", tc.name)
		}
	}
	if got, err := st.ListKeys(ctx, "alice"); err != nil || len(got) != 1 || got[0].Hash != k.Hash {
		t.Errorf("ListKeys(alice) after refused creates = %d keys, %v; want the first", len(got), err)
	}
}

func testKeyList(t *testing.T, st Store) {
	ctx := context.Background()
	base := time.Now()
	var mine []*session.APIKey
	for i := range 3 {
		k := newKey(t, trickyUser, 0)
		k.CreatedAt = base.Add(time.Duration(i) * time.Second)
		mine = append(mine, k)
	}
	for _, i := range []int{1, 2, 0} {
		createKey(t, st, mine[i])
	}
	createKey(t, st, newKey(t, "bob", 0))
	got, err := st.ListKeys(ctx, trickyUser)
	if err != nil || len(got) != len(mine) {
		t.Fatalf("ListKeys = %d keys, %v; want %d", len(got), err, len(mine))
	}
	for i := range got {
		if d := diffKey(got[i], mine[i]); d != "" {
			t.Errorf("ListKeys()[%d]: %s", i, d)
		}
	}
	if got, err := st.ListKeys(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Errorf("ListKeys(nobody) = %d keys, %v; want none", len(got), err)
	}
}

func testKeyDelete(t *testing.T, st Store) {
	ctx := context.Background()
	k := newKey(t, "alice", time.Hour)
	createKey(t, st, k)
	wantNotFound(t, "DeleteKey by a non-owner", st.DeleteKey(ctx, "mallory", k.ID))
	if _, err := st.KeyByHash(ctx, k.Hash); err != nil {
		t.Fatalf("KeyByHash after a non-owner's DeleteKey: %v", err)
	}
	wantNotFound(t, "DeleteKey(unknown id)", st.DeleteKey(ctx, "alice", "nope"))
	if err := st.DeleteKey(ctx, "alice", k.ID); err != nil {
		t.Fatalf("DeleteKey by the owner: %v", err)
	}
	_, err := st.KeyByHash(ctx, k.Hash)
	wantNotFound(t, "KeyByHash after DeleteKey", err)
	if got, err := st.ListKeys(ctx, "alice"); err != nil || len(got) != 0 {
		t.Errorf("ListKeys after DeleteKey = %d keys, %v; want none", len(got), err)
	}
	wantNotFound(t, "DeleteKey again", st.DeleteKey(ctx, "alice", k.ID))
	wantNotFound(t, "TouchKey(deleted)", st.TouchKey(ctx, k.Hash, time.Now()))
	_, err = st.KeyByHash(ctx, k.Hash)
	wantNotFound(t, "KeyByHash after TouchKey(deleted)", err)
}

func testKeyExpired(t *testing.T, st Store) {
	ctx := context.Background()
	k := newKey(t, "alice", 150*time.Millisecond)
	keep := newKey(t, "alice", 0)
	createKey(t, st, k)
	createKey(t, st, keep)
	time.Sleep(250 * time.Millisecond)
	_, err := st.KeyByHash(ctx, k.Hash)
	wantNotFound(t, "KeyByHash(expired)", err)
	wantNotFound(t, "TouchKey(expired)", st.TouchKey(ctx, k.Hash, time.Now()))
	if got, err := st.ListKeys(ctx, "alice"); err != nil || len(got) != 1 || got[0].Hash != keep.Hash {
		t.Errorf("ListKeys with one expired = %d keys, %v; want the live one", len(got), err)
	}
	wantNotFound(t, "DeleteKey(expired)", st.DeleteKey(ctx, "alice", k.ID))
}

func testTouchKey(t *testing.T, st Store) {
	ctx := context.Background()
	k := newKey(t, "alice", time.Hour)
	createKey(t, st, k)
	used := time.Now().Add(time.Minute)
	if err := st.TouchKey(ctx, k.Hash, used); err != nil {
		t.Fatalf("TouchKey: %v", err)
	}
	got, err := st.KeyByHash(ctx, k.Hash)
	if err != nil {
		t.Fatalf("KeyByHash: %v", err)
	}
	want := k.Clone()
	want.LastUsed = used
	if d := diffKey(got, want); d != "" {
		t.Errorf("after TouchKey: %s", d)
	}
	if err := st.TouchKey(ctx, k.Hash, k.CreatedAt); err != nil {
		t.Fatalf("TouchKey(earlier): %v", err)
	}
	if got, _ := st.KeyByHash(ctx, k.Hash); !sameTime(got.LastUsed, used) {
		t.Errorf("LastUsed after an earlier TouchKey = %v, want %v", got.LastUsed, used)
	}
	wantNotFound(t, "TouchKey(missing)", st.TouchKey(ctx, randID(t), time.Now()))
}
