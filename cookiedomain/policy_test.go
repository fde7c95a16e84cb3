package cookiedomain

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func mustNew(t testing.TB, cfg Config) *Policy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return p
}

func TestNew(t *testing.T) {
	ok := []string{"example.com"}
	tests := []struct {
		name string
		cfg  Config
		want string // error substring; "" means success
	}{
		{"minimal", Config{Domains: ok}, ""},
		{"dev default", Config{Domains: []string{"example.test"}, Name: "sso_session"}, ""},
		{"several", Config{Domains: []string{"example.com", "example.org", "sso.example.com"}, Secure: true}, ""},
		{"strict", Config{Domains: ok, SameSite: http.SameSiteStrictMode}, ""},
		{"none secure", Config{Domains: ok, SameSite: http.SameSiteNoneMode, Secure: true}, ""},
		{"secure prefix", Config{Domains: ok, Name: "__Secure-sso", Secure: true}, ""},
		{"token chars", Config{Domains: ok, Name: "a!#$%&'*+-.^_`|~9"}, ""},

		{"no domains", Config{}, "cookiedomain: Domains: no cookie domain"},
		{"public suffix", Config{Domains: []string{"example.com", "co.uk"}}, `cookiedomain: Domains: "co.uk" is a public suffix: browsers refuse cookies for it`},
		{"github.io", Config{Domains: []string{"github.io"}}, `Domains: "github.io" is a public suffix`},
		{"ip", Config{Domains: []string{"10.0.0.1"}}, "Domains: \"10.0.0.1\" is an IP address"},
		{"single label", Config{Domains: []string{"localhost"}}, `Domains: "localhost" is a single label`},
		{"empty domain", Config{Domains: []string{""}}, "Domains: invalid domain"},
		{"port", Config{Domains: []string{"example.com:443"}}, "Domains: \"example.com:443\" has a port"},
		{"bad name", Config{Domains: ok, Name: "sso session"}, "Name: \"sso session\" is not an RFC 6265 token"},
		{"name with =", Config{Domains: ok, Name: "a=b"}, "Name:"},
		{"name with ;", Config{Domains: ok, Name: "a;b"}, "Name:"},
		{"non-ascii name", Config{Domains: ok, Name: "sitzung_ü"}, "Name:"},
		{"host prefix", Config{Domains: ok, Name: "__Host-sso", Secure: true}, "Name: \"__Host-sso\": a __Host- cookie cannot carry the Domain"},
		{"host prefix any case", Config{Domains: ok, Name: "__HOST-sso", Secure: true}, "Name:"},
		{"secure prefix without secure", Config{Domains: ok, Name: "__Secure-sso"}, "Name: \"__Secure-sso\": a __Secure- cookie requires Secure"},
		{"none without secure", Config{Domains: ok, SameSite: http.SameSiteNoneMode}, "SameSite: None requires Secure"},
		{"unknown samesite", Config{Domains: ok, SameSite: http.SameSite(42)}, "SameSite: unknown mode 42"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.cfg)
			if tc.want == "" {
				if err != nil || p == nil {
					t.Fatalf("New(%+v) = %v, %v, want success", tc.cfg, p, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New(%+v) error = %v, want it to contain %q", tc.cfg, err, tc.want)
			}
			if p != nil {
				t.Errorf("New(%+v) returned a policy along with error %v", tc.cfg, err)
			}
		})
	}
}

func TestNewDefaultsAndDedupe(t *testing.T) {
	p := mustNew(t, Config{Domains: []string{"Example.COM", ".example.com", "example.com.", "bücher.example", "xn--bcher-kva.example", "example.org"}})
	if got, want := p.Domains(), []string{"example.com", "xn--bcher-kva.example", "example.org"}; !slices.Equal(got, want) {
		t.Errorf("Domains() = %q, want %q", got, want)
	}
	if got := p.Name(); got != DefaultName {
		t.Errorf("Name() = %q, want %q", got, DefaultName)
	}
	for _, m := range []http.SameSite{0, http.SameSiteDefaultMode} {
		if got := mustNew(t, Config{Domains: []string{"example.com"}, SameSite: m}).SameSite(); got != http.SameSiteLaxMode {
			t.Errorf("SameSite %d: SameSite() = %d, want Lax (%d)", m, got, http.SameSiteLaxMode)
		}
	}
	// Domains returns a copy: the policy is immutable.
	p.Domains()[0] = "evil.net"
	if p.Domains()[0] != "example.com" {
		t.Errorf("changing the result of Domains() changed the policy: %q", p.Domains())
	}
}

