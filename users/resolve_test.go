package users_test

import (
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/sso/users"
)

func TestResolve(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	d, err := users.New([]users.User{
		{Name: "alice", Email: "Alice@Example.test"},
		{Name: "bob", Email: "bob@example.test", Disabled: true},
	}, map[string]string{"alice": string(h), "bob": string(h)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		login, want string
		ok          bool
	}{
		{"alice", "alice", true},
		{"alice@example.test", "alice", true},
		{"ALICE@EXAMPLE.TEST", "alice", true},
		{"bob", "bob", true}, // disabled users still resolve: counts are per user
		{"Alice", "", false}, // names are exact, as at login
		{"carol", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		got, ok := d.Resolve(tc.login)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tc.login, got, ok, tc.want, tc.ok)
		}
	}
}
