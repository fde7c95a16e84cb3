package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sso/server"
	"github.com/example/sso/users"
)

// gatedUsers is the real directory behind a gate: a password check waits
// until the test lets it through, so the test controls how many are under
// way.
type gatedUsers struct {
	server.Users
	entered chan struct{}
	release chan struct{}
}

func (g *gatedUsers) Authenticate(login, password string) (users.User, error) {
	g.entered <- struct{}{}
	<-g.release
	return g.Users.Authenticate(login, password)
}

// Password checks take one of LoginSlots; a login that finds none free within
// LoginWait gets 503 with Retry-After instead of piling up argon2 work.
func TestLoginSlots(t *testing.T) {
	var gate *gatedUsers
	e := newEnv(t, func(o *server.Options) {
		gate = &gatedUsers{Users: o.Users, entered: make(chan struct{}, 1), release: make(chan struct{})}
		o.Users = gate
		o.LoginSlots = 1
		o.LoginWait = 200 * time.Millisecond
	})
	body := `{"username":"alice","password":"` + password + `"}`
	var wg sync.WaitGroup
	wg.Add(1)
	var first *response
	go func() {
		defer wg.Done()
		first = do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: body})
	}()
	<-gate.entered // the first login holds the only slot
	r := do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: body})
	expectStatus(t, r, http.StatusServiceUnavailable)
	if r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.body), `"busy"`) {
		t.Errorf("busy answer: Retry-After %q, body %s", r.Header.Get("Retry-After"), r.body)
	}
	close(gate.release)
	wg.Wait()
	expectStatus(t, first, http.StatusCreated)
	// The slot is free again.
	go func() { <-gate.entered }()
	expectStatus(t, do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: body}), http.StatusCreated)
}

// A login form body is a few fields; one padded past the limit is not read
// to the end and is refused, even with the right credentials in it.
func TestLoginFormBodyLimit(t *testing.T) {
	e := newEnv(t)
	post := func(pad int) *response {
		c, _ := e.browser()
		form := url.Values{"username": {"alice"}, "password": {password}, "form_token": {loginForm(t, c, "")}, "pad": {strings.Repeat("x", pad)}}
		return do(t, c, req{method: "POST", url: hub + "/login", body: form.Encode(), ctype: "application/x-www-form-urlencoded"})
	}
	expectStatus(t, post(1<<10), http.StatusSeeOther)
	expectStatus(t, post(100<<10), http.StatusForbidden)
}

// A user may hold at most MaxKeysPerUser API keys.
func TestMaxKeysPerUser(t *testing.T) {
	e := newEnv(t, func(o *server.Options) { o.MaxKeysPerUser = 2 })
	c, _ := e.browser()
	s := e.apiLogin(t, c, "alice")
	h := map[string]string{"X-CSRF-Token": s.CSRFToken}
	for i := range 2 {
		r := do(t, c, req{method: "POST", url: hub + "/api/keys", body: `{"name":"k"}`, headers: h})
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("key %d: status %d", i, r.StatusCode)
		}
	}
	r := do(t, c, req{method: "POST", url: hub + "/api/keys", body: `{"name":"k"}`, headers: h})
	expectStatus(t, r, http.StatusConflict)
	if !strings.Contains(string(r.body), "too_many_keys") {
		t.Errorf("body %s, want too_many_keys", r.body)
	}
}

// A burst of concurrent key creations cannot overshoot MaxKeysPerUser.
func TestMaxKeysPerUserBurst(t *testing.T) {
	e := newEnv(t, func(o *server.Options) { o.MaxKeysPerUser = 3 })
	c, _ := e.browser()
	s := e.apiLogin(t, c, "alice")
	h := map[string]string{"X-CSRF-Token": s.CSRFToken}
	var wg sync.WaitGroup
	codes := make(chan int, 12)
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- do(t, c, req{method: "POST", url: hub + "/api/keys", body: `{"name":"k"}`, headers: h}).StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	created := 0
	for code := range codes {
		if code == http.StatusCreated {
			created++
		}
	}
	if created != 3 {
		t.Errorf("created %d keys in a burst, want 3", created)
	}
}
