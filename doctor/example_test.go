package doctor_test

import (
	"fmt"
	"net/http"

	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/cors"
	"github.com/example/sso/doctor"
)

// A page on www.example.com, which SSO_CORS_ORIGINS does not list, PUTs
// JSON to the API: the cookie would go, but CORS stops the request.
func ExampleExplain() {
	cookies, _ := cookiedomain.New(cookiedomain.Config{Domains: []string{"example.com"}, Secure: true})
	origins, _ := cors.New(cors.Config{Origins: []string{"https://app.example.com", "https://login.example.com"}})
	r := doctor.Explain(doctor.Input{
		Cookies:  cookies,
		CORS:     origins,
		LoginURL: "https://login.example.com",
		From:     "https://www.example.com/",
		To:       "https://api.example.com/items/1",
		Method:   "PUT",
		Headers:  http.Header{"Content-Type": {"application/json"}},
	})
	for _, c := range r.Checks {
		ok := "ok  "
		if !c.OK {
			ok = "FAIL"
		}
		fmt.Println(ok, c.Name)
	}
	fmt.Println()
	c, _ := r.Get(doctor.CheckOrigin)
	fmt.Println(c)
	// Output:
	// ok   request
	// ok   login: cookie domain
	// ok   login: cookie attributes
	// ok   cookie: credentials mode
	// ok   cookie: domain
	// ok   cookie: Secure
	// ok   cookie: SameSite
	// FAIL CORS: origin
	// FAIL CORS: preflight
	// FAIL CSRF
	//
	// FAIL CORS: origin: https://www.example.com is not an allowed origin (allowed: https://app.example.com, https://login.example.com): the browser hides every answer from the page; add https://www.example.com (or https://*.example.com for every sibling) to SSO_CORS_ORIGINS
}
