package users

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Argon2id parameters HashPassword uses: Authelia's defaults.
const (
	DefaultMemory  = 64 * 1024 // KiB
	DefaultTime    = 3
	DefaultThreads = 4
	SaltLen        = 16
	KeyLen         = 32
)

// MaxPasswordLen bounds the passwords HashPassword accepts and Authenticate
// tries; longer ones are refused without hashing.
const MaxPasswordLen = 1024

// maxEncodedLen bounds an encoded hash before any parsing; real ones are
// under 150 bytes.
const maxEncodedLen = 512

// limits are the largest hash parameters we agree to compute, so that a
// hostile users file (or a fuzzer) cannot make one login cost gigabytes of
// memory or minutes of CPU.
type limits struct {
	memory     uint32 // argon2 m, KiB
	time       uint32 // argon2 t
	threads    uint32 // argon2 p
	bcryptCost int
}

// defaultLimits: m <= 4 GiB, t <= 100, p <= 255, bcrypt cost <= 16 (about
// five seconds per attempt; Authelia's default is 12).
var defaultLimits = limits{memory: 4 * 1024 * 1024, time: 100, threads: 255, bcryptCost: 16}

type scheme int

const (
	schemeArgon2id scheme = iota + 1
	schemeBcrypt
)

// params is a decoded hash. Two hashes with equal kind and cost parameters
// cost the same time to verify, which is what the dummy hash relies on.
type params struct {
	scheme  scheme
	memory  uint32
	time    uint32
	threads uint32
	cost    int // bcrypt
	salt    []byte
	key     []byte
}

// costKey identifies the work a hash takes to verify.
// checkMemory is what one verification with p allocates, roughly, in bytes.
func (p params) checkMemory() int64 {
	if p.scheme == schemeBcrypt {
		return 4 << 10
	}
	return int64(p.memory) << 10
}

func (p params) costKey() string {
	if p.scheme == schemeBcrypt {
		return "bcrypt:" + strconv.Itoa(p.cost)
	}
	return fmt.Sprintf("argon2id:%d:%d:%d:%d", p.memory, p.time, p.threads, len(p.key))
}

// knownSchemes names the crypt(3) and PHC identifiers Authelia's go-crypt
// understands, so that a refusal can say what it refused.
var knownSchemes = map[string]string{
	"argon2i":       "argon2i",
	"argon2d":       "argon2d",
	"1":             "md5crypt",
	"5":             "sha256crypt",
	"6":             "sha512crypt",
	"7":             "scrypt",
	"y":             "yescrypt",
	"scrypt":        "scrypt",
	"pbkdf2":        "pbkdf2",
	"pbkdf2-sha1":   "pbkdf2",
	"pbkdf2-sha224": "pbkdf2",
	"pbkdf2-sha256": "pbkdf2",
	"pbkdf2-sha384": "pbkdf2",
	"pbkdf2-sha512": "pbkdf2",
	"bcrypt-sha256": "bcrypt-sha256",
	"md5":           "md5crypt",
	"sha1":          "sha1crypt",
}

