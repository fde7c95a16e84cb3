package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/example/sso/session"
)

// agedSession returns a session of user created at the given time. Both
// CreatedAt and ExpiresAt move with it: redisstore ranks a user's sessions
// by ExpiresAt, which the server sets to CreatedAt + SSO_SESSION_MAX.
func agedSession(t *testing.T, user string, created time.Time) *session.Session {
	t.Helper()
	s := newSession(t, user, time.Hour, 2*time.Hour)
	s.CreatedAt = created
	s.ExpiresAt = created.Add(2 * time.Hour)
	return s
}

// listIDs returns the ids of user's live sessions, oldest first.
func listIDs(t *testing.T, st Store, user string) []string {
	t.Helper()
	got, err := st.List(context.Background(), user)
	if err != nil {
		t.Fatalf("List(%q): %v", user, err)
	}
	ids := make([]string, len(got))
	for i, s := range got {
		ids[i] = s.ID
	}
	return ids
}

func ids(ss []*session.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

// testCapKeepsNewest creates 5 sessions for one user and 2 for another
// under a cap of 3. The other user's sessions are older than all of hers,
// so a store that evicted the oldest of anyone's would take them.
func testCapKeepsNewest(t *testing.T, st Store, perUser int) {
	ctx := context.Background()
	base := time.Now().Add(-time.Minute)
	var alice, bob []*session.Session
	for i := range 5 {
		alice = append(alice, agedSession(t, trickyUser, base.Add(time.Duration(i)*time.Second)))
	}
	for i := range 2 {
		bob = append(bob, agedSession(t, "bob", base.Add(time.Duration(i-10)*time.Second)))
	}
	steps := []*session.Session{alice[0], alice[1], bob[0], alice[2], alice[3], bob[1], alice[4]}
	made := 0
	for _, s := range steps {
		create(t, st, s)
		if s.User != trickyUser {
			continue
		}
		made++
		want := ids(alice[max(0, made-perUser):made])
		if got := listIDs(t, st, trickyUser); !slices.Equal(got, want) {
			t.Errorf("after creating %d sessions under a cap of %d, List = %q, want %q", made, perUser, got, want)
		}
	}
	got, err := st.List(ctx, trickyUser)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) != perUser {
		t.Fatalf("List = %d sessions, want the cap %d", len(got), perUser)
	}
	for i, s := range got {
		if d := diffSession(s, alice[2+i]); d != "" {
			t.Errorf("List()[%d]: %s", i, d)
		}
	}
	for _, s := range alice[:2] {
		_, err := st.Get(ctx, s.ID)
		wantNotFound(t, "Get(evicted by the cap)", err)
		wantNotFound(t, "Touch(evicted by the cap)", st.Touch(ctx, s.ID, time.Now()))
	}
	if got, want := listIDs(t, st, "bob"), ids(bob); !slices.Equal(got, want) {
		t.Errorf("List(bob) = %q, want both of his %q: another user's logins must not evict them", got, want)
	}
	// Every session left is one DeleteUser can reach: none was orphaned.
	if n, err := st.DeleteUser(ctx, trickyUser, ""); err != nil || n != perUser {
		t.Errorf("DeleteUser after the cap = %d, %v; want %d", n, err, perUser)
	}
}

// testCapDropsDeadFirst: a session that has idled out makes room before a
// live one is evicted, even when the live one is older.
func testCapDropsDeadFirst(t *testing.T, st Store, perUser int) {
	ctx := context.Background()
	if perUser != 2 {
		t.Fatalf("testCapDropsDeadFirst needs a cap of 2, got %d", perUser)
	}
	now := time.Now()
	old := agedSession(t, "alice", now.Add(-2*time.Second))
	idle := agedSession(t, "alice", now.Add(-time.Second))
	idle.Idle = 100 * time.Millisecond
	idle.LastSeen = now
	create(t, st, old)
	create(t, st, idle)
	time.Sleep(250 * time.Millisecond)
	fresh := newSession(t, "alice", time.Hour, 2*time.Hour)
	create(t, st, fresh)
	if got, want := listIDs(t, st, "alice"), []string{old.ID, fresh.ID}; !slices.Equal(got, want) {
		t.Errorf("List = %q, want the oldest and the new one %q: the idle-expired one should have made room", got, want)
	}
	if _, err := st.Get(ctx, old.ID); err != nil {
		t.Errorf("Get(oldest, live) = %v; want it kept while a dead session could go", err)
	}
}

func testCapOne(t *testing.T, st Store, perUser int) {
	ctx := context.Background()
	base := time.Now().Add(-time.Minute)
	var ss []*session.Session
	for i := range 3 {
		s := agedSession(t, "alice", base.Add(time.Duration(i)*time.Second))
		create(t, st, s)
		ss = append(ss, s)
		if got, want := listIDs(t, st, "alice"), []string{s.ID}; !slices.Equal(got, want) {
			t.Errorf("after create #%d under a cap of %d, List = %q, want only the new one %q", i+1, perUser, got, want)
		}
	}
	for _, s := range ss[:2] {
		_, err := st.Get(ctx, s.ID)
		wantNotFound(t, "Get(replaced under a cap of 1)", err)
	}
}

// testCapConcurrent: one user logs in from 16 goroutines at once. The cap
// may be exceeded by CapSlack until the user's next login, no session may
// be orphaned (retrievable but not listed), and the newest must survive.
func testCapConcurrent(t *testing.T, st Store, perUser int) {
	ctx := context.Background()
	const workers, rounds = 16, 3
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created []string
	)
	for range workers {
		wg.Go(func() {
			for range rounds {
				s := newSession(t, trickyUser, time.Hour, 2*time.Hour)
				if err := st.Create(ctx, s); err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				mu.Lock()
				created = append(created, s.ID)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	check := func(when string, maxN int) []string {
		t.Helper()
		listed := listIDs(t, st, trickyUser)
		if len(listed) == 0 || len(listed) > maxN {
			t.Errorf("%s: List = %d sessions, want 1 to %d", when, len(listed), maxN)
		}
		for _, id := range created {
			_, err := st.Get(ctx, id)
			switch in := slices.Contains(listed, id); {
			case in && err != nil:
				t.Errorf("%s: Get(listed session) = %v", when, err)
			case !in && !errors.Is(err, session.ErrNotFound):
				t.Errorf("%s: Get(session not listed) error = %v, want ErrNotFound: an evicted session must be gone, a kept one listed", when, err)
			}
		}
		return listed
	}
	check(fmt.Sprintf("after %d concurrent logins under a cap of %d", workers*rounds, perUser), perUser+CapSlack)

	// The next login sees every earlier one and trims to the cap exactly.
	last := agedSession(t, trickyUser, time.Now().Add(time.Second))
	create(t, st, last)
	created = append(created, last.ID)
	listed := check("after one more login", perUser)
	if len(listed) != perUser || listed[len(listed)-1] != last.ID {
		t.Errorf("after one more login, List = %q, want %d sessions ending with the new one %q", listed, perUser, last.ID)
	}
}

// testCapUnlimited: a negative cap keeps every session, beyond the default
// of 100.
func testCapUnlimited(t *testing.T, st Store, _ int) {
	const n = 120
	for range n {
		create(t, st, newSession(t, "alice", time.Hour, 2*time.Hour))
	}
	if got := listIDs(t, st, "alice"); len(got) != n {
		t.Errorf("List without a cap = %d sessions, want all %d", len(got), n)
	}
}
