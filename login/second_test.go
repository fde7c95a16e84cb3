package login_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/example/sso/login"
	"github.com/example/sso/mfa"
	mfamem "github.com/example/sso/mfa/memstore"
	"github.com/example/sso/session"
)

func withSecond(required ...string) func(*login.Options) {
	return func(o *login.Options) {
		m, err := mfa.New(mfa.Options{Store: mfamem.New(o.Now), Keys: [][]byte{[]byte("0123456789abcdef0123456789abcdef")}, Now: o.Now})
		if err != nil {
			panic(err)
		}
		o.Second = login.Second{MFA: m, RequiredGroups: required, TrustFederatedAMR: true}
	}
}

func enrolTOTP(t *testing.T, f *fixture, user string) string {
	t.Helper()
	m := f.p.MFA()
	e, err := m.BeginTOTP(context.Background(), user, user)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(e.Secret, f.now)
	if err := m.ConfirmTOTP(context.Background(), e.ID, user, code); err != nil {
		t.Fatal(err)
	}
	return e.Secret
}

func TestNeedSecond(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, withSecond("admins"))
	alice := login.Identity{User: "alice", Groups: []string{"admins"}}
	bob := login.Identity{User: "bob"}
	pwd := []session.Factor{{Method: "pwd", At: f.now}}
	for _, tc := range []struct {
		name    string
		id      login.Identity
		factors []session.Factor
		want    login.Need
	}{
		{"required group, nothing enrolled", alice, pwd, login.Need{Second: true, Enrol: true}},
		{"no group, nothing enrolled", bob, pwd, login.Need{}},
		{"already has a second factor (trusted amr)", alice, f.p.FederatedFactors("oidc", []string{"pwd", "mfa"}, f.now), login.Need{}},
	} {
		got, err := f.p.NeedSecond(ctx, tc.id, tc.factors)
		if err != nil || got != tc.want {
			t.Errorf("%s: NeedSecond = %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
	enrolTOTP(t, f, "bob")
	if got, err := f.p.NeedSecond(ctx, bob, pwd); err != nil || !got.Second || got.Enrol || !got.TOTP {
		t.Errorf("bob with TOTP: %+v, %v", got, err)
	}
	// A provider's or the directory's "bob" is someone else: the file
	// user's TOTP is not theirs.
	oidc := []session.Factor{{Method: "oidc", At: f.now}}
	for _, other := range []login.Identity{{User: "bob", Source: "oidc:corp"}, {User: "bob", Source: "ldap"}} {
		if got, err := f.p.NeedSecond(ctx, other, oidc); err != nil || got != (login.Need{}) {
			t.Errorf("%+v after the file's bob enrolled: %+v, %v; want nothing", other, got, err)
		}
	}
	enrolTOTP(t, f, "oidc:corp:bob")
	if got, err := f.p.NeedSecond(ctx, login.Identity{User: "bob", Source: "oidc:corp"}, oidc); err != nil || !got.Second || !got.TOTP {
		t.Errorf("corp's bob with TOTP: %+v, %v", got, err)
	}
}

func TestMFAUser(t *testing.T) {
	for _, tc := range []struct{ user, source, key string }{
		{"alice", "", "alice"},
		{"alice", "ldap", "ldap:alice"},
		{"alice", "oidc:corp", "oidc:corp:alice"},
		{"corp:alice", "oidc:corp", "oidc:corp:corp:alice"},
		{"a:b", "ldap", "ldap:a:b"},
		// File users named like another key stay apart from it.
		{"oidc:corp:alice", "", "file:oidc:corp:alice"},
		{"ldap:alice", "", "file:ldap:alice"},
		{"file:x", "", "file:file:x"},
		{"", "", ""},
	} {
		if got := login.MFAUser(tc.user, tc.source); got != tc.key {
			t.Errorf("MFAUser(%q, %q) = %q, want %q", tc.user, tc.source, got, tc.key)
		}
		if got := (login.Identity{User: tc.user, Source: tc.source}).MFAUser(); got != tc.key {
			t.Errorf("Identity.MFAUser = %q, want %q", got, tc.key)
		}
		if u, s := login.SplitMFAUser(tc.key); u != tc.user || s != tc.source {
			t.Errorf("SplitMFAUser(%q) = %q, %q; want %q, %q", tc.key, u, s, tc.user, tc.source)
		}
	}
}

// FuzzMFAUser: MFAUser is one-to-one over the sources there are (users
// file, LDAP, OIDC providers): SplitMFAUser gives back what made the key.
func FuzzMFAUser(f *testing.F) {
	f.Add("alice", 0, "corp")
	f.Add("oidc:x:y", 0, "")
	f.Add("a:b", 2, "p-1")
	f.Fuzz(func(t *testing.T, user string, kind int, provider string) {
		source := ""
		switch kind % 3 {
		case 1:
			source = "ldap"
		case 2:
			if provider == "" || strings.Trim(provider, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
				return
			}
			source = "oidc:" + provider
		}
		key := login.MFAUser(user, source)
		if u, s := login.SplitMFAUser(key); u != user || s != source {
			t.Errorf("SplitMFAUser(MFAUser(%q, %q)) = %q, %q", user, source, u, s)
		}
	})
}

func TestFederatedFactors(t *testing.T) {
	at := time.Unix(1700000000, 0)
	for _, trust := range []bool{false, true} {
		f := newFixture(t, func(o *login.Options) { o.Second.TrustFederatedAMR = trust })
		for _, tc := range []struct {
			amr  []string
			want []string
		}{
			{nil, []string{"oidc"}},
			{[]string{"pwd"}, []string{"oidc"}},
			{[]string{"pwd", "mfa"}, []string{"oidc", "mfa"}},
			{[]string{"mfa"}, []string{"oidc", "mfa"}},
			{[]string{"pwd", "otp"}, []string{"oidc", "mfa"}},
			{[]string{"sc", "pin"}, []string{"oidc", "mfa"}},
			{[]string{"hwk", "fpt"}, []string{"oidc", "mfa"}},
			{[]string{"pwd", "sms"}, []string{"oidc", "mfa"}},
			// One kind of factor, however many values: one factor.
			{[]string{"hwk"}, []string{"oidc"}},
			{[]string{"otp"}, []string{"oidc"}},
			{[]string{"swk", "otp"}, []string{"oidc"}},
			{[]string{"pwd", "kba"}, []string{"oidc"}},
			// Values that name no factor count for nothing.
			{[]string{"pwd", "mca"}, []string{"oidc"}},
			{[]string{"hwk", "user"}, []string{"oidc"}},
			{[]string{"pwd", "rba", "geo", "wia"}, []string{"oidc"}},
			{[]string{"MFA", "Mfa"}, []string{"oidc"}},
		} {
			var got []string
			for _, x := range f.p.FederatedFactors("oidc", tc.amr, at) {
				got = append(got, x.Method)
				if !x.At.Equal(at) {
					t.Errorf("factor time %v, want %v", x.At, at)
				}
			}
			want := tc.want
			if !trust {
				want = []string{"oidc"}
			}
			if !slices.Equal(got, want) {
				t.Errorf("trust %v, amr %v: %v, want %v", trust, tc.amr, got, want)
			}
		}
	}
}

func TestWithSecond(t *testing.T) {
	now := time.Unix(1700000000, 0)
	old := []session.Factor{{Method: "pwd", At: now}, {Method: "otp", At: now}}
	got := login.WithSecond(old, session.Factor{Method: "hwk", At: now.Add(time.Minute)})
	if len(got) != 2 || got[0].Method != "pwd" || got[1].Method != "hwk" || !got[1].At.Equal(now.Add(time.Minute)) {
		t.Fatalf("WithSecond = %+v", got)
	}
	if old[1].Method != "otp" {
		t.Fatal("WithSecond changed its argument")
	}
}

// TestHoldAndStepUp: a pending login is one use and bound to its cookie;
// a step-up replaces the session, keeping its absolute expiry.
func TestHoldAndStepUp(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, withSecond())
	res, err := f.p.Password(ctx, req, "alice", password)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := f.p.Hold(ctx, res, "/next", false)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Name != "__Host-sso_pending" || !ck.Secure || !ck.HttpOnly || ck.Domain != "" || ck.Path != "/" || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("pending cookie %+v", ck)
	}
	r, _ := http.NewRequest("GET", "https://login.example.test/login/factor", nil)
	r.AddCookie(ck)
	pd, err := f.p.Held(ctx, r, false)
	if err != nil || pd.Identity.User != "alice" || pd.RD != "/next" || len(pd.Factors) != 1 {
		t.Fatalf("Held = %+v, %v", pd, err)
	}
	if _, err := f.p.Held(ctx, r, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.Held(ctx, r, true); !errors.Is(err, login.ErrNoPending) {
		t.Fatalf("second take: %v, want ErrNoPending", err)
	}
	forged, _ := http.NewRequest("GET", "https://login.example.test/login/factor", nil)
	forged.AddCookie(&http.Cookie{Name: ck.Name, Value: "x" + ck.Value[1:]})
	if _, err := f.p.Held(ctx, forged, false); !errors.Is(err, login.ErrNoPending) {
		t.Fatalf("forged id: %v", err)
	}

	m, err := f.p.Mint(ctx, res.Identity, res.Factors, req)
	if err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(time.Hour)
	up, err := f.p.StepUp(ctx, m.Session, session.Factor{Method: mfa.AMROTP, At: f.now}, req)
	if err != nil {
		t.Fatal(err)
	}
	if up.Session.ID == m.Session.ID || !up.Session.ExpiresAt.Equal(m.Session.ExpiresAt) || !up.Session.CreatedAt.Equal(m.Session.CreatedAt) {
		t.Fatalf("step-up session %+v from %+v", up.Session, m.Session)
	}
	if !slices.Equal(up.Session.AMR(), []string{"pwd", "otp"}) || up.Cookie.MaxAge != int(23*time.Hour/time.Second) {
		t.Fatalf("step-up: amr %v, cookie max-age %d", up.Session.AMR(), up.Cookie.MaxAge)
	}
	if _, err := f.store.Get(ctx, m.Session.ID); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("old session after step-up: %v", err)
	}
}

