// Package login is everything between "someone proves who they are" and "a
// session exists", in plain Go (net/http types only, like authz): the
// first-factor methods, login regulation (failure counts, bans, device
// cookies, reservations), the memory budget of password checks, minting the
// session and its cookie, and the hooks that audit logging and metrics
// attach to. server keeps thin adapters: the login form, the JSON API and
// (later) the OIDC callback turn an HTTP request into a Request and the
// Pipeline's answer back into HTTP.
//
//	p, err := login.New(login.Options{ /* stores, cookies, secret, … */ })
//	req := login.Request{ClientIP: ip, UserAgent: ua, Host: host, DeviceCookies: values}
//	res, err := p.Password(ctx, req, name, password) // regulated first factor
//	// (a second factor would be checked here, adding to res.Factors)
//	m, err := p.Mint(ctx, res.Identity, res.Factors, req)
//	// set res.Cookies and m.Cookie on the answer
//
// A method that proves the identity itself (an upstream OIDC login) skips
// Password and calls Mint with the Identity it proved and its Factor.
package login
