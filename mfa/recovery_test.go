package mfa_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/mfa"
	"github.com/example/sso/mfa/memstore"
)

var recoveryShape = regexp.MustCompile(`^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$`)

func TestRecoveryCodes(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, memstore.New(nil), time.Now)
	codes, err := m.NewRecoveryCodes(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != mfa.RecoveryCodes {
		t.Fatalf("%d codes, want %d", len(codes), mfa.RecoveryCodes)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryShape.MatchString(c) || seen[c] {
			t.Errorf("code %q: malformed or repeated", c)
		}
		seen[c] = true
	}
	if _, err := m.UseRecoveryCode(ctx, "bob", codes[0]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("bob using alice's code = %v, want ErrInvalidCode", err)
	}
	// People type them as they like: upper case, no dashes, spaces.
	typed := []string{strings.ToUpper(codes[0]), strings.ReplaceAll(codes[1], "-", ""), strings.ReplaceAll(codes[2], "-", " ")}
	for i, c := range typed {
		res, err := m.UseRecoveryCode(ctx, "alice", c)
		if err != nil || !res.Recovery || res.AMR != mfa.AMROTP || res.Left != mfa.RecoveryCodes-1-i {
			t.Errorf("UseRecoveryCode(%q) = %+v, %v; want ok, %d left", c, res, err, mfa.RecoveryCodes-1-i)
		}
	}
	for _, c := range append(typed, codes[0], "", "aaaa-aaaa-aaaa-aaaa", codes[3]+"a", "0000-0000-0000-0000") {
		if _, err := m.UseRecoveryCode(ctx, "alice", c); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Errorf("UseRecoveryCode(%q) = %v, want ErrInvalidCode", c, err)
		}
	}
	if n, err := m.RecoveryCodesLeft(ctx, "alice"); n != mfa.RecoveryCodes-3 || err != nil {
		t.Errorf("RecoveryCodesLeft = %d, %v; want %d", n, err, mfa.RecoveryCodes-3)
	}
	// New codes replace the old ones.
	fresh, err := m.NewRecoveryCodes(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.UseRecoveryCode(ctx, "alice", codes[5]); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("an old code after regeneration = %v, want ErrInvalidCode", err)
	}
	for i, c := range fresh {
		if res, err := m.UseRecoveryCode(ctx, "alice", c); err != nil || res.Left != len(fresh)-1-i {
			t.Errorf("UseRecoveryCode(fresh %d) = %+v, %v", i, res, err)
		}
	}
	if n, err := m.RecoveryCodesLeft(ctx, "alice"); n != 0 || err != nil {
		t.Errorf("RecoveryCodesLeft after using all = %d, %v", n, err)
	}
}