func TestFor(t *testing.T) {
	p := mustNew(t, Config{Domains: []string{"example.com", "sso.example.com", "example.org", "bücher.example", "example.test"}})
	tests := []struct {
		host, want string // want "" means ErrNoDomain
	}{
		{"example.com", "example.com"},
		{"login.example.com", "example.com"},
		{"LOGIN.Example.Com", "example.com"},
		{"login.example.com.", "example.com"},
		{"login.example.com:8443", "example.com"},
		{"login.example.com.:8443", "example.com"},
		{"sso.example.com", "sso.example.com"},
		{"foo.sso.example.com", "sso.example.com"},
		{"a.b.foo.sso.example.com", "sso.example.com"},
		{"foosso.example.com", "example.com"},
		{"sso.example.com.evil.net", ""},
		{"app.example.org", "example.org"},
		{"shop.bücher.example", "xn--bcher-kva.example"},
		{"shop.xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"login.example.test:8080", "example.test"},

		{"evilexample.com", ""},
		{"example.com.evil.net", ""},
		{"example.com.evil.net:443", ""},
		{"evil.net", ""},
		{"com", ""},
		{"localhost", ""},
		{"localhost:8080", ""},
		{"127.0.0.1", ""},
		{"[::1]:8080", ""},
		{"buecher.example", ""},
		{"", ""},
		{"a..example.com", ""},
		{"example.com:http", ""},
		{"login.example.com\r\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			got, err := p.For(tc.host)
			if tc.want == "" {
				if !errors.Is(err, ErrNoDomain) {
					t.Fatalf("For(%q) = %q, %v, want an error wrapping ErrNoDomain", tc.host, got, err)
				}
				if p.Contains(tc.host) {
					t.Errorf("Contains(%q) = true, want false", tc.host)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("For(%q) = %q, %v, want %q", tc.host, got, err, tc.want)
			}
			if !p.Contains(tc.host) {
				t.Errorf("Contains(%q) = false, want true", tc.host)
			}
		})
	}
}

// slowFor is the obviously correct version of For: compare whole labels from
// the right, and keep the parent with the most labels.
func slowFor(domains []string, host string) (string, bool) {
	h, err := Canonical(host)
	if err != nil {
		return "", false
	}
	if strings.Contains(h, ":") || strings.Trim(h, "0123456789.") == "" {
		return "", false // an IP address is under no parent domain
	}
	hl := strings.Split(h, ".")
	best, bestN := "", 0
	for _, d := range domains {
		dl := strings.Split(d, ".")
		if len(dl) > len(hl) || len(dl) <= bestN {
			continue
		}
		if slices.Equal(hl[len(hl)-len(dl):], dl) {
			best, bestN = d, len(dl)
		}
	}
	return best, best != ""
}

func TestForOracle(t *testing.T) {
	labels := []string{"a", "b", "sso", "example", "com", "co", "uk", "evil", "net", "evilexample", "xn--bcher-kva", "bücher", "test", "1", "a-b", ""}
	parents := []string{"example.com", "sso.example.com", "a.sso.example.com", "example.co.uk", "evil.net", "xn--bcher-kva.example", "b.example", "a.b.example", "example.test"}
	r := rand.New(rand.NewPCG(1, 2))
	randomHost := func() string {
		n := 1 + r.IntN(5)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = labels[r.IntN(len(labels))]
			if r.IntN(4) == 0 {
				parts[i] = strings.ToUpper(parts[i])
			}
		}
		h := strings.Join(parts, ".")
		switch r.IntN(8) {
		case 0:
			h += "."
		case 1:
			h += ":8443"
		case 2:
			h += ".:80"
		case 3:
			h += ":x"
		}
		return h
	}
	for i := range 200 {
		var domains []string
		for _, d := range parents {
			if r.IntN(2) == 0 {
				domains = append(domains, d)
			}
		}
		if len(domains) == 0 {
			domains = parents[:1]
		}
		p := mustNew(t, Config{Domains: domains})
		for range 100 {
			host := randomHost()
			if i%2 == 0 {
				// Bias towards hosts that can match.
				host = labels[r.IntN(len(labels))] + "." + domains[r.IntN(len(domains))]
			}
			want, wantOK := slowFor(domains, host)
			got, err := p.For(host)
			if (err == nil) != wantOK || got != want {
				t.Fatalf("domains %q: For(%q) = %q, %v, want %q (ok %v)", domains, host, got, err, want, wantOK)
			}
		}
	}
}

