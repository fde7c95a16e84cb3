// Package authz decides who a request is and whether it may pass: the
// credential check shared by the JSON API, and the nginx `auth_request`
// target (GET and OPTIONS /auth). It is plain net/http: stores, the users
// file and the token issuer come in as values, so it tests with httptest and
// no Gin or Redis.
//
//	h := &authz.Handler{Auth: a, CORS: policy, Proxies: proxies, LoginURL: "https://login.example.com", Log: log}
//	mux.Handle("/auth", h)
package authz
