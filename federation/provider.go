package federation

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// Provider is one upstream OpenID provider.
type Provider struct {
	// ID names the provider in the callback path (/oauth2/callback/<id>),
	// the state cookie and the session's source ("oidc:<id>"): 1–32 of
	// a-z, 0-9 and "-".
	ID string
	// Name is the button label; default ID.
	Name string
	// Issuer is the issuer URL exactly as the provider's discovery document
	// states it (https; http only for a loopback host or when the hub runs
	// without TLS).
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is the hub's callback URL registered with the provider,
	// e.g. https://login.example.com/oauth2/callback/<id>.
	RedirectURL string
	// Scopes asked for; "openid" is always added. Default openid, email,
	// profile. Providers that send groups only on request need "groups"
	// (Dex, Keycloak with a mapper).
	Scopes []string
	// UserClaim, EmailClaim and GroupsClaim name the claims mapped to the
	// user name, e-mail and groups; default preferred_username, email and
	// groups. Google sends no preferred_username: use email there.
	UserClaim, EmailClaim, GroupsClaim string
	// UserPrefix is put before the mapped user name, e.g. "gitlab:", so
	// that upstream users cannot take the name of a users-file user or of
	// another provider's user. Default none: the claim as it is.
	UserPrefix string
	// AllowedEmailDomains admits users whose verified e-mail address is in
	// one of these domains (exact, case-insensitive); "*" admits any
	// address. AllowedGroups admits members of any of these groups. At
	// least one of the two must be set, so that a public provider never
	// admits everyone by omission; when both are set, a user must pass
	// both.
	AllowedEmailDomains []string
	AllowedGroups       []string
	// AllowUnverifiedEmail accepts an e-mail address whose email_verified
	// claim is not true (Microsoft Entra sends none). Off by default: an
	// unverified address is refused.
	AllowUnverifiedEmail bool
}

// Default claim names and scopes.
const (
	DefaultUserClaim   = "preferred_username"
	DefaultEmailClaim  = "email"
	DefaultGroupsClaim = "groups"
)

// DefaultScopes are asked for when Provider.Scopes is empty.
var DefaultScopes = []string{"openid", "email", "profile"}

var idPattern = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// CallbackPath is the path of provider id's callback under the hub's
// login URL: RedirectURL is SSO_LOGIN_URL + CallbackPath(id).
func CallbackPath(id string) string { return "/oauth2/callback/" + id }

// FieldError is a refused Provider setting: Field is the Provider field's
// Go name, so that config can name its own setting instead.
type FieldError struct {
	Provider string // the ID, "?" when empty
	Field    string // e.g. "Issuer"
	Msg      string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("federation: provider %q: %s: %s", e.Provider, e.Field, e.Msg)
}

// Validate checks p as New would; the error is a *FieldError. secure is
// whether the hub runs with TLS (Options.Secure).
func (p Provider) Validate(secure bool) error {
	_, err := p.withDefaults(secure)
	return err
}

// String hides the client secret, so that logging a Provider leaks nothing.
func (p Provider) String() string {
	if p.ClientSecret != "" {
		p.ClientSecret = "***"
	}
	type plain Provider // no String method: no recursion
	return fmt.Sprintf("%+v", plain(p))
}

// GoString makes %#v as safe as %v.
func (p Provider) GoString() string { return "federation.Provider" + p.String() }

// withDefaults returns p with defaults filled in and checked; errors are
// *FieldError. secure is whether the hub runs with TLS.
func (p Provider) withDefaults(secure bool) (Provider, error) {
	fail := func(field, format string, a ...any) (Provider, error) {
		id := p.ID
		if id == "" {
			id = "?"
		}
		return Provider{}, &FieldError{Provider: id, Field: field, Msg: fmt.Sprintf(format, a...)}
	}
	if !idPattern.MatchString(p.ID) {
		return fail("ID", "%q is not 1-32 of a-z, 0-9 and -", p.ID)
	}
	if p.Name == "" {
		p.Name = p.ID
	}
	if hasControl(p.Name) {
		return fail("Name", "has control characters")
	}
	if err := checkURL(p.Issuer, secure); err != nil {
		return fail("Issuer", "%v", err)
	}
	if p.ClientID == "" {
		return fail("ClientID", "required")
	}
	if p.ClientSecret == "" {
		// Public clients exist, but a server-side hub is a confidential
		// client: an empty secret is a forgotten setting.
		return fail("ClientSecret", "required")
	}
	if err := checkURL(p.RedirectURL, secure); err != nil {
		return fail("RedirectURL", "%v", err)
	}
	if len(p.Scopes) == 0 {
		p.Scopes = DefaultScopes
	}
	scopes := []string{"openid"}
	for _, s := range p.Scopes {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r > '~' }) {
			return fail("Scopes", "%q is not a scope token", s)
		}
		if s != "openid" {
			scopes = append(scopes, s)
		}
	}
	p.Scopes = scopes
	for _, c := range []struct {
		field string
		v     *string
		def   string
	}{{"UserClaim", &p.UserClaim, DefaultUserClaim}, {"EmailClaim", &p.EmailClaim, DefaultEmailClaim}, {"GroupsClaim", &p.GroupsClaim, DefaultGroupsClaim}} {
		if *c.v == "" {
			*c.v = c.def
		}
		if hasControl(*c.v) || strings.TrimSpace(*c.v) != *c.v {
			return fail(c.field, "%q is not a claim name", *c.v)
		}
	}
	if hasControl(p.UserPrefix) || strings.TrimSpace(p.UserPrefix) != p.UserPrefix {
		return fail("UserPrefix", "%q has spaces or control characters", p.UserPrefix)
	}
	if len(p.AllowedEmailDomains) == 0 && len(p.AllowedGroups) == 0 {
		return fail("AllowedEmailDomains", `set it ("*" for any address) or AllowedGroups: without either, anyone with an account at the provider could sign in`)
	}
	domains := make([]string, 0, len(p.AllowedEmailDomains))
	for _, d := range p.AllowedEmailDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "*" {
			domains = append(domains, d)
			continue
		}
		d = strings.TrimPrefix(d, "@")
		if d == "" || strings.ContainsAny(d, "@*, /") || hasControl(d) || !strings.Contains(d, ".") {
			return fail("AllowedEmailDomains", "%q is not a domain (example.com) or *", d)
		}
		domains = append(domains, d)
	}
	p.AllowedEmailDomains = domains
	for _, g := range p.AllowedGroups {
		if !validGroup(g) {
			return fail("AllowedGroups", "%q is not a group name (empty, comma, surrounding spaces or control characters)", g)
		}
	}
	return p, nil
}

// checkURL accepts an absolute https URL, or http for a loopback host or
// when the hub itself runs without TLS (dev mode, a compose network).
func checkURL(s string, secure bool) error {
	if s == "" {
		return errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", s)
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" || u.RawQuery != "" {
		return fmt.Errorf("%q: want scheme://host[:port]/path, with no user, query or fragment", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if !secure || isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%q: http is only allowed for a loopback host or without TLS (SSO_COOKIE_SECURE=false)", s)
	}
	return fmt.Errorf("%q: scheme must be https", s)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
