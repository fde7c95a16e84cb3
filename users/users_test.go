package users

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// cheapHash is an argon2id hash with tiny parameters, so tests stay fast.
func cheapHash(t testing.TB, password string) string {
	t.Helper()
	return encodeArgon2id(password, []byte("0123456789abcdef"), 64, 1, 1, 32)
}

func bcryptMin(t testing.TB, password string) string {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func testFile(t testing.TB) []byte {
	t.Helper()
	return fmt.Appendf(nil, `
users:
  alice:
    displayname: Alice Doe
    email: Alice@Example.com
    password: %q
    groups: [admins, dev]
    given_name: Alice
    family_name: Doe
    middle_name: ""
    nickname: al
    gender: female
    birthdate: "1970-01-01"
    website: https://alice.example.com
    profile: https://alice.example.com/me
    picture: https://alice.example.com/me.png
    zoneinfo: Europe/Paris
    locale: fr-FR
    phone_number: "+33 1 23 45 67 89"
    phone_extension: "12"
    address:
      street_address: 1 rue de la Paix
      locality: Paris
      postal_code: "75002"
      country: FR
    extra:
      example: '123'
      nested: {a: [1, 2]}
  bob:
    displayname: Bob
    email: bob@example.com
    password: "{CRYPT}%s"
  carol:
    email: carol@example.com
    password: %q
    disabled: true
unrelated_top_level: 1
`, cheapHash(t, "alice-pw"), bcryptMin(t, "bob-pw"), cheapHash(t, "carol-pw"))
}

func TestParse(t *testing.T) {
	d, err := Parse(testFile(t))
	if err != nil {
		t.Fatal(err)
	}
	got := d.Users()
	want := []User{
		{Name: "alice", DisplayName: "Alice Doe", Email: "Alice@Example.com", Groups: []string{"admins", "dev"}},
		{Name: "bob", DisplayName: "Bob", Email: "bob@example.com"},
		{Name: "carol", Email: "carol@example.com", Disabled: true},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Users() = %+v, want %+v", got, want)
	}
}

func TestParseErrors(t *testing.T) {
	h := cheapHash(t, "pw")
	tests := []struct {
		name, yaml, wantErr string
	}{
		{"empty document", "", "no users defined"},
		{"no users", "users: {}", "no users defined"},
		{"wrong root", "user:\n  a:\n    password: " + h, "no users defined"},
		{"not yaml", "users\njohn\nemail: x\n", "users: parse"},
		{"users is a list", "users: [a, b]", "cannot unmarshal"},
		{"groups is a string", "users:\n  a:\n    password: " + h + "\n    groups: admins", "cannot unmarshal"},
		{"disabled is a map", "users:\n  a:\n    password: " + h + "\n    disabled: {x: 1}", "cannot unmarshal"},
		{"password is a list", "users:\n  a:\n    password: [x]", "cannot unmarshal"},
		{"duplicate key", "users:\n  a:\n    password: " + h + "\n  a:\n    password: " + h, "already defined"},
		{"null user", "users:\n  a:\n", `user "a": empty entry`},
		{"no password", "users:\n  a:\n    email: a@x", `user "a": no password hash`},
		{"sha512crypt", "users:\n  bob:\n    password: \"$6$rounds=500000$jgiCMRyGXzoqpxS3$w2pJeZnnH8bwW3zzvoMWtTRfQYsHbWbD/hquuQ5vUeIyl9gdwBIt6RWk2S6afBA0DPakbeWgD/4SZPiS0hYtU/\"",
			`users: user "bob": password hash scheme "$6$" (sha512crypt) is not supported; use argon2id or bcrypt (sso hash-password)`},
		{"hostile memory", "users:\n  a:\n    password: $argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw", `user "a": argon2id hash parameters`},
		{"duplicate email", "users:\n  a:\n    email: X@example.com\n    password: " + h + "\n  b:\n    email: x@EXAMPLE.com\n    password: " + h, "share the e-mail address"},
		{"name is other's email", "users:\n  a@example.com:\n    password: " + h + "\n  b:\n    email: A@example.com\n    password: " + h, "is the e-mail address of user"},
		{"group with comma", "users:\n  a:\n    password: " + h + "\n    groups: [\"x,y\"]", "invalid group name"},
		{"empty group", "users:\n  a:\n    password: " + h + "\n    groups: [\"\"]", "invalid group name"},
		{"bad email", "users:\n  a:\n    password: " + h + "\n    email: nobody", "invalid e-mail"},
		{"name with newline", "users:\n  \"a\\nb\":\n    password: " + h, "control characters"},
		{"empty name", "users:\n  \"\":\n    password: " + h, "empty user name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "users: ") {
				t.Errorf("Parse(%q) error = %v, want one containing %q", tc.yaml, err, tc.wantErr)
			}
		})
	}
}

