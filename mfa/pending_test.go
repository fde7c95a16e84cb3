package mfa_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/example/sso/mfa"
	"github.com/example/sso/mfa/memstore"
)

// TestPending: a pending login is bound to its id, one use when taken,
// gone after its lifetime, and not a ceremony of another purpose.
func TestPending(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1700000000, 0)
	clock := func() time.Time { return now }
	m := newManager(t, memstore.New(clock), clock)
	id, err := m.PutPending(ctx, "alice", []byte(`{"rd":"/x"}`), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if user, data, err := m.Pending(ctx, id, false); err != nil || user != "alice" || string(data) != `{"rd":"/x"}` {
		t.Fatalf("Pending = %q, %q, %v", user, data, err)
	}
	for _, bad := range []string{"", "x", id + "x", string(make([]byte, 101))} {
		if _, _, err := m.Pending(ctx, bad, false); !errors.Is(err, mfa.ErrCeremony) {
			t.Errorf("Pending(%q) = %v, want ErrCeremony", bad, err)
		}
	}
	if _, _, err := m.Pending(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Pending(ctx, id, true); !errors.Is(err, mfa.ErrCeremony) {
		t.Fatalf("second take: %v, want ErrCeremony", err)
	}

	id, _ = m.PutPending(ctx, "alice", []byte("{}"), time.Minute)
	now = now.Add(time.Minute + time.Second)
	if _, _, err := m.Pending(ctx, id, false); !errors.Is(err, mfa.ErrCeremony) {
		t.Fatalf("expired: %v, want ErrCeremony", err)
	}

	// A TOTP enrolment's id is no pending login.
	e, err := m.BeginTOTP(ctx, "alice", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Pending(ctx, e.ID, false); !errors.Is(err, mfa.ErrCeremony) {
		t.Fatalf("enrolment id as pending login: %v", err)
	}
	if _, err := m.PutPending(ctx, "", nil, time.Minute); err == nil {
		t.Fatal("PutPending without a user")
	}
}
