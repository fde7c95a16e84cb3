package federation

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func validProvider() Provider {
	return Provider{ID: "corp", Issuer: "https://idp.example.com", ClientID: "c", ClientSecret: "s",
		RedirectURL: "https://login.example.com/oauth2/callback/corp", AllowedEmailDomains: []string{"example.com"}}
}

func TestProviderValidation(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(p *Provider)
		secure  bool
		wantErr string
	}{
		{"valid", func(p *Provider) {}, true, ""},
		{"id empty", func(p *Provider) { p.ID = "" }, true, `provider "?": ID: "" is not`},
		{"id upper", func(p *Provider) { p.ID = "Corp" }, true, "ID:"},
		{"id long", func(p *Provider) { p.ID = strings.Repeat("a", 33) }, true, "ID:"},
		{"name control", func(p *Provider) { p.Name = "a\nb" }, true, "Name: has control"},
		{"issuer missing", func(p *Provider) { p.Issuer = "" }, true, "Issuer: required"},
		{"issuer http", func(p *Provider) { p.Issuer = "http://idp.example.com" }, true, "Issuer: \"http://idp.example.com\": http is only allowed"},
		{"issuer http dev", func(p *Provider) { p.Issuer = "http://dex:5556/dex" }, false, ""},
		{"issuer http loopback", func(p *Provider) { p.Issuer = "http://127.0.0.1:5556/" }, true, ""},
		{"issuer ftp", func(p *Provider) { p.Issuer = "ftp://idp.example.com" }, true, "scheme must be https"},
		{"issuer query", func(p *Provider) { p.Issuer = "https://idp.example.com/?a=b" }, true, "no user, query or fragment"},
		{"issuer relative", func(p *Provider) { p.Issuer = "/x" }, true, "Issuer:"},
		{"client id", func(p *Provider) { p.ClientID = "" }, true, "ClientID: required"},
		{"client secret", func(p *Provider) { p.ClientSecret = "" }, true, "ClientSecret: required"},
		{"redirect", func(p *Provider) { p.RedirectURL = "http://login.example.com/cb" }, true, "RedirectURL:"},
		{"scope", func(p *Provider) { p.Scopes = []string{"openid", "a b"} }, true, "Scopes:"},
		{"claim", func(p *Provider) { p.UserClaim = " x" }, true, "UserClaim:"},
		{"prefix", func(p *Provider) { p.UserPrefix = "a b " }, true, "UserPrefix:"},
		{"no allow-list", func(p *Provider) { p.AllowedEmailDomains = nil }, true, "AllowedEmailDomains: set it"},
		{"groups only", func(p *Provider) { p.AllowedEmailDomains = nil; p.AllowedGroups = []string{"staff"} }, true, ""},
		{"domain star", func(p *Provider) { p.AllowedEmailDomains = []string{"*"} }, true, ""},
		{"domain bad", func(p *Provider) { p.AllowedEmailDomains = []string{"*.example.com"} }, true, "AllowedEmailDomains:"},
		{"domain no dot", func(p *Provider) { p.AllowedEmailDomains = []string{"localhost"} }, true, "AllowedEmailDomains:"},
		{"group comma", func(p *Provider) { p.AllowedGroups = []string{"a,b"} }, true, "AllowedGroups:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validProvider()
			tc.edit(&p)
			_, err := p.withDefaults(tc.secure)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestProviderDefaults(t *testing.T) {
	p := validProvider()
	p.AllowedEmailDomains = []string{" @Example.COM "}
	p.Scopes = []string{"email", "groups", "openid"}
	got, err := p.withDefaults(true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "corp" || got.UserClaim != "preferred_username" || got.EmailClaim != "email" || got.GroupsClaim != "groups" ||
		!slices.Equal(got.Scopes, []string{"openid", "email", "groups"}) || !slices.Equal(got.AllowedEmailDomains, []string{"example.com"}) {
		t.Errorf("defaults = %+v", got)
	}
}

func TestNewErrors(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	for _, tc := range []struct {
		opt  Options
		want string
	}{
		{Options{}, "Keys: at least one key"},
		{Options{Keys: [][]byte{[]byte("short")}}, "Keys[0]: 5 bytes"},
		{Options{Keys: [][]byte{key}, Providers: []Provider{validProvider(), validProvider()}}, `"corp": ID: used twice`},
		{Options{Keys: [][]byte{key}, Providers: []Provider{{ID: "x"}}}, `provider "x": Issuer: required (Providers[0])`},
	} {
		if _, err := New(tc.opt); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.opt, err, tc.want)
		}
	}
	f, err := New(Options{Keys: [][]byte{key}, Providers: []Provider{validProvider(), func() Provider { p := validProvider(); p.ID, p.Name = "b", "B Corp"; return p }()}})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Buttons(); !slices.Equal(got, []Button{{"corp", "corp"}, {"b", "B Corp"}}) {
		t.Errorf("Buttons = %v", got)
	}
}

func TestMapClaims(t *testing.T) {
	p, err := validProvider().withDefaults(true)
	if err != nil {
		t.Fatal(err)
	}
	with := func(edit func(p *Provider)) Provider { q := p; edit(&q); return q }
	alice := func() map[string]any {
		return map[string]any{"sub": "s1", "preferred_username": "alice", "email": "Alice@Example.com", "email_verified": true, "groups": []any{"staff", "dev"}}
	}
	claims := func(edit func(c map[string]any)) map[string]any { c := alice(); edit(c); return c }
	for _, tc := range []struct {
		name   string
		p      Provider
		claims map[string]any
		want   Identity
		reason string
	}{
		{"alice", p, alice(), Identity{User: "alice", Email: "alice@example.com", Groups: []string{"staff", "dev"}, Provider: "corp", Subject: "s1"}, ""},
		{"prefix", with(func(p *Provider) { p.UserPrefix = "corp:" }), alice(), Identity{User: "corp:alice", Email: "alice@example.com", Groups: []string{"staff", "dev"}, Provider: "corp", Subject: "s1"}, ""},
		{"user claim email", with(func(p *Provider) { p.UserClaim = "email" }), alice(), Identity{User: "Alice@Example.com", Email: "alice@example.com", Groups: []string{"staff", "dev"}, Provider: "corp", Subject: "s1"}, ""},
		{"verified as string", p, claims(func(c map[string]any) { c["email_verified"] = "TRUE" }), Identity{User: "alice", Email: "alice@example.com", Groups: []string{"staff", "dev"}, Provider: "corp", Subject: "s1"}, ""},
		{"one group as string", p, claims(func(c map[string]any) { c["groups"] = "staff" }), Identity{User: "alice", Email: "alice@example.com", Groups: []string{"staff"}, Provider: "corp", Subject: "s1"}, ""},
		{"bad groups dropped", p, claims(func(c map[string]any) { c["groups"] = []any{"a,b", 3, "", " x", "ok", "ok"} }), Identity{User: "alice", Email: "alice@example.com", Groups: []string{"ok"}, Provider: "corp", Subject: "s1"}, ""},
		{"no user", p, claims(func(c map[string]any) { delete(c, "preferred_username") }), Identity{}, "no preferred_username claim"},
		{"user not string", p, claims(func(c map[string]any) { c["preferred_username"] = 5 }), Identity{}, "no preferred_username claim"},
		{"user control", p, claims(func(c map[string]any) { c["preferred_username"] = "a\r\nX-Auth-User: root" }), Identity{}, "not a usable user name"},
		{"user long", p, claims(func(c map[string]any) { c["preferred_username"] = strings.Repeat("a", 257) }), Identity{}, "not a usable user name"},
		{"unverified", p, claims(func(c map[string]any) { c["email_verified"] = false }), Identity{}, "not verified"},
		{"verified missing", p, claims(func(c map[string]any) { delete(c, "email_verified") }), Identity{}, "not verified"},
		{"unverified allowed", with(func(p *Provider) { p.AllowUnverifiedEmail = true }), claims(func(c map[string]any) { c["email_verified"] = false }), Identity{User: "alice", Email: "alice@example.com", Groups: []string{"staff", "dev"}, Provider: "corp", Subject: "s1"}, ""},
		{"email not address", p, claims(func(c map[string]any) { c["email"] = "a@b@c" }), Identity{}, "not an e-mail address"},
		{"email comma", p, claims(func(c map[string]any) { c["email"] = "a@example.com,b@example.com" }), Identity{}, "not an e-mail address"},
		{"no email, domain list", p, claims(func(c map[string]any) { delete(c, "email") }), Identity{}, "no e-mail address"},
		{"domain outside", p, claims(func(c map[string]any) { c["email"] = "alice@example.com.evil.org" }), Identity{}, "e-mail domain"},
		{"subdomain is not domain", p, claims(func(c map[string]any) { c["email"] = "alice@sub.example.com" }), Identity{}, "e-mail domain"},
		{"star domain, no email", with(func(p *Provider) { p.AllowedEmailDomains = []string{"*"} }), claims(func(c map[string]any) { delete(c, "email") }), Identity{User: "alice", Groups: []string{"staff", "dev"}, Provider: "corp", Subject: "s1"}, ""},
		{"groups allowed", with(func(p *Provider) { p.AllowedEmailDomains = nil; p.AllowedGroups = []string{"ops", "dev"} }), alice(), Identity{User: "alice", Email: "alice@example.com", Groups: []string{"staff", "dev"}, Provider: "corp", Subject: "s1"}, ""},
		{"groups outside", with(func(p *Provider) { p.AllowedEmailDomains = nil; p.AllowedGroups = []string{"ops"} }), alice(), Identity{}, "none of the groups"},
		{"no groups claim", with(func(p *Provider) { p.AllowedGroups = []string{"ops"} }), claims(func(c map[string]any) { delete(c, "groups") }), Identity{}, "none of the groups"},
		{"groups not list", p, claims(func(c map[string]any) { c["groups"] = map[string]any{"a": 1} }), Identity{}, "not a list of names"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := mapClaims(tc.p, tc.claims)
			if tc.reason != "" {
				if !strings.Contains(reason, tc.reason) || got.User != "" {
					t.Errorf("mapClaims = %+v, %q; want refusal %q", got, reason, tc.reason)
				}
				return
			}
			if reason != "" || fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("mapClaims = %+v, %q; want %+v", got, reason, tc.want)
			}
		})
	}
}

