package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/example/sso/mfa"
	"github.com/example/sso/session"
)

// Second configures the second step of a login: who must pass a second
// factor, and where pending logins wait for it.
type Second struct {
	// MFA checks the factors and keeps pending logins (sealed, in the
	// same backend as the sessions); nil: no second step, every login
	// mints after its first factor.
	MFA *mfa.Manager
	// RequiredGroups: members of any of them must pass a second factor,
	// and are led through enrolment when they have none.
	RequiredGroups []string
	// PendingTTL bounds the time between the first factor and the second;
	// zero: DefaultPendingTTL.
	PendingTTL time.Duration
	// TrustFederatedAMR (SSO_MFA_OIDC_AMR): a federated login whose amr
	// names a second factor counts as having passed one (FederatedFactors).
	TrustFederatedAMR bool
}

// DefaultPendingTTL is how long a login waits for its second factor.
const DefaultPendingTTL = 5 * time.Minute

// Event kinds of the second step.
const (
	// EventSecondSucceeded: a second factor passed (Method is its amr,
	// Detail "totp", "recovery" or "passkey").
	EventSecondSucceeded EventKind = "second_factor_succeeded"
	// EventSecondFailed: a second factor was refused (Detail says which
	// kind; "replay" for a TOTP code already used). Counted by regulation.
	EventSecondFailed EventKind = "second_factor_failed"
	// EventEnrolled: a second factor was added (Detail "totp", "passkey",
	// "recovery" for new recovery codes).
	EventEnrolled EventKind = "second_factor_enrolled"
	// EventRemoved: a second factor was removed (Detail as for EventEnrolled).
	EventRemoved EventKind = "second_factor_removed"
)

// ErrNoPending: the request carries no pending login that is still valid
// (expired, used, or never there): the user signs in again.
var ErrNoPending = errors.New("login: no pending login")

// AMRFederatedMFA is the second factor recorded for an upstream login
// whose amr proved several factors (FederatedFactors, SSO_MFA_OIDC_AMR):
// RFC 8176's "mfa". It says the provider checked a second factor, not
// which one.
const AMRFederatedMFA = "mfa"

// IsSecond reports whether amr is a second factor's (otp, hwk, swk, or mfa
// for one proved upstream).
func IsSecond(amr string) bool {
	switch amr {
	case mfa.AMROTP, mfa.AMRHardwareKey, mfa.AMRSoftwareKey, AMRFederatedMFA:
		return true
	}
	return false
}

// HasSecond reports whether factors hold a second factor given at or after
// since (zero since: any time).
func HasSecond(factors []session.Factor, since time.Time) bool {
	for _, f := range factors {
		if IsSecond(f.Method) && !f.At.Before(since) {
			return true
		}
	}
	return false
}

// Need says what a login of id must do after its first factor.
type Need struct {
	Second bool // a second factor must be passed before a session exists
	Enrol  bool // the user has none and must enrol one (RequiredGroups)
	TOTP   bool // enrolled factors, for the page
	// Passkeys is how many passkeys the user has (any relying party).
	Passkeys int
}

// SecondEnabled reports whether the pipeline has a second step.
func (p *Pipeline) SecondEnabled() bool { return p.opt.Second.MFA != nil }

// MFA returns the second-factor manager, nil when there is none.
func (p *Pipeline) MFA() *mfa.Manager { return p.opt.Second.MFA }

// Required reports whether id must have a second factor (RequiredGroups).
func (p *Pipeline) Required(id Identity) bool {
	for _, g := range p.opt.Second.RequiredGroups {
		if slices.Contains(id.Groups, g) {
			return true
		}
	}
	return false
}

// NeedSecond says whether a login of id that passed factors must pass a
// second factor first: the user has one enrolled, or is in a required
// group (then without one: Enrol). Factors that already hold a second
// factor (an OIDC login whose amr proved MFA) need nothing more. A store
// error is returned: never a session without the check.
func (p *Pipeline) NeedSecond(ctx context.Context, id Identity, factors []session.Factor) (Need, error) {
	m := p.opt.Second.MFA
	if m == nil || HasSecond(factors, time.Time{}) {
		return Need{}, nil
	}
	totp, keys, err := m.Enrolled(ctx, id.MFAUser(), "")
	if err != nil {
		return Need{}, fmt.Errorf("login: second factor: %w", err)
	}
	n := Need{TOTP: totp, Passkeys: keys}
	switch {
	case totp || keys > 0:
		n.Second = true
	case p.Required(id):
		n.Second, n.Enrol = true, true
	}
	return n, nil
}

// Pending is a login that passed its first factor and waits for its
// second; it is kept, sealed, in the mfa store under an id that only the
// browser's __Host- cookie carries.
type Pending struct {
	Identity Identity         `json:"identity"`
	Factors  []session.Factor `json:"factors"`
	RD       string           `json:"rd,omitempty"`
	Enrol    bool             `json:"enrol,omitempty"`
	// ID is the pending login's id (the cookie's value); not stored.
	ID string `json:"-"`
}

