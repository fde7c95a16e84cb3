package app

import (
	"strings"
	"time"

	"github.com/example/sso/mfa"
	mfamem "github.com/example/sso/mfa/memstore"
	mfaredis "github.com/example/sso/mfa/redisstore"
)

// secondFactor builds the second-factor manager on the sessions' backend
// (Redis with its own client and SSO_STORE_TIMEOUT, or memory), its records
// sealed under keys derived from SSO_SECRET_KEYS (mfa.NewSealer: HKDF with a
// label of its own). Skipped when the store or the keys were refused.
func (b *builder) secondFactor() {
	const label, setting = "second factors", "SSO_SECRET_KEYS"
	if b.store == nil || b.keys == nil {
		return
	}
	cfg := b.cfg
	var st mfa.Store
	where := "in memory, beside the sessions"
	if b.newClient == nil {
		st = mfamem.New(time.Now)
	} else {
		client := b.newClient()
		b.app.closers = append(b.app.closers, client.Close)
		st = mfaredis.New(client, "")
		where = "in Redis, beside the sessions"
	}
	m, err := mfa.New(mfa.Options{Store: st, Keys: b.keys, Issuer: cfg.MFA.Issuer, StoreTimeout: cfg.StoreTimeout})
	if err != nil {
		b.refuse(RuleMFA, label, setting, err, "")
		return
	}
	b.mfa = m
	msg := "TOTP and passkeys stored " + where + ", sealed under keys derived from SSO_SECRET_KEYS"
	if len(cfg.MFA.RequiredGroups) > 0 {
		msg += "; required for members of " + strings.Join(cfg.MFA.RequiredGroups, ", ")
	}
	b.ok(RuleMFA, label, "SSO_MFA_REQUIRED_GROUPS", "%s", msg)
}
