package login

import "strings"

// MFAUser is the name id's second factors are kept under in the mfa store
// (TOTP, recovery codes, passkeys, pending logins, the second-factor
// regulation bucket): the user name for the users file, the source and the
// name otherwise ("ldap:alice", "oidc:corp:alice"). A file user "alice"
// and the user "alice" of a provider are different people: they must not
// share factors, nor may one's failed codes lock out the other.
func (id Identity) MFAUser() string { return MFAUser(id.User, id.Source) }

// MFAUser is Identity.MFAUser of a session's or identity's user and source.
// It is one-to-one: a file user whose name has a colon is kept as
// "file:<name>", so that no file user can be named like a federated key;
// sources other than "" have no colon but in "oidc:<provider>", whose
// provider ids have none.
func MFAUser(user, source string) string {
	switch {
	case source != "":
		return source + ":" + user
	case strings.Contains(user, ":"):
		return "file:" + user
	}
	return user
}

// SplitMFAUser is the inverse of MFAUser: the user name and source of a
// key, for events and pages.
func SplitMFAUser(key string) (user, source string) {
	before, after, ok := strings.Cut(key, ":")
	switch {
	case !ok:
		return key, ""
	case before == "file":
		return after, ""
	case before == "oidc":
		if id, name, ok := strings.Cut(after, ":"); ok {
			return name, "oidc:" + id
		}
	}
	return after, before
}
