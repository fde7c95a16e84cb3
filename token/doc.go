// Package token issues and verifies the short-lived JWTs sso hands out,
// signed with Ed25519 (alg EdDSA), and publishes their public keys as a
// JWKS.
//
// There are two kinds, typed explicitly so that neither can stand in for
// the other (RFC 8725 §3.11):
//
//   - client access tokens, from POST /api/token: header typ
//     "sso-access+jwt", claim token_use "access", aud the configured
//     audience, and sid (the session's ID) or key (the API key's hash)
//     naming what they were minted from, so that they die with it. Verify
//     accepts these and nothing else; it is the only verifier used for
//     credentials.
//   - upstream tokens, the X-Auth-Token /auth hands to one upstream: header
//     typ "sso-upstream+jwt", claim token_use "upstream", aud the upstream's
//     canonical origin. sso never accepts them as credentials;
//     VerifyUpstream is the reference for what an upstream checks.
//
// Keys come from the secret ring, so every sso instance that shares
// SSO_SECRET_KEYS signs with the same key and rotation follows the ring; or
// from a PKCS#8 PEM file for people who want a separate key:
//
//	secrets, err := ticket.ParseKeys(os.Getenv("SSO_SECRET_KEYS"))
//	…
//	iss, err := token.New(token.Config{
//		Issuer:   "https://login.example.com",
//		Audience: "example.com",
//		Keys:     token.DeriveKeys(secrets), // first signs, all verify
//	})
//	tok, err := iss.IssueAccess(token.Claims{Subject: "alice", SessionID: sess.ID}, time.Now())
//	claims, err := iss.Verify(tok, time.Now()) // then ask the store about claims.SessionID
//	up, err := iss.IssueUpstream(token.Claims{Subject: "alice"}, "https://api.example.com", time.Now())
//	w.Write(iss.JWKS()) // GET /.well-known/jwks.json
//
// Both verifiers accept only EdDSA tokens signed by a key of the ring
// (picked by kid, the RFC 7638 thumbprint of the public key), of their own
// type, with the configured issuer and the expected audience, with exp,
// inside exp/nbf/iat give or take the leeway, and with a subject.
package token