// PendingCookieName is the cookie that binds a pending login to the
// browser: __Host- when cookies are Secure (only the hub's host can set
// or read it), plain over HTTP in dev mode.
func (p *Pipeline) PendingCookieName() string {
	if p.opt.Cookies.Secure() {
		return "__Host-sso_pending"
	}
	return "sso_pending"
}

func (p *Pipeline) pendingTTL() time.Duration {
	if p.opt.Second.PendingTTL > 0 {
		return p.opt.Second.PendingTTL
	}
	return DefaultPendingTTL
}

// Hold keeps a login that passed its first factor until its second and
// returns the cookie that names it. No session exists yet.
func (p *Pipeline) Hold(ctx context.Context, res Result, rd string, enrol bool) (*http.Cookie, error) {
	m := p.opt.Second.MFA
	if m == nil {
		return nil, ErrNoMethod
	}
	b, err := json.Marshal(Pending{Identity: res.Identity, Factors: res.Factors, RD: rd, Enrol: enrol})
	if err != nil {
		return nil, fmt.Errorf("login: pending login: %w", err)
	}
	ttl := p.pendingTTL()
	id, err := m.PutPending(ctx, res.Identity.MFAUser(), b, ttl)
	if err != nil {
		return nil, fmt.Errorf("login: pending login: %w", err)
	}
	return &http.Cookie{Name: p.PendingCookieName(), Value: id, Path: "/", MaxAge: int(ttl / time.Second),
		Secure: p.opt.Cookies.Secure(), HttpOnly: true, SameSite: http.SameSiteStrictMode}, nil
}

// ClearPendingCookie removes the pending-login cookie.
func (p *Pipeline) ClearPendingCookie() *http.Cookie {
	return &http.Cookie{Name: p.PendingCookieName(), Path: "/", MaxAge: -1,
		Secure: p.opt.Cookies.Secure(), HttpOnly: true, SameSite: http.SameSiteStrictMode}
}

// Held returns the pending login r's cookie names; with take it is used up
// (only one request can turn it into a session). ErrNoPending when there
// is none; any other error is a store outage.
func (p *Pipeline) Held(ctx context.Context, r *http.Request, take bool) (*Pending, error) {
	m := p.opt.Second.MFA
	if m == nil {
		return nil, ErrNoPending
	}
	ck, err := r.Cookie(p.PendingCookieName())
	if err != nil {
		return nil, ErrNoPending
	}
	user, b, err := m.Pending(ctx, ck.Value, take)
	if errors.Is(err, mfa.ErrCeremony) || errors.Is(err, mfa.ErrUnsealable) {
		return nil, ErrNoPending
	}
	if err != nil {
		return nil, fmt.Errorf("login: pending login: %w", err)
	}
	var pd Pending
	if err := json.Unmarshal(b, &pd); err != nil || pd.Identity.MFAUser() != user {
		return nil, ErrNoPending
	}
	pd.ID = ck.Value
	return &pd, nil
}

// SecondKind names how a second factor is checked, for events.
type SecondKind string

const (
	SecondTOTP     SecondKind = "totp"
	SecondRecovery SecondKind = "recovery"
	SecondPasskey  SecondKind = "passkey"
)

// CheckSecond runs check, a second factor of user (the MFAUser key of the
// identity: its events name the user and source apart), under the same login
// regulation as passwords: a banned user or address is refused before the
// check, a refused code (mfa.ErrInvalidCode, mfa.ErrReplay,
// mfa.ErrNotEnrolled, mfa.ErrInvalidResponse) is counted, a success clears
// the user's count. It returns the factor to record. Errors: the refusal
// (wrapping the mfa error), *BlockedError, ErrBusy, or an outage.
func (p *Pipeline) CheckSecond(ctx context.Context, req Request, user string, kind SecondKind, check func(context.Context) (mfa.Result, error)) (session.Factor, mfa.Result, error) {
	name, source := SplitMFAUser(user)
	ev := Event{Source: source, User: name, ClientIP: req.ClientIP, UserAgent: session.UserAgentSummary(req.UserAgent), Via: req.Via, Detail: string(kind)}
	refused := func(err error) bool {
		return errors.Is(err, mfa.ErrInvalidCode) || errors.Is(err, mfa.ErrNotEnrolled) || errors.Is(err, mfa.ErrInvalidResponse)
	}
	observeFail := func(err error) {
		e := ev
		e.Kind = EventSecondFailed
		if errors.Is(err, mfa.ErrReplay) {
			e.Detail = "replay"
		}
		p.opt.Observer.Observe(ctx, e)
	}
	var (
		res mfa.Result
		err error
	)
	if p.opt.Regulation.MaxRetries <= 0 {
		res, err = check(ctx)
		if refused(err) {
			observeFail(err)
		}
	} else {
		keys := p.secondKeys(req, user)
		if err := p.refuseBlocked(ctx, ev, keys); err != nil {
			return session.Factor{}, mfa.Result{}, err
		}
		release, rerr := p.reserve(ctx, ev, keys)
		if rerr != nil {
			return session.Factor{}, mfa.Result{}, rerr
		}
		defer release()
		res, err = check(ctx)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), regulationTimeout)
		defer cancel()
		switch {
		case refused(err):
			observeFail(err)
			if cerr := p.countFailure(cctx, ev, keys); cerr != nil {
				return session.Factor{}, mfa.Result{}, cerr
			}
		case err == nil:
			if cerr := p.opt.Limiter.Clear(cctx, keys[0].key); cerr != nil {
				p.opt.Log.Warn("login regulation: could not clear the count of a second factor", "err", cerr)
			}
		}
	}
	if err != nil {
		return session.Factor{}, mfa.Result{}, err
	}
	ev.Kind, ev.Method = EventSecondSucceeded, res.AMR
	p.opt.Observer.Observe(ctx, ev)
	return session.Factor{Method: res.AMR, At: res.At}, res, nil
}

