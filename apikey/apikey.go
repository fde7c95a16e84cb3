package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"math/big"
)

// Prefix starts every key.
const Prefix = "sso_"

const (
	secretBytes = 32
	bodyLen     = 43 // ceil(256 / log2(62))
	checkLen    = 6  // ceil(32 / log2(62))

	// Len is the length of every key.
	Len = len(Prefix) + bodyLen + checkLen
)

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Generate returns a new key, its public id (ID) and its storage hash (Hash).
func Generate() (key, id, hash string, err error) {
	return generate(rand.Reader)
}

func generate(r io.Reader) (key, id, hash string, err error) {
	secret := make([]byte, secretBytes)
	if _, err := io.ReadFull(r, secret); err != nil {
		return "", "", "", fmt.Errorf("apikey: random: %w", err)
	}
	body := base62(new(big.Int).SetBytes(secret), bodyLen)
	key = Prefix + body + checksum(body)
	return key, ID(key), Hash(key), nil
}

// checksum is the CRC32 (IEEE) of prefix and body, in base62.
func checksum(body string) string {
	c := crc32.ChecksumIEEE([]byte(Prefix + body))
	return base62(new(big.Int).SetUint64(uint64(c)), checkLen)
}

// base62 encodes n in exactly width digits, most significant first; n must
// fit, which the callers' widths guarantee.
func base62(n *big.Int, width int) string {
	out := make([]byte, width)
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = alphabet[mod.Int64()]
	}
	return string(out)
}

// Valid reports whether key has the shape of a key Generate makes: prefix,
// length, alphabet and checksum. It does not consult any store.
func Valid(key string) bool {
	if len(key) != Len || key[:len(Prefix)] != Prefix {
		return false
	}
	rest := key[len(Prefix):]
	for i := 0; i < len(rest); i++ {
		if !isBase62(rest[i]) {
			return false
		}
	}
	body := rest[:bodyLen]
	return rest[bodyLen:] == checksum(body)
}

func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z'
}

// Hash returns the hex SHA-256 of key: the value a store keeps and looks
// keys up by.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// ID returns the public id of key: 16 hex characters (64 bits) of SHA-256
// over a label and the key. It is safe to show, log and put in URLs.
func ID(key string) string {
	sum := sha256.Sum256([]byte("sso apikey id\x00" + key))
	return hex.EncodeToString(sum[:8])
}
