// Package testusers is the users file the HTTP-level tests share: alice
// (groups admins, dev) and bob (no groups), with bcrypt's minimum cost so
// that logins in tests stay fast.
//
//	dir := testusers.Directory(t, "correct horse")
//	u, err := dir.Authenticate("alice", "correct horse")
package testusers

import (
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/sso/users"
)

var (
	mu   sync.Mutex
	dirs = map[string]*users.Directory{}
)

// Directory returns alice and bob, both with password. Built once per
// password and test binary: even a minimum-cost hash is worth not redoing.
func Directory(t testing.TB, password string) *users.Directory {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if d, ok := dirs[password]; ok {
		return d
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatalf("testusers: hash: %v", err)
	}
	d, err := users.New([]users.User{
		{Name: "alice", Email: "alice@example.test", Groups: []string{"admins", "dev"}},
		{Name: "bob", Email: "bob@example.test"},
	}, map[string]string{"alice": string(h), "bob": string(h)})
	if err != nil {
		t.Fatalf("testusers: users.New: %v", err)
	}
	dirs[password] = d
	return d
}
