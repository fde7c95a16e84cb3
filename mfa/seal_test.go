package mfa_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/example/sso/mfa"
)

func newSealer(t testing.TB, keys ...[]byte) *mfa.Sealer {
	t.Helper()
	s, err := mfa.NewSealer(keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealer(t *testing.T) {
	old := newSealer(t, key1)
	rotated := newSealer(t, key2, key1) // new key first, old one kept
	dropped := newSealer(t, key2)
	secret := []byte("JBSWY3DPEHPK3PXP")
	sealedOld, err := old.Seal(mfa.KindTOTP, "alice", secret)
	if err != nil {
		t.Fatal(err)
	}
	sealedNew, err := rotated.Seal(mfa.KindTOTP, "alice", secret)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := rotated.Seal(mfa.KindTOTP, "alice", secret)
	if bytes.Equal(again, sealedNew) {
		t.Error("two seals of one record are equal: the nonce is not random")
	}
	if bytes.Contains(sealedOld, secret) {
		t.Error("the sealed record contains the plaintext")
	}
	tests := []struct {
		name   string
		s      *mfa.Sealer
		kind   mfa.Kind
		user   string
		sealed []byte
		ok     bool
	}{
		{"same key", old, mfa.KindTOTP, "alice", sealedOld, true},
		{"old record after rotation", rotated, mfa.KindTOTP, "alice", sealedOld, true},
		{"new record after rotation", rotated, mfa.KindTOTP, "alice", sealedNew, true},
		{"new record, old ring", old, mfa.KindTOTP, "alice", sealedNew, false},
		{"old record, old key dropped", dropped, mfa.KindTOTP, "alice", sealedOld, false},
		{"moved to another user", old, mfa.KindTOTP, "bob", sealedOld, false},
		{"user name prefix", old, mfa.KindTOTP, "alic", sealedOld, false},
		{"moved to another kind", old, mfa.KindWebAuthn, "alice", sealedOld, false},
		{"truncated", old, mfa.KindTOTP, "alice", sealedOld[:len(sealedOld)-1], false},
		{"empty", old, mfa.KindTOTP, "alice", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.s.Open(tc.kind, tc.user, tc.sealed)
			if tc.ok && (err != nil || !bytes.Equal(got, secret)) {
				t.Errorf("Open = %q, %v; want the secret", got, err)
			}
			if !tc.ok && !errors.Is(err, mfa.ErrUnsealable) {
				t.Errorf("Open = %q, %v; want ErrUnsealable", got, err)
			}
		})
	}
	// Any one flipped bit is detected.
	for i := range sealedOld {
		b := bytes.Clone(sealedOld)
		b[i] ^= 0x01
		if _, err := old.Open(mfa.KindTOTP, "alice", b); err == nil {
			t.Errorf("Open with byte %d flipped succeeded", i)
		}
	}
}

func TestNewSealerRefuses(t *testing.T) {
	for _, keys := range [][][]byte{nil, {make([]byte, 31)}, {key1, make([]byte, 16)}} {
		if _, err := mfa.NewSealer(keys); err == nil {
			t.Errorf("NewSealer(%d keys, lengths %v) accepted", len(keys), lens(keys))
		}
	}
}

func lens(keys [][]byte) []int {
	out := make([]int, len(keys))
	for i, k := range keys {
		out[i] = len(k)
	}
	return out
}

// FuzzOpen: on arbitrary bytes Open never panics and never accepts what
// was not sealed (a forgery would need to break Poly1305). Only "x" for
// "u" was ever sealed under key1 as a recovery record (each fuzz worker
// seals its own copy, with its own nonce), so nothing else may open.
func FuzzOpen(f *testing.F) {
	s := newSealer(f, key1)
	good, _ := s.Seal(mfa.KindRecovery, "u", []byte("x"))
	f.Add(good, "u")
	f.Add([]byte{1}, "")
	f.Add(make([]byte, 41), "u")
	f.Fuzz(func(t *testing.T, b []byte, user string) {
		pt, err := s.Open(mfa.KindRecovery, user, b)
		if err == nil && (user != "u" || string(pt) != "x") {
			t.Fatalf("Open accepted %x for %q", b, user)
		}
	})
}
