package server_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sso/authz"
	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/server"
)

const deviceCookie = "sso_device"

// behindProxy trusts loopback, so that X-Forwarded-For names the client.
func behindProxy(t *testing.T) envOption {
	return func(o *server.Options) {
		p, err := authz.NewProxies([]string{"127.0.0.0/8"})
		if err != nil {
			t.Fatal(err)
		}
		o.Proxies = p
	}
}

func from(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }

// The owner cannot be locked out: 60 wrong passwords for alice from one
// address lock her untrusted clients (and that address), yet her own
// browser, holding the device cookie of an earlier login, signs in at once
// from another address; a new client without one is refused with
// Retry-After. The log says what happened.
func TestRegulationOwnerNotLockedOut(t *testing.T) {
	var logs testproc.Buffer
	e, cu := regulated(t, behindProxy(t), func(o *server.Options) { o.Log = slog.New(slog.NewTextHandler(&logs, nil)) })
	owner, jar := e.browser()
	expectStatus(t, apiTry(t, owner, "alice", password, from("198.51.100.7")), http.StatusCreated)
	if cs := jar.Cookies(mustURL(t, hub+"/")); !hasCookie(cs, deviceCookie, "") {
		t.Fatalf("no device cookie after a successful API login: %v", cs)
	}

	attacker := e.client()
	counts := map[int]int{}
	for i := range 60 {
		counts[apiTry(t, attacker, "alice", fmt.Sprint("guess", i), from("203.0.113.9")).StatusCode]++
	}
	if counts[http.StatusUnauthorized] != testRegulation.MaxRetries || counts[http.StatusTooManyRequests] != 60-testRegulation.MaxRetries {
		t.Errorf("attack answers %v, want %d×401 then 429", counts, testRegulation.MaxRetries)
	}
	checks := cu.calls.Load()

	r := apiTry(t, owner, "alice", password, from("198.51.100.7"))
	expectStatus(t, r, http.StatusCreated)
	stranger := e.client()
	r = apiTry(t, stranger, "alice", password, from("192.0.2.44"))
	expectBlocked(t, r, "300")
	if n := cu.calls.Load() - checks; n != 1 {
		t.Errorf("password checks after the attack = %d, want 1 (the owner's)", n)
	}
	if !strings.Contains(logs.String(), "locked for 5m: 5 failures in 2m from untrusted clients") {
		t.Errorf("log lacks the lock line:\n%s", logs.String())
	}
	// The device vouches for alice only: bob, untouched by the attack, is
	// fine from the owner's browser; and alice's device does not make bob's
	// failures count against it.
	expectStatus(t, apiTry(t, owner, "bob", password, from("198.51.100.7")), http.StatusCreated)
}

// Failures brought with a valid device cookie count against that device
// only: five of them lock that browser, not the user's other clients.
func TestRegulationDeviceLockedAlone(t *testing.T) {
	e, _ := regulated(t, behindProxy(t))
	dev, _ := e.browser()
	expectStatus(t, apiTry(t, dev, "alice", password, from("198.51.100.7")), http.StatusCreated)
	for i := range 5 {
		expectStatus(t, apiTry(t, dev, "alice", fmt.Sprint("typo", i), from("198.51.100.7")), http.StatusUnauthorized)
	}
	expectBlocked(t, apiTry(t, dev, "alice", password, from("198.51.100.7")), "300")
	// Another client of alice's, untrusted, from the same address: its
	// bucket saw no failure.
	expectStatus(t, apiTry(t, e.client(), "alice", password, from("198.51.100.7")), http.StatusCreated)
}

