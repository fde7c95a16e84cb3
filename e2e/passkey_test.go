//go:build e2e

package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// TestPasskeyStepUp: with CDP's virtual authenticator, alice registers a
// passkey on the account security page; an upstream protected with
// /auth?factor=2 refuses her password-only session and sends her to the
// hub, which asks for the passkey; the browser answers and reaches the
// upstream, which learns the factors from X-Auth-AMR.
func TestPasskeyStepUp(t *testing.T) {
	chromiumPath(t)
	st := startStack(t)
	st.chrome = startChromium(t, st)
	tb := newBrowser(t, st)

	// A platform authenticator with user verification, as a phone or
	// laptop offers it (WebAuthn needs the stack's https: a secure context).
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	if _, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
		Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
		IsUserVerified: true, AutomaticPresenceSimulation: true,
	}}); err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}

	login(tb) // password only
	secureURL := st.url(secureHost, "/me")
	factorPage := st.url("login", "/login/factor")

	// Without a second factor the upstream is refused: the hub's page for
	// the missing factor, which has none to offer yet.
	mark := st.api.mark()
	tb.navigate(secureURL)
	p := tb.waitPage("refused by the factor=2 upstream, at the hub", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, factorPage) && p.Ready == "complete"
	})
	if got := tb.eval("the page's offer", `document.getElementById("none") ? "none" : document.body.innerText`); got != "none" {
		tb.fatalf("factor page %s without a factor shows %q", p.URL, got)
	}
	if reqs := st.api.since(mark); slices.ContainsFunc(reqs, func(r apiRequest) bool { return strings.HasPrefix(r.Host, secureHost) }) {
		tb.fatalf("the factor=2 upstream was reached with one factor: %v", reqs)
	}

	// Register a passkey on the account security page.
	tb.navigate(st.url("login", "/account/security"))
	tb.do("name and register a passkey", stepTimeout,
		chromedp.SetValue(chromedp.ID("passkey-name"), "virtual"),
		chromedp.Click(chromedp.ID("passkey-register")),
	)
	// The first factor: the page offers to sign out the other sessions.
	tb.waitPage("passkey registered", navTimeout, func(p pageState) bool {
		return strings.Contains(p.URL, "done=first-factor") && p.Ready == "complete"
	})
	if got := tb.text("passkeys"); !strings.Contains(got, "virtual") || !strings.Contains(got, "device-bound") {
		tb.fatalf("passkeys table after registering: %q (status %q)", got, tb.eval("status", `document.getElementById("webauthn-status").textContent`))
	}
	if got := tb.text("revoke-others-submit"); got != "Sign out all other sessions" {
		tb.fatalf("after the first passkey: sign-out offer %q", got)
	}

	// The upstream asks for it; the browser gives it and gets through.
	mark = st.api.mark()
	tb.navigate(secureURL)
	tb.waitPage("sent to the hub for the second factor", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, factorPage) && p.Ready == "complete"
	})
	tb.do("use the passkey", stepTimeout, chromedp.Click(chromedp.ID("passkey")))
	tb.waitPage("back at the upstream", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, secureURL) && p.Ready == "complete"
	})
	if body := tb.eval("upstream answer", `document.body.innerText`); !strings.Contains(body, `"user":"`+username+`"`) {
		tb.fatalf("the upstream answered %q", body)
	}
	reqs := st.api.since(mark)
	i := slices.IndexFunc(reqs, func(r apiRequest) bool { return strings.HasPrefix(r.Host, secureHost) && r.Path == "/me" })
	if i < 0 {
		tb.fatalf("the factor=2 upstream never saw GET /me: %v", reqs)
	}
	if reqs[i].User != username || reqs[i].AMR != "pwd,hwk" {
		tb.errorf("the upstream saw user %q with X-Auth-AMR %q, want %s and pwd,hwk", reqs[i].User, reqs[i].AMR, username)
	}

	// A fresh browser, password only: alice now has a passkey, so the
	// login itself waits for it, and the upstream stays out of reach.
	other := newBrowser(t, st)
	mark = st.api.mark()
	other.navigate(secureURL)
	other.waitPage("the hub's sign-in", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, st.url("login", "/login")) && p.Ready == "complete"
	})
	other.do("sign in with the password", stepTimeout,
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), st.password),
		chromedp.Click(chromedp.ID("submit")),
	)
	other.waitPage("asked for the passkey", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, factorPage) && p.Ready == "complete"
	})
	if n := len(other.cookies(secureURL)); n != 0 {
		other.errorf("%d cookies for the upstream before the second factor, want none (no session yet)", n)
	}
	other.navigate(secureURL)
	other.waitPage("refused again", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, st.url("login", "/login")) && p.Ready == "complete"
	})
	if reqs := st.api.since(mark); slices.ContainsFunc(reqs, func(r apiRequest) bool { return strings.HasPrefix(r.Host, secureHost) }) {
		other.fatalf("the factor=2 upstream was reached without a second factor: %v", reqs)
	}
}

