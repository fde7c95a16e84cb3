package main

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/example/sso/config"
	"github.com/example/sso/mfa"
	mfamem "github.com/example/sso/mfa/memstore"
	mfaredis "github.com/example/sso/mfa/redisstore"
)

// secondFactor builds the second-factor manager on the sessions' backend
// (Redis with its own client and SSO_STORE_TIMEOUT, or memory), its
// records sealed under keys derived from SSO_SECRET_KEYS (mfa.NewSealer:
// HKDF with a label of its own).
func (a *app) secondFactor(cfg config.Config, keys [][]byte, newClient func() redis.UniversalClient) (*mfa.Manager, error) {
	var st mfa.Store
	if newClient == nil {
		st = mfamem.New(time.Now)
	} else {
		client := newClient()
		a.closers = append(a.closers, client.Close)
		st = mfaredis.New(client, "")
	}
	m, err := mfa.New(mfa.Options{Store: st, Keys: keys, Issuer: cfg.MFA.Issuer, StoreTimeout: cfg.StoreTimeout})
	if err != nil {
		return nil, fmt.Errorf("SSO_SECRET_KEYS: second factor: %w", err)
	}
	return m, nil
}
