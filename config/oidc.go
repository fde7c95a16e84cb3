package config

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/example/sso/federation"
	"github.com/example/sso/internal/limitfile"
)

// OIDCEnv is the one upstream OpenID provider that flat settings
// (SSO_OIDC_*, also flags and file keys) configure; more go in the file's
// oidc_providers list. Load turns it into OIDCProviders[0] when
// SSO_OIDC_ISSUER is set.
type OIDCEnv struct {
	ID                   string   // SSO_OIDC_ID
	Name                 string   // SSO_OIDC_NAME
	Issuer               string   // SSO_OIDC_ISSUER
	ClientID             string   // SSO_OIDC_CLIENT_ID
	ClientSecret         string   // SSO_OIDC_CLIENT_SECRET
	ClientSecretFile     string   // SSO_OIDC_CLIENT_SECRET_FILE
	Scopes               []string // SSO_OIDC_SCOPES
	UserClaim            string   // SSO_OIDC_USER_CLAIM
	EmailClaim           string   // SSO_OIDC_EMAIL_CLAIM
	GroupsClaim          string   // SSO_OIDC_GROUPS_CLAIM
	UserPrefix           string   // SSO_OIDC_USER_PREFIX
	AllowedEmailDomains  []string // SSO_OIDC_ALLOWED_EMAIL_DOMAINS
	AllowedGroups        []string // SSO_OIDC_ALLOWED_GROUPS
	RequireVerifiedEmail bool     // SSO_OIDC_REQUIRE_VERIFIED_EMAIL
}

// oidcField ties a federation.Provider field to its setting (SSO_OIDC_*)
// and its key in an oidc_providers entry.
type oidcField struct {
	field string // federation.Provider field, as in federation.FieldError
	env   string
	key   string // in an oidc_providers entry
	kind  kind
	get   func(e *OIDCEnv) any
}

func oidcFields() []oidcField {
	f := func(field, suffix string, k kind, get func(e *OIDCEnv) any) oidcField {
		return oidcField{field: field, env: "SSO_OIDC_" + suffix, key: strings.ToLower(suffix), kind: k, get: get}
	}
	return []oidcField{
		f("ID", "ID", kindString, func(e *OIDCEnv) any { return &e.ID }),
		f("Name", "NAME", kindString, func(e *OIDCEnv) any { return &e.Name }),
		f("Issuer", "ISSUER", kindString, func(e *OIDCEnv) any { return &e.Issuer }),
		f("ClientID", "CLIENT_ID", kindString, func(e *OIDCEnv) any { return &e.ClientID }),
		f("ClientSecret", "CLIENT_SECRET", kindString, func(e *OIDCEnv) any { return &e.ClientSecret }),
		f("", "CLIENT_SECRET_FILE", kindString, func(e *OIDCEnv) any { return &e.ClientSecretFile }),
		f("Scopes", "SCOPES", kindList, func(e *OIDCEnv) any { return &e.Scopes }),
		f("UserClaim", "USER_CLAIM", kindString, func(e *OIDCEnv) any { return &e.UserClaim }),
		f("EmailClaim", "EMAIL_CLAIM", kindString, func(e *OIDCEnv) any { return &e.EmailClaim }),
		f("GroupsClaim", "GROUPS_CLAIM", kindString, func(e *OIDCEnv) any { return &e.GroupsClaim }),
		f("UserPrefix", "USER_PREFIX", kindString, func(e *OIDCEnv) any { return &e.UserPrefix }),
		f("AllowedEmailDomains", "ALLOWED_EMAIL_DOMAINS", kindList, func(e *OIDCEnv) any { return &e.AllowedEmailDomains }),
		f("AllowedGroups", "ALLOWED_GROUPS", kindList, func(e *OIDCEnv) any { return &e.AllowedGroups }),
		f("AllowUnverifiedEmail", "REQUIRE_VERIFIED_EMAIL", kindBool, func(e *OIDCEnv) any { return &e.RequireVerifiedEmail }),
	}
}

