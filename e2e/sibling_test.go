//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The hostile sibling: blog.example.test is same-site with the hub and the
// app, so its scripts can set cookies of our name for Domain=example.test
// (cookie tossing) and its forms arrive with the user's Lax cookie. These
// scenarios run its pages in Chromium against the real stack and read what
// the browser kept through the DevTools protocol.

// formNonce is the login form's anti-forgery cookie while cookies are Secure.
const formNonce = "__Host-sso_form"

// tossed is the cookie string a sibling's script writes to plant value as
// our session cookie for the whole parent domain at path.
func tossed(value, path string) string {
	return cookieName + "=" + value + "; Domain=" + domain + "; Path=" + path + "; Secure"
}

// hostileURL is the URL of a hostile page on host with v as the base64
// JSON fragment it reads. A query of its own makes every call a new
// document: a change of the fragment alone would not run the page again.
func hostileURL(t *testing.T, st *stack, host, page string, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return st.url(host, page) + "?n=" + strconv.FormatInt(hostileLoads.Add(1), 10) + "#" + base64.StdEncoding.EncodeToString(b)
}

var hostileLoads atomic.Int64

// toss runs host's tosser page, which writes each cookie string to
// document.cookie.
func (tb *tab) toss(host string, cookies ...string) {
	tb.b.t.Helper()
	tb.navigate(hostileURL(tb.b.t, tb.b.st, host, "/toss.html", cookies))
	tb.waitPage("the tosser on "+host+" has run", stepTimeout, func(p pageState) bool { return p.State == "done" })
}

// forge runs host's page that auto-submits a form POST of fields to action,
// and waits for the answer's page at action (a refusal) or wherever the
// answer redirected to (which the caller reports).
func (tb *tab) forge(host, action string, fields map[string]string) pageState {
	tb.b.t.Helper()
	page := tb.b.st.url(host, "/form.html")
	tb.navigate(hostileURL(tb.b.t, tb.b.st, host, "/form.html", map[string]any{"action": action, "fields": fields}))
	p := tb.waitPage("the answer to "+host+"'s forged POST "+action, navTimeout, func(p pageState) bool {
		return !strings.HasPrefix(p.URL, page) && p.Ready == "complete"
	})
	if p.URL != action {
		tb.errorf("%s's forged POST %s was followed to %s: it was accepted", host, action, p.URL)
	}
	return p
}

// sessionCookies returns the browser's session cookies, wherever they are.
func (tb *tab) sessionCookies() []*network.Cookie {
	tb.b.t.Helper()
	var out []*network.Cookie
	for _, c := range tb.allCookies() {
		if c.Name == cookieName {
			out = append(out, c)
		}
	}
	return out
}

// hubCookie returns the value of the session cookie the hub set (Domain
// example.test, Path /); it fails when there is not exactly that one.
func (tb *tab) hubCookie() string {
	tb.b.t.Helper()
	cs := tb.sessionCookies()
	if len(cs) != 1 || cs[0].Domain != "."+domain || cs[0].Path != "/" {
		tb.fatalf("want exactly the hub's %s (Domain .%s, Path /), the browser has %s", cookieName, domain, describe(cs))
	}
	return cs[0].Value
}

func describe(cs []*network.Cookie) string {
	if len(cs) == 0 {
		return "none"
	}
	var out []string
	for _, c := range cs {
		v := c.Value
		if len(v) > 12 {
			v = v[:12] + "…"
		}
		out = append(out, c.Name+"="+v+" @"+c.Domain+c.Path)
	}
	return strings.Join(out, ", ")
}

// formFields returns the fields of the form with id, as the page would post
// them.
func (tb *tab) formFields(id string) map[string]string {
	tb.b.t.Helper()
	js := tb.eval("read form #"+id, `(() => { const f = document.getElementById(`+jsString(id)+`);
		return f ? JSON.stringify(Object.fromEntries(new FormData(f))) : "null"; })()`)
	var m map[string]string
	if err := json.Unmarshal([]byte(js), &m); err != nil || m == nil {
		tb.fatalf("form #%s: %q (%v)", id, js, err)
	}
	return m
}

