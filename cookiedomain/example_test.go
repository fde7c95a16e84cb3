package cookiedomain_test

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/example/sso/cookiedomain"
)

func ExampleCanonical() {
	for _, h := range []string{"Login.Example.COM.:8443", "bücher.example", "[::1]:80"} {
		c, err := cookiedomain.Canonical(h)
		fmt.Println(c, err)
	}
	// Output:
	// login.example.com <nil>
	// xn--bcher-kva.example <nil>
	// ::1 <nil>
}

func ExampleValidateParent() {
	for _, d := range []string{".example.com", "example.test", "co.uk", "localhost"} {
		if p, err := cookiedomain.ValidateParent(d); err != nil {
			fmt.Println(err)
		} else {
			fmt.Println("ok:", p)
		}
	}
	// Output:
	// ok: example.com
	// ok: example.test
	// cookiedomain: "co.uk" is a public suffix: browsers refuse cookies for it
	// cookiedomain: "localhost" is a single label: browsers refuse cookies for it
}

func ExamplePolicy_For() {
	p, err := cookiedomain.New(cookiedomain.Config{Domains: []string{"example.com", "sso.example.com"}})
	if err != nil {
		panic(err)
	}
	for _, h := range []string{"app.example.com", "a.sso.example.com:443", "evilexample.com"} {
		d, err := p.For(h)
		fmt.Printf("%q %v\n", d, errors.Is(err, cookiedomain.ErrNoDomain))
	}
	// Output:
	// "example.com" false
	// "sso.example.com" false
	// "" true
}

func ExamplePolicy_SessionCookie() {
	p, err := cookiedomain.New(cookiedomain.Config{
		Domains:  []string{"example.com"},
		Name:     "sso_session",
		SameSite: http.SameSiteLaxMode,
		Secure:   true,
	})
	if err != nil {
		panic(err)
	}
	c, err := p.SessionCookie("login.example.com", "opaque-ticket", 12*time.Hour)
	if err != nil {
		panic(err)
	}
	fmt.Println(c)
	cs, _ := p.ClearCookies("login.example.com")
	for _, c := range cs {
		fmt.Println(c)
	}
	// Output:
	// sso_session=opaque-ticket; Path=/; Domain=example.com; Max-Age=43200; HttpOnly; Secure; SameSite=Lax
	// sso_session=; Path=/; Domain=example.com; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Secure; SameSite=Lax
	// sso_session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Secure; SameSite=Lax
}