// oidcSettings are the flat settings of the one provider, for the table.
func oidcSettings() []setting {
	help := map[string]string{
		"SSO_OIDC_ID":                     "id of the OpenID Connect provider: its callback is SSO_LOGIN_URL/oauth2/callback/<id>; 1-32 of a-z, 0-9, -",
		"SSO_OIDC_NAME":                   "label of the provider's button on the login page",
		"SSO_OIDC_ISSUER":                 "issuer URL of an upstream OpenID Connect provider (turns OIDC sign-in on); several providers: oidc_providers in the file",
		"SSO_OIDC_CLIENT_ID":              "client id registered at the provider",
		"SSO_OIDC_CLIENT_SECRET":          "client secret registered at the provider",
		"SSO_OIDC_CLIENT_SECRET_FILE":     "file holding the client secret (instead of SSO_OIDC_CLIENT_SECRET)",
		"SSO_OIDC_SCOPES":                 "comma-separated scopes; openid is always added (Dex, Keycloak: add groups)",
		"SSO_OIDC_USER_CLAIM":             "claim mapped to the user name (Google: email)",
		"SSO_OIDC_EMAIL_CLAIM":            "claim mapped to the e-mail address",
		"SSO_OIDC_GROUPS_CLAIM":           "claim mapped to the groups",
		"SSO_OIDC_USER_PREFIX":            "put before every mapped user name (e.g. corp:), so that upstream users cannot take the names of users-file users",
		"SSO_OIDC_ALLOWED_EMAIL_DOMAINS":  "comma-separated e-mail domains that may sign in, * for any; this or SSO_OIDC_ALLOWED_GROUPS is required",
		"SSO_OIDC_ALLOWED_GROUPS":         "comma-separated groups whose members may sign in (with domains set too, both must match)",
		"SSO_OIDC_REQUIRE_VERIFIED_EMAIL": "refuse an e-mail address whose email_verified claim is not true (Microsoft Entra sends none: false)",
	}
	def := map[string]string{
		"SSO_OIDC_ID": "oidc", "SSO_OIDC_SCOPES": "openid,email,profile", "SSO_OIDC_USER_CLAIM": federation.DefaultUserClaim,
		"SSO_OIDC_EMAIL_CLAIM": federation.DefaultEmailClaim, "SSO_OIDC_GROUPS_CLAIM": federation.DefaultGroupsClaim,
		"SSO_OIDC_REQUIRE_VERIFIED_EMAIL": "true",
	}
	var out []setting
	for _, f := range oidcFields() {
		get := f.get
		s := setting{env: f.env, kind: f.kind, def: def[f.env], help: help[f.env],
			field: func(c *Config) any { return get(&c.OIDC) }}
		switch f.env {
		case "SSO_OIDC_CLIENT_SECRET":
			s.secret = true
		case "SSO_OIDC_NAME":
			s.defDoc = "the id"
		}
		out = append(out, s)
	}
	return out
}

// oidcOrigin says where OIDCProviders[i] was configured, for messages.
type oidcOrigin struct {
	file string // "" for the flat settings
	line int    // of the entry in the file
	n    int    // index in oidc_providers
}

// fileProvider is one oidc_providers entry as read from the file.
type fileProvider struct {
	env  OIDCEnv
	line int
	set  map[string]bool // keys present
}

// parseOIDCProviders reads the oidc_providers list of the file.
func parseOIDCProviders(node *yaml.Node, fileErr func(string) *SettingError) ([]fileProvider, []error) {
	if node.Kind != yaml.SequenceNode {
		return nil, []error{fileErr(fmt.Sprintf("line %d: oidc_providers must be a list of providers (issuer:, client_id:, …)", node.Line))}
	}
	fields := oidcFields()
	var out []fileProvider
	var errs []error
	for n, item := range node.Content {
		if item.Kind != yaml.MappingNode {
			errs = append(errs, fileErr(fmt.Sprintf("line %d: oidc_providers[%d] must be a mapping (issuer:, client_id:, …)", item.Line, n)))
			continue
		}
		fp := fileProvider{line: item.Line, set: map[string]bool{}}
		fp.env.RequireVerifiedEmail = true
		for i := 0; i+1 < len(item.Content); i += 2 {
			k, v := item.Content[i], item.Content[i+1]
			var f *oidcField
			var keys []string
			for j := range fields {
				keys = append(keys, fields[j].key)
				if fields[j].key == k.Value {
					f = &fields[j]
				}
			}
			if f == nil {
				msg := fmt.Sprintf("line %d: oidc_providers[%d]: unknown key %s", k.Line, n, shownKey(k.Value))
				if sug := suggest(k.Value, keys); sug != "" && keyLike(k.Value) {
					msg += fmt.Sprintf(" (did you mean %q?)", sug)
				}
				errs = append(errs, fileErr(msg))
				continue
			}
			if fp.set[f.key] {
				errs = append(errs, fileErr(fmt.Sprintf("line %d: oidc_providers[%d]: key %q set twice", k.Line, n, k.Value)))
				continue
			}
			raw, ok, msg := nodeValue(v, f.kind)
			if msg == "" && ok {
				msg = parseInto(setting{env: f.env, kind: f.kind}, raw, f.get(&fp.env))
			}
			if msg != "" {
				errs = append(errs, fileErr(fmt.Sprintf("line %d: oidc_providers[%d]: %s %s", v.Line, n, k.Value, msg)))
				continue
			}
			fp.set[f.key] = ok
		}
		out = append(out, fp)
	}
	return out, errs
}

