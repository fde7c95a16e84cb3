package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/example/sso/config"
	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/federation"
	"github.com/example/sso/ldapusers"
	pipeline "github.com/example/sso/login"
	"github.com/example/sso/server"
	"github.com/example/sso/session"
)

// signIn is how people sign in, built from the configuration: at most one
// password backend (the users file, dev mode's demo user, or an LDAP
// directory) and any number of upstream OpenID Connect providers.
type signIn struct {
	users    server.Users   // the users file or the demo user; nil with LDAP or OIDC only
	password pipeline.Password // LDAP; zero: users (or no password sign-in)
	fed      *federation.Federation
	banner   string // dev mode's demo password
}

// signInMethods builds the sign-in methods of cfg. keys are the decoded
// SSO_SECRET_KEYS. Every error names its setting.
func (a *app) signInMethods(cfg config.Config, keys [][]byte, cookies *cookiedomain.Policy, sessions session.Store) (signIn, error) {
	var m signIn
	switch {
	case cfg.UsersFile != "":
		f, err := openUsers(cfg, a.log, sessions)
		if err != nil {
			return m, err
		}
		a.users, m.users = f, f
	case cfg.LDAP.Enabled():
		dir, err := ldapusers.New(cfg.LDAP)
		if err != nil {
			return m, fmt.Errorf("%s=%q: %w", cfg.LDAPSetting(), cfg.LDAP.Address, oneLine{err})
		}
		a.closers = append(a.closers, dir.Close)
		m.password = pipeline.Password{Checker: dir, Source: "ldap"}
		a.log.Info("users: LDAP directory", "address", cfg.LDAP.Address, "implementation", dir.Config().Implementation, "base_dn", cfg.LDAP.BaseDN)
	case cfg.DevMode:
		demo, password, err := demoUsers()
		if err != nil {
			return m, err
		}
		m.users, m.banner = demo, password
	}
	if len(cfg.OIDCProviders) > 0 {
		fed, err := newFederation(cfg, keys, cookies, a.log)
		if err != nil {
			return m, err
		}
		m.fed = fed
	}
	if m.users == nil && m.password.Checker == nil && m.fed == nil {
		// config.Validate refuses this; a guard against a back door.
		return m, fmt.Errorf("SSO_USERS_FILE: no way to sign in: set SSO_USERS_FILE, %s or SSO_OIDC_ISSUER", config.LDAPURLSetting)
	}
	return m, nil
}

// newFederation builds the OIDC sign-in of cfg.OIDCProviders. The state
// cookie's keys are derived from every SSO_SECRET_KEYS key (first seals,
// all open), so rotating the secret does not break sign-ins under way.
func newFederation(cfg config.Config, keys [][]byte, cookies *cookiedomain.Policy, log *slog.Logger) (*federation.Federation, error) {
	stateKeys := make([][]byte, len(keys))
	for i, k := range keys {
		stateKeys[i] = derive(k, "sso oidc state v1")
	}
	fed, err := federation.New(federation.Options{
		Providers:     cfg.OIDCProviders,
		Keys:          stateKeys,
		Secure:        cfg.CookieSecure,
		AllowRedirect: cookies.Contains,
		HTTPClient:    &http.Client{Timeout: 10 * time.Second},
		Log:           log,
	})
	if err != nil {
		return nil, fmt.Errorf("SSO_OIDC_ISSUER: %w", err)
	}
	for _, b := range fed.Buttons() {
		log.Info("oidc: provider", "id", b.ID, "name", b.Name)
	}
	return fed, nil
}
