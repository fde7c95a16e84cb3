package login_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/internal/testusers"
	"github.com/example/sso/login"
	"github.com/example/sso/session"
	"github.com/example/sso/session/memstore"
	"github.com/example/sso/ticket"
	"github.com/example/sso/users"
)

const password = "correct horse battery staple"

var reg = login.Regulation{MaxRetries: 3, FindTime: 2 * time.Minute, BanTime: 5 * time.Minute}

type fixture struct {
	now    time.Time
	store  *memstore.Store
	events []login.Event
	mu     sync.Mutex
	p      *login.Pipeline
}

func (f *fixture) kinds() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.events {
		out = append(out, string(e.Kind))
	}
	return out
}

// newFixture builds a pipeline over a memstore and the shared test users;
// edit changes its options.
func newFixture(t *testing.T, edit func(*login.Options)) *fixture {
	t.Helper()
	f := &fixture{now: time.Now().Truncate(time.Second)}
	f.store = memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { _ = f.store.Close() })
	cookies, err := cookiedomain.New(cookiedomain.Config{Domains: []string{"example.test"}, Name: "sso_session", SameSite: http.SameSiteLaxMode, Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	codec, err := ticket.New("sso_session", [][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	o := login.Options{
		Cookies:     cookies,
		Codec:       codec,
		Sessions:    f.store,
		Password:    login.Password{Checker: login.Users(testusers.Directory(t, password))},
		Secret:      []byte("secret secret secret secret secret"),
		SessionIdle: time.Hour,
		SessionMax:  24 * time.Hour,
		Regulation:  reg,
		Limiter:     f.store,
		Wait:        2 * time.Second,
		Now:         func() time.Time { return f.now },
		Observer: login.ObserverFunc(func(_ context.Context, e login.Event) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.events = append(f.events, e)
		}),
	}
	if edit != nil {
		edit(&o)
	}
	f.p, err = login.New(o)
	if err != nil {
		t.Fatalf("login.New: %v", err)
	}
	return f
}

var req = login.Request{ClientIP: "192.0.2.1", UserAgent: "curl/8.5.0", Host: "login.example.test", Via: "api"}

func TestPassword(t *testing.T) {
	tests := []struct {
		name, login, password string
		wantErr               error
		wantUser              string
	}{
		{"by name", "alice", password, nil, "alice"},
		{"by email", "alice@example.test", password, nil, "alice"},
		{"wrong password", "alice", "wrong", users.ErrInvalidCredentials, ""},
		{"unknown user", "nobody", password, users.ErrInvalidCredentials, ""},
		{"empty", "", "", users.ErrInvalidCredentials, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			res, err := f.p.Password(context.Background(), req, tc.login, tc.password)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Password = %v, want %v", err, tc.wantErr)
			}
			// Every event names the client as the audit log shows it.
			for _, e := range f.events {
				if e.ClientIP != req.ClientIP || e.UserAgent != "curl 8" || e.Via != req.Via {
					t.Errorf("event %s: client %q, user agent %q, via %q; want %q, \"curl 8\", %q", e.Kind, e.ClientIP, e.UserAgent, e.Via, req.ClientIP, req.Via)
				}
			}
			if err != nil {
				if len(res.Cookies) != 0 || !slices.Equal(f.kinds(), []string{"failed"}) {
					t.Errorf("failure: cookies %v, events %q; want none and [failed]", res.Cookies, f.kinds())
				}
				return
			}
			id := res.Identity
			if id.User != tc.wantUser || id.Email != "alice@example.test" || !slices.Equal(id.Groups, []string{"admins", "dev"}) || id.Source != "" {
				t.Errorf("Identity = %+v, want alice from the users file", id)
			}
			if len(res.Factors) != 1 || res.Factors[0].Method != "pwd" || !res.Factors[0].At.Equal(f.now) {
				t.Errorf("Factors = %v, want pwd at %v", res.Factors, f.now)
			}
			if len(res.Cookies) != 1 || res.Cookies[0].Name != "__Host-sso_device" || !res.Cookies[0].Secure || !res.Cookies[0].HttpOnly || res.Cookies[0].Domain != "" {
				t.Errorf("Cookies = %v, want one host-only __Host- device cookie", res.Cookies)
			}
			if !slices.Equal(f.kinds(), []string{"succeeded"}) {
				t.Errorf("events %q, want [succeeded]", f.kinds())
			}
		})
	}
}

