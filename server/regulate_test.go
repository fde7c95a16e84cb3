package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/sso/authz"
	"github.com/example/sso/server"
	"github.com/example/sso/session"
	"github.com/example/sso/users"
)

// countingUsers is the real directory, counting password checks.
type countingUsers struct {
	server.Users
	calls atomic.Int64
}

func (u *countingUsers) Authenticate(login, password string) (users.User, error) {
	u.calls.Add(1)
	return u.Users.Authenticate(login, password)
}

var testRegulation = server.Regulation{MaxRetries: 5, FindTime: 2 * time.Minute, BanTime: 5 * time.Minute}

// regulated returns an env with login regulation on (5 tries in 2m, 5m ban)
// on its memstore, and the counter of password checks.
func regulated(t *testing.T, opts ...envOption) (*env, *countingUsers) {
	t.Helper()
	var cu *countingUsers
	opts = append([]envOption{func(o *server.Options) {
		cu = &countingUsers{Users: o.Users}
		o.Users = cu
		o.Regulation = testRegulation
		o.Limiter = o.Store.(session.Limiter)
	}}, opts...)
	return newEnv(t, opts...), cu
}

func apiTry(t *testing.T, c *http.Client, user, pw string, headers map[string]string) *response {
	t.Helper()
	return do(t, c, req{method: "POST", url: hub + "/api/session", body: `{"username":"` + user + `","password":"` + pw + `"}`, headers: headers})
}

// expectBlocked checks the 429 answer: the contract's JSON error, and
// Retry-After in whole seconds.
func expectBlocked(t *testing.T, r *response, retryAfter string) {
	t.Helper()
	expectStatus(t, r, http.StatusTooManyRequests)
	var b authz.ErrorBody
	r.json(t, &b)
	if b.Error != "too_many_attempts" || b.Message != "too many failed logins, try again later" {
		t.Errorf("429 body = %s, want too_many_attempts", r.body)
	}
	if got := r.Header.Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After = %q, want %q", got, retryAfter)
	}
	if len(r.Cookies()) != 0 {
		t.Errorf("blocked login sets %q", r.Header.Values("Set-Cookie"))
	}
}

// Five wrong passwords ban the user name: the sixth try is refused before
// any password check, even with the right password, until the ban ends.
func TestRegulationUserBan(t *testing.T) {
	e, cu := regulated(t)
	c := e.client()
	for i := range 5 {
		expectStatus(t, apiTry(t, c, "alice", fmt.Sprint("wrong", i), nil), http.StatusUnauthorized)
	}
	expectBlocked(t, apiTry(t, c, "alice", password, nil), "300")
	// Case and blanks do not make a new name.
	expectBlocked(t, apiTry(t, c, " ALICE", password, nil), "300")
	if n := cu.calls.Load(); n != 5 {
		t.Errorf("password checks = %d, want 5: a banned login must cost no password check", n)
	}
	// Other users are not affected: the IP has 20 tries.
	expectStatus(t, apiTry(t, c, "bob", password, nil), http.StatusCreated)

	e.clock.Advance(150*time.Second + 500*time.Millisecond) // 149.5s left: rounded up
	expectBlocked(t, apiTry(t, c, "alice", password, nil), "150")
	m := do(t, c, req{url: hub + "/metrics"})
	if want := `sso_logins_total{outcome="blocked"} 3`; !strings.Contains(string(m.body), want) {
		t.Errorf("/metrics lacks %q", want)
	}

	e.clock.Advance(150 * time.Second)
	expectStatus(t, apiTry(t, c, "alice", password, nil), http.StatusCreated)
	if n := cu.calls.Load(); n != 7 {
		t.Errorf("password checks = %d, want 7", n)
	}
}

// A success clears the user name's count: failures before it do not add to
// the ones after it.
func TestRegulationSuccessClears(t *testing.T) {
	e, _ := regulated(t)
	c := e.client()
	for range 2 {
		for range 4 {
			expectStatus(t, apiTry(t, c, "alice", "wrong", nil), http.StatusUnauthorized)
		}
		expectStatus(t, apiTry(t, c, "alice", password, nil), http.StatusCreated)
	}
	// The IP's count is not cleared: 8 of its 20 are used. 12 more fail,
	// spread over names that stay below their own limit.
	for i := range 12 {
		expectStatus(t, apiTry(t, c, fmt.Sprint("user", i%3), "wrong", nil), http.StatusUnauthorized)
	}
	expectBlocked(t, apiTry(t, c, "bob", password, nil), "300")
}

// One client IP may fail 4 × MaxRetries times across any names; then every
// login from it is refused, a right one included.
func TestRegulationIP(t *testing.T) {
	e, cu := regulated(t)
	c := e.client()
	for i := range 20 {
		// Without a trusted proxy, X-Forwarded-For cannot dodge the ban.
		h := map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)}
		expectStatus(t, apiTry(t, c, fmt.Sprint("guess", i), "wrong", h), http.StatusUnauthorized)
	}
	expectBlocked(t, apiTry(t, c, "alice", password, nil), "300")
	if n := cu.calls.Load(); n != 20 {
		t.Errorf("password checks = %d, want 20", n)
	}
}