// signIn fills in the hub's login form shown in the tab and waits for the
// app page at landing to have asked the API who we are.
func (tb *tab) signIn(landing string) {
	tb.b.t.Helper()
	tb.do("fill in and submit the login form", stepTimeout,
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), tb.b.st.password),
		chromedp.Click(chromedp.ID("submit")),
	)
	p := tb.waitPage("back on "+landing+" after login, /me answered", navTimeout, func(p pageState) bool {
		return p.URL == landing && p.State != "" && p.State != "loading"
	})
	if p.State != "ready" || tb.text("user") != username {
		tb.fatalf("after signing in again: data-state %q, #user %q, want ready as %s", p.State, tb.text("user"), username)
	}
}

// setCookie stores a cookie as Secure and HttpOnly through the DevTools
// protocol; without Domain it is host-only for the URL's host.
func (tb *tab) setCookie(c network.SetCookieParams) {
	tb.b.t.Helper()
	yes := true
	c.Secure, c.HTTPOnly = &yes, &yes
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, network.SetCookie, c); err != nil {
		tb.fatalf("Network.setCookie(%s): %v", c.Name, err)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// apiLogin logs user in as a script does (POST /api/session, no Origin) and
// returns the cookie value: the attacker's own, valid session.
func (s *stack) apiLogin(t *testing.T, user, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	resp, err := s.nginx.Client().Post(s.url("login", "/api/session"), "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("POST /api/session as %s: %v", user, err)
	}
	defer resp.Body.Close()
	var created struct{ Session struct{ Value string } }
	if err := json.NewDecoder(resp.Body).Decode(&created); resp.StatusCode != http.StatusCreated || err != nil || created.Session.Value == "" {
		t.Fatalf("POST /api/session as %s = %d (%v), want 201 with a cookie value", user, resp.StatusCode, err)
	}
	return created.Session.Value
}

// whoIs asks the API through nginx who the cookie value is, from outside the
// browser: the user, or "" with the status.
func (s *stack) whoIs(t *testing.T, value string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url("api", "/me"), nil)
	req.Header.Set("Cookie", cookieName+"="+value)
	resp, err := s.nginx.Client().Do(req)
	if err != nil {
		t.Fatalf("GET /me: %v", err)
	}
	defer resp.Body.Close()
	var me struct{ User string }
	_ = json.NewDecoder(resp.Body).Decode(&me)
	return resp.StatusCode, me.User
}

// sessionCount returns how many live sessions the user of value holds.
func (s *stack) sessionCount(t *testing.T, value string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url("login", "/api/sessions"), nil)
	req.Header.Set("Cookie", cookieName+"="+value)
	resp, err := s.nginx.Client().Do(req)
	if err != nil {
		t.Fatalf("GET /api/sessions: %v", err)
	}
	defer resp.Body.Close()
	var list struct{ Sessions []json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&list); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("GET /api/sessions = %d (%v), want 200", resp.StatusCode, err)
	}
	return len(list.Sessions)
}

// clears reports whether set holds a Set-Cookie that deletes our session
// cookie for the parent domain at path.
func clears(set []*http.Cookie, path string) bool {
	return slices.ContainsFunc(set, func(c *http.Cookie) bool {
		return c.Name == cookieName && strings.TrimPrefix(c.Domain, ".") == domain && c.Path == path && c.MaxAge < 0
	})
}

func setsSession(set []*http.Cookie) bool {
	return slices.ContainsFunc(set, func(c *http.Cookie) bool { return c.Name == cookieName && c.MaxAge >= 0 && c.Value != "" })
}

