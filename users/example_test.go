package users_test

import (
	"errors"
	"fmt"

	"github.com/example/sso/users"
)

func ExampleParse() {
	// A bcrypt hash of "password" at cost 4 (use sso hash-password for real ones).
	dir, err := users.Parse([]byte(`
users:
  alice:
    displayname: Alice Doe
    email: alice@example.com
    password: "$2a$04$Qc93nsE.I1JreBA5uf6NpuBiteudzbAQuicmE.VCgk2AB8b4b5O.."
    groups: [admins, dev]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	u, err := dir.Authenticate("Alice@Example.com", "password")
	fmt.Println(u.Name, u.Groups, err)
	_, err = dir.Authenticate("alice", "wrong")
	fmt.Println(errors.Is(err, users.ErrInvalidCredentials))
	// Output:
	// alice [admins dev] <nil>
	// true
}
