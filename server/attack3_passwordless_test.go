package server_test

import (
	"net/http"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/sso/internal/softauthn"
	"github.com/example/sso/server"
	"github.com/example/sso/users"
)

// colonUsers is a users file with a user whose name has a ':' (its
// second-factor key is "file:ops:eve") and, when withShadow, another user
// literally named "file:ops:eve", an admin.
func colonUsers(t *testing.T, withShadow bool) *users.Directory {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	list := []users.User{{Name: "ops:eve", Email: "eve@example.test"}}
	hashes := map[string]string{"ops:eve": string(h)}
	if withShadow {
		list = append(list, users.User{Name: "file:ops:eve", Email: "root@example.test", Groups: []string{"admins"}})
		hashes["file:ops:eve"] = string(h)
	}
	d, err := users.New(list, hashes)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// registerPasswordless signs user in with the password and registers a
// passwordless passkey on the account security page.
func registerPasswordless(t *testing.T, e *env, soft *softauthn.Authenticator, user string) {
	t.Helper()
	b, _ := e.browser()
	sfFormLogin(t, b, user)
	r := do(t, b, req{url: hub + "/account/security"})
	expectStatus(t, r, http.StatusOK)
	csrf := find(t, csrfRE, r)
	r = do(t, b, req{method: "POST", url: hub + "/account/security/passkeys/begin?passwordless=1", headers: map[string]string{"X-CSRF-Token": csrf}})
	expectStatus(t, r, http.StatusOK)
	body, err := soft.Register(jsonCreation(t, r))
	if err != nil {
		t.Fatal(err)
	}
	r = do(t, b, req{method: "POST", url: hub + "/account/security/passkeys/finish?name=key", body: string(body), headers: map[string]string{"X-CSRF-Token": csrf}})
	expectStatus(t, r, http.StatusOK)
}

// TestPasswordlessColonUserIsNotAnother: the passkey of a users-file user
// whose name has a ':' (key "file:ops:eve") signs in as that user, never
// as a users-file user literally named "file:ops:eve" (attack3).
func TestPasswordlessColonUserIsNotAnother(t *testing.T) {
	for _, shadow := range []bool{true, false} {
		ev := &events{}
		e := newEnv(t, withMFA(t, ev), func(o *server.Options) { o.Users = colonUsers(t, shadow) })
		soft := softauthn.New(hub)
		registerPasswordless(t, e, soft, "ops:eve")
		b, r := passkeySignIn(t, e, soft, "")
		expectStatus(t, r, http.StatusOK)
		r = auth(t, b, "")
		expectStatus(t, r, http.StatusOK)
		if u := r.Header.Get("X-Auth-User"); u != "ops:eve" {
			t.Fatalf("shadow user present %v: passkey of ops:eve signed in as %q", shadow, u)
		}
	}
}
