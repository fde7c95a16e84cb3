package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Each client holds up to maxLive sessions at once: it logs in until it has
// them, asks /auth about them, then logs the oldest out.
const (
	maxLive      = 3
	authPerRound = 4
	// pause is each client's rest between two requests, so that a run
	// measures sso and Redis under load, not a machine starved of CPU.
	pause = 5 * time.Millisecond
	// keepGone is how many of its logged-out sessions a client goes on
	// asking about during the run (the check after the run asks about
	// every one).
	keepGone = 3
)

// tracked is a session the run knows the state of.
type tracked struct {
	cookie
	// before: the login was sent before the disruption.
	before bool
	// goneAt: when its logout got the 204 (zero while live).
	goneAt time.Time
}

// RevocationWindow is how long after a logout through one instance another
// may still answer 200 from its verified-session cache: the README promises
// every instance refuses within a second (in practice milliseconds, the
// pub/sub delivery). Later is a wrong 200.
const RevocationWindow = time.Second

// workload is many clients, each logging in as a user of its own, calling
// /auth through every instance in turn and logging out through one of
// them, checking each answer against what it knows: a session it holds
// must get 200 naming its user, one it logged out (204) must never get a
// 200 again, from any instance. The test marks the moment of its
// disruption (a master's crash, a restart) with mark.
type workload struct {
	t         *testing.T
	instances []*instance
	clients   int
	tally     Tally

	stop chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	mark    time.Time            // zero until the disruption
	live    map[string]tracked   // by cookie value: never logged out
	dead    map[string]tracked   // logged out with a 204
	unsure  int                  // logouts never answered 204 before the run ended
	good    []time.Time          // per instance: first 200 after its last other answer
	bad     []time.Time          // per instance: last 503 (or no answer) for a live session
	lost    map[string]bool      // live sessions refused (401) during the run: made before the mark?
	logouts []time.Time          // when each 204 arrived
	wrong   []string             // the first few wrong 200s, for the log
	logins  map[string]time.Time // when each login's 201 arrived
}

func newWorkload(t *testing.T, instances []*instance, clients int) *workload {
	return &workload{
		t: t, instances: instances, clients: clients,
		stop: make(chan struct{}),
		live: map[string]tracked{}, dead: map[string]tracked{}, lost: map[string]bool{},
		good: make([]time.Time, len(instances)), bad: make([]time.Time, len(instances)),
		logins: map[string]time.Time{},
	}
}

// start runs the clients until halt; ctx is the run's hard deadline.
func (w *workload) start(ctx context.Context) {
	for i := range w.clients {
		w.wg.Go(func() { w.client(ctx, i) })
	}
}

// halt stops the clients after the round they are in and waits for them.
func (w *workload) halt() {
	close(w.stop)
	w.wg.Wait()
}

// markNow records the disruption's moment and returns it. Call it once
// the disruption is done (Kill has returned): a request sent after the mark
// then cannot have reached the dead server, so losing what it wrote is
// never excused as "just before the crash".
func (w *workload) markNow() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.mark = time.Now()
	return w.mark
}

