package authz_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/example/sso/authz"
	"github.com/example/sso/login"
	"github.com/example/sso/mfa"
	"github.com/example/sso/session"
)

func TestParseFactorPolicy(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want authz.FactorPolicy
		ok   bool
	}{
		{"", authz.FactorPolicy{}, true},
		{"group=admins", authz.FactorPolicy{}, true},
		{"factor=1", authz.FactorPolicy{}, true},
		{"factor=2", authz.FactorPolicy{Second: true}, true},
		{"factor=2&max_age=10m", authz.FactorPolicy{Second: true, MaxAge: 10 * time.Minute}, true},
		{"factor=2&max_age=600", authz.FactorPolicy{Second: true, MaxAge: 10 * time.Minute}, true},
		{"factor=2&max_age=24h", authz.FactorPolicy{Second: true, MaxAge: 24 * time.Hour}, true},
		{"factor=2&group=a&max_age=1s", authz.FactorPolicy{Second: true, MaxAge: time.Second}, true},
		{"factor=3", authz.FactorPolicy{}, false},
		{"factor=", authz.FactorPolicy{}, false},
		{"factor=2&factor=2", authz.FactorPolicy{}, false},
		{"max_age=10m", authz.FactorPolicy{}, false},
		{"factor=1&max_age=10m", authz.FactorPolicy{}, false},
		{"factor=2&max_age=0", authz.FactorPolicy{}, false},
		{"factor=2&max_age=-1m", authz.FactorPolicy{}, false},
		{"factor=2&max_age=25h", authz.FactorPolicy{}, false},
		{"factor=2&max_age=ten", authz.FactorPolicy{}, false},
		{"factor=2&max_age=1m&max_age=2m", authz.FactorPolicy{}, false},
	} {
		q, err := url.ParseQuery(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := authz.ParseFactorPolicy(q)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseFactorPolicy(%q) = %+v, %v; want %+v, ok %v", tc.q, got, err, tc.want, tc.ok)
		}
	}
}

// TestSecondFactorAMRAgree: /auth's factor=2 admits exactly the factors
// the login pipeline records as second ones.
func TestSecondFactorAMRAgree(t *testing.T) {
	now := time.Now()
	for _, amr := range []string{"pwd", "oidc", "otp", "hwk", "swk", "mfa", "sms", "sc", "pin", "fpt", "mca", "", "OTP"} {
		got := authz.FactorPolicy{Second: true}.Satisfied([]session.Factor{{Method: amr, At: now}}, now)
		if got != login.IsSecond(amr) {
			t.Errorf("%q: factor=2 admits %v, login.IsSecond says %v", amr, got, login.IsSecond(amr))
		}
	}
}

