// Package ldapusers is the LDAP / Active Directory users backend: a
// Directory that checks a login and password against a directory server,
// with github.com/go-ldap/ldap/v3, and returns the same users.User the
// users file gives. It knows no HTTP framework or store.
//
// Authenticate follows Authelia's LDAP backend, whose setting names it
// shares (SSO_LDAP_*, see Config):
//
//  1. refuse an empty password (a bind with one is an unauthenticated
//     bind, which servers let through) and an empty, over-long or
//     control-character login, before anything is sent;
//  2. on a pooled connection bound as the service account, search
//     AdditionalUsersDN,BaseDN with UsersFilter, the login escaped
//     (ldap.EscapeFilter) into {input}; none or several entries: invalid
//     credentials;
//  3. bind as the entry's DN with the password (invalid credentials or
//     unwilling to perform: invalid credentials), then bind the connection
//     back to the service account;
//  4. read the user name, mail and display name attributes, and the groups:
//     a search with GroupsFilter ({dn}, {username}, {input}), or the
//     entry's memberOf values (GroupSearchMode "memberof", the group's name
//     being its DN's first RDN value).
//
// Unknown user, wrong password and disabled account all return
// users.ErrInvalidCredentials. Disabled accounts are the users filter's
// business: Active Directory's default filter leaves out
// userAccountControl's ACCOUNTDISABLE bit (and Implementation
// ActiveDirectory also checks the bit on the entry found); OpenLDAP has no
// standard flag, so add a condition such as (!(employeeType=disabled)) to
// the filter, as the tests do.
//
// Anything that is not the directory's answer about the credentials — the
// server down, a timeout, the service account refused, a missing base DN —
// returns an error wrapping ErrUnavailable, which must never count as a
// failed login nor give a session.
//
// Connections: at most PoolSize open at once, idle ones kept bound as the
// service account; one that fails or times out is closed rather than
// reused, and a call that finds its idle connection dead (the server
// restarted) retries once on a fresh one. Timeout bounds the dial, TLS
// handshake and service bind together, and each operation; the caller's
// context bounds everything and, when it ends, closes the connection in
// use.
//
// Plain ldap:// without StartTLS would send passwords in clear; New allows
// it only to a loopback host.
package ldapusers
