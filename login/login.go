package login

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/session"
	"github.com/example/sso/ticket"
	"github.com/example/sso/users"
)

// amr values of the methods this package knows (RFC 8176 where one fits).
const (
	AMRPassword = "pwd"  // a password checked here (users file, later LDAP)
	AMROIDC     = "oidc" // an upstream OIDC provider's login
)

// Identity is who a login proved someone to be.
type Identity struct {
	User   string
	Email  string
	Groups []string
	// Source is "" for the users file; any other value ("ldap",
	// "oidc:<provider>") marks a federated identity, whose Email and
	// Groups the session keeps as a snapshot (session.Session.Source).
	Source string
}

// Method is a way to prove an identity; its AMR is what a session it
// helped establish records (session.Factor.Method).
type Method interface {
	AMR() string
}

// PasswordChecker checks a login (name or email) and password. It returns
// users.ErrInvalidCredentials (possibly wrapped) for wrong credentials, an
// unknown login or a disabled user alike; any other error is an outage of
// its backend, which is never counted as a failure and never yields a
// session. users.File and users.Directory fit through Users.
type PasswordChecker interface {
	Authenticate(ctx context.Context, login, password string) (users.User, error)
}

// MemoryCoster is implemented by checkers whose checks take memory the
// pipeline should budget (argon2id): the most one check takes, in bytes.
type MemoryCoster interface {
	CheckMemory() int64
}

// Password is the password method: a checker and the Source of the
// identities it vouches for ("" for the users file, "ldap", …).
type Password struct {
	Checker PasswordChecker
	Source  string
}

// AMR implements Method.
func (Password) AMR() string { return AMRPassword }

// Federated is a method whose identity was proved elsewhere (an upstream
// OIDC provider); the adapter that ran it calls Mint directly.
type Federated struct{ Method string }

// AMR implements Method.
func (f Federated) AMR() string { return f.Method }

// Factor records that m was passed at at.
func Factor(m Method, at time.Time) session.Factor {
	return session.Factor{Method: m.AMR(), At: at}
}

// Users adapts what has the users file's Authenticate (users.File,
// users.Directory, or a wrapper of them) to a PasswordChecker. A context
// already done is not checked: nobody waits for the answer. CheckMemory is
// passed on when u has it.
func Users(u interface {
	Authenticate(login, password string) (users.User, error)
}) PasswordChecker {
	return usersChecker{u}
}

type usersChecker struct {
	u interface {
		Authenticate(login, password string) (users.User, error)
	}
}

func (c usersChecker) Authenticate(ctx context.Context, login, password string) (users.User, error) {
	if err := ctx.Err(); err != nil {
		return users.User{}, fmt.Errorf("login: password check: %w", err)
	}
	return c.u.Authenticate(login, password)
}

func (c usersChecker) CheckMemory() int64 {
	if m, ok := c.u.(MemoryCoster); ok {
		return m.CheckMemory()
	}
	return 0
}

// Request is what the pipeline needs to know of the HTTP request a login
// came in.
type Request struct {
	// ClientIP is the client's address as far as trusted proxies say.
	ClientIP string
	// UserAgent is the raw User-Agent header (the session keeps a summary).
	UserAgent string
	// Host is the host the browser addressed (X-Forwarded-Host only from a
	// trusted proxy): it picks the cookie domain.
	Host string
	// DeviceCookies are the values of every device cookie (DeviceCookieName)
	// the request carries, in order; a few at most are looked at.
	DeviceCookies []string
	// Replace are the ids of sessions the browser held that the new one
	// replaces: Mint deletes them first, so a login never reuses an id the
	// browser brought. The adapter picks them (one user's only).
	Replace []string
	// Via names the adapter for logs and events: "form", "api", "oidc".
	Via string
}

// Result is the outcome of a first factor.
type Result struct {
	Identity Identity
	// Factors passed so far, for Mint (or a further step).
	Factors []session.Factor
	// Cookies to set on the answer whatever comes next (the device cookie).
	Cookies []*http.Cookie
}

// Minted is a session Mint created.
type Minted struct {
	Session *session.Session
	// Value is the signed cookie value (usable from any other process).
	Value string
	// Cookie carries Value for the request's cookie domain.
	Cookie *http.Cookie
}

// Options are what a Pipeline is built from.
type Options struct {
	Cookies  *cookiedomain.Policy
	Codec    *ticket.Codec
	Sessions session.Store
	// Password is the password method; nil Checker: Password refuses.
	Password Password
	// Secret (at least 32 bytes) keys the limiter's user keys and the
	// device cookies; the same secret gives the same keys across restarts
	// and instances.
	Secret []byte

	SessionIdle, SessionMax time.Duration

	// Regulation throttles failed logins; zero MaxRetries: off.
	Regulation Regulation
	// Limiter keeps Regulation's counts and bans; required when
	// Regulation.MaxRetries is positive.
	Limiter session.Limiter

	// Memory is the budget of the password checks under way, in bytes:
	// each takes what the costliest hash needs (MemoryCoster). Zero: 256 MiB.
	Memory int64
	// Slots bounds how many checks run at once. Zero: twice GOMAXPROCS.
	Slots int
	// Wait is how long a login waits for a slot or a reservation before
	// ErrBusy. Zero: 3s.
	Wait time.Duration

	// Second is the second step (second.go); zero: none.
	Second Second

	// Observer is told of every attempt's outcome; nil: nobody.
	Observer Observer
	Log      *slog.Logger
	Now      func() time.Time
}

// Pipeline runs logins. It is safe for concurrent use.
type Pipeline struct {
	opt    Options
	budget *semaphore.Weighted
	// limiterKey MACs user names into limiter keys; deviceKey signs device
	// cookies.
	limiterKey, deviceKey []byte
	inflight              inflight
}

