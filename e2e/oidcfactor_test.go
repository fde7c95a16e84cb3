//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// TestOIDCSecondFactorBrowser: carla is in ops, a group that must have a
// second factor, so her sign-in through the provider stops at the hub's
// enrolment page (shown by the callback itself: the pending login's
// SameSite=Strict cookie would not ride a redirect of the provider's
// cross-site navigation), and only her first code makes the session; then
// the app.
func TestOIDCSecondFactorBrowser(t *testing.T) {
	chromiumPath(t)
	fs := startFederatedStack(t, "SSO_MFA_REQUIRED_GROUPS=ops")
	st := fs.stack
	st.chrome = startChromium(t, st)
	tb := newBrowser(t, st)
	toLoginPage(tb)
	tb.do("click the provider's button", stepTimeout, chromedp.Click(chromedp.ID("provider-"+oidcID)))
	tb.waitPage("the provider's own login page", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, fs.idp.Issuer) && p.Ready == "complete"
	})
	tb.do("fill in and submit the provider's login form", stepTimeout,
		chromedp.SendKeys(chromedp.ID("username"), idpUser),
		chromedp.SendKeys(chromedp.ID("password"), idpPassword),
		chromedp.Click(chromedp.CSS(`form button[type="submit"]`)),
	)
	tb.waitPage("the hub's enrolment page after the provider", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, st.url("login", "/oauth2/callback/")) && p.Ready == "complete"
	})
	for _, c := range tb.cookies(st.url("api", "/me")) {
		if c.Name == cookieName {
			tb.fatalf("a session cookie before the second factor: %v", c)
		}
	}
	secret := tb.text("secret")
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		tb.fatalf("key %q on the page: %v", secret, err)
	}
	tb.do("enter the app's first code", stepTimeout,
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.ID("submit")),
	)
	tb.waitPage("the recovery codes", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, st.url("login", "/login/factor/enrol")) && p.Ready == "complete"
	})
	tb.do("continue to the app", stepTimeout, chromedp.Click(chromedp.ID("continue")))
	backOnApp(tb)
	sessionCookieSet(tb)
	if got := tb.text("user"); got != oidcUser {
		tb.errorf("#user = %q, want %q", got, oidcUser)
	}
}