// secondKeys are the buckets second-factor attempts count against: the
// user's own (a code is guessed for one account, from anywhere) and the
// client address's, shared with passwords.
func (p *Pipeline) secondKeys(req Request, user string) []regKey {
	n := p.opt.Regulation.MaxRetries
	return []regKey{
		{key: "2f:" + userKey(p.limiterKey, user), kind: "second factor of one user", max: n},
		{key: ipKey(req.ClientIP), kind: "one client address", max: n * IPFactor},
	}
}

// Observe tells the pipeline's observer of e: the account page's
// enrolment and removal events go the same way as the login's.
func (p *Pipeline) Observe(ctx context.Context, e Event) { p.opt.Observer.Observe(ctx, e) }

// WithSecond returns factors with f added: an earlier second factor is
// replaced (the session keeps its first factors and the latest second).
func WithSecond(factors []session.Factor, f session.Factor) []session.Factor {
	out := make([]session.Factor, 0, len(factors)+1)
	for _, x := range factors {
		if !IsSecond(x.Method) {
			out = append(out, x)
		}
	}
	return append(out, f)
}

// StepUp replaces old, a live session, with a new one of the same identity
// and absolute expiry whose factors add f: the browser's cookie gets the
// new id (a session that gains privileges changes its id), and deleting
// old invalidates every cache of it. Errors as for Mint.
func (p *Pipeline) StepUp(ctx context.Context, old *session.Session, f session.Factor, req Request) (Minted, error) {
	id := Identity{User: old.User, Email: old.Email, Groups: old.Groups, Source: old.Source}
	req.Replace = append(slices.Clip(req.Replace), old.ID)
	return p.mint(ctx, id, WithSecond(old.Factors, f), req, old.CreatedAt, old.ExpiresAt)
}

// The amr values (RFC 8176) FederatedFactors counts, by kind of factor:
// something known, something held, something one is. "mfa" alone proves
// several factors; otherwise values of two kinds must appear. A single
// possession value ("otp", "hwk", …) proves nothing more than one factor:
// a provider may sign in with an e-mailed code or a passkey alone.
var (
	amrKnown = map[string]bool{"pwd": true, "pin": true, "kba": true}
	amrHeld  = map[string]bool{"hwk": true, "swk": true, "otp": true, "sc": true, "sms": true, "tel": true, "pop": true}
	amrBody  = map[string]bool{"fpt": true, "face": true, "iris": true, "retina": true, "vbm": true}
)

// ProvesMFA reports whether an upstream's amr says the user passed more than
// one factor: "mfa", or values of at least two kinds (pwd + otp, sc + pin,
// hwk + fpt, …). Unknown values ("mca", "rba", "geo", "user", "wia", a
// provider's own) count for nothing.
func ProvesMFA(amr []string) bool {
	var known, held, body bool
	for _, v := range amr {
		if v == AMRFederatedMFA {
			return true
		}
		known = known || amrKnown[v]
		held = held || amrHeld[v]
		body = body || amrBody[v]
	}
	n := 0
	for _, b := range []bool{known, held, body} {
		if b {
			n++
		}
	}
	return n >= 2
}

// FederatedFactors are the factors of a login proved elsewhere (method, such
// as "oidc") at at (the provider's auth_time when it sent one): the method,
// then, when Second.TrustFederatedAMR is set and ProvesMFA(amr), the second
// factor AMRFederatedMFA at the same time. NeedSecond then asks for nothing
// more, and /auth?factor=2 admits the session (max_age counting from at).
func (p *Pipeline) FederatedFactors(method string, amr []string, at time.Time) []session.Factor {
	out := []session.Factor{{Method: method, At: at}}
	if p.opt.Second.TrustFederatedAMR && ProvesMFA(amr) {
		out = append(out, session.Factor{Method: AMRFederatedMFA, At: at})
	}
	return out
}