// New checks opt and builds the pipeline.
func New(opt Options) (*Pipeline, error) {
	switch {
	case opt.Cookies == nil, opt.Codec == nil, opt.Sessions == nil:
		return nil, errors.New("login: Cookies, Codec and Sessions are required")
	case opt.SessionIdle <= 0 || opt.SessionMax <= 0:
		return nil, errors.New("login: SessionIdle and SessionMax must be positive")
	case len(opt.Secret) < 32:
		return nil, errors.New("login: Secret must be at least 32 bytes")
	case opt.Regulation.MaxRetries < 0:
		return nil, errors.New("login: Regulation.MaxRetries must not be negative")
	case opt.Regulation.MaxRetries > 0 && (opt.Limiter == nil || opt.Regulation.FindTime <= 0 || opt.Regulation.BanTime <= 0):
		return nil, errors.New("login: Regulation needs a Limiter and positive FindTime and BanTime")
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Observer == nil {
		opt.Observer = ObserverFunc(func(context.Context, Event) {})
	}
	if opt.Slots <= 0 {
		opt.Slots = 2 * runtime.GOMAXPROCS(0)
	}
	if opt.Memory <= 0 {
		opt.Memory = 256 << 20
	}
	if opt.Wait <= 0 {
		opt.Wait = 3 * time.Second
	}
	return &Pipeline{
		opt:    opt,
		budget: semaphore.NewWeighted(opt.Memory),
		// The labels are those server used before the pipeline existed:
		// limiter keys and device cookies survive the upgrade.
		limiterKey: mac(opt.Secret, "sso limiter key|"),
		deviceKey:  mac(opt.Secret, "sso device cookie key|"),
	}, nil
}

func mac(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// ErrBusy means the login could not get a password-check slot or a
// reservation within Options.Wait: answer 503 with Retry-After.
var ErrBusy = errors.New("login: too many logins at once")

// ErrNoMethod means the pipeline has no checker for the method asked for.
var ErrNoMethod = errors.New("login: method not configured")

// BlockedError refuses a login whose bucket is banned.
type BlockedError struct {
	Wait time.Duration // how long the ban has left
}

func (e *BlockedError) Error() string { return "login: too many failed logins" }

// RetryAfter is the Retry-After value: whole seconds, rounded up, at most
// a day.
func (e *BlockedError) RetryAfter() int64 {
	secs := int64(e.Wait / time.Second)
	if e.Wait%time.Second != 0 || secs == 0 {
		secs++
	}
	// A ban without an end (a key set by hand in Redis) must not become a
	// number some clients overflow on: a day is as far as we promise.
	return min(secs, 86400)
}

// HostError means the request's host is under no configured cookie domain,
// so no cookie its siblings would receive can be set for it.
type HostError struct {
	Host string
	Err  error
}

func (e *HostError) Error() string { return e.Err.Error() }
func (e *HostError) Unwrap() error { return e.Err }

// Password checks a password under login regulation (first factor). On
// success the Result holds the identity, the "pwd" factor and a fresh
// device cookie. Errors: users.ErrInvalidCredentials (counted), a
// *BlockedError, ErrBusy, or a wrapped outage of the checker or limiter
// (answer 503; nothing was counted as a failure).
func (p *Pipeline) Password(ctx context.Context, req Request, login, password string) (Result, error) {
	m := p.opt.Password
	if m.Checker == nil {
		return Result{}, ErrNoMethod
	}
	ev := Event{Method: AMRPassword, Source: m.Source, ClientIP: req.ClientIP, UserAgent: session.UserAgentSummary(req.UserAgent), Via: req.Via}
	u, cookies, err := p.regulated(ctx, req, ev, login, password)
	if err != nil {
		if errors.Is(err, users.ErrInvalidCredentials) {
			ev.Kind = EventFailed
			p.opt.Observer.Observe(ctx, ev)
		}
		return Result{}, err
	}
	ev.Kind, ev.User = EventSucceeded, u.Name
	p.opt.Observer.Observe(ctx, ev)
	return Result{
		Identity: Identity{User: u.Name, Email: u.Email, Groups: u.Groups, Source: m.Source},
		Factors:  []session.Factor{Factor(m, p.opt.Now())},
		Cookies:  cookies,
	}, nil
}

// checkPassword runs a password check within the memory budget, waiting at
// most Wait for its share. ready, when set, runs once the share is taken
// and can still refuse: a ban may have been set while the request waited.
func (p *Pipeline) checkPassword(ctx context.Context, ev Event, login, password string, ready func() error) (users.User, error) {
	wctx, cancel := context.WithTimeout(ctx, p.opt.Wait)
	defer cancel()
	w := p.checkWeight()
	if err := p.budget.Acquire(wctx, w); err != nil {
		if ctx.Err() == nil {
			ev.Kind = EventBusy
			p.opt.Observer.Observe(ctx, ev)
		}
		return users.User{}, ErrBusy
	}
	defer p.budget.Release(w)
	if ready != nil {
		if err := ready(); err != nil {
			return users.User{}, err
		}
	}
	return p.opt.Password.Checker.Authenticate(ctx, login, password)
}

// checkWeight is the share of Memory one password check takes: what the
// costliest hash needs, at least Memory/Slots (so no more than Slots run
// at once) and at most all of it (so a hash costlier than the budget still
// runs, alone).
func (p *Pipeline) checkWeight() int64 {
	w := p.opt.Memory / int64(p.opt.Slots)
	if m, ok := p.opt.Password.Checker.(MemoryCoster); ok {
		w = max(w, m.CheckMemory())
	}
	return min(max(w, 1), p.opt.Memory)
}
