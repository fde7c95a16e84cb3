// Package redirect decides whether a post-login or post-logout redirect
// target (the "rd" parameter) may be followed.
//
// Only two shapes pass: a path on the same origin ("/app?x=1#y", never
// "//evil.net" or "/\evil.net"), and an https URL whose host, once
// lower-cased, IDNA-encoded and stripped of a trailing dot, satisfies the
// caller's allowed function. Anything with userinfo, backslashes, whitespace
// or control characters, another scheme, or over 2048 bytes is refused.
// Check returns the URL re-serialised from what it checked, so the Location
// header carries exactly the target that was approved.
//
// The package knows nothing about cookie domains; the caller passes them in:
//
//	target, ok := redirect.Check(r.FormValue("rd"), policy.Contains)
//	if !ok {
//		target = defaultRedirect
//	}
//	http.Redirect(w, r, target, http.StatusSeeOther)
package redirect