func (w *workload) stopped() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// rest pauses between requests; false once the run is over.
func (w *workload) rest(ctx context.Context, d time.Duration) bool {
	select {
	case <-w.stop:
		return false
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

func (w *workload) client(ctx context.Context, i int) {
	rnd := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
	user := userName(i)
	login := func() (cookie, bool) {
		in := w.instances[rnd.IntN(len(w.instances))]
		sent := time.Now()
		c, a := in.login(ctx, user, password)
		w.observe(a)
		if a.status != http.StatusCreated || a.err != nil {
			return cookie{}, false
		}
		w.created(c, sent)
		return c, true
	}
	// The anchor is the client's first session, held for the whole run
	// and asked about every round: a session that must outlive the
	// disruption. The others come and go.
	var anchor cookie
	for ok := false; !ok; {
		if anchor, ok = login(); !ok && !w.rest(ctx, pause) {
			return
		}
	}
	var mine, gone []cookie
	for !w.stopped() && ctx.Err() == nil {
		if len(mine) < maxLive {
			if c, ok := login(); ok {
				mine = append(mine, c)
			}
			if !w.rest(ctx, pause) {
				break
			}
			if len(mine) == 0 {
				continue
			}
		}
		// A session refused though never logged out is counted as lost
		// and replaced, as a user would log in again.
		if w.check(ctx, rnd.IntN(len(w.instances)), anchor, true) == http.StatusUnauthorized {
			if c, ok := login(); ok {
				anchor = c
			}
		}
		for k := range authPerRound {
			n := rnd.IntN(len(mine))
			if w.check(ctx, k%len(w.instances), mine[n], true) == http.StatusUnauthorized {
				mine = append(mine[:n], mine[n+1:]...)
			}
			if !w.rest(ctx, pause) || len(mine) == 0 {
				break
			}
		}
		if len(mine) == 0 {
			continue
		}
		if len(gone) > 0 {
			w.check(ctx, rnd.IntN(len(w.instances)), gone[rnd.IntN(len(gone))], false)
		}
		if len(mine) == maxLive {
			c := mine[0]
			mine = mine[1:]
			j := rnd.IntN(len(w.instances))
			if w.logout(ctx, j, c) {
				gone = append(gone, c)
				if len(gone) > keepGone {
					gone = gone[1:]
				}
				// A logout through one instance is at once a logout
				// through every other.
				w.check(ctx, (j+1)%len(w.instances), c, false)
			}
		}
	}
}

// observe counts one answer; a request cut short by the run's deadline is
// not the system's doing and is not counted.
func (w *workload) observe(a answer) {
	if a.status == 0 && !a.timedOut && w.stopped() {
		return
	}
	w.tally.Request(a.status, a.timedOut, a.took)
}

func (w *workload) created(c cookie, sent time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.live[c.value] = tracked{cookie: c, before: w.mark.IsZero() || sent.Before(w.mark)}
	w.logins[c.value] = time.Now()
}

// check asks instance i's /auth about c, which is live or logged out, and
// returns the status.
func (w *workload) check(ctx context.Context, i int, c cookie, live bool) int {
	sent := time.Now()
	a := w.instances[i].auth(ctx, c)
	w.observe(a)
	done := sent.Add(a.took)
	w.mu.Lock()
	defer w.mu.Unlock()
	after := !w.mark.IsZero() && sent.After(w.mark)
	switch {
	case a.status == http.StatusOK && !live && a.header.Get("X-Auth-User") == c.user && w.late(c.value, sent):
	case a.status == http.StatusOK && (!live || a.header.Get("X-Auth-User") != c.user):
		w.wrong200(fmt.Sprintf("%s /auth for %s (live %v) = 200 X-Auth-User %q", w.instances[i].name, c.user, live, a.header.Get("X-Auth-User")))
	case a.status == http.StatusOK:
		if after && !w.good[i].After(w.bad[i]) {
			w.good[i] = done
		}
	case live && a.status == http.StatusUnauthorized:
		// Lost, not unavailable: the instance answers.
		w.tally.Refused()
		w.lost[c.value] = w.live[c.value].before
	case live:
		if after && done.After(w.bad[i]) {
			w.bad[i] = done
		}
	}
	return a.status
}

// late reports, and counts, a 200 sent at for a session logged out less
// than RevocationWindow before; w.mu is held.
func (w *workload) late(value string, at time.Time) bool {
	t, ok := w.dead[value]
	if !ok || t.goneAt.IsZero() || at.Sub(t.goneAt) >= RevocationWindow {
		return false
	}
	w.tally.LateRevocation(at.Sub(t.goneAt))
	return true
}

// wrong200 counts a wrong 200 and keeps the first few for the log; w.mu
// is held.
func (w *workload) wrong200(what string) {
	w.tally.Wrong200()
	if len(w.wrong) < 10 {
		w.wrong = append(w.wrong, what)
	}
}

// logout logs c out through instance i, again while the store does not
// answer, and reports whether it got the 204. Until then the session's
// state is unknown, and the run asks nothing about it.
func (w *workload) logout(ctx context.Context, i int, c cookie) bool {
	w.mu.Lock()
	t := w.live[c.value]
	delete(w.live, c.value)
	w.mu.Unlock()
	for {
		a := w.instances[i].logout(ctx, c)
		w.observe(a)
		if a.status == http.StatusNoContent {
			w.mu.Lock()
			t.goneAt = time.Now()
			w.dead[c.value] = t
			w.logouts = append(w.logouts, time.Now())
			w.mu.Unlock()
			return true
		}
		if !w.rest(ctx, 50*time.Millisecond) {
			w.mu.Lock()
			w.unsure++
			w.mu.Unlock()
			return false
		}
	}
}

// recovered reports whether every instance has answered a 200 for a live
// session after the mark, and nothing else for quiet.
func (w *workload) recovered(quiet time.Duration) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mark.IsZero() {
		return false
	}
	for i := range w.good {
		if !w.good[i].After(w.bad[i]) || time.Since(w.bad[i]) < quiet {
			return false
		}
	}
	return true
}

// waitRecovered waits until every instance has answered only 200s for
// live sessions for a second, or timeout.
func (w *workload) waitRecovered(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !w.recovered(time.Second) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// logoutsWithin counts the logouts answered 204 within d before the mark:
// the ones an asynchronous replica may not have had when the master died.
func (w *workload) logoutsWithin(d time.Duration) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, at := range w.logouts {
		if !at.After(w.mark) && w.mark.Sub(at) <= d {
			n++
		}
	}
	return n
}

// loginsWithin is logoutsWithin for logins.
func (w *workload) loginsWithin(d time.Duration) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, at := range w.logins {
		if !at.After(w.mark) && w.mark.Sub(at) <= d {
			n++
		}
	}
	return n
}

