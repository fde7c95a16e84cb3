package soak

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTally(t *testing.T) {
	var tl Tally
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			tl.Request(200, false, time.Millisecond)
			tl.Request(503, false, 3*time.Millisecond)
			tl.Request(0, false, time.Second)   // refused connection: no latency
			tl.Request(0, true, 10*time.Second) // hang
			tl.Request(418, false, 2*time.Millisecond)
		})
	}
	wg.Wait()
	tl.Wrong200()
	tl.Refused()
	tl.Update(func(f *Figures) {
		f.Checked, f.LostBefore, f.Recovery = 7, 1, 2345*time.Millisecond
	})
	f := tl.Figures()
	f.Status[200] = 99 // a copy
	const want = "requests=20 200=4 201=0 204=0 401=0 418=4 429=0 503=4 errors=4 timeouts=4 wrong200=1 late=0 max_late=0s refused=1 checked=7 lost=1+0 max_latency=3ms recovery=2.35s"
	if got := tl.Figures().String(); got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
	if got := (Figures{Recovery: -1}).String(); !strings.Contains(got, "recovery=never") {
		t.Errorf("String() of a run that never recovered = %q, want recovery=never", got)
	}
}
