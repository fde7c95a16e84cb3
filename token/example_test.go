package token_test

import (
	"fmt"
	"time"

	"github.com/example/sso/token"
)

func ExampleIssuer() {
	secrets := [][]byte{[]byte("at least thirty-two bytes of secret!")}
	iss, err := token.New(token.Config{
		Issuer:   "https://login.example.com",
		Audience: "example.com",
		Keys:     token.DeriveKeys(secrets),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tok, err := iss.Issue(token.Claims{Subject: "alice", Groups: []string{"dev"}}, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(token.LooksLikeJWT(tok))
	c, err := iss.Verify(tok, now.Add(time.Minute))
	fmt.Println(c.Subject, c.Groups, c.ExpiresAt, err)
	_, err = iss.Verify(tok, now.Add(time.Hour))
	fmt.Println(err != nil)
	// Output:
	// true
	// alice [dev] 2025-01-01 00:05:00 +0000 UTC <nil>
	// true
}
