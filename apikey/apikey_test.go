package apikey

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
)

var patternRE = regexp.MustCompile(Pattern)

// decode62 is the slow inverse of base62, for checking round trips.
func decode62(s string) *big.Int {
	n := new(big.Int)
	for _, c := range []byte(s) {
		n.Mul(n, big.NewInt(62))
		n.Add(n, big.NewInt(int64(strings.IndexByte(alphabet, c))))
	}
	return n
}

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		key, id, hash, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if !Valid(key) {
			t.Fatalf("Valid(%q) = false for a generated key", key)
		}
		if !patternRE.MatchString(key) {
			t.Fatalf("Pattern does not match %q", key)
		}
		if len(key) != Len || len(id) != 16 || len(hash) != 64 {
			t.Fatalf("lengths %d, %d, %d; want %d, 16, 64", len(key), len(id), len(hash), Len)
		}
		if id != ID(key) || hash != Hash(key) {
			t.Fatalf("Generate id, hash = %q, %q; want ID(key), Hash(key) = %q, %q", id, hash, ID(key), Hash(key))
		}
		if strings.HasPrefix(hash, id) {
			t.Fatalf("id %q is a prefix of the stored hash %q", id, hash)
		}
		if seen[key] {
			t.Fatalf("Generate repeated %q", key)
		}
		seen[key] = true
	}
}

func TestGenerateEncoding(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
	}{
		{"zero", make([]byte, 32)},
		{"max", bytes.Repeat([]byte{0xff}, 32)},
		{"one", append(make([]byte, 31), 1)},
		{"pattern", []byte("0123456789abcdef0123456789abcdef")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, _, _, err := generate(bytes.NewReader(tc.secret))
			if err != nil {
				t.Fatal(err)
			}
			if !Valid(key) {
				t.Fatalf("Valid(%q) = false", key)
			}
			got := decode62(key[len(Prefix) : len(Prefix)+bodyLen])
			if want := new(big.Int).SetBytes(tc.secret); got.Cmp(want) != 0 {
				t.Errorf("body of %q decodes to %x, want %x", key, got, want)
			}
		})
	}
}

// TestGolden pins the format: changing it would invalidate every key out there.
func TestGolden(t *testing.T) {
	key, id, hash, err := generate(bytes.NewReader(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	// Checksum cross-checked with Python: zlib.crc32(b"sso_" + b"0"*43) in base62.
	const want = "sso_" + "0000000000000000000000000000000000000000000" + "3IlBS7"
	if key != want {
		t.Errorf("generate(zeros) = %q, want %q", key, want)
	}
	sum := sha256.Sum256([]byte(want))
	if hash != hex.EncodeToString(sum[:]) {
		t.Errorf("hash = %q, want hex SHA-256 of the key", hash)
	}
	if id != ID(want) {
		t.Errorf("id = %q, want %q", id, ID(want))
	}
}

func TestGenerateRandomError(t *testing.T) {
	if _, _, _, err := generate(iotest.ErrReader(iotest.ErrTimeout)); err == nil {
		t.Fatal("generate with failing reader succeeded, want error")
	}
	if _, _, _, err := generate(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Fatal("generate with short reader succeeded, want error")
	}
}

func TestValid(t *testing.T) {
	key, _, _, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key string
		want      bool
	}{
		{"generated", key, true},
		{"empty", "", false},
		{"prefix only", Prefix, false},
		{"wrong prefix", "ssp_" + key[4:], false},
		{"upper prefix", "SSO_" + key[4:], false},
		{"ghp", "ghp_" + key[4:], false},
		{"short", key[:Len-1], false},
		{"long", key + "0", false},
		{"space", key[:10] + " " + key[11:], false},
		{"dash", key[:10] + "-" + key[11:], false},
		{"underscore", key[:10] + "_" + key[11:], false},
		{"non-ascii", key[:Len-2] + "é", false},
		{"checksum zeroed", key[:Len-checkLen] + "000000", false},
		{"trailing newline", key[:Len-1] + "\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Valid(tc.key); got != tc.want {
				t.Errorf("Valid(%q) = %v, want %v", tc.key, got, tc.want)
			}
		})
	}
}

// Every single-character substitution is caught: CRC32 detects every error
// confined to 32 bits of the body, and the checksum encoding is canonical.
func TestValidDetectsSubstitutions(t *testing.T) {
	key, _, _, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	for i := len(Prefix); i < Len; i++ {
		for j := range len(alphabet) {
			c := alphabet[j]
			if c == key[i] {
				continue
			}
			mutated := key[:i] + string(c) + key[i+1:]
			if Valid(mutated) {
				t.Fatalf("Valid(%q) = true after changing position %d", mutated, i)
			}
		}
	}
}

func TestHash(t *testing.T) {
	// echo -n sso_test | sha256sum
	const want = "8c17ef2485f67c4d75c0713e03f61e0a44a59707a9c000782269999ffd0fc589"
	if got := Hash("sso_test"); got != want {
		t.Errorf("Hash(%q) = %q, want %q", "sso_test", got, want)
	}
}

func FuzzValid(f *testing.F) {
	key, _, _, err := generate(bytes.NewReader([]byte("0123456789abcdef0123456789abcdef")))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(key)
	f.Add("sso_")
	f.Add("")
	f.Add(strings.Repeat("z", Len))
	f.Add("sso_" + strings.Repeat("0", 49))
	f.Fuzz(func(t *testing.T, s string) {
		if !Valid(s) {
			return
		}
		if !patternRE.MatchString(s) || len(s) != Len {
			t.Fatalf("Valid(%q) = true but it does not match Pattern", s)
		}
		body := s[len(Prefix) : len(Prefix)+bodyLen]
		if s[len(Prefix)+bodyLen:] != checksum(body) {
			t.Fatalf("Valid(%q) = true with a wrong checksum", s)
		}
	})
}