// SiblingCookieTossingRefused: alice signed in with the form; blog tosses
// bob's valid cookie next to hers at longer paths. Neither the app page nor
// its API call is served as bob (or as alice): 401 ambiguous_session, the
// navigation lands on the hub's page naming both accounts, and its "Sign out
// of all" removes the tossed copies from the browser. Then once more with the
// cookie tossed at the API's path, reached from the app page's login link.
func testSiblingTossing(t *testing.T, st *stack) {
	tb := newBrowser(t, st)
	login(tb)
	alice := tb.hubCookie()
	bob := st.apiLogin(t, attacker, st.bobPass)
	mark := st.api.mark()
	inbox := st.url("app", "/inbox/")

	// The navigation: blog's script tosses bob's cookie at /inbox (the app
	// page), its server at /login by Set-Cookie (so that the hub sees it
	// too and can say whose it is). The script's try at Path=/ would
	// replace alice's cookie (a forced login no server can see), but a
	// script may not overwrite an HttpOnly cookie.
	tb.toss(blogHost, tossed(bob, "/inbox"), tossed(bob, "/"))
	tb.navigate(st.url(blogHost, "/set-cookie?name="+cookieName+"&value="+bob+"&path=/login"))
	var paths []string
	for _, c := range tb.sessionCookies() {
		switch {
		case c.Value == bob && c.Domain == "."+domain:
			paths = append(paths, c.Path)
		case c.Value != alice || c.Path != "/":
			tb.errorf("unexpected session cookie %s", describe([]*network.Cookie{c}))
		}
	}
	slices.Sort(paths)
	if !slices.Equal(paths, []string{"/inbox", "/login"}) {
		tb.fatalf("the browser did not keep the tossed cookies at /inbox and /login only (the attack's premise): bob's copies at %v; all: %s", paths, describe(tb.sessionCookies()))
	}

	tb.navigate(inbox)
	p := tb.waitPage("the hub's page for ambiguous sessions", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, st.url("login", "/login?")) && p.Ready == "complete" ||
			p.URL == inbox && p.State != "" && p.State != "loading"
	})
	if p.URL == inbox {
		tb.fatalf("the app page was served with alice's and bob's cookies: data-state %q, #user %q", p.State, tb.text("user"))
	}
	if q := mustQuery(tb, p.URL); q.Get("reason") != "ambiguous_session" || q.Get("rd") != inbox {
		tb.errorf("redirected to %s, want the hub with reason=ambiguous_session and rd=%s", p.URL, inbox)
	}
	nav := tb.waitResponse("GET /inbox/", func(r *netRequest) bool {
		return r.URL == inbox && r.Type == network.ResourceTypeDocument
	})
	// Longer Path first (RFC 6265 §5.4): a server taking the first cookie
	// would have served bob.
	if nav.Status != http.StatusFound || !slices.Equal(nav.sentCookies(cookieName), []string{bob, alice}) {
		tb.errorf("GET /inbox/: want 302 with bob's then alice's cookie, got %v", &nav)
	}
	hub := tb.waitResponse("the hub's GET /login?reason=ambiguous_session", func(r *netRequest) bool { return r.URL == p.URL })
	if hub.Status != http.StatusUnauthorized || setsSession(hub.setCookies()) {
		tb.errorf("hub page with both cookies: want 401 and no session cookie set, got %v", &hub)
	}
	if got := tb.text("accounts"); !strings.Contains(got, username) || !strings.Contains(got, attacker) {
		tb.errorf("#accounts = %q, want it to name %s and %s", got, username, attacker)
	}
	f := tb.formFields("logout")
	if f["form_token"] == "" || f["tossed"] != "1" || f["rd"] != inbox {
		tb.errorf("form #logout fields %v, want form_token, tossed=1 and rd=%s", f, inbox)
	}
	for _, r := range st.api.since(mark) {
		tb.errorf("the API got a request while the cookies were ambiguous: %v", r)
	}

	tb.do("click Sign out of all", stepTimeout, chromedp.Click(chromedp.ID("submit")))
	// The sign-out goes back to rd, which sends the browser, without a
	// cookie now, to the login form.
	p = tb.waitPage("the login form after signing out of all", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, st.url("login", "/login?")) && !strings.Contains(p.URL, "reason=") && p.Ready == "complete" ||
			p.URL == inbox && p.State != "" && p.State != "loading"
	})
	if p.URL == inbox {
		tb.fatalf("after signing out of all, %s was served (a tossed copy survived: %s)", inbox, describe(tb.sessionCookies()))
	}
	if navs := tb.requests(func(r *netRequest) bool { return r.URL == inbox && r.Type == network.ResourceTypeDocument }); len(navs) != 2 ||
		navs[1].Status != http.StatusFound || len(navs[1].sentCookies(cookieName)) != 0 {
		tb.errorf("GET /inbox/ after the sign-out: want a 302 without %s, got %s", cookieName, list(navs))
	}
	out := tb.waitResponse("POST /logout", func(r *netRequest) bool {
		return r.URL == st.url("login", "/logout") && r.Method == http.MethodPost
	})
	set := out.setCookies()
	if out.Status != http.StatusSeeOther || !clears(set, "/") || !clears(set, "/inbox") || !clears(set, "/login") {
		tb.errorf("POST /logout: want 303 clearing %s at /, /inbox and /login, got %v", cookieName, &out)
	}
	if cs := tb.sessionCookies(); len(cs) != 0 {
		tb.errorf("after signing out of all the browser still holds %s", describe(cs))
	}
	if rd := mustQuery(tb, p.URL).Get("rd"); rd != inbox {
		tb.errorf("after the sign-out: at %s, want the login form with rd=%s", p.URL, inbox)
	}
	if code, who := st.whoIs(t, alice); code != http.StatusUnauthorized {
		tb.errorf("alice's session after signing out of all: /me = %d %q, want 401", code, who)
	}

	// The API call: alice signs in again and lands on the app page; blog
	// tosses bob's cookie at the API's /me. The page itself loads (its path
	// holds one cookie), its fetch of /me is refused.
	tb.signIn(inbox)
	alice = tb.hubCookie()
	mark = st.api.mark()
	tb.toss(blogHost, tossed(bob, "/me"))
	tb.navigate(inbox)
	p = tb.waitPage("the app page with bob's cookie at /me", navTimeout, func(p pageState) bool {
		return p.URL == inbox && p.State != "" && p.State != "loading"
	})
	if p.State != "unauthorized" {
		tb.errorf("app page: data-state = %q (#user %q), want unauthorized", p.State, tb.text("user"))
	}
	if got := tb.text("user"); got == username || got == attacker {
		tb.errorf("app page shows #user %q with ambiguous cookies", got)
	}
	me := tb.waitResponse("the app's GET /me answered 401", func(r *netRequest) bool {
		return r.URL == st.url("api", "/me") && r.Status == http.StatusUnauthorized
	})
	if !slices.Equal(me.sentCookies(cookieName), []string{bob, alice}) || me.RespRaw["x-auth-error"] != "ambiguous_session" {
		tb.errorf("GET /me: want bob's then alice's cookie sent and X-Auth-Error ambiguous_session, got %v (X-Auth-Error %q)", &me, me.RespRaw["x-auth-error"])
	}
	body := tb.eval("fetch /me from the app page", `fetch(`+jsString(st.url("api", "/me"))+`, {credentials: "include"}).then(async r => r.status + " " + await r.text())`)
	if !strings.HasPrefix(body, "401 ") || !strings.Contains(body, `"error":"ambiguous_session"`) {
		tb.errorf("the app's fetch of /me = %q, want nginx's 401 JSON with error ambiguous_session", body)
	}
	href := run(tb, "read #login-link", stepTimeout, chromedp.AttributeValue(chromedp.ID("login-link"), "href"))
	if q := mustQuery(tb, href.Value); !strings.HasPrefix(href.Value, st.url("login", "/login?")) ||
		q.Get("reason") != "ambiguous_session" || q.Get("rd") != st.url("api", "/me") {
		tb.errorf("#login-link = %q, want the hub with reason=ambiguous_session and rd=%s", href.Value, st.url("api", "/me"))
	}
	for _, r := range st.api.since(mark) {
		if r.Path == "/me" {
			tb.errorf("GET /me reached the API with ambiguous cookies: %v", r)
		}
	}

	// The page's login link: the hub sees only alice's cookie, so it names
	// the site that saw several, and signing out clears /me too.
	tb.do("click #login-link", stepTimeout, chromedp.Click(chromedp.ID("login-link")))
	tb.waitPage("the hub's page for ambiguous sessions at api.", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, st.url("login", "/login?")) && strings.Contains(p.URL, "reason=ambiguous_session") && p.Ready == "complete"
	})
	if got := tb.text("accounts"); !strings.Contains(got, "api."+domain) {
		tb.errorf("#accounts = %q, want it to name api.%s", got, domain)
	}
	tb.do("click Sign out of all", stepTimeout, chromedp.Click(chromedp.ID("submit")))
	p = tb.waitPage("the login form after the second sign-out", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, st.url("login", "/login?")) && !strings.Contains(p.URL, "reason=") && p.Ready == "complete" ||
			p.URL == st.url("api", "/me") && p.Ready == "complete"
	})
	if !strings.HasPrefix(p.URL, st.url("login", "/")) {
		tb.fatalf("after the second sign-out, %s was served: %q (cookies: %s)", p.URL, tb.eval("read the page", "document.body.innerText"), describe(tb.sessionCookies()))
	}
	if cs := tb.sessionCookies(); len(cs) != 0 {
		tb.errorf("after the second sign-out the browser still holds %s", describe(cs))
	}
	// Nothing was ever served as bob in this browser.
	for _, r := range st.api.since(0) {
		if r.User == attacker {
			tb.errorf("the API served a request as %s: %v", attacker, r)
		}
	}
}

