package mfa_test

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sso/mfa"
	"github.com/example/sso/mfa/memstore"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// code is what an authenticator app shows for secret at t.
func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrol runs a TOTP enrolment of user, confirmed at the clock's time, and
// returns the secret.
func enrol(t *testing.T, m *mfa.Manager, clk *clock, user string) string {
	t.Helper()
	ctx := context.Background()
	e, err := m.BeginTOTP(ctx, user, user+"@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ConfirmTOTP(ctx, e.ID, user, code(t, e.Secret, clk.Now())); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	return e.Secret
}

func TestTOTPEnrolment(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager(t, memstore.New(clk.Now), clk.Now)
	e, err := m.BeginTOTP(ctx, "alice", "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	key, err := otp.NewKeyFromURL(e.URL)
	if err != nil {
		t.Fatalf("URL %q: %v", e.URL, err)
	}
	if key.Secret() != e.Secret || key.Issuer() != mfa.DefaultIssuer || key.AccountName() != "alice@example.com" ||
		key.Period() != 30 || key.Digits() != otp.DigitsSix || key.Algorithm() != otp.AlgorithmSHA1 {
		t.Errorf("URL %q does not carry the enrolment's parameters", e.URL)
	}
	if len(e.Secret) != 32 { // 160 bits in base32
		t.Errorf("secret %d characters, want 32 (160 bits)", len(e.Secret))
	}
	img, err := png.Decode(bytes.NewReader(e.PNG))
	if err != nil {
		t.Fatalf("PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != mfa.QRSize || b.Dy() != mfa.QRSize {
		t.Errorf("QR code %v, want %dx%d", b, mfa.QRSize, mfa.QRSize)
	}
	if ok, _ := m.HasTOTP(ctx, "alice"); ok {
		t.Error("HasTOTP before confirmation")
	}
	now := clk.Now()
	if err := m.ConfirmTOTP(ctx, e.ID, "alice", "000000"); !errors.Is(err, mfa.ErrInvalidCode) && code(t, e.Secret, now) != "000000" {
		t.Errorf("ConfirmTOTP(wrong) = %v, want ErrInvalidCode", err)
	}
	if err := m.ConfirmTOTP(ctx, e.ID, "bob", code(t, e.Secret, now)); !errors.Is(err, mfa.ErrCeremony) {
		t.Errorf("ConfirmTOTP as another user = %v, want ErrCeremony", err)
	}
	// The wrong attempts left the enrolment pending.
	if err := m.ConfirmTOTP(ctx, e.ID, "alice", code(t, e.Secret, now)); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	if ok, err := m.HasTOTP(ctx, "alice"); !ok || err != nil {
		t.Errorf("HasTOTP after confirmation = %v, %v", ok, err)
	}
	if err := m.ConfirmTOTP(ctx, e.ID, "alice", code(t, e.Secret, now)); !errors.Is(err, mfa.ErrCeremony) {
		t.Errorf("second ConfirmTOTP = %v, want ErrCeremony", err)
	}
	// The confirming code is used: it does not also log in.
	if _, err := m.VerifyTOTP(ctx, "alice", code(t, e.Secret, now)); !errors.Is(err, mfa.ErrReplay) {
		t.Errorf("VerifyTOTP(confirming code) = %v, want ErrReplay", err)
	}
}

func TestTOTPEnrolmentExpires(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager(t, memstore.New(clk.Now), clk.Now)
	e, err := m.BeginTOTP(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(mfa.DefaultCeremonyTTL)
	if err := m.ConfirmTOTP(ctx, e.ID, "alice", code(t, e.Secret, clk.Now())); !errors.Is(err, mfa.ErrCeremony) {
		t.Errorf("ConfirmTOTP after the TTL = %v, want ErrCeremony", err)
	}
}

func TestTOTPWindow(t *testing.T) {
	tests := []struct {
		name   string
		offset time.Duration // of the code's time from the verifier's
		ok     bool
	}{
		{"two steps behind", -60 * time.Second, false},
		{"one step behind", -30 * time.Second, true},
		{"current", 0, true},
		{"one step ahead", 30 * time.Second, true},
		{"two steps ahead", 60 * time.Second, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			m := newManager(t, memstore.New(clk.Now), clk.Now)
			secret := enrol(t, m, clk, "alice")
			clk.Add(5 * time.Minute) // far from the confirming step
			c := code(t, secret, clk.Now().Add(tc.offset))
			_, err := m.VerifyTOTP(ctx, "alice", c)
			if tc.ok && err != nil {
				t.Errorf("VerifyTOTP(code at %v) = %v, want ok", tc.offset, err)
			}
			// A code of another step may collide with one in the window
			// (1 in 10^6 per step); only a real mismatch must fail.
			if !tc.ok && !errors.Is(err, mfa.ErrInvalidCode) && c != code(t, secret, clk.Now().Add(-30*time.Second)) &&
				c != code(t, secret, clk.Now()) && c != code(t, secret, clk.Now().Add(30*time.Second)) {
				t.Errorf("VerifyTOTP(code at %v) = %v, want ErrInvalidCode", tc.offset, err)
			}
		})
	}
}

func TestTOTPReplay(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager(t, memstore.New(clk.Now), clk.Now)
	secret := enrol(t, m, clk, "alice")
	clk.Add(time.Minute)
	c := code(t, secret, clk.Now())
	if _, err := m.VerifyTOTP(ctx, "alice", c); err != nil {
		t.Fatalf("VerifyTOTP: %v", err)
	}
	if _, err := m.VerifyTOTP(ctx, "alice", c); !errors.Is(err, mfa.ErrReplay) || !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("VerifyTOTP(same code) = %v, want ErrReplay wrapping ErrInvalidCode", err)
	}
	// Still within the window, the previous step's code is refused too:
	// a later step was used.
	if _, err := m.VerifyTOTP(ctx, "alice", code(t, secret, clk.Now().Add(-30*time.Second))); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("VerifyTOTP(earlier step) = %v, want refused", err)
	}
	clk.Add(30 * time.Second)
	if _, err := m.VerifyTOTP(ctx, "alice", code(t, secret, clk.Now())); err != nil {
		t.Errorf("VerifyTOTP(next step) = %v", err)
	}
}

func TestTOTPInput(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager(t, memstore.New(clk.Now), clk.Now)
	secret := enrol(t, m, clk, "alice")
	for _, c := range []string{"", "12345", "1234567", "abcdef", "12345\x00", "١٢٣٤٥٦", "+12345", "-12345"} {
		if _, err := m.VerifyTOTP(ctx, "alice", c); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Errorf("VerifyTOTP(%q) = %v, want ErrInvalidCode", c, err)
		}
	}
	if _, err := m.VerifyTOTP(ctx, "nobody", "123456"); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Errorf("VerifyTOTP(nobody) = %v, want ErrNotEnrolled", err)
	}
	clk.Add(time.Minute)
	c := code(t, secret, clk.Now())
	if _, err := m.VerifyTOTP(ctx, "alice", " "+c[:3]+" "+c[3:]+" "); err != nil {
		t.Errorf("VerifyTOTP(%q) with spaces = %v, want ok", c, err)
	}
}