// The same user may keep her own address as her name.
func TestParseNameIsOwnEmail(t *testing.T) {
	h := cheapHash(t, "pw")
	if _, err := Parse([]byte("users:\n  a@example.com:\n    email: A@example.com\n    password: " + h)); err != nil {
		t.Fatalf("Parse: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users.yml")
	if err := os.WriteFile(path, testFile(t), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := LoadFile(path)
	if err != nil {
		t.Fatalf("LoadFile(%q): %v", path, err)
	}
	if _, ok := d.Lookup("alice"); !ok {
		t.Errorf("Lookup(alice) = false, want true")
	}

	missing := filepath.Join(dir, "missing.yml")
	_, err = LoadFile(missing)
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), fmt.Sprintf("users: load users file %q: ", missing)) {
		t.Errorf("LoadFile(missing) = %v, want wrapped ErrNotExist naming the path", err)
	}

	bad := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(bad, []byte("users: {}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
		t.Errorf("LoadFile(bad) = %v, want an error naming the path", err)
	}
}

// TestLoadAutheliaFile loads a file as Authelia's test suite writes it
// (argon2id hashes with {CRYPT}, parameters Authelia chose) minus its
// sha512crypt users, and logs in with the password Authelia's tests use.
func TestLoadAutheliaFile(t *testing.T) {
	const file = `
users:
  john:
    displayname: "John Doe"
    password: "{CRYPT}$argon2id$v=19$m=65536,t=3,p=2$BpLnfgDsc2WD8F2q$o/vzA4myCqZZ36bUGsDY//8mKUYNZZaR0t4MFFSs+iM"
    email: john.doe@authelia.com
    groups:
      - admins
      - dev
  dis:
    displayname: "Enumeration"
    password: "$argon2id$v=19$m=65536,t=3,p=2$BpLnfgDsc2WD8F2q$o/vzA4myCqZZ36bUGsDY//8mKUYNZZaR0t4MFFSs+iM"
    disabled: true
    email: disabled@authelia.com
`
	d, err := Parse([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	u, err := d.Authenticate("JOHN.DOE@authelia.com", "password")
	if err != nil || u.Name != "john" || !slices.Equal(u.Groups, []string{"admins", "dev"}) {
		t.Fatalf("Authenticate(john's email) = %+v, %v", u, err)
	}
}

func TestAuthenticate(t *testing.T) {
	d, err := Parse(testFile(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		login, password string
		want            string // user name, "" for ErrInvalidCredentials
	}{
		{"alice", "alice-pw", "alice"},
		{"alice@example.com", "alice-pw", "alice"},
		{"ALICE@EXAMPLE.COM", "alice-pw", "alice"},
		{"Alice", "alice-pw", ""}, // names are exact
		{"alice", "alice-PW", ""},
		{"alice", "", ""},
		{"alice", strings.Repeat("a", MaxPasswordLen+1), ""},
		{"bob", "bob-pw", "bob"},
		{"bob@example.com", "bob-pw", "bob"},
		{"bob", "alice-pw", ""},
		{"carol", "carol-pw", ""}, // disabled
		{"carol@example.com", "carol-pw", ""},
		{"nobody", "alice-pw", ""},
		{"", "alice-pw", ""},
	}
	for _, tc := range tests {
		t.Run(tc.login+"/"+tc.password, func(t *testing.T) {
			u, err := d.Authenticate(tc.login, tc.password)
			if tc.want == "" {
				if !errors.Is(err, ErrInvalidCredentials) || u.Name != "" {
					t.Errorf("Authenticate(%q, %q) = %q, %v; want ErrInvalidCredentials", tc.login, tc.password, u.Name, err)
				}
				return
			}
			if err != nil || u.Name != tc.want {
				t.Errorf("Authenticate(%q, %q) = %q, %v; want %q", tc.login, tc.password, u.Name, err, tc.want)
			}
		})
	}
}

// TestAuthenticateVerifiesUnknownUsers checks structurally what a timing
// test would check flakily: every failing path costs one verification, and
// unknown or disabled users are verified against the dummy hash.
func TestAuthenticateVerifiesUnknownUsers(t *testing.T) {
	d, err := Parse(testFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	d.verify = func(encoded, password string) (bool, error) {
		calls = append(calls, encoded)
		return VerifyPassword(encoded, password)
	}
	tests := []struct {
		login, password string
		wantDummy       bool
	}{
		{"nobody", "pw", true},
		{"nobody@example.com", "pw", true},
		{"carol", "carol-pw", false}, // disabled: its own hash, its own cost
		{"alice", "wrong", false},
		{"alice", "alice-pw", false},
	}
	for _, tc := range tests {
		calls = nil
		_, _ = d.Authenticate(tc.login, tc.password)
		if len(calls) != 1 {
			t.Errorf("Authenticate(%q): %d verifications, want 1", tc.login, len(calls))
			continue
		}
		isDummy := slices.ContainsFunc(d.dummies, func(x dummy) bool { return x.encoded == calls[0] })
		if got := isDummy; got != tc.wantDummy {
			t.Errorf("Authenticate(%q) verified the dummy hash: %v, want %v", tc.login, got, tc.wantDummy)
		}
	}
}

// The dummies are one per cost class of the file, weighted by its users;
// an unknown name always meets the same class, and names spread over the
// classes as the users do. So a file that mixes argon2id and cheap bcrypt
// users does not make unknown names stand out by their cost.
func TestDummyHashesMatchTheFile(t *testing.T) {
	hashes := map[string]string{"a1": cheapHash(t, "a"), "a2": cheapHash(t, "b"), "b1": bcryptMin(t, "c")}
	var list []User
	for _, name := range []string{"a1", "a2", "b1"} {
		list = append(list, User{Name: name})
	}
	d, err := New(list, hashes)
	if err != nil {
		t.Fatal(err)
	}
	classes := map[string]int{}
	for _, x := range d.dummies {
		p, err := parseHash(x.encoded, defaultLimits)
		if err != nil {
			t.Fatalf("dummy %q: %v", x.encoded, err)
		}
		classes[p.costKey()] = x.weight
		for _, h := range hashes {
			if h == x.encoded {
				t.Errorf("a dummy equals a user's hash")
			}
		}
	}
	want := map[string]int{"argon2id:64:1:1:32": 2, "bcrypt:4": 1}
	if !maps.Equal(classes, want) {
		t.Fatalf("dummy classes = %v, want %v", classes, want)
	}
	const names = 300
	seen := map[string]int{}
	for i := range names {
		login := fmt.Sprintf("nobody%d@example.com", i)
		h := d.dummyFor(login)
		if d.dummyFor(login) != h {
			t.Fatalf("dummyFor(%q) changed between calls", login)
		}
		p, _ := parseHash(h, defaultLimits)
		seen[p.costKey()]++
	}
	// Binomial(300, 1/3): mean 100, sd about 8; 50..150 is six sd either way.
	if b := seen["bcrypt:4"]; b < 50 || b > 150 {
		t.Errorf("unknown names on bcrypt: %d of %d, want about a third (%v)", b, names, seen)
	}
	if got := d.CheckMemory(); got != 64<<10 {
		t.Errorf("CheckMemory = %d, want %d (argon2id m=64 KiB)", got, 64<<10)
	}
}

// Measures, for the record, what an unknown name costs next to each class
// of known user in a mixed file (go test -v -run DummyTiming). No timing is
// asserted: the property is the class choice tested above.
func TestDummyTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	// argon2id at sso hash-password's own parameters.
	argon, err := HashPassword("pw-a")
	if err != nil {
		t.Fatal(err)
	}
	hashes := map[string]string{"argon": argon, "bc": bcryptMin(t, "pw-b")}
	d, err := New([]User{{Name: "argon"}, {Name: "bc"}}, hashes)
	if err != nil {
		t.Fatal(err)
	}
	timeOf := func(login string) time.Duration {
		start := time.Now()
		_, _ = d.Authenticate(login, "wrong")
		return time.Since(start)
	}
	t.Logf("known argon2id user: %v, known bcrypt user: %v", timeOf("argon"), timeOf("bc"))
	for i := range 4 {
		login := fmt.Sprint("ghost", i)
		t.Logf("unknown %q: %v", login, timeOf(login))
	}
}

func TestLookup(t *testing.T) {
	d, err := Parse(testFile(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want bool
	}{{"alice", true}, {"bob", true}, {"carol", false}, {"nobody", false}, {"alice@example.com", false}} {
		if _, ok := d.Lookup(tc.name); ok != tc.want {
			t.Errorf("Lookup(%q) = %v, want %v", tc.name, ok, tc.want)
		}
	}
	// Callers get copies.
	u, _ := d.Lookup("alice")
	u.Groups[0] = "mutated"
	if u2, _ := d.Lookup("alice"); u2.Groups[0] != "admins" {
		t.Errorf("Lookup returned shared Groups: %v", u2.Groups)
	}
}

func TestNew(t *testing.T) {
	h := cheapHash(t, "pw")
	if _, err := New(nil, nil); err == nil {
		t.Error("New(nil) succeeded, want error")
	}
	if _, err := New([]User{{Name: "a"}, {Name: "a"}}, map[string]string{"a": h}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("New(duplicate) = %v, want error", err)
	}
	if _, err := New([]User{{Name: "a"}}, map[string]string{"b": h}); err == nil || !strings.Contains(err.Error(), `"a": no password hash`) {
		t.Errorf("New(missing hash) = %v, want error", err)
	}
	// The caller's slice is not aliased.
	groups := []string{"g"}
	d, err := New([]User{{Name: "a", Groups: groups}}, map[string]string{"a": h})
	if err != nil {
		t.Fatal(err)
	}
	groups[0] = "mutated"
	if u, _ := d.Lookup("a"); u.Groups[0] != "g" {
		t.Errorf("New aliased the caller's Groups: %v", u.Groups)
	}
}

func TestDemo(t *testing.T) {
	d, err := Demo("demo", "demo@example.test", "s3cret-demo")
	if err != nil {
		t.Fatal(err)
	}
	u, err := d.Authenticate("demo@example.test", "s3cret-demo")
	if err != nil || u.Name != "demo" || u.Email != "demo@example.test" {
		t.Fatalf("Authenticate = %+v, %v", u, err)
	}
	if _, err := Demo("demo", "demo@example.test", ""); err == nil {
		t.Error("Demo with empty password succeeded, want error")
	}
}

func TestConcurrentAuthenticate(t *testing.T) {
	d, err := Parse(testFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			login, pw := "alice", "alice-pw"
			if i%2 == 1 {
				login = "nobody"
			}
			u, err := d.Authenticate(login, pw)
			if (err == nil) != (i%2 == 0) || (err == nil && u.Name != "alice") {
				t.Errorf("Authenticate(%q) = %q, %v", login, u.Name, err)
			}
			d.Lookup("bob")
		})
	}
	wg.Wait()
}

func FuzzParse(f *testing.F) {
	f.Add(testFile(f))
	f.Add([]byte("users:\n  a:\n    password: $argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw\n    email: a@x\n    groups: [g]\n"))
	f.Add([]byte("users: {a: {password: x, groups: y}}"))
	f.Add([]byte("users:\n  a: &x\n    password: p\n  b: *x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := parse(data, fuzzLimits)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "users: ") {
				t.Fatalf("parse error %q lacks the package prefix", err)
			}
			return
		}
		us := d.Users()
		if len(us) == 0 {
			t.Fatal("parse accepted a file without users")
		}
		for _, u := range us {
			if _, err := d.Authenticate(u.Name, ""); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("Authenticate(%q, \"\") = %v", u.Name, err)
			}
		}
	})
}
