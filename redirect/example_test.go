package redirect_test

import (
	"fmt"
	"strings"

	"github.com/example/sso/redirect"
)

func ExampleCheck() {
	// In the server this is cookiedomain.Policy.Contains.
	allowed := func(host string) bool {
		return host == "example.com" || strings.HasSuffix(host, ".example.com")
	}
	for _, rd := range []string{
		"/dashboard?tab=keys",
		"https://App.Example.com./x",
		"//evil.net",
		"https://example.com@evil.net",
		"/\\evil.net",
	} {
		target, ok := redirect.Check(rd, allowed)
		fmt.Printf("%q %v\n", target, ok)
	}
	// Output:
	// "/dashboard?tab=keys" true
	// "https://app.example.com/x" true
	// "" false
	// "" false
	// "" false
}
