// Package gincors is Gin middleware applying a cors.Policy, built on
// github.com/gin-contrib/cors.
//
// gin-contrib/cors is used for its origin rule (AllowOriginFunc is
// Policy.Allowed, so parsing and matching are the policy's), with these
// corrections:
//
//   - Vary: Origin on every answer. gin-contrib/cors sends none for
//     requests without Origin, same-origin requests and refused origins, so
//     a shared cache could serve one origin's answer to another.
//   - Vary values set by earlier middleware are kept; gin-contrib/cors
//     replaces the whole header.
//   - Preflights are answered by Policy.Preflight: 403 without any
//     Access-Control-Allow-* header when the method or a requested header is
//     not allowed (gin-contrib/cors grants every preflight from an allowed
//     origin, and treats any OPTIONS with an Origin as one).
//   - No Access-Control-* header reaches a refused origin, even one set by
//     earlier middleware.
//
// What a disallowed origin gets: its preflights 403 (Policy.Preflight);
// its other requests 403 with a JSON body {"error":"cross_origin",...},
// aborted before any later handler runs (gin-contrib/cors's rule, kept:
// sso's JSON API has nothing for foreign pages; the body is ours, since
// gin-contrib sends none). Requests without Origin and same-origin requests
// (Origin is "http://" or "https://" plus the Host header) pass through.
// Two consequences: behind a proxy, forward the original Host (nginx:
// proxy_set_header Host $host), or a same-origin POST from a host not in
// the policy is refused; and a page served with Referrer-Policy: no-referrer
// makes browsers send "Origin: null" on its form POSTs, which is refused:
// use strict-origin-when-cross-origin (the browser default) or same-origin.
//
// Usage, for an API on a sibling host of the same parent domain:
//
//	policy, err := cors.New(cors.Config{Origins: cors.DefaultOrigins([]string{"example.com"})})
//	if err != nil {
//		return err
//	}
//	r := gin.New()
//	r.Use(gincors.New(policy)) // before any session middleware
//	r.GET("/v1/items", listItems)
package gincors
