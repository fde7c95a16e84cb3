package users

import (
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Hashes written by Authelia (go-crypt), from Authelia's own repository:
// internal/authentication/file_user_provider_test.go and
// users_database.template.yml.
var goldens = []struct {
	name, encoded, password string
}{
	{"test suite john", "{CRYPT}$argon2id$v=19$m=65536,t=3,p=2$BpLnfgDsc2WD8F2q$o/vzA4myCqZZ36bUGsDY//8mKUYNZZaR0t4MFFSs+iM", "password"},
	{"template", "$argon2id$v=19$m=32768,t=1,p=8$eUhVT1dQa082YVk2VUhDMQ$E8QI4jHbUBt3EdsU1NFDu4Bq5jObKNx7nBKSn1EYQxk", "authelia"},
	// No t: go-crypt takes t=1; the hash verifying proves we do the same.
	{"missing t", "$argon2id$v=19$m=131072,p=8$BpLnfgDsc2WD8F2q$O126GHPeZ5fwj7OLSs7PndXsTbje76R+QW9/EGfhkJg", "password"},
}

func TestVerifyPasswordAuthelia(t *testing.T) {
	for _, tc := range goldens {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := VerifyPassword(tc.encoded, tc.password)
			if err != nil || !ok {
				t.Fatalf("VerifyPassword(%q, %q) = %v, %v; want true, nil", tc.encoded, tc.password, ok, err)
			}
			ok, err = VerifyPassword(tc.encoded, tc.password+"x")
			if err != nil || ok {
				t.Fatalf("VerifyPassword(%q, wrong) = %v, %v; want false, nil", tc.encoded, ok, err)
			}
		})
	}
}

func TestHashPassword(t *testing.T) {
	const pw = "correct horse battery staple"
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	// Re-derive by hand rather than through our own parser.
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" || parts[3] != "m=65536,t=3,p=4" {
		t.Fatalf("HashPassword = %q, want $argon2id$v=19$m=65536,t=3,p=4$salt$key", h)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) != 16 {
		t.Fatalf("salt %q: %d bytes, %v; want 16 bytes raw std base64", parts[4], len(salt), err)
	}
	key := argon2.IDKey([]byte(pw), salt, 3, 65536, 4, 32)
	if got, want := parts[5], base64.RawStdEncoding.EncodeToString(key); got != want {
		t.Fatalf("key = %q, want %q", got, want)
	}
	if ok, err := VerifyPassword(h, pw); !ok || err != nil {
		t.Fatalf("VerifyPassword(HashPassword(pw), pw) = %v, %v", ok, err)
	}
	if _, err := HashPassword(""); err == nil {
		t.Error(`HashPassword("") succeeded, want error`)
	}
	if _, err := HashPassword(strings.Repeat("x", MaxPasswordLen+1)); err == nil {
		t.Error("HashPassword(too long) succeeded, want error")
	}
}

func TestHashPasswordSalted(t *testing.T) {
	// Cheap parameters: this is about the salt, not the cost.
	a := encodeArgon2id("pw", []byte("0123456789abcdef"), 64, 1, 1, 32)
	b := encodeArgon2id("pw", []byte("0123456789abcdeF"), 64, 1, 1, 32)
	if a == b {
		t.Fatalf("different salts gave the same hash %q", a)
	}
}