func TestSealer(t *testing.T) {
	k1, k2 := []byte(strings.Repeat("1", 32)), []byte(strings.Repeat("2", 32))
	old, _ := newSealer([][]byte{k1})
	rotated, _ := newSealer([][]byte{k2, k1})
	other, _ := newSealer([][]byte{k2})
	now := time.Unix(1_700_000_000, 0)
	st := flowState{State: "s", Nonce: "n", Verifier: "v", RD: "/x", Expires: now.Add(time.Minute).Unix()}
	v, err := old.seal("corp", st)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := rotated.open("corp", v, now); err != nil || got != st {
		t.Errorf("open after rotation = %+v, %v", got, err)
	}
	for _, tc := range []struct {
		name, provider, value string
		s                     *sealer
		now                   time.Time
		want                  string
	}{
		{"other key", "corp", v, other, now, "does not open"},
		{"other provider", "b", v, old, now, "does not open"},
		{"expired", "corp", v, old, now.Add(time.Minute), "expired"},
		{"flipped", "corp", v[:len(v)-2] + "AA", old, now, "does not open"},
		{"not base64", "corp", "!!", old, now, "not base64url"},
		{"short", "corp", "AAAA", old, now, "too short"},
		{"long", "corp", strings.Repeat("A", maxCookie+1), old, now, "too long"},
	} {
		if _, err := tc.s.open(tc.provider, tc.value, tc.now); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: open = %v, want %q", tc.name, err, tc.want)
		}
	}
	empty, _ := old.seal("corp", flowState{Expires: now.Add(time.Minute).Unix()})
	if _, err := old.open("corp", empty, now); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("empty state: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	s, _ := newSealer([][]byte{[]byte(strings.Repeat("1", 32))})
	sealed := flowState{State: "s", Nonce: "n", Verifier: "v", Expires: 2_000_000_000}
	v, _ := s.seal("corp", sealed)
	f.Add(v)
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, value string) {
		st, err := s.open("corp", value, time.Unix(1_700_000_000, 0))
		if err == nil && (st.State == "" || st.Nonce == "" || st.Verifier == "") {
			t.Errorf("open(%q) = %+v with no error", value, st)
		}
		// Only what was sealed with the key opens (fuzz workers seal their
		// own seed, with another random nonce, so compare the content).
		if err == nil && st != sealed {
			t.Errorf("open(%q) = %+v, a state never sealed", value, st)
		}
	})
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 200},
		{fmt.Errorf("%w: x", ErrUnknownProvider), http.StatusNotFound},
		{fmt.Errorf("%w: x", ErrState), http.StatusBadRequest},
		{fmt.Errorf("%w: x", ErrInvalid), http.StatusBadRequest},
		{&DeniedError{Provider: "p", Reason: "r"}, http.StatusForbidden},
		{fmt.Errorf("%w: x", ErrProvider), http.StatusBadGateway},
		{errors.New("other"), http.StatusBadGateway},
	} {
		if got := Status(tc.err); got != tc.want {
			t.Errorf("Status(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
	if d := (&DeniedError{Provider: "p", Reason: "r"}); !errors.Is(d, ErrDenied) || errors.Is(d, ErrState) {
		t.Error("DeniedError Is")
	}
}

func TestProviderHidesSecret(t *testing.T) {
	p := validProvider()
	p.ClientSecret = "hunter2-very-secret"
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%+v", p), fmt.Sprintf("%#v", p), fmt.Sprint([]Provider{p})} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "***") {
			t.Errorf("printed provider: %s", s)
		}
	}
	var fe *FieldError
	p.Issuer = ""
	if err := p.Validate(true); !errors.As(err, &fe) || fe.Field != "Issuer" || fe.Provider != "corp" {
		t.Errorf("Validate = %#v", err)
	}
}