func TestFactorPolicySatisfied(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pwd := session.Factor{Method: "pwd", At: now.Add(-time.Hour)}
	f := func(m string, ago time.Duration) session.Factor { return session.Factor{Method: m, At: now.Add(-ago)} }
	any2 := authz.FactorPolicy{Second: true}
	recent := authz.FactorPolicy{Second: true, MaxAge: 10 * time.Minute}
	for _, tc := range []struct {
		name    string
		p       authz.FactorPolicy
		factors []session.Factor
		want    bool
	}{
		{"no policy, no factors", authz.FactorPolicy{}, nil, true},
		{"factor=2, password only", any2, []session.Factor{pwd}, false},
		{"factor=2, oidc only", any2, []session.Factor{f("oidc", 0)}, false},
		{"factor=2, otp", any2, []session.Factor{pwd, f(mfa.AMROTP, time.Hour)}, true},
		{"factor=2, hwk", any2, []session.Factor{pwd, f(mfa.AMRHardwareKey, time.Hour)}, true},
		{"factor=2, swk", any2, []session.Factor{pwd, f(mfa.AMRSoftwareKey, time.Hour)}, true},
		{"factor=2, oidc with the provider's mfa", any2, []session.Factor{f("oidc", time.Hour), f(login.AMRFederatedMFA, time.Hour)}, true},
		{"max_age, the provider's mfa stale", recent, []session.Factor{f("oidc", 0), f(login.AMRFederatedMFA, time.Hour)}, false},
		{"max_age, fresh", recent, []session.Factor{pwd, f(mfa.AMROTP, 9*time.Minute)}, true},
		{"max_age, exactly", recent, []session.Factor{pwd, f(mfa.AMROTP, 10*time.Minute)}, true},
		{"max_age, stale", recent, []session.Factor{pwd, f(mfa.AMROTP, 11*time.Minute)}, false},
		{"max_age, fresh password only", recent, []session.Factor{f("pwd", 0)}, false},
		{"no factors recorded", any2, nil, false},
	} {
		if got := tc.p.Satisfied(tc.factors, now); got != tc.want {
			t.Errorf("%s: Satisfied = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// FuzzParseFactorPolicy: any query parses without panicking, and what it
// accepts is a policy /auth can apply.
func FuzzParseFactorPolicy(f *testing.F) {
	f.Add("factor=2&max_age=10m")
	f.Add("factor=2&max_age=99999999999")
	f.Add("max_age=1ns&factor=2")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		p, err := authz.ParseFactorPolicy(q)
		if err != nil {
			return
		}
		if p.MaxAge < 0 || p.MaxAge > authz.MaxFactorAge || (p.MaxAge > 0 && !p.Second) || (p.MaxAge > 0 && p.MaxAge < time.Second) {
			t.Fatalf("%q: accepted %+v", raw, p)
		}
	})
}

// TestAuthFactorPolicy: /auth?factor=2 through the handler: a session
// without a second factor gets 401 with the hub's step-up page (rd kept),
// one with it 200 and X-Auth-AMR; API keys and JWTs get 403; a bad policy
// is a 400 that nginx turns into a 500.
func TestAuthFactorPolicy(t *testing.T) {
	f := newFixture(t, nil)
	plain := f.login(t, "alice")
	stepped, _ := f.federatedLogin(t, "carol", "oidc:corp", "carol@example.test", nil)
	ctx := context.Background()
	// alice's session as one stored before sessions recorded factors.
	if old, err := f.store.List(ctx, "alice"); err != nil || len(old) != 1 {
		t.Fatalf("List(alice): %v %v", old, err)
	} else {
		if err := f.store.Delete(ctx, old[0].ID); err != nil {
			t.Fatal(err)
		}
		old[0].Factors = nil
		if err := f.store.Create(ctx, old[0]); err != nil {
			t.Fatal(err)
		}
	}
	// carol's session: oidc, then a passkey 5 minutes ago.
	list, err := f.store.List(ctx, "carol")
	if err != nil || len(list) != 1 {
		t.Fatalf("List: %v %v", list, err)
	}
	s := list[0]
	if err := f.store.Delete(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	s.Factors = append(s.Factors, session.Factor{Method: mfa.AMRHardwareKey, At: f.clock.Now().Add(-5 * time.Minute)})
	if err := f.store.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	const upstream = "https://pay.example.test/approve?x=1"

	w := f.serve(forUpstream(withCookie(authRequest("/auth?factor=2"), plain), upstream))
	if w.Code != http.StatusUnauthorized || w.Header().Get("X-Auth-Error") != "second_factor_required" ||
		w.Header().Get("X-Auth-Login-URL") != loginURL+"/login/factor?rd="+url.QueryEscape(upstream) || w.Header().Get("X-Auth-AMR") != "" {
		t.Fatalf("one factor: %d %q %q", w.Code, w.Header().Get("X-Auth-Error"), w.Header().Get("X-Auth-Login-URL"))
	}
	w = f.serve(withCookie(authRequest("/auth"), plain))
	if w.Code != http.StatusOK || w.Header().Get("X-Auth-AMR") != "" {
		t.Fatalf("a session without recorded factors: %d, X-Auth-AMR %q", w.Code, w.Header().Get("X-Auth-AMR"))
	}
	for q, want := range map[string]int{
		"/auth?factor=2":               http.StatusOK,
		"/auth?factor=2&max_age=10m":   http.StatusOK,
		"/auth?factor=2&max_age=1m":    http.StatusUnauthorized,
		"/auth?factor=2&max_age=bogus": http.StatusBadRequest,
		"/auth?factor=2&group=admins":  http.StatusForbidden, // carol holds no group
		"/auth":                        http.StatusOK,
	} {
		w := f.serve(withCookie(authRequest(q), stepped))
		if w.Code != want {
			t.Errorf("%s: %d, want %d", q, w.Code, want)
		}
		if w.Code == http.StatusOK && w.Header().Get("X-Auth-AMR") != "oidc,hwk" {
			t.Errorf("%s: X-Auth-AMR %q, want oidc,hwk", q, w.Header().Get("X-Auth-AMR"))
		}
	}
	for name, r := range map[string]*http.Request{
		"api key": func() *http.Request {
			r := authRequest("/auth?factor=2")
			r.Header.Set("X-API-Key", f.apiKey(t, "alice"))
			return r
		}(),
		"jwt": func() *http.Request {
			r := authRequest("/auth?factor=2")
			r.Header.Set("Authorization", "Bearer "+f.jwt(t, "alice"))
			return r
		}(),
	} {
		if w := f.serve(r); w.Code != http.StatusForbidden || w.Header().Get("X-Auth-Error") != "second_factor_required" {
			t.Errorf("%s with factor=2: %d %q, want 403 second_factor_required", name, w.Code, w.Header().Get("X-Auth-Error"))
		}
	}
}

// TestAuthQueryFailsClosed: a policy nginx spelled wrong is a 400 (a 500
// at nginx), never a weaker check: Go's URL parser drops a pair with a
// semicolon and unknown keys would be ignored, so "?factor=2;max_age=1m",
// "?group=a;group=b", "?Factor=2" or "?max-age=…" would have let a session
// through without the second factor or the group.
func TestAuthQueryFailsClosed(t *testing.T) {
	f := newFixture(t, nil)
	plain := f.login(t, "alice")
	for _, q := range []string{
		"/auth?factor=2;max_age=1m", "/auth?group=nobody;group=other", "/auth?Factor=2", "/auth?factor=2&max-age=1m",
		"/auth?groups=nobody", "/auth?group=nobody&x=1", "/auth?factor=2&max_age=1m%", "/auth?%zz=1",
	} {
		w := f.serve(withCookie(authRequest(q), plain))
		if w.Code != http.StatusBadRequest || w.Header().Get("X-Auth-Error") != "bad_auth_query" {
			t.Errorf("%s: %d %q, want 400 bad_auth_query", q, w.Code, w.Header().Get("X-Auth-Error"))
		}
	}
	// What nginx renders still works.
	for q, want := range map[string]int{
		"/auth?group=nobody": http.StatusForbidden, "/auth?factor=2": http.StatusUnauthorized, "/auth?factor=1": http.StatusOK,
		"/auth?group=nobody&group=other&factor=2&max_age=10m": http.StatusForbidden, "/auth?": http.StatusOK,
	} {
		if w := f.serve(withCookie(authRequest(q), plain)); w.Code != want {
			t.Errorf("%s: %d, want %d", q, w.Code, want)
		}
	}
}