// buildOIDC turns the flat settings (when SSO_OIDC_ISSUER is set) and the
// file's entries into OIDCProviders, reading secret files; the checks of
// federation.Provider.Validate run in problems.
func (c *Config) buildOIDC(raw map[string]rawValue, file []fileProvider, path string) []error {
	var errs []error
	add := func(e OIDCEnv, o oidcOrigin, idDefault string) {
		p := federation.Provider{
			ID: e.ID, Name: e.Name, Issuer: e.Issuer, ClientID: e.ClientID, ClientSecret: e.ClientSecret,
			Scopes: e.Scopes, UserClaim: e.UserClaim, EmailClaim: e.EmailClaim, GroupsClaim: e.GroupsClaim, UserPrefix: e.UserPrefix,
			AllowedEmailDomains: e.AllowedEmailDomains, AllowedGroups: e.AllowedGroups, AllowUnverifiedEmail: !e.RequireVerifiedEmail,
		}
		if p.ID == "" {
			p.ID = idDefault
		}
		if e.ClientSecretFile != "" {
			if p.ClientSecret != "" {
				errs = append(errs, c.oidcError(o, "SSO_OIDC_CLIENT_SECRET_FILE", e.ClientSecretFile, "set both a client secret and a secret file; keep one"))
			}
			b, err := limitfile.Read(e.ClientSecretFile, limitfile.Small)
			if err != nil {
				errs = append(errs, c.oidcError(o, "SSO_OIDC_CLIENT_SECRET_FILE", e.ClientSecretFile, "cannot be read: "+pathErrMsg(err)))
			}
			p.ClientSecret = strings.TrimSpace(string(b))
		}
		if c.LoginURL != "" {
			p.RedirectURL = strings.TrimSuffix(c.LoginURL, "/") + federation.CallbackPath(p.ID)
		}
		o.file = map[bool]string{true: path, false: ""}[o.line > 0]
		c.OIDCProviders = append(c.OIDCProviders, p)
		c.oidcOrigins = append(c.oidcOrigins, o)
	}
	if c.OIDC.Issuer != "" {
		add(c.OIDC, oidcOrigin{}, "oidc")
	} else {
		// Settings of the flat provider without its issuer are a mistake
		// that would otherwise pass silently.
		for _, f := range oidcFields() {
			if r := raw[f.env]; r.origin != fromDefault && strings.TrimSpace(r.value) != "" {
				errs = append(errs, &SettingError{Setting: "SSO_OIDC_ISSUER", Msg: f.env + " is set but SSO_OIDC_ISSUER is not: set the issuer, or unset " + f.env})
				break
			}
		}
	}
	for n, fp := range file {
		add(fp.env, oidcOrigin{line: fp.line, n: n}, "")
	}
	return errs
}

// oidcError names the setting of provider origin o: the SSO_OIDC_*
// variable, or the entry's key in the file.
func (c *Config) oidcError(o oidcOrigin, env, value, msg string) error {
	if o.line == 0 {
		return newError(env, value, msg)
	}
	key := strings.ToLower(strings.TrimPrefix(env, "SSO_OIDC_"))
	return &SettingError{Setting: "SSO_CONFIG", Value: o.file,
		Msg: fmt.Sprintf("line %d: oidc_providers[%d]: %s: %s", o.line, o.n, key, msg)}
}

// oidcProblems checks each provider as federation.New will.
func (c Config) oidcProblems() []error {
	var errs []error
	seen := map[string]int{}
	for i, p := range c.OIDCProviders {
		o := oidcOrigin{}
		if i < len(c.oidcOrigins) {
			o = c.oidcOrigins[i]
		}
		if j, dup := seen[p.ID]; dup && p.ID != "" {
			errs = append(errs, c.oidcError(o, "SSO_OIDC_ID", p.ID, fmt.Sprintf("provider id used twice (also provider %d)", j+1)))
			continue
		}
		seen[p.ID] = i
		err := p.Validate(c.CookieSecure)
		var fe *federation.FieldError
		if !errors.As(err, &fe) {
			if err != nil {
				errs = append(errs, c.oidcError(o, "SSO_OIDC_ISSUER", p.Issuer, err.Error()))
			}
			continue
		}
		env, value := "SSO_OIDC_"+strings.ToUpper(fe.Field), ""
		for _, f := range oidcFields() {
			if f.field == fe.Field {
				env = f.env
			}
		}
		switch fe.Field {
		case "RedirectURL": // derived from the login URL
			env, value = "SSO_LOGIN_URL", c.LoginURL
			errs = append(errs, newError(env, value, fmt.Sprintf("callback %s of OIDC provider %q: %s", p.RedirectURL, p.ID, fe.Msg)))
			continue
		case "ClientSecret":
			value = p.ClientSecret
		default:
			value = fieldText(p, fe.Field)
		}
		errs = append(errs, c.oidcError(o, env, value, fe.Msg))
	}
	return errs
}

// fieldText is a Provider field as raw text, for messages.
func fieldText(p federation.Provider, field string) string {
	switch field {
	case "ID":
		return p.ID
	case "Name":
		return p.Name
	case "Issuer":
		return p.Issuer
	case "ClientID":
		return p.ClientID
	case "Scopes":
		return strings.Join(p.Scopes, ",")
	case "UserClaim":
		return p.UserClaim
	case "EmailClaim":
		return p.EmailClaim
	case "GroupsClaim":
		return p.GroupsClaim
	case "UserPrefix":
		return p.UserPrefix
	case "AllowedEmailDomains":
		return strings.Join(p.AllowedEmailDomains, ",")
	case "AllowedGroups":
		return strings.Join(p.AllowedGroups, ",")
	}
	return ""
}
