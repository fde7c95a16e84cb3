package ticket

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

const (
	// IDLen is the length of an id made by NewID: 32 bytes in unpadded base64url.
	IDLen = 43
	// ValueLen is the length of every value Encode returns: id "." mac.
	ValueLen = IDLen + 1 + macLen
	// MinKeyLen is the shortest secret key accepted, in bytes.
	MinKeyLen = 32

	idBytes = 32
	macLen  = 43 // base64url of a 32-byte HMAC-SHA256, no padding

	// macLabel separates the cookie MAC key from other keys derived from the
	// same configured secret (JWT signing keys use another label).
	macLabel = "sso session cookie"
)

// ErrInvalid is wrapped by every Decode error. The errors never include the
// value, since a cookie value is a credential.
var ErrInvalid = errors.New("ticket: invalid cookie value")

// Decode's refusals of a value of the right length, made once: a forged
// cookie costs no allocation. (A wrong length says which, as it always did.)
var (
	errMalformed = fmt.Errorf("%w: malformed", ErrInvalid)
	errSignature = fmt.Errorf("%w: bad signature", ErrInvalid)
)

// NewID returns a new session id: 32 bytes from crypto/rand, base64url
// without padding (IDLen characters).
func NewID() (string, error) {
	b := make([]byte, idBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("ticket: new id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Hash returns the hex SHA-256 of id. It is the store key and the public
// session id: knowing it does not let anyone forge the cookie.
func Hash(id string) string {
	// One allocation, the string: []byte(id) of a cookie's id (longer
	// than the compiler's 32-byte stack buffer) and hex.EncodeToString
	// would make three.
	var in [2 * IDLen]byte
	var sum [sha256.Size]byte
	if len(id) <= len(in) {
		sum = sha256.Sum256(append(in[:0], id...))
	} else {
		sum = sha256.Sum256([]byte(id))
	}
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// ParseKeys parses a comma-separated list of base64 keys, in the standard or
// URL alphabet, padded or not. Each key must decode to at least MinKeyLen
// bytes. Errors name the key by position and never print it.
func ParseKeys(s string) ([][]byte, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("ticket: no keys")
	}
	parts := strings.Split(s, ",")
	keys := make([][]byte, 0, len(parts))
	for i, p := range parts {
		k, err := decodeKey(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("ticket: key %d of %d: %w", i+1, len(parts), err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty")
	}
	// One alphabet for both: '-' and '_' are the URL forms of '+' and '/'.
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	k, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		// The error reports an offset only, not the input.
		return nil, fmt.Errorf("not base64: %w", err)
	}
	if len(k) < MinKeyLen {
		return nil, fmt.Errorf("decodes to %d bytes, need at least %d", len(k), MinKeyLen)
	}
	return k, nil
}

// Codec signs and verifies cookie values for one cookie name.
// It is safe for concurrent use.
type Codec struct {
	name string
	macs [][]byte // derived MAC keys, signing key first
	// pools hold keyed HMAC states, one pool per key: hmac.New costs
	// several allocations, and every /auth verifies a cookie.
	pools []*sync.Pool
}

// macState is a keyed HMAC and the buffer its input is assembled in: a
// string written to a hash.Hash (an interface) is copied to the heap on
// every call, a pooled buffer is not.
type macState struct {
	h   hash.Hash
	buf []byte
	sum []byte // h.Sum's output, for the same reason
}

// strictB64 refuses non-zero trailing bits, so each MAC has one encoding.
var strictB64 = base64.RawURLEncoding.Strict()

// New returns a Codec for the cookie called name. The first key signs; all
// keys verify, so a new key can be put first without logging anyone out.
// Each key must be at least MinKeyLen bytes.
func New(name string, keys [][]byte) (*Codec, error) {
	if name == "" {
		return nil, errors.New("ticket: empty cookie name")
	}
	if len(keys) == 0 {
		return nil, errors.New("ticket: no keys")
	}
	c := &Codec{name: name, macs: make([][]byte, len(keys)), pools: make([]*sync.Pool, len(keys))}
	for i, k := range keys {
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("ticket: key %d of %d is %d bytes, need at least %d", i+1, len(keys), len(k), MinKeyLen)
		}
		mk, err := hkdf.Key(sha256.New, k, nil, macLabel, sha256.Size)
		if err != nil {
			return nil, fmt.Errorf("ticket: derive key %d: %w", i+1, err)
		}
		c.macs[i] = mk
		c.pools[i] = &sync.Pool{New: func() any {
			return &macState{h: hmac.New(sha256.New, mk), buf: make([]byte, 0, len(name)+1+IDLen), sum: make([]byte, 0, sha256.Size)}
		}}
	}
	return c, nil
}

// Encode returns the cookie value for id, signed with the first key.
// id should come from NewID: Decode accepts only ids of that shape.
func (c *Codec) Encode(id string) string {
	var sum [sha256.Size]byte
	return id + "." + base64.RawURLEncoding.EncodeToString(c.mac(0, id, sum[:0]))
}

// mac appends to dst the MAC of id under key i. It covers the cookie name
// as well, so a value minted for one cookie is refused as another
// (securecookie's "name|date|value").
func (c *Codec) mac(i int, id string, dst []byte) []byte {
	m := c.pools[i].Get().(*macState)
	m.h.Reset() // back to the keyed state
	m.buf = append(append(append(m.buf[:0], c.name...), '|'), id...)
	m.h.Write(m.buf)
	m.sum = m.h.Sum(m.sum[:0])
	dst = append(dst, m.sum...)
	c.pools[i].Put(m)
	return dst
}

// Decode verifies value and returns the id it carries. The shape is checked
// before anything is decoded, and the MAC is compared in constant time
// against every key. Errors wrap ErrInvalid and never include value.
func (c *Codec) Decode(value string) (string, error) {
	if len(value) != ValueLen {
		return "", fmt.Errorf("%w: length %d, want %d", ErrInvalid, len(value), ValueLen)
	}
	id, sig := value[:IDLen], value[IDLen+1:]
	if value[IDLen] != '.' || !isBase64URL(id) || !isBase64URL(sig) {
		return "", errMalformed
	}
	// Decoded into an array: macLen characters are exactly sha256.Size
	// bytes, and no heap copy is made per request.
	var mac [sha256.Size]byte
	if n, err := strictB64.Decode(mac[:], []byte(sig)); err != nil || n != sha256.Size {
		return "", errMalformed
	}
	got := mac[:]
	ok := false
	var sum [sha256.Size]byte
	for i := range c.macs {
		// No early exit: the time taken does not tell which key matched.
		if hmac.Equal(got, c.mac(i, id, sum[:0])) {
			ok = true
		}
	}
	if !ok {
		return "", errSignature
	}
	return id, nil
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}
