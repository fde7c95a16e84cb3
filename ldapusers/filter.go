package ldapusers

import (
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// userFilter is UsersFilter with its placeholders replaced; the login goes
// in escaped (RFC 4515: *, (, ), \ and NUL, plus every byte >= 0x80), so no
// login can add conditions or wildcards to the filter.
func (c Config) userFilter(input string) string {
	return strings.NewReplacer(
		"{username_attribute}", c.UsernameAttribute,
		"{mail_attribute}", c.MailAttribute,
		"{display_name_attribute}", c.DisplayNameAttribute,
		"{input}", ldap.EscapeFilter(input),
	).Replace(c.UsersFilter)
}

// groupFilter is GroupsFilter with its placeholders replaced, each value
// escaped: a DN may hold characters that are special in a filter.
func (c Config) groupFilter(input, username, dn string) string {
	return strings.NewReplacer(
		"{input}", ldap.EscapeFilter(input),
		"{username}", ldap.EscapeFilter(username),
		"{dn}", ldap.EscapeFilter(dn),
	).Replace(c.GroupsFilter)
}

// groupFromDN returns the value of the first RDN attribute of dn named
// attr (a memberOf value cn=admins,ou=groups,… gives admins), or "".
func groupFromDN(dn, attr string) string {
	parsed, err := ldap.ParseDN(dn)
	if err != nil || len(parsed.RDNs) == 0 {
		return ""
	}
	for _, a := range parsed.RDNs[0].Attributes {
		if strings.EqualFold(a.Type, attr) {
			return a.Value
		}
	}
	return ""
}