func TestVerifyPasswordBcrypt(t *testing.T) {
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		t.Run(prefix, func(t *testing.T) {
			b, err := bcrypt.GenerateFromPassword([]byte("hunter2"), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			h := prefix + string(b[4:])
			if ok, err := VerifyPassword(h, "hunter2"); !ok || err != nil {
				t.Errorf("VerifyPassword(%q, right) = %v, %v; want true, nil", h, ok, err)
			}
			if ok, err := VerifyPassword(h, "hunter3"); ok || err != nil {
				t.Errorf("VerifyPassword(%q, wrong) = %v, %v; want false, nil", h, ok, err)
			}
		})
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	const salt, key = "c2FsdHNhbHRzYWx0", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	tests := []struct {
		name, encoded, wantErr string
	}{
		{"empty", "", "empty"},
		{"plain text", "hunter2", "not in crypt format"},
		{"only dollar", "$", "unknown"},
		{"sha512crypt", "$6$rounds=500000$jgiCMRyGXzoqpxS3$w2pJeZnnH8bwW3zzvoMWtTRfQYsHbWbD/hquuQ5vUeIyl9gdwBIt6RWk2S6afBA0DPakbeWgD/4SZPiS0hYtU/", `"$6$" (sha512crypt) is not supported`},
		{"argon2i", "$argon2i$v=19$m=65536,t=3,p=4$" + salt + "$" + key, `"$argon2i$" (argon2i) is not supported`},
		{"pbkdf2", "$pbkdf2-sha512$310000$c2FsdA$a2V5", "(pbkdf2) is not supported"},
		{"scrypt", "$scrypt$ln=16,r=8,p=1$c2FsdA$a2V5", "(scrypt) is not supported"},
		{"unknown scheme", "$foo$bar", `"$foo$" is unknown`},
		{"too few fields", "$argon2id$v=19$m=65536,t=3,p=4$" + salt, "malformed argon2id"},
		{"too many fields", "$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$" + key + "$", "malformed argon2id"},
		{"no kv separator", "$argon2id$v=19$m65536,t3,p4$" + salt + "$" + key, "not key=value"},
		{"version 16", "$argon2id$v=16$m=65536,t=3,p=4$" + salt + "$" + key, "version 16"},
		{"unknown param", "$argon2id$v=19$m=65536,t=3,x=4$" + salt + "$" + key, "unknown parameter"},
		{"repeated param", "$argon2id$v=19$m=65536,m=3,p=4$" + salt + "$" + key, "repeated"},
		{"negative", "$argon2id$v=19$m=-1,t=3,p=4$" + salt + "$" + key, "invalid value"},
		{"overflow", "$argon2id$v=19$m=99999999999,t=3,p=4$" + salt + "$" + key, "invalid value"},
		{"huge memory", "$argon2id$v=19$m=4194305,t=3,p=4$" + salt + "$" + key, "exceed the limits"},
		{"huge time", "$argon2id$v=19$m=65536,t=101,p=4$" + salt + "$" + key, "exceed the limits"},
		{"huge threads", "$argon2id$v=19$m=65536,t=3,p=256$" + salt + "$" + key, "exceed the limits"},
		{"bad salt", "$argon2id$v=19$m=65536,t=3,p=2$^^LnfgDsc2WD8F2q$o/vzA4myCqZZ36bUGsDY//8mKUYNZZaR0t4MFFSs+iM", "salt"},
		{"bad key", "$argon2id$v=19$m=65536,t=3,p=2$BpLnfgDsc2WD8F2q$^^vzA4myCqZZ36bUGsDY//8mKUYNZZaR0t4MFFSs+iM", "key"},
		{"padded salt", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ=$" + key, "salt"},
		{"short salt", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$" + key, "salt has 4 bytes"},
		{"empty key", "$argon2id$v=19$m=65536,t=3,p=4$" + salt + "$", "key has 0 bytes"},
		{"bcrypt short", "$2b$10$abc", "malformed bcrypt"},
		{"bcrypt cost 3", "$2b$03$" + strings.Repeat("a", 53), "malformed bcrypt"},
		{"bcrypt cost 31", "$2b$31$" + strings.Repeat("a", 53), "cost 31 exceeds"},
		{"bcrypt bad char", "$2b$10$" + strings.Repeat("a", 52) + "$", "bcrypt alphabet"},
		{"bcrypt no separator", "$2b$10x" + strings.Repeat("a", 53), "malformed bcrypt"},
		{"bcrypt minor", "$2$10$" + strings.Repeat("a", 54), "unknown"},
		{"bcrypt long", "$2b$10$" + strings.Repeat("a", 54), "want 60"},
		{"huge", "$argon2id$" + strings.Repeat("a", 1000), "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := VerifyPassword(tc.encoded, "password")
			if ok || err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "users: ") {
				t.Errorf("VerifyPassword(%q) = %v, %v; want false and an error containing %q", tc.encoded, ok, err, tc.wantErr)
			}
		})
	}
}

// Parameters the fuzzer may not exceed: a few KiB per attempt.
var fuzzLimits = limits{memory: 256, time: 2, threads: 4, bcryptCost: 4}

func FuzzVerifyPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw", "password")
	f.Add("{CRYPT}$argon2id$v=19$m=65536,t=3,p=2$BpLnfgDsc2WD8F2q$o/vzA4myCqZZ36bUGsDY//8mKUYNZZaR0t4MFFSs+iM", "password")
	f.Add("$argon2id$m=8,v=19$t=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw", "")
	f.Add("$2b$04$"+strings.Repeat("a", 53), "x")
	f.Add("$6$rounds=5000$salt$hash", "x")
	f.Add("$argon2id$v=19$m=0,t=0,p=0$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw", "x")
	f.Fuzz(func(t *testing.T, encoded, password string) {
		ok, err := verify(encoded, password, fuzzLimits)
		if ok && err != nil {
			t.Fatalf("verify(%q) = true, %v", encoded, err)
		}
		if err == nil {
			if _, perr := parseHash(encoded, defaultLimits); perr != nil {
				t.Fatalf("accepted under fuzz limits but not default limits: %v", perr)
			}
		}
	})
}