// Behind a trusted proxy the ban falls on the client X-Forwarded-For names,
// not on the proxy.
func TestRegulationIPBehindProxy(t *testing.T) {
	e, _ := regulated(t, func(o *server.Options) {
		p, err := authz.NewProxies([]string{"127.0.0.1/32", "::1/128"})
		if err != nil {
			t.Fatal(err)
		}
		o.Proxies = p
	})
	c := e.client()
	guesser := map[string]string{"X-Forwarded-For": "192.0.2.7"}
	for i := range 20 {
		expectStatus(t, apiTry(t, c, fmt.Sprint("guess", i), "wrong", guesser), http.StatusUnauthorized)
	}
	expectBlocked(t, apiTry(t, c, "alice", password, guesser), "300")
	expectStatus(t, apiTry(t, c, "alice", password, map[string]string{"X-Forwarded-For": "192.0.2.8"}), http.StatusCreated)
	// An IPv6 client counts by its /64: another address in it is banned too.
	v6 := func(host string) map[string]string {
		return map[string]string{"X-Forwarded-For": "2001:db8:1:2::" + host}
	}
	for i := range 20 {
		expectStatus(t, apiTry(t, c, fmt.Sprint("guess", i), "wrong", v6(fmt.Sprint(i+1))), http.StatusUnauthorized)
	}
	expectBlocked(t, apiTry(t, c, "alice", password, v6("ffff")), "300")
	expectStatus(t, apiTry(t, c, "alice", password, map[string]string{"X-Forwarded-For": "2001:db8:1:3::1"}), http.StatusCreated)
}

// A name that does not exist is limited like one that does, and its ban
// reads the same: the answer must not tell whether the user exists.
func TestRegulationUnknownUser(t *testing.T) {
	e, cu := regulated(t)
	c := e.client()
	var last [2]*response
	for i, user := range []string{"alice", "nobody"} {
		for range 5 {
			expectStatus(t, apiTry(t, c, user, "wrong", nil), http.StatusUnauthorized)
		}
		last[i] = apiTry(t, c, user, password, nil)
		expectBlocked(t, last[i], "300")
	}
	if string(last[0].body) != string(last[1].body) {
		t.Errorf("ban of a real user answers %s, of an unknown one %s", last[0].body, last[1].body)
	}
	if n := cu.calls.Load(); n != 10 {
		t.Errorf("password checks = %d, want 10", n)
	}
}

// The login form shows a message with 429 and the form again.
func TestRegulationForm(t *testing.T) {
	e, cu := regulated(t)
	c, _ := e.browser()
	for range 5 {
		expectStatus(t, postLogin(t, c, "alice", "wrong", "", loginForm(t, c, ""), nil), http.StatusUnauthorized)
	}
	r := postLogin(t, c, "alice", password, "", loginForm(t, c, ""), nil)
	expectStatus(t, r, http.StatusTooManyRequests)
	if got := r.Header.Get("Retry-After"); got != "300" {
		t.Errorf("Retry-After = %q, want 300", got)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want the HTML form", ct)
	}
	if !strings.Contains(string(r.body), "Too many failed sign-ins.") || formTokenRE.Find(r.body) == nil {
		t.Errorf("429 page lacks the message or the form: %s", r.body)
	}
	for _, ck := range r.Cookies() {
		if ck.Name == cookieName && ck.MaxAge >= 0 {
			t.Error("blocked form login set a session cookie")
		}
	}
	if n := cu.calls.Load(); n != 5 {
		t.Errorf("password checks = %d, want 5", n)
	}
	// The form and the API share the count.
	expectBlocked(t, apiTry(t, e.client(), "alice", password, nil), "300")
}

// MaxRetries 0 turns regulation off, even with a Limiter.
func TestRegulationOff(t *testing.T) {
	e, cu := regulated(t, func(o *server.Options) { o.Regulation.MaxRetries = 0 })
	c := e.client()
	for range 25 {
		expectStatus(t, apiTry(t, c, "alice", "wrong", nil), http.StatusUnauthorized)
	}
	expectStatus(t, apiTry(t, c, "alice", password, nil), http.StatusCreated)
	if n := cu.calls.Load(); n != 26 {
		t.Errorf("password checks = %d, want 26", n)
	}
}

// brokenLimiter fails the calls named in fail.
type brokenLimiter struct {
	session.Limiter
	fail string
}

var errStoreDown = errors.New("store down")

func (b *brokenLimiter) Blocked(ctx context.Context, key string) (time.Duration, error) {
	if b.fail == "Blocked" {
		return 0, errStoreDown
	}
	return b.Limiter.Blocked(ctx, key)
}

func (b *brokenLimiter) Count(ctx context.Context, key string) (int, error) {
	if b.fail == "Count" {
		return 0, errStoreDown
	}
	return b.Limiter.Count(ctx, key)
}

func (b *brokenLimiter) Hit(ctx context.Context, key string, window time.Duration) (int, error) {
	if b.fail == "Hit" || b.fail == "HitIP" && strings.HasPrefix(key, "ip:") {
		return 0, errStoreDown
	}
	return b.Limiter.Hit(ctx, key, window)
}