// SameUserCookiesStillWork: two more sessions of alice herself next to the
// hub's cookie (one tossed at longer paths, one host-only copy on app., as an
// earlier configuration leaves) do not lock her out.
func testSameUserCookies(t *testing.T, st *stack) {
	tb := newBrowser(t, st)
	login(tb)
	alice := tb.hubCookie()
	second, third := st.apiLogin(t, username, st.password), st.apiLogin(t, username, st.password)
	tb.toss(blogHost, tossed(second, "/inbox"), tossed(second, "/me"))
	tb.setCookie(network.SetCookieParams{Name: cookieName, Value: third, URL: st.url("app", "/"), Path: "/", SameSite: network.CookieSameSiteLax})
	mark := st.api.mark()
	inbox := st.url("app", "/inbox/")
	tb.navigate(inbox)
	p := tb.waitPage("the app page with three cookies of alice", navTimeout, func(p pageState) bool {
		return p.URL == inbox && p.State != "" && p.State != "loading"
	})
	if p.State != "ready" || tb.text("user") != username {
		tb.errorf("app page: data-state %q, #user %q, want ready as %s", p.State, tb.text("user"), username)
	}
	nav := tb.waitRequest("GET /inbox/", func(r *netRequest) bool { return r.URL == inbox && r.Type == network.ResourceTypeDocument })
	if got := nav.sentCookies(cookieName); nav.Status != http.StatusOK || len(got) != 3 || !slices.Contains(got, alice) || !slices.Contains(got, second) || !slices.Contains(got, third) {
		tb.errorf("GET /inbox/: want 200 with alice's three cookies, got %v", &nav)
	}
	me := tb.waitRequest("the app's GET /me", func(r *netRequest) bool {
		return r.URL == st.url("api", "/me") && r.Doc == inbox
	})
	if got := me.sentCookies(cookieName); me.Status != http.StatusOK || !slices.Equal(got, []string{second, alice}) {
		tb.errorf("GET /me: want 200 with the tossed copy, then the hub's, got %v", &me)
	}
	if !apiSaw(st.api.since(mark), http.MethodGet, "/me", st.origin("app"), username) {
		tb.errorf("the API never saw GET /me as %s; it saw %v", username, st.api.since(mark))
	}
}

