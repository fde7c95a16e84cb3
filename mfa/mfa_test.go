package mfa_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/example/sso/mfa"
	"github.com/example/sso/mfa/memstore"
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

func TestNewRefuses(t *testing.T) {
	st := memstore.New(nil)
	tests := []struct {
		name string
		opt  mfa.Options
	}{
		{"no store", mfa.Options{Keys: [][]byte{key1}}},
		{"no keys", mfa.Options{Store: st}},
		{"short key", mfa.Options{Store: st, Keys: [][]byte{key1[:31]}}},
		{"negative ceremony TTL", mfa.Options{Store: st, Keys: [][]byte{key1}, CeremonyTTL: -time.Second}},
		{"negative store timeout", mfa.Options{Store: st, Keys: [][]byte{key1}, StoreTimeout: -time.Second}},
	}
	for _, tc := range tests {
		if _, err := mfa.New(tc.opt); err == nil {
			t.Errorf("New(%s) accepted", tc.name)
		}
	}
}
