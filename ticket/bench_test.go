package ticket_test

import (
	"testing"

	"github.com/example/sso/ticket"
)

// BenchmarkDecode is the first step of every /auth decision with a cookie:
// a valid value signed by the second key of a two-key ring (the slower case).
func BenchmarkDecode(b *testing.B) {
	k1, k2 := make([]byte, 32), make([]byte, 32)
	k2[0] = 1
	old, err := ticket.New("sso_session", [][]byte{k2})
	if err != nil {
		b.Fatal(err)
	}
	ring, err := ticket.New("sso_session", [][]byte{k1, k2})
	if err != nil {
		b.Fatal(err)
	}
	id, err := ticket.NewID()
	if err != nil {
		b.Fatal(err)
	}
	v := old.Encode(id)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ring.Decode(v); err != nil {
			b.Fatal(err)
		}
	}
}
