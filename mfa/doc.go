// Package mfa enrols and checks second factors: TOTP (pquerna/otp) with
// one-time recovery codes, and WebAuthn passkeys (go-webauthn). It knows no
// HTTP framework and no store client: records go through a Store
// (mfa/memstore, mfa/redisstore), sealed with XChaCha20-Poly1305 under keys
// derived from SSO_SECRET_KEYS and bound to their user. The rules that
// must hold across instances (a TOTP step used once, a recovery code used
// once, a WebAuthn signature counter that only grows, a ceremony finished
// once) are kept by the store's compare-and-set, not in memory. See
// docs/second-factor.md.
//
//	m, err := mfa.New(mfa.Options{Store: redisstore.New(client, ""), Keys: secrets})
//	e, err := m.BeginTOTP(ctx, "alice", "alice@example.com") // show e.PNG, e.Secret; e.ID into m.CeremonyCookie
//	err = m.ConfirmTOTP(ctx, e.ID, "alice", "123456")
//	codes, err := m.NewRecoveryCodes(ctx, "alice")            // show once
//	res, err := m.VerifyTOTP(ctx, "alice", code)              // at login: res.AMR == "otp"
//
//	p, err := m.Passkeys(mfa.RP{ID: "example.com", Origins: []string{"https://login.example.com"}})
//	opts, id, err := p.BeginLogin(ctx, mfa.User{Name: "alice"}) // opts to navigator.credentials.get()
//	res, err = p.FinishLogin(ctx, id, mfa.User{Name: "alice"}, r.Body)
package mfa