// TestPasskeyPasswordlessSignIn: with CDP's virtual authenticator
// (resident keys, user verification), alice registers a passkey for
// passwordless sign-in on the account security page, signs out, and, sent
// to the hub by a factor=2 upstream, signs in with the passkey alone (no
// user name, no password); the session passes factor=2 and the upstream
// sees X-Auth-AMR user,hwk.
func TestPasskeyPasswordlessSignIn(t *testing.T) {
	chromiumPath(t)
	st := startStack(t)
	st.chrome = startChromium(t, st)
	tb := newBrowser(t, st)

	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	if _, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
		Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
		IsUserVerified: true, AutomaticPresenceSimulation: true,
	}}); err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}

	login(tb) // password only, the last time
	secureURL := st.url(secureHost, "/me")
	loginPage := st.url("login", "/login")

	// Register a passkey for passwordless sign-in.
	tb.navigate(st.url("login", "/account/security"))
	tb.do("name and register a passwordless passkey", stepTimeout,
		chromedp.SetValue(chromedp.ID("passkey-name"), "virtual"),
		chromedp.Click(chromedp.ID("passkey-register-passwordless")),
	)
	tb.waitPage("passkey registered", navTimeout, func(p pageState) bool {
		return strings.Contains(p.URL, "done=first-factor") && p.Ready == "complete"
	})
	if got := tb.text("passkeys"); !strings.Contains(got, "virtual") || !strings.Contains(got, "yes") {
		tb.fatalf("passkeys table after registering: %q (status %q)", got, tb.eval("status", `document.getElementById("webauthn-status").textContent`))
	}

	// Sign out.
	tb.navigate(st.url("login", "/logout"))
	tb.waitPage("the sign-out page", navTimeout, func(p pageState) bool { return p.Ready == "complete" })
	tb.do("sign out", stepTimeout, chromedp.Click(chromedp.ID("submit")))
	tb.waitPage("signed out", navTimeout, func(p pageState) bool {
		return !strings.HasPrefix(p.URL, st.url("login", "/logout")) && p.Ready == "complete"
	})
	if cs := tb.sessionCookies(); len(cs) != 0 {
		tb.fatalf("after the sign-out the browser still holds %s", describe(cs))
	}

	// The factor=2 upstream sends the browser to the hub, which signs it
	// in with the passkey alone.
	mark := st.api.mark()
	tb.navigate(secureURL)
	tb.waitPage("at the hub's sign-in", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, loginPage) && p.Ready == "complete"
	})
	if reqs := st.api.since(mark); slices.ContainsFunc(reqs, func(r apiRequest) bool { return strings.HasPrefix(r.Host, secureHost) }) {
		tb.fatalf("the factor=2 upstream was reached signed out: %v", reqs)
	}
	tb.do("sign in with the passkey", stepTimeout, chromedp.Click(chromedp.ID("passkey-login")))
	tb.waitPage("back at the upstream", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, secureURL) && p.Ready == "complete"
	})
	if body := tb.eval("upstream answer", `document.body.innerText`); !strings.Contains(body, `"user":"`+username+`"`) {
		tb.fatalf("the upstream answered %q (sign-in status %q)", body, tb.eval("status", `(document.getElementById("webauthn-status")||{}).textContent||""`))
	}
	reqs := st.api.since(mark)
	i := slices.IndexFunc(reqs, func(r apiRequest) bool { return strings.HasPrefix(r.Host, secureHost) && r.Path == "/me" })
	if i < 0 {
		tb.fatalf("the factor=2 upstream never saw GET /me: %v", reqs)
	}
	if reqs[i].User != username || reqs[i].AMR != "user,hwk" {
		tb.errorf("the upstream saw user %q with X-Auth-AMR %q, want %s and user,hwk", reqs[i].User, reqs[i].AMR, username)
	}
}
