package config

import (
	"strings"
	"unicode"
)

// MFA is the second factor's configuration (SSO_MFA_*).
type MFA struct {
	RequiredGroups []string // SSO_MFA_REQUIRED_GROUPS: members must have a second factor and enrol one at their next login
	OIDCAMR        bool     // SSO_MFA_OIDC_AMR: an OIDC login whose amr claim proves MFA (login.ProvesMFA) counts as a second factor
	Issuer         string   // SSO_MFA_ISSUER: the name authenticator apps show above the account
}

func mfaSettings() []setting {
	return []setting{
		{env: "SSO_MFA_REQUIRED_GROUPS", kind: kindList,
			defDoc: "none: a second factor is asked of those who enrolled one",
			help:   "comma-separated groups whose members must pass a second factor (TOTP or passkey) at every login; a member without one sets up an authenticator app at the next login",
			field:  func(c *Config) any { return &c.MFA.RequiredGroups }},
		{env: "SSO_MFA_OIDC_AMR", kind: kindBool, defDoc: "false",
			help:  "count an OpenID Connect login whose ID token's amr claim proves MFA (mfa, or two kinds of factor such as pwd+otp, sc+pin) as having passed the second factor, recorded as amr mfa",
			field: func(c *Config) any { return &c.MFA.OIDCAMR }},
		{env: "SSO_MFA_ISSUER", kind: kindString, def: "sso",
			help:  "name authenticator apps show above the account (TOTP issuer), 1 to 64 printable characters without ':'",
			field: func(c *Config) any { return &c.MFA.Issuer }},
	}
}

// validateMFA reports bad SSO_MFA_* settings.
func (c Config) validateMFA(bad func(env, value, msg string)) {
	groups := strings.Join(c.MFA.RequiredGroups, ",")
	for _, g := range c.MFA.RequiredGroups {
		if g == "" || strings.ContainsAny(g, " \t\r\n") {
			bad("SSO_MFA_REQUIRED_GROUPS", groups, "entry "+quote(g)+" is not a group name (non-empty, no blanks)")
		}
	}
	if c.MFA.OIDCAMR && len(c.OIDCProviders) == 0 {
		bad("SSO_MFA_OIDC_AMR", "true", "needs an OpenID Connect provider (SSO_OIDC_ISSUER or oidc_providers), and none is configured")
	}
	iss := c.MFA.Issuer
	if iss == "" || len([]rune(iss)) > 64 || strings.Contains(iss, ":") ||
		strings.IndexFunc(iss, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		bad("SSO_MFA_ISSUER", iss, "must be 1 to 64 printable characters without ':' (apps show it; otpauth URLs use ':' as separator)")
	}
}

func quote(s string) string { return `"` + s + `"` }