// SiblingCannotPlantFormNonce: the hub's form nonce is a __Host- cookie; a
// sibling's script can write one for itself only, never for the parent
// domain or the hub, while an unprefixed name it can.
func testFormNonce(t *testing.T, st *stack) {
	tb := newBrowser(t, st)
	tb.navigate(st.url("login", "/login"))
	var own *network.Cookie
	for _, c := range tb.allCookies() {
		if c.Name == formNonce {
			own = c
		}
	}
	if own == nil || own.Domain != "login."+domain || own.Path != "/" || !own.Secure || !own.HTTPOnly || own.SameSite != network.CookieSameSiteStrict {
		tb.fatalf("the login page's nonce: want %s host-only on login.%s, Path /, Secure, HttpOnly, SameSite Strict; the browser has %+v", formNonce, domain, own)
	}

	const planted = "planted-by-blog"
	tb.toss(blogHost,
		formNonce+"="+planted+"; Domain="+domain+"; Path=/; Secure", // __Host- forbids Domain
		formNonce+"="+planted+"; Path=/login; Secure",               // __Host- requires Path=/
		formNonce+"="+planted+"; Path=/; Secure",                    // valid, for blog. only
		"sso_form="+planted+"; Domain="+domain+"; Path=/; Secure",   // no prefix: accepted
	)
	var hostOnly, unprefixed bool
	for _, c := range tb.allCookies() {
		switch {
		case c.Value != planted:
		case c.Name == formNonce && c.Domain == blogHost && c.Path == "/":
			hostOnly = true
		case c.Name == "sso_form" && c.Domain == "."+domain:
			unprefixed = true
		default:
			tb.errorf("the browser kept a planted cookie it must refuse: %s=%s @%s%s", c.Name, c.Value, c.Domain, c.Path)
		}
	}
	if !hostOnly || !unprefixed {
		tb.errorf("the tosser ran but the browser lacks what a sibling may set: %s on %s %v, sso_form on .%s %v", formNonce, blogHost, hostOnly, domain, unprefixed)
	}
	// What the hub would receive: its own nonce, nothing planted.
	var sent []string
	for _, c := range tb.cookies(st.url("login", "/login")) {
		if strings.Contains(c.Name, "sso_form") {
			sent = append(sent, c.Name+"="+c.Value)
		}
	}
	if want := []string{formNonce + "=" + own.Value, "sso_form=" + planted}; !sameSet(sent, want) {
		tb.errorf("form cookies the hub would get: %v, want its own nonce (and the unprefixed plant it ignores) %v", sent, want)
	}
}