func TestSessionCookie(t *testing.T) {
	p := mustNew(t, Config{Domains: []string{"example.com", "sso.example.com"}, Name: "sso", SameSite: http.SameSiteLaxMode, Secure: true})
	tests := []struct {
		maxAge time.Duration
		want   int
	}{
		{time.Hour, 3600},
		{1500 * time.Millisecond, 2},
		{time.Nanosecond, 1},
		{time.Second, 1},
		{12*time.Hour + time.Second, 43201},
	}
	for _, tc := range tests {
		c, err := p.SessionCookie("a.sso.example.com:443", "v", tc.maxAge)
		if err != nil {
			t.Fatalf("SessionCookie(maxAge %v): %v", tc.maxAge, err)
		}
		if c.MaxAge != tc.want {
			t.Errorf("SessionCookie(maxAge %v).MaxAge = %d, want %d", tc.maxAge, c.MaxAge, tc.want)
		}
		if c.Domain != "sso.example.com" || c.Name != "sso" || c.Path != "/" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("SessionCookie(maxAge %v) = %+v, want Domain sso.example.com, Name sso, Path /, HttpOnly, Secure, Lax", tc.maxAge, c)
		}
	}

	bad := []struct {
		name, host, value string
		maxAge            time.Duration
		is                error
	}{
		{"zero max age", "example.com", "v", 0, nil},
		{"negative max age", "example.com", "v", -time.Second, nil},
		{"foreign host", "evil.net", "v", time.Hour, ErrNoDomain},
		{"ip host", "127.0.0.1", "v", time.Hour, ErrNoDomain},
		{"bad value", "example.com", "a;b", time.Hour, nil},
		{"value with quote", "example.com", `a"b`, time.Hour, nil},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			c, err := p.SessionCookie(tc.host, tc.value, tc.maxAge)
			if err == nil {
				t.Fatalf("SessionCookie(%q, %q, %v) = %v, want an error", tc.host, tc.value, tc.maxAge, c)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("SessionCookie(%q, %q, %v) error = %v, want it to wrap %v", tc.host, tc.value, tc.maxAge, err, tc.is)
			}
			if tc.value != "v" && strings.Contains(err.Error(), tc.value) {
				t.Errorf("SessionCookie error %q repeats the cookie value", err)
			}
		})
	}
}

func TestClearCookies(t *testing.T) {
	p := mustNew(t, Config{Domains: []string{"example.com"}, Name: "sso", SameSite: http.SameSiteStrictMode, Secure: true})
	cs, err := p.ClearCookies("app.example.com")
	if err != nil || len(cs) != 2 {
		t.Fatalf("ClearCookies(%q) = %v, %v, want two cookies", "app.example.com", cs, err)
	}
	if cs[0].Domain != "example.com" || cs[1].Domain != "" {
		t.Errorf("ClearCookies domains = %q, %q, want %q, %q", cs[0].Domain, cs[1].Domain, "example.com", "")
	}
	set, err := p.SessionCookie("app.example.com", "v", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		// A clearing cookie only works when it matches name, domain and
		// path of the cookie it deletes.
		if c.Name != set.Name || c.Path != set.Path || c.Secure != set.Secure || c.HttpOnly != set.HttpOnly || c.SameSite != set.SameSite {
			t.Errorf("clearing cookie %d = %+v, does not match session cookie %+v", i, c, set)
		}
		if c.Value != "" || c.MaxAge != -1 {
			t.Errorf("clearing cookie %d: Value %q, MaxAge %d, want empty and -1", i, c.Value, c.MaxAge)
		}
		if err := c.Valid(); err != nil {
			t.Errorf("clearing cookie %d: Valid() = %v", i, err)
		}
	}

	// Under no domain: only the host-only cookie, and the error says why.
	cs, err = p.ClearCookies("evil.net")
	if !errors.Is(err, ErrNoDomain) || len(cs) != 1 || cs[0].Domain != "" || cs[0].MaxAge != -1 {
		t.Errorf("ClearCookies(%q) = %v, %v, want one host-only clearing cookie and ErrNoDomain", "evil.net", cs, err)
	}
}

// TestRendered pins the Set-Cookie lines browsers see. Run with -update to
// rewrite testdata/cookies.golden after an intended change (and say so in
// CHANGELOG.md: attribute changes can log everyone out).
func TestRendered(t *testing.T) {
	var b strings.Builder
	render := func(label string, cfg Config, host string) {
		p := mustNew(t, cfg)
		c, err := p.SessionCookie(host, "dGlja2V0.c2ln", 12*time.Hour)
		if err != nil {
			t.Fatalf("%s: SessionCookie(%q): %v", label, host, err)
		}
		fmt.Fprintf(&b, "%s set:   %s\n", label, c)
		cs, err := p.ClearCookies(host)
		if err != nil {
			t.Fatalf("%s: ClearCookies(%q): %v", label, host, err)
		}
		for _, c := range cs {
			fmt.Fprintf(&b, "%s clear: %s\n", label, c)
		}
	}
	render("prod", Config{Domains: []string{"example.com"}, Name: "sso_session", Secure: true}, "login.example.com")
	render("nested", Config{Domains: []string{"example.com", "sso.example.com"}, Name: "__Secure-sso", SameSite: http.SameSiteStrictMode, Secure: true}, "foo.sso.example.com:8443")
	render("none", Config{Domains: []string{"bücher.example"}, SameSite: http.SameSiteNoneMode, Secure: true}, "shop.BÜCHER.example.")
	render("dev", Config{Domains: []string{"example.test"}}, "login.example.test:8080")

	golden := filepath.Join("testdata", "cookies.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("rendered cookies differ from %s:\ngot:\n%s\nwant:\n%s", golden, got, want)
	}
}