// A limiter that fails never waves a login through: when bans or counts
// cannot be read there is no password check, and a failure that cannot be
// counted is not answered 401.
func TestRegulationStoreDown(t *testing.T) {
	for _, tc := range []struct {
		fail      string
		pw        string
		wantCalls int64
	}{
		{"Blocked", password, 0},
		{"Count", password, 0},
		{"Hit", "wrong", 1},
		{"HitIP", "wrong", 1},
	} {
		t.Run(tc.fail, func(t *testing.T) {
			e, cu := regulated(t, func(o *server.Options) { o.Limiter = &brokenLimiter{Limiter: o.Limiter, fail: tc.fail} })
			r := apiTry(t, e.client(), "alice", tc.pw, nil)
			expectStatus(t, r, http.StatusServiceUnavailable)
			if strings.Contains(string(r.body), errStoreDown.Error()) {
				t.Errorf("503 body leaks the error: %s", r.body)
			}
			if n := cu.calls.Load(); n != tc.wantCalls {
				t.Errorf("password checks = %d, want %d", n, tc.wantCalls)
			}
		})
	}
}

func TestRegulationOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    envOption
	}{
		{"no limiter", func(o *server.Options) { o.Regulation = testRegulation }},
		{"no find time", func(o *server.Options) {
			o.Regulation, o.Limiter = testRegulation, o.Store.(session.Limiter)
			o.Regulation.FindTime = 0
		}},
		{"negative retries", func(o *server.Options) { o.Regulation.MaxRetries = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o server.Options
			newEnv(t, func(base *server.Options) { o = *base }) // valid options to spoil
			tc.f(&o)
			if _, err := server.New(o); err == nil {
				t.Errorf("server.New(%s) = nil error, want one", tc.name)
			}
		})
	}
}

// A name and an email are counted apart, even when they belong to one user:
// a shared count would tell a prober which email belongs to an existing
// user (a ban on one showing on the other). The IP limit caps the sum.
func TestRegulationNameAndEmailCountApart(t *testing.T) {
	e, _ := regulated(t)
	c := e.client()
	for i := range 5 {
		expectStatus(t, apiTry(t, c, "alice@example.test", fmt.Sprint("wrong", i), nil), http.StatusUnauthorized)
	}
	expectBlocked(t, apiTry(t, c, "alice@example.test", password, nil), "300")
	expectStatus(t, apiTry(t, c, "alice", password, nil), http.StatusCreated)
}

// gateUsers holds every password check until the test releases them, so
// that a burst of logins is really concurrent.
type gateUsers struct {
	server.Users
	entered chan struct{}
	release chan struct{}
}

func (g *gateUsers) Authenticate(login, password string) (users.User, error) {
	g.entered <- struct{}{}
	<-g.release
	return g.Users.Authenticate(login, password)
}

// A burst of concurrent guesses cannot outrun the ban: each takes a place
// before the password check, so at most MaxRetries checks run for one name,
// however many requests arrive together; the rest wait and meet the ban.
func TestRegulationConcurrentBurst(t *testing.T) {
	var gate *gateUsers
	e, _ := regulated(t, func(o *server.Options) {
		gate = &gateUsers{Users: o.Users, entered: make(chan struct{}, 64), release: make(chan struct{})}
		o.Users = gate
		o.LoginSlots = 64
	})
	const burst = 20
	results := make(chan int, burst)
	for i := range burst {
		go func() {
			results <- apiTry(t, e.client(), "alice", fmt.Sprint("wrong", i), nil).StatusCode
		}()
	}
	// Let the checks that got through start, then release them all.
	time.Sleep(300 * time.Millisecond)
	close(gate.release)
	counts := map[int]int{}
	for range burst {
		counts[<-results]++
	}
	if got := len(gate.entered); got != testRegulation.MaxRetries {
		t.Errorf("password checks in a burst of %d = %d, want %d", burst, got, testRegulation.MaxRetries)
	}
	if counts[http.StatusUnauthorized] != testRegulation.MaxRetries || counts[http.StatusTooManyRequests] != burst-testRegulation.MaxRetries {
		t.Errorf("answers %v, want %d×401 and the rest 429", counts, testRegulation.MaxRetries)
	}
	expectBlocked(t, apiTry(t, e.client(), "alice", password, nil), "300")
}

// Through the form, a person gets the form back with a message when the
// limiter cannot be asked, not the JSON API's error.
func TestRegulationStoreDownForm(t *testing.T) {
	e, cu := regulated(t, func(o *server.Options) { o.Limiter = &brokenLimiter{Limiter: o.Limiter, fail: "Blocked"} })
	c, _ := e.browser()
	r := postLogin(t, c, "alice", password, "", loginForm(t, c, ""), nil)
	expectStatus(t, r, http.StatusServiceUnavailable)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(r.body), "not possible right now") {
		t.Errorf("form answer: %s %q", ct, r.body)
	}
	if n := cu.calls.Load(); n != 0 {
		t.Errorf("password checks = %d, want 0", n)
	}
}
