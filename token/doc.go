// Package token issues and verifies the short-lived JWTs sso hands to
// scripts (POST /api/token) and to upstreams (X-Auth-Token), signed with
// Ed25519 (alg EdDSA), and publishes their public keys as a JWKS.
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
//	tok, err := iss.Issue(token.Claims{Subject: "alice", Email: "alice@example.com"}, time.Now())
//	claims, err := iss.Verify(tok, time.Now())
//	w.Write(iss.JWKS()) // GET /.well-known/jwks.json
//
// Verify accepts only EdDSA tokens signed by a key of the ring (picked by
// kid, the RFC 7638 thumbprint of the public key), with the configured
// issuer and audience, inside exp/nbf/iat give or take the leeway, and with
// a subject.
package token
