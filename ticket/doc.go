// Package ticket makes session ids and the signed cookie value that carries
// them, modelled on gorilla/securecookie.
//
// The cookie holds only a random id and its MAC; the store is keyed by
// Hash(id), so a dump of the store holds no usable cookie. Keys rotate
// through a ring: the first key signs, every key verifies, and removing a
// key from the ring invalidates the cookies it signed.
//
//	keys, err := ticket.ParseKeys(os.Getenv("SSO_SECRET_KEYS"))
//	if err != nil { ... }
//	codec, err := ticket.New("sso_session", keys)
//	if err != nil { ... }
//
//	id, err := ticket.NewID()           // on login
//	value := codec.Encode(id)           // the cookie value
//	storeKey := ticket.Hash(id)         // session.Session.ID
//
//	id, err = codec.Decode(cookie.Value) // on every request; no store look-up when it fails
package ticket