// SiblingCannotForceLoginForm: blog (and evil.test) auto-submit the hub's
// login form with bob's credentials and a nonce/token pair the attacker
// harvested for itself. The victim stays alice: 403, no session cookie set,
// no session of bob created.
func testForcedLoginForm(t *testing.T, st *stack) {
	tb := newBrowser(t, st)
	login(tb)
	alice := tb.hubCookie()
	bob := st.apiLogin(t, attacker, st.bobPass)
	before := st.sessionCount(t, bob)

	nonce, token := harvestLoginForm(t, st)
	// The attacker's nonce cannot be planted under the name the hub reads.
	tb.toss(blogHost, formNonce+"="+nonce+"; Domain="+domain+"; Path=/; Secure", "sso_form="+nonce+"; Domain="+domain+"; Path=/; Secure")

	action := st.url("login", "/login")
	for _, host := range []string{blogHost, evilHost} {
		tb.forge(host, action, map[string]string{
			"username": attacker, "password": st.bobPass, "form_token": token, "rd": st.url("app", "/"),
		})
		post := tb.waitResponse("the forged login from "+host, func(r *netRequest) bool {
			return r.URL == action && r.Method == http.MethodPost && r.Origin == st.origin(host)
		})
		if post.Status != http.StatusForbidden || setsSession(post.setCookies()) {
			tb.errorf("login form POST from %s: want 403 and no %s set, got %v", host, cookieName, &post)
		}
		if got := tb.text("error"); !strings.Contains(got, "another site") {
			tb.errorf("login form POST from %s: #error = %q, want the form's refusal", host, got)
		}
		if v := tb.hubCookie(); v != alice {
			tb.errorf("after the forged login from %s the session cookie changed", host)
		}
	}
	if after := st.sessionCount(t, bob); after != before {
		tb.errorf("bob's sessions: %d before the forged logins, %d after", before, after)
	}
	mark := st.api.mark()
	tb.navigate(st.url("app", "/"))
	p := tb.waitPage("the app after the forged logins", navTimeout, func(p pageState) bool { return p.State != "" && p.State != "loading" })
	if p.State != "ready" || tb.text("user") != username || !apiSaw(st.api.since(mark), http.MethodGet, "/me", st.origin("app"), username) {
		tb.errorf("app after the forged logins: data-state %q, #user %q, want ready as %s", p.State, tb.text("user"), username)
	}
}

var formTokenRE = regexp.MustCompile(`name="form_token" value="([^"]+)"`)

