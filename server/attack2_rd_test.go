package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// hostileRDs are rd values that must never become a Location off the
// cookie domain, after the provider's round trip or the second step.
var hostileRDs = []string{
	"https://evil.test/", "//evil.test/", `/\evil.test/`, `\\evil.test`, "https:evil.test",
	"https://example.test.evil.test/", "https://example.test@evil.test/", "https://evil.test#.example.test",
	"https://evil.test\\.example.test/", "javascript:alert(1)//.example.test", "/%2F%2Fevil.test", "/\t/evil.test",
	"HTTPS://EVIL.TEST", "https://evil.test%2F.example.test/", "http://app.example.test.", " https://evil.test",
}

func offDomain(loc string) bool {
	u, err := url.Parse(loc)
	if err != nil {
		return true
	}
	if u.Host == "" && !strings.HasPrefix(loc, "//") && !strings.HasPrefix(loc, `/\`) && (u.Scheme == "" || u.Scheme == "http" || u.Scheme == "https") {
		return false // a path on the hub
	}
	h := strings.ToLower(u.Hostname())
	return u.Scheme != "https" && u.Scheme != "http" || !(h == "example.test" || strings.HasSuffix(h, ".example.test")) || u.User != nil
}

// TestOIDCRedirectRoundTrip: a hostile rd given to /oauth2/start survives
// the provider's round trip only as the default landing page.
func TestOIDCRedirectRoundTrip(t *testing.T) {
	for loc, want := range map[string]bool{"/x": false, "https://app.example.test/": false, "https://evil.test/": true, "//evil.test/": true, `/\evil.test`: true, "https://a@app.example.test/": true} {
		if offDomain(loc) != want {
			t.Fatalf("offDomain(%q) = %v", loc, !want)
		}
	}
	e := newOIDCEnv(t)
	for _, rd := range hostileRDs {
		c := e.oidcBrowser()
		r := do(t, c, req{url: e.toCallback(t, c, "alice", "alice-idp-pw", rd)})
		expectStatus(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); offDomain(loc) {
			t.Errorf("rd %q: callback Location = %q", rd, loc)
		}
	}
}

// TestStepUpRedirect: the second step's rd (form field) is checked too.
func TestStepUpRedirect(t *testing.T) {
	ev := &events{}
	e := newMFAEnv(t, ev)
	b, _ := e.browser()
	expectStatus(t, sfFormLogin(t, b, "alice"), http.StatusSeeOther)
	r := do(t, b, req{url: hub + "/account/security"})
	csrf := find(t, csrfRE, r)
	r = sfPostForm(t, b, "/account/security/totp", url.Values{"csrf_token": {csrf}})
	secret := find(t, secretRE, r)
	r = sfPostForm(t, b, "/account/security/totp/confirm", url.Values{"csrf_token": {csrf}, "code": {e.code(t, secret)}})
	expectStatus(t, r, http.StatusOK)
	for _, rd := range hostileRDs {
		e.clock.Advance(30 * 1e9)
		c, _ := e.browser()
		r := postLogin(t, c, "alice", password, rd, loginForm(t, c, rd), nil)
		expectStatus(t, r, http.StatusSeeOther)
		r = do(t, c, req{url: hub + "/login/factor?rd=" + url.QueryEscape(rd)})
		r = sfPostForm(t, c, "/login/factor", url.Values{"form_token": {find(t, formTokenRE, r)}, "code": {e.code(t, secret)}, "rd": {rd}})
		expectStatus(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); offDomain(loc) {
			t.Errorf("rd %q: second step Location = %q", rd, loc)
		}
		// step-up of that session with the same rd
		e.clock.Advance(30 * 1e9)
		r = do(t, c, req{url: hub + "/login/factor?rd=" + url.QueryEscape(rd)})
		r = sfPostForm(t, c, "/login/factor", url.Values{"form_token": {find(t, formTokenRE, r)}, "code": {e.code(t, secret)}, "rd": {rd}})
		expectStatus(t, r, http.StatusSeeOther)
		if loc := r.Header.Get("Location"); offDomain(loc) {
			t.Errorf("rd %q: step-up Location = %q", rd, loc)
		}
	}
}
