package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
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
	users    server.Users      // the users file or the demo user; nil with LDAP or OIDC only
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

// doctorTimeout bounds each of doctor's questions to a directory or
// provider.
const doctorTimeout = 3 * time.Second

// doctorSignIn reports the sign-in methods other than the users file: the
// LDAP directory (asked to search as the service account), dev mode's demo
// user, and each OpenID provider (its discovery document fetched).
// refused says which settings config.Load refused already.
func doctorSignIn(ctx context.Context, c *checklist, cfg config.Config, refused func(...string) bool) {
	switch {
	case cfg.LDAP.Enabled() || refused(config.LDAPURLSetting, config.LDAPAddressSetting):
		doctorLDAP(ctx, c, cfg, refused)
	case cfg.DevMode:
		c.ok("users: dev mode demo user (sso serve prints its password once)")
	case len(cfg.OIDCProviders) > 0:
		c.ok("users: no password sign-in (no users file, no LDAP directory): the login page shows only the OpenID providers")
	}
	for _, p := range cfg.OIDCProviders {
		doctorProvider(ctx, c, p)
	}
}

// doctorLDAP builds the directory as sso serve does and looks up a name no
// one has, which needs the service account's bind and a search.
func doctorLDAP(ctx context.Context, c *checklist, cfg config.Config, refused func(...string) bool) {
	name := cfg.LDAPSetting()
	for _, s := range []string{config.LDAPURLSetting, config.LDAPAddressSetting, "SSO_LDAP_BASE_DN", "SSO_LDAP_USER", "SSO_LDAP_PASSWORD", "SSO_LDAP_PASSWORD_FILE", "SSO_LDAP_TLS_CA_FILE"} {
		if refused(s) {
			return // reported with the configuration
		}
	}
	dir, err := ldapusers.New(cfg.LDAP)
	if err != nil {
		c.fail("LDAP", fmt.Errorf("%s=%q: %w", name, cfg.LDAP.Address, oneLine{err}))
		return
	}
	defer dir.Close()
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	if _, _, err := dir.Lookup(ctx, "sso-doctor-no-such-user"); err != nil {
		c.fail("LDAP", fmt.Errorf("%s=%q: the directory does not answer a search as SSO_LDAP_USER: %w", name, cfg.LDAP.Address, err))
		return
	}
	impl := cfg.LDAP.Implementation
	if impl == "" {
		impl = ldapusers.Custom
	}
	c.ok("users: LDAP directory %s (%s, base DN %s): the service account can search", cfg.LDAP.Address, impl, cfg.LDAP.BaseDN)
}

// doctorProvider fetches a provider's discovery document and checks that
// it names the configured issuer, as go-oidc will at the first sign-in.
func doctorProvider(ctx context.Context, c *checklist, p federation.Provider) {
	what := fmt.Sprintf("OIDC provider %s", p.ID)
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	u := strings.TrimSuffix(p.Issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		c.fail(what, fmt.Errorf("issuer %q: %w", p.Issuer, err))
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.fail(what, fmt.Errorf("issuer %s does not answer (sign-ins with it will fail with 502 until it does): %w", p.Issuer, err))
		return
	}
	defer resp.Body.Close()
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if resp.StatusCode != http.StatusOK {
		c.fail(what, fmt.Errorf("issuer %s: %s answered %s", p.Issuer, u, resp.Status))
		return
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		c.fail(what, fmt.Errorf("issuer %s: discovery document: %w", p.Issuer, err))
		return
	}
	if doc.Issuer != p.Issuer {
		c.fail(what, fmt.Errorf("issuer %q: the discovery document says %q; set the issuer exactly as the provider states it", p.Issuer, doc.Issuer))
		return
	}
	label := p.Name
	if label == "" {
		label = p.ID
	}
	c.ok("OIDC provider %s (button %q): issuer %s answers; its callback to register is %s", p.ID, label, p.Issuer, p.RedirectURL)
}
