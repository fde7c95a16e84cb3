package soak

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Tally counts what a run's clients saw. It is safe for concurrent use;
// the zero value is ready.
type Tally struct {
	mu sync.Mutex
	f  Figures
}

// Figures are the counts of one run, printed as one line by String.
type Figures struct {
	// Requests is every request sent, answered or not.
	Requests int
	// Status counts answers by HTTP status.
	Status map[int]int
	// Errors are requests that got no answer (connection refused or
	// reset), Timeouts those that hit the client's timeout: a hang.
	Errors, Timeouts int
	// Wrong200 are 200s that must not have been: for a session logged out
	// (204) before the request was sent, or naming another user.
	Wrong200 int
	// Late are 200s for a session logged out through another instance
	// less than RevocationWindow before: the verified-session cache
	// (SSO_AUTH_CACHE) may answer until the invalidation arrives. MaxLate
	// is the latest of them after its logout.
	Late    int
	MaxLate time.Duration
	// Refused are 401s for sessions that were never logged out, seen
	// during the run (a lost session, or a store answering for the wrong
	// data).
	Refused int
	// Checked is how many sessions the check after the run asked about;
	// Lost those of them, never logged out, that no instance knew any
	// more, split by whether they were made before the disruption.
	Checked, LostBefore, LostAfter int
	// MaxLatency is the slowest answered request.
	MaxLatency time.Duration
	// Recovery is how long after the disruption every instance answered
	// /auth for live sessions with 200 again for good: the first 200
	// after its last 503 (or no answer at all). Negative when an
	// instance never did. A 401 is an answer: it counts as a lost
	// session, not as the instance being down.
	Recovery time.Duration
}

// Request records one request: its status (0 when there was no answer),
// whether it timed out, and how long it took.
func (t *Tally) Request(status int, timedOut bool, took time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.f.Requests++
	switch {
	case timedOut:
		t.f.Timeouts++
	case status == 0:
		t.f.Errors++
	default:
		if t.f.Status == nil {
			t.f.Status = map[int]int{}
		}
		t.f.Status[status]++
		t.f.MaxLatency = max(t.f.MaxLatency, took)
	}
}

// Wrong200 records a 200 that must not have been.
func (t *Tally) Wrong200() { t.add(&t.f.Wrong200) }

// LateRevocation records a 200 for a session logged out ago before the
// request: within the documented window, so not a wrong 200.
func (t *Tally) LateRevocation(ago time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.f.Late++
	t.f.MaxLate = max(t.f.MaxLate, ago)
}

// Refused records a 401 for a session never logged out.
func (t *Tally) Refused() { t.add(&t.f.Refused) }

func (t *Tally) add(n *int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	*n++
}

// Update changes the figures under the lock, for the counts a test
// computes itself (Checked, Lost, Recovery).
func (t *Tally) Update(f func(*Figures)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f(&t.f)
}

// Figures returns a copy of the counts so far.
func (t *Tally) Figures() Figures {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.f
	f.Status = make(map[int]int, len(t.f.Status))
	for k, v := range t.f.Status {
		f.Status[k] = v
	}
	return f
}

// String is the summary line, every count named:
//
//	requests=5120 200=3900 201=610 204=600 401=0 429=0 503=10 errors=0 timeouts=0 wrong200=0 late=0 max_late=0s refused=0 checked=610 lost=0+0 max_latency=1.2s recovery=2.4s
func (f Figures) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "requests=%d", f.Requests)
	// The statuses every run meets, even at zero, then any other.
	codes := []int{200, 201, 204, 401, 429, 503}
	for c := range f.Status {
		if !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	slices.Sort(codes)
	for _, c := range codes {
		fmt.Fprintf(&b, " %d=%d", c, f.Status[c])
	}
	fmt.Fprintf(&b, " errors=%d timeouts=%d wrong200=%d late=%d max_late=%v refused=%d checked=%d lost=%d+%d max_latency=%v",
		f.Errors, f.Timeouts, f.Wrong200, f.Late, f.MaxLate.Round(time.Millisecond), f.Refused, f.Checked, f.LostBefore, f.LostAfter, f.MaxLatency.Round(time.Millisecond))
	recovery := "never"
	if f.Recovery >= 0 {
		recovery = f.Recovery.Round(10 * time.Millisecond).String()
	}
	fmt.Fprintf(&b, " recovery=%s", recovery)
	return b.String()
}
