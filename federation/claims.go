package federation

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Identity is an upstream user as the hub sees it.
type Identity struct {
	User     string   // UserPrefix + the user claim
	Email    string   // lower case; "" when the provider sent none
	Groups   []string // from the groups claim; names unusable in X-Auth-Groups dropped
	Provider string   // Provider.ID; the session's source is "oidc:" + Provider
	Subject  string   // the provider's sub, stable per user
	// RefreshToken is the provider's refresh token, when it issued one (ask
	// for the offline_access scope; Google: access_type=offline is not
	// sent, so none), for Recheck. It is a credential at the provider: keep
	// it server-side only, never in a cookie, a log or an API answer.
	RefreshToken string
	// AMR is the ID token's amr claim (RFC 8176: how the provider
	// authenticated the user), from the ID token only, never userinfo:
	// only the signed token vouches for it. nil when absent or not a list
	// of short names; the hub decides what it proves (login.FederatedFactors).
	AMR []string
	// AuthTime is the ID token's auth_time, when the user last
	// authenticated at the provider; zero when absent or unusable.
	// Callback sets both; Recheck leaves them empty (a refresh proves no
	// new authentication).
	AuthTime time.Time
}

// String hides the refresh token, so that logging an Identity leaks nothing.
func (id Identity) String() string {
	if id.RefreshToken != "" {
		id.RefreshToken = "***"
	}
	type plain Identity
	return fmt.Sprintf("%+v", plain(id))
}

// GoString makes %#v as safe as %v.
func (id Identity) GoString() string { return "federation.Identity" + id.String() }

// maxClaim bounds the user name and e-mail taken from a provider.
const maxClaim = 256

// mapClaims turns verified claims into an Identity, or a reason the user is
// refused (shown to the user: it names claims, never values).
func mapClaims(p Provider, claims map[string]any) (Identity, string) {
	id := Identity{Provider: p.ID}
	id.Subject, _ = claims["sub"].(string)
	user, ok := claims[p.UserClaim].(string)
	if !ok || user == "" {
		return Identity{}, fmt.Sprintf("the provider sent no %s claim", p.UserClaim)
	}
	if len(user) > maxClaim || user != strings.TrimSpace(user) || hasControl(user) {
		return Identity{}, fmt.Sprintf("the %s claim is not a usable user name", p.UserClaim)
	}
	id.User = p.UserPrefix + user

	if v, present := claims[p.EmailClaim]; present {
		email, ok := v.(string)
		if !ok || len(email) > maxClaim || strings.Count(email, "@") != 1 || strings.ContainsAny(email, " ,") || hasControl(email) {
			return Identity{}, fmt.Sprintf("the %s claim is not an e-mail address", p.EmailClaim)
		}
		if !p.AllowUnverifiedEmail && !truthy(claims["email_verified"]) {
			return Identity{}, "the provider has not verified the e-mail address"
		}
		id.Email = strings.ToLower(email)
	}

	switch g := claims[p.GroupsClaim].(type) {
	case nil:
	case string: // some providers send one group as a string
		if validGroup(g) {
			id.Groups = []string{g}
		}
	case []any:
		for _, e := range g {
			if s, ok := e.(string); ok && validGroup(s) && !slices.Contains(id.Groups, s) {
				id.Groups = append(id.Groups, s)
			}
		}
	default:
		return Identity{}, fmt.Sprintf("the %s claim is not a list of names", p.GroupsClaim)
	}

	if len(p.AllowedEmailDomains) > 0 && !slices.Contains(p.AllowedEmailDomains, "*") {
		if id.Email == "" {
			return Identity{}, "the provider sent no e-mail address, and only some domains may sign in"
		}
		domain := id.Email[strings.LastIndexByte(id.Email, '@')+1:]
		if !slices.Contains(p.AllowedEmailDomains, domain) {
			return Identity{}, "this e-mail domain may not sign in here"
		}
	}
	if len(p.AllowedGroups) > 0 && !slices.ContainsFunc(id.Groups, func(g string) bool { return slices.Contains(p.AllowedGroups, g) }) {
		return Identity{}, "you are in none of the groups that may sign in here"
	}
	return id, ""
}

// truthy accepts email_verified as true or "true" (some providers, e.g.
// Amazon Cognito, send a string).
func truthy(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return strings.EqualFold(b, "true")
	}
	return false
}

// validGroup: groups travel comma-separated in X-Auth-Groups, as in the
// users file.
func validGroup(g string) bool {
	return g != "" && len(g) <= maxClaim && !strings.Contains(g, ",") && g == strings.TrimSpace(g) && !hasControl(g)
}

func hasControl(s string) bool { return strings.ContainsFunc(s, unicode.IsControl) }

// Bounds of the amr claim: RFC 8176 values are short names, and a
// provider's own ones hardly longer; more is not an amr worth reading.
const (
	maxAMR    = 16
	maxAMRLen = 64
	// maxAuthTime (year 2286) keeps time.Unix away from overflow.
	maxAuthTime = 1e10
)

// authClaims reads amr and auth_time from an ID token's claims, tolerating
// odd shapes: a single string counts as a list of one, non-string or
// unusable entries are skipped, any other type (or too many values) is no
// amr at all, and auth_time must be a positive number of seconds. Nothing
// here refuses a sign-in: an amr that cannot be read proves nothing.
func authClaims(claims map[string]any) (amr []string, at time.Time) {
	switch v := claims["amr"].(type) {
	case string:
		if validAMR(v) {
			amr = []string{v}
		}
	case []any:
		if len(v) <= maxAMR {
			for _, e := range v {
				if s, ok := e.(string); ok && validAMR(s) && !slices.Contains(amr, s) {
					amr = append(amr, s)
				}
			}
		}
	}
	if f, ok := claims["auth_time"].(float64); ok && f >= 1 && f < maxAuthTime {
		at = time.Unix(int64(f), 0).UTC()
	}
	return amr, at
}

func validAMR(s string) bool {
	return s != "" && len(s) <= maxAMRLen && !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}