// verify asks every instance, after the run, about every session whose
// state the run knows: a live one must be answered 200 with its user (a
// 401 is a lost session), a logged-out one 401. An instance that still
// answers 503 is asked again for a while; one that never answers fails the
// test. It completes the figures.
func (w *workload) verify(ctx context.Context) Figures {
	w.mu.Lock()
	var all []tracked
	liveN := len(w.live)
	for _, s := range w.live {
		all = append(all, s)
	}
	for _, s := range w.dead {
		all = append(all, s)
	}
	mark, good, bad := w.mark, w.good, w.bad
	w.mu.Unlock()

	var (
		next = make(chan int)
		wg   sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for n := range next {
				s, live := all[n], n < liveN
				for i, in := range w.instances {
					sent := time.Now()
					a := w.ask(ctx, in, s.cookie)
					w.mu.Lock()
					late := a.status == http.StatusOK && !live && a.header.Get("X-Auth-User") == s.user && w.late(s.value, sent)
					w.mu.Unlock()
					switch {
					case late:
					case a.status == http.StatusOK && (!live || a.header.Get("X-Auth-User") != s.user):
						w.mu.Lock()
						w.wrong200(fmt.Sprintf("after the run: %s /auth for %s (live %v, made before the disruption %v) = 200 X-Auth-User %q",
							w.instances[i].name, s.user, live, s.before, a.header.Get("X-Auth-User")))
						w.mu.Unlock()
					case a.status == http.StatusOK, a.status == http.StatusUnauthorized && !live:
					case a.status == http.StatusUnauthorized:
						w.mu.Lock()
						w.lost[s.value] = s.before
						w.mu.Unlock()
					default:
						w.t.Errorf("after the run: %s /auth = %s, want 200 or 401", in.name, a)
					}
				}
			}
		})
	}
	for n := range all {
		next <- n
	}
	close(next)
	wg.Wait()

	w.mu.Lock()
	wrong, unsure := w.wrong, w.unsure
	var lostBefore, lostAfter int
	for _, before := range w.lost {
		if before {
			lostBefore++
		} else {
			lostAfter++
		}
	}
	w.mu.Unlock()
	for _, s := range wrong {
		w.t.Errorf("wrong 200: %s", s)
	}
	if unsure > 0 {
		w.t.Logf("%d logouts never got their 204 before the run ended; those sessions were left out", unsure)
	}
	w.tally.Update(func(f *Figures) {
		f.Checked, f.LostBefore, f.LostAfter = len(all), lostBefore, lostAfter
		if mark.IsZero() {
			return
		}
		f.Recovery = 0
		for i := range good {
			if !good[i].After(bad[i]) {
				f.Recovery = -1
				break
			}
			f.Recovery = max(f.Recovery, good[i].Sub(mark))
		}
	})
	return w.tally.Figures()
}

// ask is /auth for the check after the run: it asks again, for up to 10 s,
// while the answer is neither 200 nor 401.
func (w *workload) ask(ctx context.Context, in *instance, c cookie) answer {
	deadline := time.Now().Add(10 * time.Second)
	for {
		a := in.auth(ctx, c)
		if a.status == http.StatusOK || a.status == http.StatusUnauthorized || time.Now().After(deadline) || ctx.Err() != nil {
			return a
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check fails the test on what no topology excuses: a wrong 200, a hang, a
// client still running at the deadline.
func (f Figures) check(t *testing.T) {
	t.Helper()
	if f.Wrong200 != 0 {
		t.Errorf("%d wrong 200s, want none", f.Wrong200)
	}
	if f.Timeouts != 0 {
		t.Errorf("%d requests got no answer within %v (a hang), want none", f.Timeouts, requestTimeout)
	}
	if f.Recovery < 0 {
		t.Errorf("an instance never answered /auth with 200 after the disruption")
	}
}
