package app

import (
	"errors"
	"strings"

	"github.com/example/sso/config"
)

// Rule identifiers: stable names of the checks the assembly makes, for
// scripts (sso doctor --json) and tests. Never rename one; add new ones.
const (
	RuleConfig        = "config"              // flags, SSO_CONFIG file: nothing else can be read
	RuleSetting       = "config.setting"      // one setting's syntax or range (config.Validate)
	RuleCookie        = "cookie.policy"       // SSO_COOKIE_*: domains (public suffix, IP), name, SameSite, Secure
	RuleLoginURL      = "login.url"           // SSO_LOGIN_URL is under a cookie domain
	RuleLoginNested   = "login.nested-domain" // warning: the hub's cookie domain lies under a wider one
	RuleCORS          = "cors.policy"         // SSO_CORS_ORIGINS, SSO_CORS_HEADERS
	RuleLoginOrigins  = "login.origins"       // SSO_LOGIN_ORIGINS and the hub API's policy
	RuleLoginWildcard = "login.origins-wildcard"
	RuleSecretKeys    = "secret.keys"     // SSO_SECRET_KEYS
	RuleProxies       = "proxies.trusted" // SSO_TRUSTED_PROXIES
	RuleProxyReach    = "proxies.reach"   // warning: reachable from other hosts, trusting only loopback
	RuleJWT           = "jwt.issuer"      // SSO_JWT_*
	RuleUsers         = "users.file"      // SSO_USERS_FILE, or dev mode's demo user
	RuleLDAP          = "users.ldap"      // SSO_LDAP_URL (alias SSO_LDAP_ADDRESS) and SSO_LDAP_*: the directory answers a search
	RuleOIDC          = "oidc.provider"   // SSO_OIDC_*, oidc_providers: each provider's discovery document
	RuleStore         = "store.connect"   // Redis answers, or the embedded store
	RuleAuthCache     = "store.auth-cache"
	RuleMFA           = "mfa.store"        // second factors: their store and sealing keys (SSO_MFA_*)
	RuleRegulation    = "login.regulation" // warning: SSO_LOGIN_MAX_RETRIES=0
	RuleServer        = "server"           // the HTTP server itself
)

// Check is one thing the assembly verified, or refused. A failed check's
// Why is one line that names the setting, as serve prints it.
type Check struct {
	Rule    string `json:"rule"`
	Label   string `json:"label"` // short human name, as the text output shows it
	OK      bool   `json:"ok"`
	Warn    bool   `json:"warn"`    // OK, but works in some deployments and fails closed in others
	Setting string `json:"setting"` // the environment variable(s) concerned, comma-separated; "" for none
	Why     string `json:"why"`
	Fix     string `json:"fix"` // "" when there is nothing to do
	URL     string `json:"url,omitempty"`
}

// Line renders the check as the text output shows it.
func (c Check) Line() string {
	mark := "ok   "
	switch {
	case !c.OK:
		mark = "FAIL "
	case c.Warn:
		mark = "WARN "
	}
	return mark + c.Label + ": " + c.Why
}

// Checks is every check of one assembly, in the order they were made: the
// most fundamental setting first.
type Checks []Check

// Failed returns the failed checks.
func (cs Checks) Failed() Checks {
	var out Checks
	for _, c := range cs {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// Err joins the failed checks' Why lines, one line each, most fundamental
// first; nil when none failed.
func (cs Checks) Err() error {
	f := cs.Failed()
	if len(f) == 0 {
		return nil
	}
	lines := make([]string, len(f))
	for i, c := range f {
		lines[i] = c.Why
	}
	return errors.New(strings.Join(lines, "\n"))
}

// refusals indexes config.Load's error by setting.
type refusals struct {
	bySetting map[string][]*config.SettingError
	order     []*config.SettingError
	other     []error // errors that name no setting: a bad flag, an unreadable file
}

func newRefusals(err error) refusals {
	r := refusals{bySetting: map[string][]*config.SettingError{}}
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var se *config.SettingError
		if errors.As(e, &se) {
			r.bySetting[se.Setting] = append(r.bySetting[se.Setting], se)
			r.order = append(r.order, se)
			return
		}
		r.other = append(r.other, e)
	}
	if err != nil {
		walk(err)
	}
	return r
}

// has reports whether config.Load refused any of settings.
func (r refusals) has(settings ...string) bool {
	for _, s := range settings {
		if len(r.bySetting[s]) > 0 {
			return true
		}
	}
	return false
}
