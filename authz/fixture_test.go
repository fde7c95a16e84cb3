package authz_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/sso/apikey"
	"github.com/example/sso/authz"
	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/cors"
	"github.com/example/sso/internal/testusers"
	"github.com/example/sso/session"
	"github.com/example/sso/session/memstore"
	"github.com/example/sso/ticket"
	"github.com/example/sso/token"
	"github.com/example/sso/users"
)

const (
	loginURL   = "https://login.example.test"
	cookieName = "sso_session"
	allowed    = "https://app.example.test"
	password   = "correct horse"
	trustedIP  = "127.0.0.1:40000"  // a trusted proxy (loopback)
	strangerIP = "192.0.2.10:40000" // anyone else
)

// clock is a settable time source shared by the store and the authenticator.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingStore is a real store (memstore, redisstore) that counts the calls
// the tests care about: a forged cookie must cost no Get, and /auth must
// write last-seen at most once per refresh interval.
type countingStore struct {
	session.Store
	session.KeyStore
	gets, touches, keyGets atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, id string) (*session.Session, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, id)
}

func (s *countingStore) Touch(ctx context.Context, id string, now time.Time) error {
	s.touches.Add(1)
	return s.Store.Touch(ctx, id, now)
}

func (s *countingStore) KeyByHash(ctx context.Context, hash string) (*session.APIKey, error) {
	s.keyGets.Add(1)
	return s.KeyStore.KeyByHash(ctx, hash)
}

type backend interface {
	session.Store
	session.KeyStore
}

type fixture struct {
	clock   *clock
	store   *countingStore
	codec   *ticket.Codec
	keys    [][]byte
	tokens  *token.Issuer
	cookies *cookiedomain.Policy
	auth    *authz.Authenticator
	h       *authz.Handler
}

func key(b byte) []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func directory(t testing.TB) *users.Directory {
	t.Helper()
	return testusers.Directory(t, password)
}

// newFixture builds an Authenticator and Handler over mem, or over a new
// memstore on the fixture's clock when mem is nil.
func newFixture(t testing.TB, mem backend) *fixture {
	t.Helper()
	f := &fixture{clock: newClock(), keys: [][]byte{key(1)}}
	if mem == nil {
		ms := memstore.New(memstore.Options{Now: f.clock.Now, SweepInterval: -1})
		t.Cleanup(func() { _ = ms.Close() })
		mem = ms
	}
	f.store = &countingStore{Store: mem, KeyStore: mem}
	var err error
	f.cookies, err = cookiedomain.New(cookiedomain.Config{Domains: []string{"example.test"}, Name: cookieName, SameSite: http.SameSiteLaxMode, Secure: true})
	if err != nil {
		t.Fatalf("cookiedomain.New: %v", err)
	}
	f.codec, err = ticket.New(cookieName, f.keys)
	if err != nil {
		t.Fatalf("ticket.New: %v", err)
	}
	f.tokens, err = token.New(token.Config{Issuer: loginURL, Audience: "example.test", Keys: token.DeriveKeys(f.keys)})
	if err != nil {
		t.Fatalf("token.New: %v", err)
	}
	policy, err := cors.New(cors.Config{Origins: cors.DefaultOrigins([]string{"example.test"})})
	if err != nil {
		t.Fatalf("cors.New: %v", err)
	}
	proxies, err := authz.NewProxies([]string{"127.0.0.0/8", "::1"})
	if err != nil {
		t.Fatalf("NewProxies: %v", err)
	}
	f.auth = &authz.Authenticator{
		Cookies:  f.cookies,
		Codec:    f.codec,
		Sessions: f.store,
		Keys:     f.store,
		Users:    directory(t),
		Tokens:   f.tokens,
		Refresh:  time.Minute,
		KeyTouch: time.Minute,
		Now:      f.clock.Now,
		OnTouchError: func(err error) {
			t.Errorf("OnTouchError(%v): no touch should fail here", err)
		},
	}
	f.h = &authz.Handler{
		Auth:     f.auth,
		CORS:     policy,
		Proxies:  proxies,
		LoginURL: loginURL,
		Log:      slog.New(slog.DiscardHandler),
	}
	return f
}

// login stores a session for user (as the login hub would) and returns the
// signed cookie value.
func (f *fixture) login(t testing.TB, user string) string {
	t.Helper()
	u, ok := directory(t).Lookup(user)
	if !ok {
		t.Fatalf("no user %q", user)
	}
	raw, err := ticket.NewID()
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	s := &session.Session{
		ID: ticket.Hash(raw), User: u.Name, Email: u.Email, Groups: u.Groups, Domain: "example.test",
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(24 * time.Hour), Idle: time.Hour, CSRFToken: "csrf-" + user,
		// As a password login records it: /auth then writes X-Auth-AMR.
		Factors: []session.Factor{{Method: "pwd", At: now}},
	}
	if err := f.store.Create(context.Background(), s); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return f.codec.Encode(raw)
}

// apiKey stores an API key for user and returns it.
func (f *fixture) apiKey(t testing.TB, user string) string {
	t.Helper()
	k, id, hash, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateKey(context.Background(), &session.APIKey{ID: id, Hash: hash, User: user, Name: "test", CreatedAt: f.clock.Now()}); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return k
}

// jwt logs user in and returns a client access token minted from that
// session, as POST /api/token would.
func (f *fixture) jwt(t *testing.T, user string) string {
	t.Helper()
	return f.jwtFor(t, user, token.Claims{SessionID: f.sessionID(t, f.login(t, user))})
}

// jwtFor mints a client access token for user from the source src names
// (SessionID or KeyHash).
func (f *fixture) jwtFor(t *testing.T, user string, src token.Claims) string {
	t.Helper()
	u, _ := directory(t).Lookup(user)
	src.Subject, src.Email, src.Groups = user, u.Email, u.Groups
	tok, err := f.tokens.IssueAccess(src, f.clock.Now())
	if err != nil {
		t.Fatalf("IssueAccess: %v", err)
	}
	return tok
}

// sessionID is the store id (session.Session.ID) of a cookie value.
func (f *fixture) sessionID(t testing.TB, value string) string {
	t.Helper()
	raw, err := f.codec.Decode(value)
	if err != nil {
		t.Fatal(err)
	}
	return ticket.Hash(raw)
}

// upstreamURL is a request to an upstream as nginx names it in
// X-Original-URL; upstreamOrigin is the audience of the upstream token /auth
// mints for it.
const (
	upstreamURL    = "https://app.example.test/orders?id=7"
	upstreamOrigin = "https://app.example.test"
)

// forUpstream sets the X-Original-URL nginx sends for a request to u.
func forUpstream(r *http.Request, u string) *http.Request {
	r.Header.Set("X-Original-URL", u)
	return r
}

// authRequest is GET /auth as nginx sends it, from a trusted proxy.
func authRequest(target string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://sso.internal"+target, nil)
	r.RemoteAddr = trustedIP
	return r
}

func withCookie(r *http.Request, value string) *http.Request {
	r.AddCookie(&http.Cookie{Name: cookieName, Value: value})
	return r
}

func (f *fixture) serve(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}