// MaxRetries failures lock the login's untrusted clients: the right
// password is refused without a check, except from a device that signed
// in before.
func TestRegulation(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	ok, err := f.p.Password(ctx, req, "alice", password)
	if err != nil {
		t.Fatal(err)
	}
	for range reg.MaxRetries {
		if _, err := f.p.Password(ctx, req, "Alice", "wrong"); !errors.Is(err, users.ErrInvalidCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	_, err = f.p.Password(ctx, req, "alice", password)
	var be *login.BlockedError
	if !errors.As(err, &be) || be.Wait <= 0 || be.Wait > reg.BanTime || be.RetryAfter() != 300 {
		t.Fatalf("after %d failures: Password = %v, want blocked for %v", reg.MaxRetries, err, reg.BanTime)
	}
	// The owner's device.
	withDevice := req
	withDevice.DeviceCookies = []string{"garbage", ok.Cookies[0].Value}
	if _, err := f.p.Password(ctx, withDevice, "alice", password); err != nil {
		t.Errorf("from the owner's device: Password = %v, want success", err)
	}
	// A device cookie of alice's does not vouch for bob.
	if _, err := f.p.Password(ctx, withDevice, "bob", "wrong"); !errors.Is(err, users.ErrInvalidCredentials) {
		t.Errorf("bob with alice's device: %v", err)
	}
	want := []string{"succeeded", "failed", "failed", "locked", "failed", "blocked", "succeeded", "failed"}
	if got := f.kinds(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

// brokenChecker is a password backend that is down.
type brokenChecker struct{}

func (brokenChecker) Authenticate(context.Context, string, string) (users.User, error) {
	return users.User{}, errors.New("ldap: connection refused")
}

// An outage of the checker is no failure: it is not counted, nothing is
// minted, the caller gets the error.
func TestCheckerOutageNotCounted(t *testing.T) {
	f := newFixture(t, func(o *login.Options) { o.Password = login.Password{Checker: brokenChecker{}, Source: "ldap"} })
	for range reg.MaxRetries + 1 {
		_, err := f.p.Password(context.Background(), req, "alice", password)
		if err == nil || errors.Is(err, users.ErrInvalidCredentials) {
			t.Fatalf("Password with the backend down = %v, want the outage", err)
		}
	}
	if len(f.kinds()) != 0 {
		t.Errorf("events %q, want none", f.kinds())
	}
	if n, _ := f.store.Count(context.Background(), "ip:192.0.2.1"); n != 0 {
		t.Errorf("the address's failure count = %d, want 0", n)
	}
}

// gate holds every check until released.
type gate struct {
	entered chan struct{}
	release chan struct{}
}

func (g *gate) Authenticate(ctx context.Context, name, pw string) (users.User, error) {
	g.entered <- struct{}{}
	<-g.release
	return users.User{Name: name}, nil
}

func (g *gate) CheckMemory() int64 { return 64 << 20 }

// Checks whose memory the budget cannot hold wait, and are refused busy
// when none frees up within Wait.
func TestMemoryBudgetBusy(t *testing.T) {
	g := &gate{entered: make(chan struct{}, 2), release: make(chan struct{})}
	f := newFixture(t, func(o *login.Options) {
		o.Password = login.Password{Checker: g}
		o.Memory = 100 << 20 // one 64 MiB check at a time
		o.Wait = 100 * time.Millisecond
		o.Regulation = login.Regulation{}
	})
	done := make(chan error, 1)
	go func() {
		_, err := f.p.Password(context.Background(), req, "alice", password)
		done <- err
	}()
	<-g.entered
	if _, err := f.p.Password(context.Background(), req, "bob", password); !errors.Is(err, login.ErrBusy) {
		t.Errorf("second check while the budget is taken: %v, want ErrBusy", err)
	}
	close(g.release)
	if err := <-done; err != nil {
		t.Errorf("first check: %v", err)
	}
	if got := f.kinds(); !slices.Equal(got, []string{"busy", "succeeded"}) {
		t.Errorf("events %q, want [busy succeeded]", got)
	}
}

func TestMint(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, nil)
	res, err := f.p.Password(ctx, req, "alice", password)
	if err != nil {
		t.Fatal(err)
	}
	first, err := f.p.Mint(ctx, res.Identity, res.Factors, req)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	s := first.Session
	if s.User != "alice" || s.Domain != "example.test" || s.IP != "192.0.2.1" || s.UserAgent != session.UserAgentSummary(req.UserAgent) ||
		!s.ExpiresAt.Equal(f.now.Add(24*time.Hour)) || s.Idle != time.Hour || s.CSRFToken == "" || !slices.Equal(s.AMR(), []string{"pwd"}) {
		t.Errorf("minted session %+v", s)
	}
	if e := f.events[len(f.events)-1]; e.Kind != login.EventMinted || e.UserAgent != s.UserAgent || e.Session == nil || e.Session.ID != s.ID {
		t.Errorf("last event %+v, want minted with the session and its user agent", e)
	}
	if first.Cookie.Name != "sso_session" || first.Cookie.Value != first.Value || first.Cookie.Domain != "example.test" {
		t.Errorf("cookie %v, want sso_session for example.test carrying Value", first.Cookie)
	}
	if got, err := f.store.Get(ctx, s.ID); err != nil || got.CSRFToken != s.CSRFToken {
		t.Fatalf("stored session: %v, %v", got, err)
	}

	// A second login replaces the browser's session.
	again := req
	again.Replace = []string{s.ID}
	second, err := f.p.Mint(ctx, res.Identity, res.Factors, again)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Get(ctx, s.ID); !errors.Is(err, session.ErrNotFound) || second.Session.ID == s.ID {
		t.Errorf("replaced session still there (%v) or id reused", err)
	}

	// A federated identity keeps its source and snapshot.
	fed := login.Identity{User: "carol", Email: "carol@idp.test", Groups: []string{"staff"}, Source: "oidc:corp"}
	m, err := f.p.Mint(ctx, fed, []session.Factor{login.Factor(login.Federated{Method: login.AMROIDC}, f.now)}, req)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.store.Get(ctx, m.Session.ID); got == nil || got.Source != "oidc:corp" || !slices.Equal(got.AMR(), []string{"oidc"}) || got.Email != "carol@idp.test" {
		t.Errorf("federated session read back as %+v", got)
	}

	bad := []struct {
		name    string
		id      login.Identity
		factors []session.Factor
		host    string
		hostErr bool
	}{
		{"no factor", res.Identity, nil, req.Host, false},
		{"no user", login.Identity{}, res.Factors, req.Host, false},
		{"host under no cookie domain", res.Identity, res.Factors, "login.other.test", true},
	}
	for _, tc := range bad {
		r := req
		r.Host = tc.host
		_, err := f.p.Mint(ctx, tc.id, tc.factors, r)
		var he *login.HostError
		if err == nil || errors.As(err, &he) != tc.hostErr {
			t.Errorf("%s: Mint = %v, want an error (host error: %t)", tc.name, err, tc.hostErr)
		}
	}
	if n, _ := f.store.List(ctx, "alice"); len(n) != 1 {
		t.Errorf("alice holds %d sessions, want 1", len(n))
	}
}

// downStore is a session store whose Create fails.
type downStore struct{ *memstore.Store }

func (downStore) Create(context.Context, *session.Session) error {
	return errors.New("redis: i/o timeout")
}

func TestMintStoreDown(t *testing.T) {
	f := newFixture(t, func(o *login.Options) { o.Sessions = downStore{o.Sessions.(*memstore.Store)} })
	id := login.Identity{User: "alice"}
	if _, err := f.p.Mint(context.Background(), id, []session.Factor{{Method: "pwd", At: f.now}}, req); err == nil {
		t.Fatal("Mint with the store down succeeded")
	}
	if slices.Contains(f.kinds(), "minted") {
		t.Error("a minted event for a session that was not created")
	}
}

func TestNewRefuses(t *testing.T) {
	tests := map[string]func(*login.Options){
		"short secret":       func(o *login.Options) { o.Secret = []byte("short") },
		"no store":           func(o *login.Options) { o.Sessions = nil },
		"no idle":            func(o *login.Options) { o.SessionIdle = 0 },
		"negative retries":   func(o *login.Options) { o.Regulation.MaxRetries = -1 },
		"regulation limiter": func(o *login.Options) { o.Limiter = nil },
		"regulation times":   func(o *login.Options) { o.Regulation.BanTime = 0 },
	}
	for name, edit := range tests {
		t.Run(name, func(t *testing.T) {
			o := baseOptions(t)
			edit(&o)
			if _, err := login.New(o); err == nil {
				t.Errorf("New accepted options with %s", name)
			}
		})
	}
}

func baseOptions(t *testing.T) login.Options {
	t.Helper()
	var o login.Options
	newFixture(t, func(x *login.Options) { o = *x })
	return o
}