// TestCheckSecondRegulated: wrong codes are counted in the user's bucket
// and lock it; the right code is then refused too; replays are events.
func TestCheckSecondRegulated(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, withSecond())
	secret := enrolTOTP(t, f, "alice")
	m := f.p.MFA()
	verify := func(code string) func(context.Context) (mfa.Result, error) {
		return func(ctx context.Context) (mfa.Result, error) { return m.VerifyTOTP(ctx, "alice", code) }
	}
	f.now = f.now.Add(30 * time.Second)
	good, _ := totp.GenerateCode(secret, f.now)
	if _, _, err := f.p.CheckSecond(ctx, req, "alice", login.SecondTOTP, verify(good)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.p.CheckSecond(ctx, req, "alice", login.SecondTOTP, verify(good)); !errors.Is(err, mfa.ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	for range reg.MaxRetries - 1 {
		if _, _, err := f.p.CheckSecond(ctx, req, "alice", login.SecondTOTP, verify("000000")); !errors.Is(err, mfa.ErrInvalidCode) {
			t.Fatalf("wrong code: %v", err)
		}
	}
	f.now = f.now.Add(30 * time.Second)
	good, _ = totp.GenerateCode(secret, f.now)
	var be *login.BlockedError
	if _, _, err := f.p.CheckSecond(ctx, req, "alice", login.SecondTOTP, verify(good)); !errors.As(err, &be) {
		t.Fatalf("after %d failures: %v, want blocked", reg.MaxRetries, err)
	}
	// The password bucket is the user's own: a locked second factor does
	// not lock the password, and the other way round.
	if _, err := f.p.Password(ctx, req, "alice", password); err != nil {
		t.Fatalf("password after a locked second factor: %v", err)
	}
	k := f.kinds()
	if !slices.Contains(k, string(login.EventSecondSucceeded)) || !slices.Contains(k, string(login.EventSecondFailed)) || !slices.Contains(k, string(login.EventLocked)) {
		t.Fatalf("events %v", k)
	}
	// Every second-factor event names the request's user agent (summary),
	// as the password's do (docs/audit.md's common fields).
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range f.events {
		if want := session.UserAgentSummary(req.UserAgent); strings.HasPrefix(string(e.Kind), "second_factor_") && e.UserAgent != want {
			t.Errorf("%s event: UserAgent %q, want %q", e.Kind, e.UserAgent, want)
		}
	}
}
