package cors_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/example/sso/cors"
)

func ExampleParseOrigin() {
	for _, s := range []string{"HTTPS://App.Example.com:443", "https://bücher.example:8443", "https://example.com/", "null"} {
		o, err := cors.ParseOrigin(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(o)
	}
	// Output:
	// https://app.example.com
	// https://xn--bcher-kva.example:8443
	// cors: invalid origin "https://example.com/": '/' after the scheme: an origin has no path, query, fragment, userinfo or escapes
	// cors: invalid origin "null": "null" stands for any opaque origin and cannot be trusted
}

func ExamplePolicy_Allowed() {
	p, err := cors.New(cors.Config{Origins: cors.DefaultOrigins([]string{"example.com"})})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range []string{
		"https://example.com",
		"https://app.example.com:8443",
		"https://a.b.example.com",
		"http://app.example.com",
		"https://example.com.evil.net",
		"https://evilexample.com",
	} {
		fmt.Println(o, p.Allowed(o))
	}
	// Output:
	// https://example.com true
	// https://app.example.com:8443 true
	// https://a.b.example.com true
	// http://app.example.com false
	// https://example.com.evil.net false
	// https://evilexample.com false
}

func ExampleNew() {
	_, err := cors.New(cors.Config{Origins: []string{"https://*.co.uk", "*"}})
	fmt.Println(err)
	// Output:
	// cors: origin pattern "https://*.co.uk": "co.uk" is a public suffix: the wildcard would allow sites of anyone who registers a name under it
	// cors: origin pattern "*": "*" would allow every origin; browsers refuse it with credentials anyway: list the origins, or use "https://*.example.com"
}

// A 401 from an endpoint that answers for other hosts (nginx auth_request)
// still carries the CORS headers, so the page sees the 401.
func ExamplePolicy_Decorate() {
	p, err := cors.New(cors.Config{Origins: cors.DefaultOrigins([]string{"example.com"})})
	if err != nil {
		fmt.Println(err)
		return
	}
	w := httptest.NewRecorder()
	if p.Decorate(w.Header(), "https://app.example.com") {
		fmt.Println("allowed")
	}
	w.WriteHeader(http.StatusUnauthorized)
	for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Vary"} {
		fmt.Printf("%s: %s\n", k, w.Header().Get(k))
	}
	// Output:
	// allowed
	// Access-Control-Allow-Origin: https://app.example.com
	// Access-Control-Allow-Credentials: true
	// Vary: Origin
}

func ExamplePolicy_Handler() {
	p, err := cors.New(cors.Config{Origins: []string{"https://*.example.com"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "data") })
	h := p.Handler(api)

	preflight := httptest.NewRequest("OPTIONS", "https://api.example.com/items", nil)
	preflight.Header.Set("Origin", "https://app.example.com")
	preflight.Header.Set("Access-Control-Request-Method", "PUT")
	preflight.Header.Set("Access-Control-Request-Headers", "content-type, x-csrf-token")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, preflight)
	fmt.Println(w.Code, w.Header().Get("Access-Control-Allow-Origin"), w.Header().Get("Access-Control-Allow-Methods"))

	preflight.Header.Set("Origin", "https://app.example.com.evil.net")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, preflight)
	fmt.Println(w.Code, w.Header().Get("Access-Control-Allow-Origin") == "")
	// Output:
	// 204 https://app.example.com GET, HEAD, POST, PUT, PATCH, DELETE
	// 403 true
}
