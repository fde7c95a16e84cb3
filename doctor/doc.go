// Package doctor explains, for a page on one URL calling another, whether a
// browser will send the sso session cookie and accept the CORS answer, and
// why not. It models the browser's rules (RFC 6265bis for cookies, the Fetch
// standard for CORS) against sso's cookie and origin policies, with no I/O,
// so that `sso doctor` can print the reasons a devtools session would
// otherwise have to uncover one by one.
//
// The checks come in the order a browser meets them: the login hub sets the
// cookie; the fetch attaches it (credentials mode, Domain, Secure,
// SameSite); CORS (origin, preflight); and sso's forgery checks for unsafe
// methods. The page at From is taken to be the top-level document.
//
// Usage:
//
//	r := doctor.Explain(doctor.Input{
//		Cookies:  cookies, // *cookiedomain.Policy
//		CORS:     origins, // *cors.Policy
//		LoginURL: "https://login.example.com",
//		From:     "https://app.example.com/",
//		To:       "https://api.example.com/items",
//		Method:   "PUT",
//		Headers:  http.Header{"Content-Type": {"application/json"}, "X-Csrf-Token": {"…"}},
//	})
//	fmt.Print(r) // one "ok   name: why" or "FAIL name: why" line per check
//	if !r.OK {
//		// …
//	}
package doctor