func TestIdentityHidesRefreshToken(t *testing.T) {
	id := Identity{User: "alice", RefreshToken: "rt-very-secret"}
	for _, s := range []string{fmt.Sprint(id), fmt.Sprintf("%+v", id), fmt.Sprintf("%#v", id), fmt.Sprint([]Identity{id})} {
		if strings.Contains(s, "rt-very-secret") || !strings.Contains(s, "alice") {
			t.Errorf("printed identity: %s", s)
		}
	}
}

func TestAuthClaims(t *testing.T) {
	long := strings.Repeat("x", maxAMRLen+1)
	many := make([]any, maxAMR+1)
	for i := range many {
		many[i] = "otp"
	}
	at := time.Unix(1_700_000_000, 0).UTC()
	for _, tc := range []struct {
		name   string
		claims map[string]any
		amr    []string
		at     time.Time
	}{
		{"absent", map[string]any{}, nil, time.Time{}},
		{"list", map[string]any{"amr": []any{"pwd", "mfa"}, "auth_time": float64(1_700_000_000)}, []string{"pwd", "mfa"}, at},
		{"one string", map[string]any{"amr": "mfa"}, []string{"mfa"}, time.Time{}},
		{"mixed entries", map[string]any{"amr": []any{"pwd", 7.0, nil, "", "a b", "otp", "otp", long, map[string]any{}}}, []string{"pwd", "otp"}, time.Time{}},
		{"object", map[string]any{"amr": map[string]any{"mfa": true}}, nil, time.Time{}},
		{"number", map[string]any{"amr": 1.0}, nil, time.Time{}},
		{"bool", map[string]any{"amr": true}, nil, time.Time{}},
		{"too many", map[string]any{"amr": many}, nil, time.Time{}},
		{"null", map[string]any{"amr": nil, "auth_time": nil}, nil, time.Time{}},
		{"auth_time string", map[string]any{"auth_time": "1700000000"}, nil, time.Time{}},
		{"auth_time negative", map[string]any{"auth_time": -5.0}, nil, time.Time{}},
		{"auth_time huge", map[string]any{"auth_time": 1e300}, nil, time.Time{}},
		{"auth_time fraction", map[string]any{"auth_time": 1_700_000_000.7}, nil, at},
	} {
		t.Run(tc.name, func(t *testing.T) {
			amr, got := authClaims(tc.claims)
			if !slices.Equal(amr, tc.amr) || !got.Equal(tc.at) {
				t.Errorf("authClaims = %q, %v; want %q, %v", amr, got, tc.amr, tc.at)
			}
		})
	}
}

// FuzzAuthClaims: whatever JSON an ID token carries, authClaims gives at
// most maxAMR distinct usable names and a sane time, and never panics.
func FuzzAuthClaims(f *testing.F) {
	f.Add(`{"amr":["pwd","mfa"],"auth_time":1700000000}`)
	f.Add(`{"amr":"otp","auth_time":"x"}`)
	f.Add(`{"amr":[1,null,{"a":1},["b"]],"auth_time":-1e308}`)
	f.Fuzz(func(t *testing.T, doc string) {
		claims := map[string]any{}
		if json.Unmarshal([]byte(doc), &claims) != nil {
			return
		}
		amr, at := authClaims(claims)
		if len(amr) > maxAMR {
			t.Errorf("%d amr values", len(amr))
		}
		for i, v := range amr {
			if !validAMR(v) || slices.Contains(amr[:i], v) {
				t.Errorf("amr value %q of %q", v, amr)
			}
		}
		if !at.IsZero() && (at.Unix() < 1 || at.Unix() >= maxAuthTime) {
			t.Errorf("auth_time %v", at)
		}
	})
}