// A device cookie is valid only as the server made it, for the logins it
// names (name and email of one user), and host-bound (__Host-) when Secure.
func TestDeviceCookie(t *testing.T) {
	e, _ := regulated(t, behindProxy(t))
	c, jar := e.browser()
	expectStatus(t, apiTry(t, c, "alice", password, nil), http.StatusCreated)
	var value string
	for _, ck := range jar.Cookies(mustURL(t, hub+"/")) {
		if ck.Name == deviceCookie {
			value = ck.Value
		}
	}
	lock := func(login string) {
		for i := range 5 {
			apiTry(t, e.client(), login, fmt.Sprint("x", i), from(fmt.Sprintf("192.0.2.%d", 10+i)))
		}
	}
	lock("alice@example.test") // alice's email's untrusted clients
	lock("alice")
	withDevice := func(v string) map[string]string {
		return map[string]string{"Cookie": deviceCookie + "=" + v, "X-Forwarded-For": "198.51.100.7"}
	}
	cl := e.client()
	expectStatus(t, apiTry(t, cl, "alice@example.test", password, withDevice(value)), http.StatusCreated)
	expectStatus(t, apiTry(t, cl, "alice", password, withDevice(value)), http.StatusCreated)
	parts := strings.Split(value, ".")
	tampered := slices.Clone(parts)
	tampered[2] = strings.Repeat("A", len(tampered[2])) // the MAC for "alice"
	expectBlocked(t, apiTry(t, cl, "alice", password, withDevice(strings.Join(tampered, "."))), "300")
	parts[1] = "9999999999"
	expectBlocked(t, apiTry(t, cl, "alice", password, withDevice(strings.Join(parts, "."))), "300")

	secure, err := cookiedomain.New(cookiedomain.Config{Domains: []string{"example.test"}, Name: cookieName, SameSite: http.SameSiteLaxMode, Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := regulated(t, func(o *server.Options) { o.Cookies = secure })
	r := apiTry(t, e2.client(), "alice", password, nil)
	expectStatus(t, r, http.StatusCreated)
	ck := r.setCookie(t, "__Host-sso_device")
	if !ck.Secure || ck.Domain != "" || ck.Path != "/" || !ck.HttpOnly || ck.MaxAge < 300*24*3600 {
		t.Errorf("device cookie %q: want __Host-, Secure, HttpOnly, no Domain, Path=/, long-lived", r.Header.Values("Set-Cookie"))
	}
}

// Only real failures count: eight correct logins of one user at once,
// three times over, all succeed (a CI job, a service account, make bench).
func TestRegulationParallelCorrectLogins(t *testing.T) {
	e, _ := regulated(t)
	for round := range 3 {
		var wg sync.WaitGroup
		codes := make([]int, 8)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = apiTry(t, e.client(), "alice", password, nil).StatusCode
			}()
		}
		wg.Wait()
		for i, code := range codes {
			if code != http.StatusCreated {
				t.Errorf("round %d, login %d = %d, want 201", round, i, code)
			}
		}
	}
}

// memoryUsers reports a costly hash (CheckMemory) and holds every check
// until released, so that the test sees how many run at once.
type memoryUsers struct {
	gateUsers
	perCheck int64
}

func (m *memoryUsers) CheckMemory() int64 { return m.perCheck }

// A flood of valid-account logins takes at most SSO_LOGIN_MEMORY: with
// 64 MiB hashes and a 128 MiB budget two checks run at once, the others
// wait; /auth is never among the waiters.
func TestLoginMemoryBudget(t *testing.T) {
	var mu *memoryUsers
	e := newEnv(t, func(o *server.Options) {
		mu = &memoryUsers{gateUsers: gateUsers{Users: o.Users, entered: make(chan struct{}, 64), release: make(chan struct{})}, perCheck: 64 << 20}
		o.Users = mu
		o.LoginMemory = 128 << 20
		o.LoginSlots = 16
	})
	// A session to ask /auth with, made before the flood.
	close(mu.release)
	s := e.apiLogin(t, e.client(), "bob")
	<-mu.entered
	mu.release = make(chan struct{})

	const flood = 6
	results := make(chan int, flood)
	for range flood {
		go func() { results <- apiTry(t, e.client(), "alice", password, nil).StatusCode }()
	}
	time.Sleep(300 * time.Millisecond)
	if got := len(mu.entered); got != 2 {
		t.Errorf("password checks running under a 128 MiB budget of 64 MiB checks = %d, want 2", got)
	}
	if code, user := e.authWithCookie(t, s.Session.Value); code != http.StatusOK || user != "bob" {
		t.Errorf("/auth during the flood = %d %q, want 200 bob", code, user)
	}
	close(mu.release)
	for range flood {
		if code := <-results; code != http.StatusCreated {
			t.Errorf("login in the flood = %d, want 201", code)
		}
	}
}

// Without __Host- (plain HTTP), a sibling's device cookie sent first does
// not hide the owner's (outside review).
func TestDeviceCookieCopies(t *testing.T) {
	e, _ := regulated(t, behindProxy(t))
	owner, ownerJar := e.browser()
	expectStatus(t, apiTry(t, owner, "alice", password, nil), http.StatusCreated)
	mallory, malJar := e.browser()
	expectStatus(t, apiTry(t, mallory, "bob", password, nil), http.StatusCreated)
	value := func(jar interface {
		Cookies(*url.URL) []*http.Cookie
	}) string {
		for _, ck := range jar.Cookies(mustURL(t, hub+"/")) {
			if ck.Name == deviceCookie {
				return ck.Value
			}
		}
		t.Fatal("no device cookie")
		return ""
	}
	for i := range 5 {
		apiTry(t, e.client(), "alice", fmt.Sprint("x", i), from(fmt.Sprintf("192.0.2.%d", 10+i)))
	}
	h := map[string]string{"Cookie": deviceCookie + "=" + value(malJar) + "; " + deviceCookie + "=" + value(ownerJar)}
	expectStatus(t, apiTry(t, e.client(), "alice", password, h), http.StatusCreated)
}
