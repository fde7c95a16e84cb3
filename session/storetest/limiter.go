package storetest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// The Limiter half of the suite. Counts and blocks are checked with real
// time and short windows, as the session tests are.

func hit(t *testing.T, st Store, key string, window time.Duration) int {
	t.Helper()
	n, err := st.Hit(context.Background(), key, window)
	if err != nil {
		t.Fatalf("Hit(%q): %v", key, err)
	}
	return n
}

func count(t *testing.T, st Store, key string) int {
	t.Helper()
	n, err := st.Count(context.Background(), key)
	if err != nil {
		t.Fatalf("Count(%q): %v", key, err)
	}
	return n
}

func blocked(t *testing.T, st Store, key string) time.Duration {
	t.Helper()
	d, err := st.Blocked(context.Background(), key)
	if err != nil {
		t.Fatalf("Blocked(%q): %v", key, err)
	}
	return d
}

func block(t *testing.T, st Store, key string, d time.Duration) {
	t.Helper()
	if err := st.Block(context.Background(), key, d); err != nil {
		t.Fatalf("Block(%q, %v): %v", key, d, err)
	}
}

func testLimiterCounts(t *testing.T, st Store) {
	// Keys that a careless layout would let collide with each other.
	keys := []string{"u:a", "u:a:b", "n:u:a", "b:u:a", trickyUser, ""}
	for i, k := range keys {
		for want := 1; want <= i+1; want++ {
			if got := hit(t, st, k, time.Minute); got != want {
				t.Errorf("Hit(%q) #%d = %d, want %d", k, want, got, want)
			}
		}
	}
	for i, k := range keys {
		if got := count(t, st, k); got != i+1 {
			t.Errorf("Count(%q) = %d, want %d", k, got, i+1)
		}
	}
	if got := count(t, st, "never-hit"); got != 0 {
		t.Errorf("Count(never hit) = %d, want 0", got)
	}
	for _, k := range keys {
		if d := blocked(t, st, k); d != 0 {
			t.Errorf("Blocked(%q) after hits alone = %v, want 0: counting never blocks", k, d)
		}
	}
	if _, err := st.Hit(context.Background(), "u:a", 0); err == nil {
		t.Error("Hit with window 0 = nil error, want an error")
	}
}

func testLimiterWindow(t *testing.T, st Store) {
	const window = 400 * time.Millisecond
	start := time.Now()
	if got := hit(t, st, "w", window); got != 1 {
		t.Fatalf("first Hit = %d, want 1", got)
	}
	time.Sleep(100 * time.Millisecond)
	before := time.Since(start)
	got := hit(t, st, "w", window)
	if before < window-50*time.Millisecond && got != 2 {
		t.Errorf("Hit %v into a %v window = %d, want 2", before, window, got)
	}
	// The window runs from the first hit: a store that restarted it on the
	// second hit (at ~100ms) would still be counting at 450ms.
	time.Sleep(time.Until(start.Add(window + 50*time.Millisecond)))
	if got := count(t, st, "w"); got != 0 {
		t.Errorf("Count after the window ended = %d, want 0", got)
	}
	if got := hit(t, st, "w", window); got != 1 {
		t.Errorf("Hit after the window (started by the first hit) ended = %d, want 1", got)
	}
	if got := hit(t, st, "w", window); got != 2 {
		t.Errorf("next Hit in the new window = %d, want 2", got)
	}
}

