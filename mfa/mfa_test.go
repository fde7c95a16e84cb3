package mfa_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/example/sso/mfa"
)

var (
	key1 = bytes.Repeat([]byte{1}, 32)
	key2 = bytes.Repeat([]byte{2}, 32)
)

func newManager(t *testing.T, st mfa.Store, now func() time.Time, keys ...[]byte) *mfa.Manager {
	t.Helper()
	if len(keys) == 0 {
		keys = [][]byte{key1}
	}
	m, err := mfa.New(mfa.Options{Store: st, Keys: keys, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
