// Package apikey defines the format of sso API keys: generating them,
// recognising them without the store, and hashing them for storage.
//
// A key is "sso_", then 43 base62 characters carrying 32 random bytes, then 6
// base62 characters of CRC32 checksum, 53 characters in all:
//
//	sso_2Vf4…(43)…kQ81Zx(6)
//
// As with GitHub's ghp_ tokens, the prefix lets secret scanners find a
// leaked key, the checksum lets them tell a real key from a look-alike
// offline, and the base62 alphabet keeps a key one word for double-click
// selection. Pattern is the regular expression for scanners.
//
// Usage:
//
//	key, id, hash, err := apikey.Generate()
//	// show key once; store id and hash
//	…
//	if !apikey.Valid(presented) {
//		// 401 without touching the store
//	}
//	k, err := keys.KeyByHash(ctx, apikey.Hash(presented))
//
// The id is derived from the key (ID), so whoever holds a leaked key can name
// it for revocation; it is hashed with its own label so it is not a prefix of
// the stored hash. Hash is a plain SHA-256: a key has 256 bits of entropy, so
// a slow password hash would add cost and no safety.
package apikey

// Pattern matches an sso API key, for secret scanners (checksum not
// included: verify candidates with Valid).
const Pattern = `\bsso_[0-9A-Za-z]{49}\b`
