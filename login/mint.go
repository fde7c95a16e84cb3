package login

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/example/sso/session"
	"github.com/example/sso/ticket"
)

// Mint creates a session with a fresh id for id, established by factors
// (in order; at least one), and returns it with its signed cookie value
// and the cookie for req.Host's cookie domain. The sessions of req.Replace
// are deleted first. Errors: *HostError for a host under no cookie domain
// (400), anything else is a store outage (503; no session exists).
func (p *Pipeline) Mint(ctx context.Context, id Identity, factors []session.Factor, req Request) (Minted, error) {
	return p.mint(ctx, id, factors, req, time.Time{}, time.Time{})
}

// mint is Mint; a non-zero created and expires keep those of a session
// being replaced (StepUp), so a step-up never extends a session's life.
func (p *Pipeline) mint(ctx context.Context, id Identity, factors []session.Factor, req Request, created, expires time.Time) (Minted, error) {
	if id.User == "" || len(factors) == 0 {
		return Minted{}, errors.New("login: mint: an identity and at least one factor are required")
	}
	parent, err := p.opt.Cookies.For(req.Host)
	if err != nil {
		return Minted{}, &HostError{Host: req.Host, Err: err}
	}
	for _, old := range req.Replace {
		if err := p.opt.Sessions.Delete(ctx, old); err != nil {
			return Minted{}, fmt.Errorf("login: delete previous session: %w", err)
		}
	}
	raw, err := ticket.NewID()
	if err != nil {
		return Minted{}, fmt.Errorf("login: session id: %w", err)
	}
	csrf, err := randomToken()
	if err != nil {
		return Minted{}, err
	}
	now := p.opt.Now()
	if created.IsZero() {
		created = now
	}
	maxAge := p.opt.SessionMax
	if expires.IsZero() {
		expires = now.Add(p.opt.SessionMax)
	} else {
		maxAge = expires.Sub(now)
	}
	if maxAge <= 0 {
		return Minted{}, errors.New("login: mint: the session being replaced has expired")
	}
	s := &session.Session{
		ID:        ticket.Hash(raw),
		User:      id.User,
		Email:     id.Email,
		Groups:    slices.Clone(id.Groups),
		Domain:    parent,
		CreatedAt: created,
		LastSeen:  now,
		ExpiresAt: expires,
		Idle:      p.opt.SessionIdle,
		IP:        req.ClientIP,
		UserAgent: session.UserAgentSummary(req.UserAgent),
		CSRFToken: csrf,
		Source:    id.Source,
		Factors:   slices.Clone(factors),
	}
	value := p.opt.Codec.Encode(raw)
	cookie, err := p.opt.Cookies.SessionCookie(req.Host, value, maxAge)
	if err != nil {
		return Minted{}, fmt.Errorf("login: build session cookie: %w", err)
	}
	if err := p.opt.Sessions.Create(ctx, s); err != nil {
		return Minted{}, fmt.Errorf("login: create session: %w", err)
	}
	p.opt.Observer.Observe(ctx, Event{
		Kind: EventMinted, Method: factors[len(factors)-1].Method, Source: id.Source, User: id.User,
		ClientIP: req.ClientIP, UserAgent: s.UserAgent, Via: req.Via, Session: s.Clone(),
	})
	return Minted{Session: s, Value: value, Cookie: cookie}, nil
}

func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("login: random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