func TestTOTPRemove(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager(t, memstore.New(clk.Now), clk.Now)
	secret := enrol(t, m, clk, "alice")
	if err := m.RemoveTOTP(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveTOTP(ctx, "alice"); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Errorf("second RemoveTOTP = %v, want ErrNotEnrolled", err)
	}
	clk.Add(time.Minute)
	if _, err := m.VerifyTOTP(ctx, "alice", code(t, secret, clk.Now())); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Errorf("VerifyTOTP after removal = %v, want ErrNotEnrolled", err)
	}
}

// TestKeyRotation: records sealed under the old key open once a new key is
// put first; the next change reseals them with the new key, after which
// the old key can go.
func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	st := memstore.New(clk.Now)
	before := newManager(t, st, clk.Now, key1)
	secret := enrol(t, before, clk, "alice")
	codes, err := before.NewRecoveryCodes(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	rotated := newManager(t, st, clk.Now, key2, key1)
	clk.Add(time.Minute)
	if _, err := rotated.VerifyTOTP(ctx, "alice", code(t, secret, clk.Now())); err != nil {
		t.Fatalf("VerifyTOTP after rotation: %v", err)
	}
	if _, err := rotated.UseRecoveryCode(ctx, "alice", codes[0]); err != nil {
		t.Fatalf("UseRecoveryCode after rotation: %v", err)
	}
	after := newManager(t, st, clk.Now, key2)
	clk.Add(time.Minute)
	if _, err := after.VerifyTOTP(ctx, "alice", code(t, secret, clk.Now())); err != nil {
		t.Errorf("VerifyTOTP with the old key dropped, record resealed: %v", err)
	}
	if _, err := after.UseRecoveryCode(ctx, "alice", codes[1]); err != nil {
		t.Errorf("UseRecoveryCode with the old key dropped, record resealed: %v", err)
	}
	// A record never rewritten under the new key does not open without
	// the old one: a ring must keep a key while records need it.
	if _, err := before.NewRecoveryCodes(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := after.RecoveryCodesLeft(ctx, "bob"); !errors.Is(err, mfa.ErrUnsealable) {
		t.Errorf("RecoveryCodesLeft(bob) under the new key only = %v, want ErrUnsealable", err)
	}
}

func TestRemoveUser(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	m := newManager(t, memstore.New(clk.Now), clk.Now)
	enrol(t, m, clk, "alice")
	enrol(t, m, clk, "bob")
	if _, err := m.NewRecoveryCodes(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := m.RemoveUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := m.HasTOTP(ctx, "alice"); ok {
		t.Error("alice has TOTP after RemoveUser")
	}
	if n, _ := m.RecoveryCodesLeft(ctx, "alice"); n != 0 {
		t.Errorf("alice has %d recovery codes after RemoveUser", n)
	}
	if ok, _ := m.HasTOTP(ctx, "bob"); !ok {
		t.Error("RemoveUser(alice) removed bob's TOTP")
	}
}

// FuzzCodes: on arbitrary input VerifyTOTP and UseRecoveryCode never
// panic, and accept only a code of the window or an issued recovery code
// (modulo case and separators).
func FuzzCodes(f *testing.F) {
	clk := newClock()
	m, err := mfa.New(mfa.Options{Store: memstore.New(clk.Now), Keys: [][]byte{key1}, Now: clk.Now})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	e, err := m.BeginTOTP(ctx, "alice", "")
	if err != nil {
		f.Fatal(err)
	}
	window := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		c, _ := totp.GenerateCodeCustom(e.Secret, clk.Now().Add(d), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		window[c] = true
	}
	codes, err := m.NewRecoveryCodes(ctx, "alice")
	if err != nil {
		f.Fatal(err)
	}
	issued := map[string]bool{}
	for _, c := range codes {
		issued[strings.ReplaceAll(c, "-", "")] = true
	}
	f.Add("123456")
	f.Add(" 12 34 56 ")
	f.Add(codes[0])
	f.Add(strings.ToUpper(codes[1]))
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, in string) {
		// Confirm a fresh enrolment each time, so replay never hides an
		// acceptance: ConfirmTOTP takes the same path as VerifyTOTP.
		err := m.ConfirmTOTP(ctx, e.ID, "alice", in)
		clean := strings.Map(func(r rune) rune {
			if r == ' ' || r == '-' || r == '\t' {
				return -1
			}
			return r
		}, in)
		if err == nil && !window[clean] {
			t.Fatalf("ConfirmTOTP accepted %q", in)
		}
		if err == nil {
			t.Skip("enrolment confirmed: the ceremony is used up")
		}
		_, err = m.UseRecoveryCode(ctx, "alice", in)
		if err == nil && !issued[strings.ToLower(clean)] {
			t.Fatalf("UseRecoveryCode accepted %q", in)
		}
		if err != nil && !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("UseRecoveryCode(%q) = %v", in, err)
		}
	})
}
