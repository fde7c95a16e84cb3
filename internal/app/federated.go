package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/example/sso/config"
	"github.com/example/sso/federation"
	"github.com/example/sso/ldapusers"
	"github.com/example/sso/login"
)

// probeTimeout bounds each question the assembly asks a directory or an
// OpenID provider; neither stops sso serve when it does not answer (logins
// then answer 503 or 502 until it does), but both are reported.
const probeTimeout = 3 * time.Second

// ldapSettings are the settings whose refusal stops the LDAP step.
var ldapSettings = []string{config.LDAPURLSetting, config.LDAPAddressSetting, "SSO_LDAP_BASE_DN", "SSO_LDAP_USER",
	"SSO_LDAP_PASSWORD", "SSO_LDAP_PASSWORD_FILE", "SSO_LDAP_TLS_CA_FILE"}

// openLDAP makes the LDAP directory the password backend (source "ldap")
// and searches it once as the service account: a directory that does not
// answer is a warning, not a refusal, since logins answer 503 until it
// does.
func (b *builder) openLDAP(ctx context.Context) {
	cfg := b.cfg
	name := cfg.LDAPSetting()
	if b.refused(RuleLDAP, "LDAP", ldapSettings...) {
		return
	}
	dir, err := ldapusers.New(cfg.LDAP)
	if err != nil {
		b.fail(RuleLDAP, "LDAP", name, fmt.Sprintf("%s=%q: %s", name, cfg.LDAP.Address, oneLine(err)), "fix the SSO_LDAP_* settings (sso serve -h describes them)")
		return
	}
	b.app.closers = append(b.app.closers, dir.Close)
	b.password = login.Password{Checker: dir, Source: "ldap"}
	impl := cfg.LDAP.Implementation
	if impl == "" {
		impl = ldapusers.Custom
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if _, _, err := dir.Lookup(ctx, "sso-no-such-user"); err != nil {
		b.warn(RuleLDAP, "LDAP", name,
			fmt.Sprintf("%s=%q: the directory does not answer a search as SSO_LDAP_USER: %s; logins answer 503 until it does", name, cfg.LDAP.Address, oneLine(err)),
			"check the address, TLS settings and the service account (SSO_LDAP_USER, SSO_LDAP_PASSWORD)")
		return
	}
	b.ok(RuleLDAP, "users", name, "LDAP directory %s (%s, base DN %s): the service account can search", cfg.LDAP.Address, impl, cfg.LDAP.BaseDN)
}

// oidc builds the sign-in through cfg.OIDCProviders and fetches each
// provider's discovery document (a warning when it fails: sign-ins with
// that provider answer 502 until it answers). The state cookie's keys are
// derived from every SSO_SECRET_KEYS key, first seals, all open.
func (b *builder) oidc(ctx context.Context) {
	cfg := b.cfg
	if len(cfg.OIDCProviders) == 0 || b.keys == nil || b.pol.Cookies == nil {
		return
	}
	stateKeys := make([][]byte, len(b.keys))
	for i, k := range b.keys {
		stateKeys[i] = DeriveKey(k, "sso oidc state v1")
	}
	fed, err := federation.New(federation.Options{
		Providers:     cfg.OIDCProviders,
		Keys:          stateKeys,
		Secure:        cfg.CookieSecure,
		AllowRedirect: b.pol.Cookies.Contains,
		HTTPClient:    &http.Client{Timeout: 10 * time.Second},
		Log:           b.app.Log,
	})
	if err != nil {
		b.fail(RuleOIDC, "OIDC", "SSO_OIDC_ISSUER", oneLine(err), "fix the provider's settings (SSO_OIDC_* or oidc_providers)")
		return
	}
	b.fed = fed
	for _, p := range cfg.OIDCProviders {
		b.probeProvider(ctx, p)
	}
}

// probeProvider fetches a provider's discovery document and checks that it
// names the configured issuer, as go-oidc will at the first sign-in.
func (b *builder) probeProvider(ctx context.Context, p federation.Provider) {
	label := "OIDC provider " + p.ID
	fix := "check SSO_OIDC_ISSUER (or the entry's issuer) and that sso can reach it"
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	why, err := discover(ctx, p.Issuer)
	if err != nil {
		b.warn(RuleOIDC, label, "SSO_OIDC_ISSUER", fmt.Sprintf("issuer %s: %s; sign-ins with it answer 502 until it answers", p.Issuer, err), fix)
		return
	}
	if why != "" {
		b.fail(RuleOIDC, label, "SSO_OIDC_ISSUER", fmt.Sprintf("issuer %q: %s", p.Issuer, why), "set the issuer exactly as the provider's discovery document states it")
		return
	}
	name := p.Name
	if name == "" {
		name = p.ID
	}
	b.ok(RuleOIDC, label, "SSO_OIDC_ISSUER", "button %q: issuer %s answers; its callback to register is %s", name, p.Issuer, p.RedirectURL)
}

// discover fetches issuer's discovery document: err when it cannot be had,
// why when it names another issuer.
func discover(ctx context.Context, issuer string) (why string, err error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("does not answer: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %s", u, resp.Status)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("discovery document: %w", err)
	}
	if doc.Issuer != issuer {
		return fmt.Sprintf("the discovery document says %q", doc.Issuer), nil
	}
	return "", nil
}
