package login

import (
	"context"
	"errors"
	"fmt"

	"github.com/example/sso/mfa"
	"github.com/example/sso/session"
	"github.com/example/sso/users"
)

// AMRUserVerified is recorded beside hwk or swk for a passwordless
// sign-in: the authenticator verified the user (PIN or biometric; WebAuthn
// does not say which, and RFC 8176 has no value for "either", so the
// nearest, "user", stands for it). With the key's possession that is two
// factors, as NIST SP 800-63B counts a multi-factor cryptographic
// authenticator: the session satisfies /auth?factor=2 on its own.
const AMRUserVerified = "user"

// DetailPasswordless is the Detail of the events of a passwordless
// sign-in.
const DetailPasswordless = "passwordless"

// Passkey signs in with a passkey alone. check verifies the browser's
// assertion and says whose credential it was (mfa.Passkeys'
// FinishDiscoverableLogin); lookup then resolves that user as of now,
// users.ErrInvalidCredentials when they no longer exist or are disabled.
// The attempt runs under login regulation against the client address's
// bucket only: before the check nobody knows whose passkey it is, and a
// user handle an attacker sends must not lock its owner out. A refusal
// (mfa.ErrInvalidResponse, mfa.ErrNotEnrolled, users.ErrInvalidCredentials)
// is counted there. The factors are "user" and the key's amr (hwk or swk),
// both at the time of the check.
//
// Errors: the refusal (wrapped), mfa.ErrCeremony (start again, not
// counted), *BlockedError, ErrBusy, or an outage (503; nothing counted).
func (p *Pipeline) Passkey(ctx context.Context, req Request, check func(context.Context) (string, mfa.Result, error), lookup func(ctx context.Context, user string) (Identity, error)) (Result, error) {
	ev := Event{ClientIP: req.ClientIP, UserAgent: session.UserAgentSummary(req.UserAgent), Via: req.Via, Detail: DetailPasswordless}
	run := func(ctx context.Context) (Identity, mfa.Result, error) {
		user, res, err := check(ctx)
		if err != nil {
			return Identity{}, res, err
		}
		ev.User, ev.Source = SplitMFAUser(user)
		ev.Method = res.AMR
		id, err := lookup(ctx, user)
		if err != nil {
			return Identity{}, res, err
		}
		// user is the second-factor key (MFAUser), not the name: a
		// users-file "ops:eve" is "file:ops:eve".
		if MFAUser(id.User, id.Source) != user {
			return Identity{}, res, fmt.Errorf("login: passkey of %q resolved to another user: %w", user, users.ErrInvalidCredentials)
		}
		return id, res, nil
	}
	refused := func(err error) bool {
		return errors.Is(err, mfa.ErrInvalidResponse) || errors.Is(err, mfa.ErrNotEnrolled) || errors.Is(err, users.ErrInvalidCredentials)
	}
	var (
		id  Identity
		res mfa.Result
		err error
	)
	if p.opt.Regulation.MaxRetries <= 0 {
		id, res, err = run(ctx)
		if refused(err) {
			ev.Kind = EventFailed
			p.opt.Observer.Observe(ctx, ev)
		}
	} else {
		keys := []regKey{{key: ipKey(req.ClientIP), kind: "one client address", max: p.opt.Regulation.MaxRetries * IPFactor}}
		if err := p.refuseBlocked(ctx, ev, keys); err != nil {
			return Result{}, err
		}
		release, rerr := p.reserve(ctx, ev, keys)
		if rerr != nil {
			return Result{}, rerr
		}
		defer release()
		id, res, err = run(ctx)
		if refused(err) {
			e := ev
			e.Kind = EventFailed
			p.opt.Observer.Observe(ctx, e)
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), regulationTimeout)
			defer cancel()
			if cerr := p.countFailure(cctx, ev, keys); cerr != nil {
				return Result{}, cerr
			}
		}
	}
	if err != nil {
		return Result{}, err
	}
	ev.Kind = EventSucceeded
	ev.Source = id.Source
	p.opt.Observer.Observe(ctx, ev)
	return Result{
		Identity: id,
		Factors:  []session.Factor{{Method: AMRUserVerified, At: res.At}, {Method: res.AMR, At: res.At}},
	}, nil
}
