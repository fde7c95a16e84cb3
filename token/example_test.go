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
	tok, err := iss.IssueAccess(token.Claims{Subject: "alice", Groups: []string{"dev"}, SessionID: "5e55"}, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(token.LooksLikeJWT(tok))
	c, err := iss.Verify(tok, now.Add(time.Minute))
	fmt.Println(c.Subject, c.Groups, c.SessionID, c.ExpiresAt, err)
	_, err = iss.Verify(tok, now.Add(time.Hour))
	fmt.Println(err != nil)
	// Output:
	// true
	// alice [dev] 5e55 2025-01-01 00:05:00 +0000 UTC <nil>
	// true
}

// An upstream token is bound to one upstream's origin, and is no
// credential for sso.
func ExampleIssuer_IssueUpstream() {
	iss, err := token.New(token.Config{
		Issuer:   "https://login.example.com",
		Audience: "example.com",
		Keys:     token.DeriveKeys([][]byte{[]byte("at least thirty-two bytes of secret!")}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tok, err := iss.IssueUpstream(token.Claims{Subject: "alice"}, "https://api.example.com", now)
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := iss.VerifyUpstream(tok, "https://api.example.com", now)
	fmt.Println(c.Subject, c.Audience, err)
	_, err = iss.VerifyUpstream(tok, "https://app.example.com", now)
	fmt.Println("other upstream:", err != nil)
	_, err = iss.Verify(tok, now)
	fmt.Println("as a credential:", err != nil)
	// Output:
	// alice https://api.example.com <nil>
	// other upstream: true
	// as a credential: true
}
