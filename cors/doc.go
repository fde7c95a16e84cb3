// Package cors decides which origins may make credentialed cross-origin
// requests (fetch with credentials: "include") and writes the CORS headers
// for them, on success and error responses and on preflights alike.
//
// It is built so that the usual mistakes cannot be configured:
//
//   - Access-Control-Allow-Origin is always the request's Origin, echoed
//     verbatim, never "*" (browsers refuse "*" with credentials), and always
//     comes with Vary: Origin.
//   - Origins are parsed strictly (ParseOrigin) and compared after
//     canonicalising, never as strings: "https://example.com.evil.net",
//     "https://evilexample.com", "https://example.com@evil.net" and "null"
//     match nothing.
//   - Wildcards match on a dot boundary ("https://*.example.com" allows
//     a.example.com and a.b.example.com, not example.com itself: list it
//     too) and are refused over a public suffix ("https://*.co.uk").
//   - A refused preflight is a 403 without any Access-Control-Allow-* header.
//
// Preflights (OPTIONS with Origin and Access-Control-Request-Method) carry no
// cookies, so they must be answered before any session check; Handler does
// that for net/http, and package gincors for Gin.
//
// Usage:
//
//	p, err := cors.New(cors.Config{
//		Origins: cors.DefaultOrigins([]string{"example.com"}), // https://example.com, https://*.example.com
//	})
//	if err != nil {
//		return err // names every bad pattern
//	}
//	http.Handle("/api/", p.Handler(api))
//
//	// or, in a handler that answers for someone else (nginx auth_request):
//	p.Decorate(w.Header(), r.Header.Get("Origin"))
//	w.WriteHeader(http.StatusUnauthorized)
package cors