func testLimiterBlock(t *testing.T, st Store) {
	ctx := context.Background()
	if d := blocked(t, st, "b"); d != 0 {
		t.Errorf("Blocked(never blocked) = %v, want 0", d)
	}
	block(t, st, "b", time.Hour)
	if d := blocked(t, st, "b"); d <= time.Hour-5*time.Second || d > time.Hour {
		t.Errorf("Blocked after Block(1h) = %v, want about 1h", d)
	}
	if d := blocked(t, st, "b2"); d != 0 {
		t.Errorf("Blocked(other key) = %v, want 0", d)
	}
	if got := hit(t, st, "b", time.Minute); got != 1 {
		t.Errorf("Hit on a blocked key with no hits = %d, want 1: blocks and counts are apart", got)
	}
	// A new block replaces the old one, even a shorter one.
	block(t, st, "b", 300*time.Millisecond)
	if d := blocked(t, st, "b"); d <= 0 || d > 300*time.Millisecond {
		t.Errorf("Blocked after Block(300ms) replaced Block(1h) = %v, want (0, 300ms]", d)
	}
	time.Sleep(400 * time.Millisecond)
	if d := blocked(t, st, "b"); d != 0 {
		t.Errorf("Blocked 400ms after Block(300ms) = %v, want 0", d)
	}
	if got := hit(t, st, "b", time.Minute); got != 2 {
		t.Errorf("Hit after the block ended = %d, want 2: the count's window outlives the block", got)
	}
	if err := st.Block(ctx, "b", 0); err == nil {
		t.Error("Block for 0 = nil error, want an error")
	}
}

func testLimiterClear(t *testing.T, st Store) {
	ctx := context.Background()
	hit(t, st, "c", time.Minute)
	hit(t, st, "c", time.Minute)
	block(t, st, "c", time.Hour)
	hit(t, st, "other", time.Minute)
	block(t, st, "other", time.Hour)
	if err := st.Clear(ctx, "c"); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	if d := blocked(t, st, "c"); d != 0 {
		t.Errorf("Blocked after Clear = %v, want 0", d)
	}
	if n := count(t, st, "c"); n != 0 {
		t.Errorf("Count after Clear = %d, want 0", n)
	}
	if got := hit(t, st, "c", time.Minute); got != 1 {
		t.Errorf("Hit after Clear = %d, want 1", got)
	}
	if d := blocked(t, st, "other"); d <= 0 {
		t.Errorf("Blocked(other key) after Clear(c) = %v, want blocked", d)
	}
	if got := hit(t, st, "other", time.Minute); got != 2 {
		t.Errorf("Hit(other key) after Clear(c) = %d, want 2", got)
	}
	if err := st.Clear(ctx, "never-seen"); err != nil {
		t.Errorf("Clear(unknown key) = %v, want nil", err)
	}
}

// testLimiterConcurrent checks that Hit is atomic: concurrent hits on one
// key get every count from 1 to their number exactly once, as sso instances
// sharing a store rely on.
func testLimiterConcurrent(t *testing.T, st Store) {
	ctx := context.Background()
	const workers, rounds = 16, 25
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts []int
	)
	for w := range workers {
		wg.Go(func() {
			for range rounds {
				n, err := st.Hit(ctx, "shared", time.Minute)
				if err != nil {
					t.Errorf("Hit(shared): %v", err)
					return
				}
				mu.Lock()
				counts = append(counts, n)
				mu.Unlock()
				if _, err := st.Blocked(ctx, "shared"); err != nil {
					t.Errorf("Blocked(shared): %v", err)
					return
				}
				// Blocks and clears on keys of its own race with the rest.
				own := string(rune('a' + w))
				if err := st.Block(ctx, own, time.Minute); err != nil {
					t.Errorf("Block(own): %v", err)
					return
				}
				if err := st.Clear(ctx, own); err != nil {
					t.Errorf("Clear(own): %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	slices.Sort(counts)
	for i, n := range counts {
		if n != i+1 {
			t.Fatalf("sorted counts of %d concurrent hits: [%d] = %d, want %d (lost or doubled increments)", workers*rounds, i, n, i+1)
		}
	}
	if len(counts) != workers*rounds {
		t.Errorf("%d hits answered, want %d", len(counts), workers*rounds)
	}
	for w := range workers {
		if d := blocked(t, st, string(rune('a'+w))); d != 0 {
			t.Errorf("Blocked(%c) after its last Clear = %v, want 0", 'a'+w, d)
		}
	}
}