// harvestLoginForm fetches the hub's login form as the attacker (its own
// client) and returns the nonce cookie and the form token it got.
func harvestLoginForm(t *testing.T, st *stack) (nonce, token string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := st.nginx.Client()
	c.Jar = jar
	resp, err := c.Get(st.url("login", "/login"))
	if err != nil {
		t.Fatalf("GET /login: %v", err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	m := formTokenRE.FindSubmatch(page)
	for _, ck := range resp.Cookies() {
		if ck.Name == formNonce {
			nonce = ck.Value
		}
	}
	if resp.StatusCode != http.StatusOK || m == nil || nonce == "" {
		t.Fatalf("GET /login = %d, nonce %q, token found %v; want a form", resp.StatusCode, nonce, m != nil)
	}
	return nonce, string(m[1])
}

// CrossSiteLogoutRefused: evil.test (another site) and blog (a sibling)
// auto-submit POST /logout. Neither has the proof the hub's page holds: the
// sign-out page comes back with 403 and no Set-Cookie, and alice stays
// signed in.
func testCrossSiteLogout(t *testing.T, st *stack) {
	tb := newBrowser(t, st)
	login(tb)
	alice := tb.hubCookie()
	action := st.url("login", "/logout")
	for _, host := range []string{evilHost, blogHost} {
		tb.forge(host, action, map[string]string{"rd": st.url("app", "/")})
		post := tb.waitResponse("the forged POST /logout from "+host, func(r *netRequest) bool {
			return r.URL == action && r.Method == http.MethodPost && r.Origin == st.origin(host)
		})
		if post.Status != http.StatusForbidden || post.RespRaw["set-cookie"] != "" {
			tb.errorf("POST /logout from %s: want 403 without Set-Cookie, got %v (set-cookie %q)", host, &post, post.RespRaw["set-cookie"])
		}
		// Another site's POST does not even carry the Lax cookie; the
		// sibling's does, but no token.
		if sent := post.cookieSent(cookieName); sent != (host == blogHost) {
			tb.errorf("POST /logout from %s: session cookie sent = %v, want %v: %v", host, sent, host == blogHost, &post)
		}
		if got := tb.text("error"); !strings.Contains(got, "another site") {
			tb.errorf("POST /logout from %s: #error = %q, want the refusal", host, got)
		}
		if v := tb.hubCookie(); v != alice {
			tb.errorf("after the forged logout from %s the session cookie changed", host)
		}
	}
	if code, who := st.whoIs(t, alice); code != http.StatusOK || who != username {
		tb.errorf("alice's session after the forged logouts: /me = %d %q, want 200 %s", code, who, username)
	}
	mark := st.api.mark()
	tb.navigate(st.url("app", "/"))
	p := tb.waitPage("the app after the forged logouts", navTimeout, func(p pageState) bool { return p.State != "" && p.State != "loading" })
	if p.State != "ready" || tb.text("user") != username || !apiSaw(st.api.since(mark), http.MethodGet, "/me", st.origin("app"), username) {
		tb.errorf("app after the forged logouts: data-state %q, #user %q, want ready as %s", p.State, tb.text("user"), username)
	}
}

// LoginOriginsOptIn: the app page (an allowed CORS origin) posts
// credentials to POST /api/session with fetch. The second hub refuses its
// preflight (no credentials sent, no cookie) since its SSO_LOGIN_ORIGINS is
// empty, the default; the
// main hub, on the same sessions, lists the app's origin and logs in.
func testLoginOrigins(t *testing.T, st *stack) {
	tb := newBrowser(t, st)
	login(tb)
	alice := tb.hubCookie()
	creds, _ := json.Marshal(map[string]string{"username": username, "password": st.password})
	post := func(hub string) (string, netRequest) {
		tb.b.t.Helper()
		target := hub + "/api/session"
		got := tb.eval("fetch POST "+target, `fetch(`+jsString(target)+`, {method: "POST", credentials: "include",
			headers: {"Content-Type": "application/json"}, body: `+jsString(string(creds))+`})
			.then(async r => r.status + " " + await r.text(), e => e.name + ": " + e.message)`)
		return got, tb.waitResponse("POST "+target, func(r *netRequest) bool { return r.URL == target && r.Method == http.MethodPost })
	}

	// The hub's API answers no other page's preflight: the browser never
	// sends the credentials.
	got, req := post(st.origin(optHost))
	if !strings.HasPrefix(got, "TypeError") || !strings.Contains(req.Failed, "cors=") || setsSession(req.setCookies()) {
		tb.errorf("login from %s at the hub (SSO_LOGIN_ORIGINS empty) = %q, %v; want the preflight refused and no cookie", st.origin("app"), got, &req)
	}
	if v := tb.hubCookie(); v != alice {
		tb.errorf("the refused login changed the session cookie")
	}

	got, req = post(st.origin("login"))
	if !strings.HasPrefix(got, "201 ") || !setsSession(req.setCookies()) {
		tb.fatalf("login from %s at the hub listing it in SSO_LOGIN_ORIGINS = %q, %v; want 201 and a cookie", st.origin("app"), got, &req)
	}
	fresh := tb.hubCookie()
	if fresh == alice {
		tb.errorf("the login kept the old session id")
	}
	if code, who := st.whoIs(t, fresh); code != http.StatusOK || who != username {
		tb.errorf("the new cookie: /me = %d %q, want 200 %s", code, who, username)
	}
	if code, _ := st.whoIs(t, alice); code != http.StatusUnauthorized {
		tb.errorf("the browser's previous session after the new login: /me = %d, want 401 (a login replaces it)", code)
	}
}

func mustQuery(tb *tab, raw string) url.Values {
	tb.b.t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		tb.fatalf("URL %q: %v", raw, err)
	}
	return u.Query()
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
