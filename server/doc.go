// Package server is the sso HTTP service on Gin: the login hub's pages, the
// JSON session API, API keys and tokens, the nginx /auth target (from
// package authz) and the operations endpoints. It receives its store, users
// and policies as values and never learns which store it was given.
//
// Logins run in package login's pipeline (regulation, password checks,
// session minting); the form and POST /api/session are thin adapters over
// it. Failed logins are regulated ([Regulation]): a user name or client IP
// with too many recent failures is refused with 429 before any password
// check, through a [session.Limiter] that every instance on one store
// shares. The password method is the users file or an LDAP directory
// (Options.Password); GET /oauth2/start/:id and /oauth2/callback/:id adapt
// package federation's OpenID Connect sign-in, whose identities are minted
// by the same pipeline without regulation (no password was tried).
//
// Errors become statuses in one place, [Server.fail].
package server
