package server

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// A passwordless sign-in's first step needs only the login page's form
// token, which anyone gets, and stores a ceremony (about 440 bytes, five
// minutes) per call: without a bound, one client could fill the store.
// A person needs one or two; a client address gets a burst of ceremonyBurst
// and then one every ceremonyEvery (per instance).
const (
	ceremonyBurst   = 10
	ceremonyEvery   = 2 * time.Second
	ceremonyClients = 10_000 // addresses tracked before the table starts afresh
)

// ceremonyLimiter bounds ceremonies per client address.
type ceremonyLimiter struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// allow reports whether ip may start a ceremony now, and if not, how long
// until it may.
func (l *ceremonyLimiter) allow(ip string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil || len(l.m) >= ceremonyClients {
		// Starting afresh forgets every address's count at once; a flood
		// from more addresses than this is beyond a per-address limit
		// anyway (nginx's limit_req, docs/second-factor.md).
		l.m = make(map[string]*rate.Limiter)
	}
	lim := l.m[ip]
	if lim == nil {
		lim = rate.NewLimiter(rate.Every(ceremonyEvery), ceremonyBurst)
		l.m[ip] = lim
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