// parseHash decodes an encoded hash and checks it against lim. Its errors
// carry no package prefix; callers add "users:" and the user name.
func parseHash(encoded string, lim limits) (params, error) {
	// Authelia writes and accepts an optional LDAP-style "{CRYPT}" prefix.
	encoded = strings.TrimPrefix(encoded, "{CRYPT}")
	if len(encoded) > maxEncodedLen {
		return params{}, fmt.Errorf("password hash is longer than %d bytes", maxEncodedLen)
	}
	if encoded == "" {
		return params{}, errors.New("password hash is empty")
	}
	if !strings.HasPrefix(encoded, "$") {
		return params{}, errors.New("password hash is not in crypt format (want $argon2id$… or $2b$…; see sso hash-password)")
	}
	id, _, _ := strings.Cut(encoded[1:], "$")
	switch id {
	case "argon2id":
		return parseArgon2id(encoded, lim)
	case "2a", "2b", "2y":
		return parseBcrypt(encoded, lim)
	}
	if name, ok := knownSchemes[id]; ok {
		return params{}, fmt.Errorf("password hash scheme %q (%s) is not supported; use argon2id or bcrypt (sso hash-password)", "$"+id+"$", name)
	}
	return params{}, fmt.Errorf("password hash scheme %q is unknown; use argon2id or bcrypt (sso hash-password)", truncate("$"+id+"$", 20))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// parseArgon2id reads the PHC string $argon2id$v=19$m=M,t=T,p=P$salt$key as
// Authelia's go-crypt does: parameters in either of the two middle fields and
// in any order, a missing t, p or m taking go-crypt's defaults (1, 4, 32768),
// salt and key in unpadded standard base64.
func parseArgon2id(encoded string, lim limits) (params, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 {
		return params{}, errors.New("malformed argon2id hash: want $argon2id$v=19$m=…,t=…,p=…$salt$key")
	}
	p := params{scheme: schemeArgon2id}
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[2]+","+parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return params{}, fmt.Errorf("malformed argon2id hash: parameter %q is not key=value", truncate(kv, 20))
		}
		if seen[k] {
			return params{}, fmt.Errorf("malformed argon2id hash: parameter %q repeated", truncate(k, 20))
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return params{}, fmt.Errorf("malformed argon2id hash: parameter %q has invalid value %q", truncate(k, 20), truncate(v, 20))
		}
		switch k {
		case "v":
			if n != argon2.Version {
				return params{}, fmt.Errorf("argon2id hash version %d is not supported, only %d", n, argon2.Version)
			}
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			p.threads = uint32(n)
		case "k":
			// Key length; go-crypt ignores it too, the key itself says.
		default:
			return params{}, fmt.Errorf("malformed argon2id hash: unknown parameter %q", truncate(k, 20))
		}
	}
	if p.time == 0 {
		p.time = 1
	}
	if p.threads == 0 {
		p.threads = 4
	}
	if p.memory == 0 {
		p.memory = 32 * 1024
	}
	if p.memory > lim.memory || p.time > lim.time || p.threads > lim.threads {
		return params{}, fmt.Errorf("argon2id hash parameters m=%d,t=%d,p=%d exceed the limits m=%d,t=%d,p=%d",
			p.memory, p.time, p.threads, lim.memory, lim.time, lim.threads)
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4]); err != nil {
		return params{}, fmt.Errorf("malformed argon2id hash: salt: %w", err)
	}
	if p.key, err = base64.RawStdEncoding.Strict().DecodeString(parts[5]); err != nil {
		return params{}, fmt.Errorf("malformed argon2id hash: key: %w", err)
	}
	if len(p.salt) < 8 {
		return params{}, fmt.Errorf("malformed argon2id hash: salt has %d bytes, want at least 8", len(p.salt))
	}
	if len(p.key) < 16 {
		return params{}, fmt.Errorf("malformed argon2id hash: key has %d bytes, want at least 16", len(p.key))
	}
	return p, nil
}

func parseBcrypt(encoded string, lim limits) (params, error) {
	cost, err := bcrypt.Cost([]byte(encoded))
	if err != nil {
		return params{}, fmt.Errorf("malformed bcrypt hash: %w", err)
	}
	// bcrypt.Cost checks only the prefix; the full length is fixed (60).
	if len(encoded) != 60 {
		return params{}, fmt.Errorf("malformed bcrypt hash: %d bytes, want 60", len(encoded))
	}
	if encoded[6] != '$' {
		return params{}, errors.New("malformed bcrypt hash: want $2b$NN$ then 53 characters")
	}
	// Salt and hash: 53 characters of bcrypt's own base64 alphabet.
	for _, c := range []byte(encoded[7:]) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '/') {
			return params{}, errors.New("malformed bcrypt hash: character outside the bcrypt alphabet")
		}
	}
	if cost > lim.bcryptCost {
		return params{}, fmt.Errorf("bcrypt hash cost %d exceeds the limit %d", cost, lim.bcryptCost)
	}
	return params{scheme: schemeBcrypt, cost: cost}, nil
}

// HashPassword hashes password with argon2id and Authelia's default
// parameters (m=65536 KiB, t=3, p=4, 16-byte salt, 32-byte key) and returns
// the PHC string Authelia writes.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("users: empty password")
	}
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("users: password longer than %d bytes", MaxPasswordLen)
	}
	salt := make([]byte, SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("users: salt: %w", err)
	}
	return encodeArgon2id(password, salt, DefaultMemory, DefaultTime, DefaultThreads, KeyLen), nil
}

func encodeArgon2id(password string, salt []byte, m, t uint32, p uint8, keyLen uint32) string {
	key := argon2.IDKey([]byte(password), salt, t, m, p, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, t, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// VerifyPassword reports whether password matches the argon2id or bcrypt
// hash encoded. The error is non-nil only when encoded is malformed, of an
// unsupported scheme, or asks for more than m=4GiB, t=100, p=255 or bcrypt
// cost 16.
func VerifyPassword(encoded, password string) (bool, error) {
	return verify(encoded, password, defaultLimits)
}

func verify(encoded, password string, lim limits) (bool, error) {
	p, err := parseHash(encoded, lim)
	if err != nil {
		return false, fmt.Errorf("users: %w", err)
	}
	return p.verify(strings.TrimPrefix(encoded, "{CRYPT}"), password), nil
}

// verify assumes p came from parseHash(encoded), so the parameters are
// within limits and IDKey cannot panic (t >= 1, 1 <= p <= 255).
func (p params) verify(encoded, password string) bool {
	switch p.scheme {
	case schemeArgon2id:
		got := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, uint8(p.threads), uint32(len(p.key)))
		return subtle.ConstantTimeCompare(got, p.key) == 1
	case schemeBcrypt:
		// CompareHashAndPassword compares in constant time itself.
		return bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password)) == nil
	}
	return false
}

func bcryptHash(password string, cost int) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	return string(b), err
}
