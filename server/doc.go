// Package server is the sso HTTP service on Gin: the login hub's pages, the
// JSON session API, API keys and tokens, the nginx /auth target (from
// package authz) and the operations endpoints. It receives its store, users
// and policies as values and never learns which store it was given.
//
// Errors become statuses in one place, [Server.fail].
package server
