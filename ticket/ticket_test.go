package ticket

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func mustNew(t testing.TB, name string, keys ...[]byte) *Codec {
	t.Helper()
	c, err := New(name, keys)
	if err != nil {
		t.Fatalf("New(%q): %v", name, err)
	}
	return c
}

func mustID(t testing.TB) string {
	t.Helper()
	id, err := NewID()
	if err != nil {
		t.Fatalf("NewID: %v", err)
	}
	return id
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := mustID(t)
		if len(id) != IDLen {
			t.Fatalf("len(NewID()) = %d, want %d", len(id), IDLen)
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(id)
		if err != nil || len(b) != 32 {
			t.Fatalf("NewID() = %q: decodes to %d bytes, err %v", id, len(b), err)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestHash(t *testing.T) {
	// sha256("abc"), FIPS 180-2 test vector.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := Hash("abc"); got != want {
		t.Errorf("Hash(%q) = %q, want %q", "abc", got, want)
	}
}

func TestParseKeys(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11) // 33 bytes; encodes with '+' '/' or '-' '_'
	std := base64.StdEncoding.EncodeToString(raw)
	url := base64.URLEncoding.EncodeToString(raw)
	raw34 := append(bytes.Clone(raw), 0xfe) // padded form needs '='
	stdPad := base64.StdEncoding.EncodeToString(raw34)
	urlRaw := base64.RawURLEncoding.EncodeToString(raw34)
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))

	tests := []struct {
		name    string
		in      string
		want    [][]byte
		wantErr string // substring
	}{
		{"std", std, [][]byte{raw}, ""},
		{"url", url, [][]byte{raw}, ""},
		{"std padded", stdPad, [][]byte{raw34}, ""},
		{"url unpadded", urlRaw, [][]byte{raw34}, ""},
		{"two with spaces", std + " , " + urlRaw, [][]byte{raw, raw34}, ""},
		{"empty", "", nil, "no keys"},
		{"blank", "  ", nil, "no keys"},
		{"empty second", std + ",", nil, "key 2 of 2: empty"},
		{"short", std + "," + short, nil, "key 2 of 2: decodes to 31 bytes, need at least 32"},
		{"not base64", "!!!!" + std, nil, "key 1 of 1: not base64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKeys(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseKeys(%q) error = %v, want it to contain %q", tc.in, err, tc.wantErr)
				}
				// The key must not leak into the message.
				for _, p := range strings.Split(tc.in, ",") {
					if p = strings.TrimSpace(p); len(p) > 8 && strings.Contains(err.Error(), p) {
						t.Errorf("ParseKeys error %q contains the key", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeys(%q): %v", tc.in, err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("ParseKeys(%q) = %d keys, want %d", tc.in, len(got), len(tc.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.want[i]) {
					t.Errorf("ParseKeys(%q)[%d] = %x, want %x", tc.in, i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cn   string
		keys [][]byte
	}{
		{"no name", "", [][]byte{key(1)}},
		{"no keys", "c", nil},
		{"short key", "c", [][]byte{key(1), make([]byte, 31)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cn, tc.keys); err == nil {
				t.Errorf("New(%q, %d keys) succeeded, want error", tc.cn, len(tc.keys))
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	c := mustNew(t, "sso_session", key(1))
	id := mustID(t)
	v := c.Encode(id)
	if len(v) != ValueLen {
		t.Fatalf("len(Encode(id)) = %d, want %d", len(v), ValueLen)
	}
	got, err := c.Decode(v)
	if err != nil || got != id {
		t.Fatalf("Decode(Encode(%q)) = %q, %v; want the id", id, got, err)
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := key(1), key(2)
	id := mustID(t)
	signedOld := mustNew(t, "c", oldKey).Encode(id)

	if got, err := mustNew(t, "c", newKey, oldKey).Decode(signedOld); err != nil || got != id {
		t.Errorf("ring [new, old].Decode(signed by old) = %q, %v; want the id", got, err)
	}
	if _, err := mustNew(t, "c", newKey).Decode(signedOld); !errors.Is(err, ErrInvalid) {
		t.Errorf("ring [new].Decode(signed by old) error = %v, want ErrInvalid", err)
	}
	// The ring signs with its first key: the old-only ring cannot read it.
	signedNew := mustNew(t, "c", newKey, oldKey).Encode(id)
	if _, err := mustNew(t, "c", oldKey).Decode(signedNew); !errors.Is(err, ErrInvalid) {
		t.Errorf("ring [old].Decode(signed by [new, old]) error = %v, want ErrInvalid", err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	c := mustNew(t, "sso_session", key(1))
	id := mustID(t)
	good := c.Encode(id)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"short", good[:len(good)-1]},
		{"long", good + "A"},
		{"no dot", strings.Replace(good, ".", "A", 1)},
		{"id changed", flip(good, 0)},
		{"mac changed", flip(good, len(good)-2)},
		{"padding", good[:len(good)-1] + "="},
		{"std alphabet", good[:IDLen] + "." + strings.Repeat("+", macLen)},
		{"other cookie name", mustNew(t, "other", key(1)).Encode(id)},
		{"other key", mustNew(t, "sso_session", key(9)).Encode(id)},
		{"non-canonical mac", nonCanonical(good)},
		{"unicode", strings.Repeat("é", ValueLen/2) + "x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.Decode(tc.in)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode(%q) = %q, %v; want ErrInvalid", tc.in, got, err)
			}
			if len(tc.in) > 8 && strings.Contains(err.Error(), tc.in) {
				t.Errorf("Decode error %q contains the value", err)
			}
		})
	}
}

// nonCanonical sets the unused low bits of the MAC's last character, which a
// lenient decoder would map to the same bytes.
func nonCanonical(v string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, v[len(v)-1])
	return v[:len(v)-1] + string(alphabet[last|1])
}

func FuzzDecode(f *testing.F) {
	k1, k2 := key(1), key(2)
	c := mustNew(f, "sso_session", k1, k2)
	signers := []*Codec{mustNew(f, "sso_session", k1), mustNew(f, "sso_session", k2)}
	id := mustID(f)
	good := signers[0].Encode(id)
	f.Add(good)
	f.Add(signers[1].Encode(id))
	f.Add(nonCanonical(good))
	f.Add("")
	f.Add(strings.Repeat("A", ValueLen))
	f.Add(strings.Repeat("A", IDLen) + "." + strings.Repeat("A", macLen))
	f.Fuzz(func(t *testing.T, v string) {
		got, err := c.Decode(v)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode(%q) error %v does not wrap ErrInvalid", v, err)
			}
			return
		}
		// Accepted: it must be exactly what a ring key would have produced.
		for _, s := range signers {
			if s.Encode(got) == v {
				return
			}
		}
		t.Fatalf("Decode(%q) = %q, but no ring key encodes that id to this value", v, got)
	})
}

func ExampleCodec() {
	keys, err := ParseKeys("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	if err != nil {
		panic(err)
	}
	codec, err := New("sso_session", keys)
	if err != nil {
		panic(err)
	}
	id := strings.Repeat("x", IDLen) // use NewID in real code
	value := codec.Encode(id)
	got, err := codec.Decode(value)
	fmt.Println(len(value), got == id, err)
	_, err = codec.Decode("forged")
	fmt.Println(err)
	// Output:
	// 87 true <nil>
	// ticket: invalid cookie value: length 6, want 87
}
