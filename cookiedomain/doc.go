// Package cookiedomain decides which parent domain a session cookie is set
// for, and builds the cookies that set and clear it.
//
// A request's host picks the longest configured parent domain it belongs to
// (on a dot boundary, after canonicalising), and the cookie carries
// Domain=<parent> so that every sibling host receives it. A host under no
// configured domain is an error: the package never falls back to a host-only
// cookie, which would log the user in on one host only.
//
// Parents are checked once, at start-up: IP addresses, single labels and
// public suffixes (co.uk, github.io) are refused, because browsers refuse
// cookies for them (RFC 6265 §5.3 step 5).
//
// Usage:
//
//	p, err := cookiedomain.New(cookiedomain.Config{
//		Domains:  []string{"example.com"},
//		Name:     "sso_session",
//		SameSite: http.SameSiteLaxMode,
//		Secure:   true,
//	})
//	if err != nil {
//		return err // names the bad field
//	}
//	c, err := p.SessionCookie(r.Host, value, 12*time.Hour)
//	if err != nil {
//		return err // host under no cookie domain, or a bad value
//	}
//	http.SetCookie(w, c)
package cookiedomain
