//go:build e2e

package e2e

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/example/sso/internal/testproc"
)

const cookieName = "sso_session" // sso's default SSO_COOKIE_NAME

// TestBrowser runs every browser scenario against one stack and one
// Chromium; each scenario gets a browser context of its own (cookies, cache
// and storage), as fresh as a new profile.
func TestBrowser(t *testing.T) {
	chromiumPath(t) // skip before building anything when there is no browser
	st := startStack(t)
	st.chrome = startChromium(t, st)

	t.Run("LoginRedirectsAndReturns", func(t *testing.T) { testLogin(t, st) })
	t.Run("CookieScope", func(t *testing.T) { testCookieScope(t, st) })
	t.Run("PreflightedPut", func(t *testing.T) { testPreflightedPut(t, st) })
	t.Run("Logout", func(t *testing.T) { testLogout(t, st) })
	t.Run("CrossOriginRefused", func(t *testing.T) { testCrossOrigin(t, st) })
	t.Run("ScriptClient", func(t *testing.T) { testScriptClient(t, st) })
	// The hostile sibling (sibling_test.go).
	t.Run("SiblingCookieTossingRefused", func(t *testing.T) { testSiblingTossing(t, st) })
	t.Run("SameUserCookiesStillWork", func(t *testing.T) { testSameUserCookies(t, st) })
	t.Run("SiblingCannotPlantFormNonce", func(t *testing.T) { testFormNonce(t, st) })
	t.Run("SiblingCannotForceLoginForm", func(t *testing.T) { testForcedLoginForm(t, st) })
	t.Run("CrossSiteLogoutRefused", func(t *testing.T) { testCrossSiteLogout(t, st) })
	t.Run("LoginOriginsOptIn", func(t *testing.T) { testLoginOrigins(t, st) })
	t.Run("AccountPageRevokesSessionAndKey", func(t *testing.T) { testAccountPage(t, st) })

	// Through every scenario, the API saw identities but never sso's own
	// session cookie: nginx strips it, so an upstream cannot replay it.
	reqs := st.api.since(0)
	if !slices.ContainsFunc(reqs, func(r apiRequest) bool { return r.User != "" }) {
		t.Error("the API never saw an authenticated request")
	}
	for _, r := range reqs {
		if r.SessionCookie {
			t.Errorf("the API received sso's session cookie: %v", r)
		}
	}
}

// login opens the app, follows the redirect to the hub, signs in with the
// form and waits until the app page has asked the API who we are.
func login(tb *tab) {
	tb.b.t.Helper()
	st := tb.b.st
	appURL := st.url("app", "/")
	tb.navigate(appURL)
	p := tb.waitPage("redirect from the app to the login hub", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, st.url("login", "/login")) && p.Ready == "complete"
	})
	u, err := url.Parse(p.URL)
	if err != nil {
		tb.fatalf("login URL %q: %v", p.URL, err)
	}
	if rd := u.Query().Get("rd"); rd != appURL {
		// Without it the login would not lead back to the app.
		tb.fatalf("login page rd = %q, want %q (full URL %s)", rd, appURL, p.URL)
	}
	tb.do("fill in and submit the login form", stepTimeout,
		chromedp.SendKeys(chromedp.ID("username"), username),
		chromedp.SendKeys(chromedp.ID("password"), st.password),
		chromedp.Click(chromedp.ID("submit")),
	)
	p = tb.waitPage("back on the app after login, /me answered", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, st.origin("app")+"/") && p.State != "" && p.State != "loading"
	})
	if p.State != "ready" {
		me := tb.requests(func(r *netRequest) bool { return r.URL == st.url("api", "/me") })
		tb.fatalf("app page after login: data-state = %q, want ready (status %q, url %s); the page's requests to /me: %s",
			p.State, tb.text("status"), p.URL, list(me))
	}
}

// Scenario 1: app → login hub → form → back on the app, whose credentialed
// fetch to api. shows the user.
func testLogin(t *testing.T, st *stack) {
	tb := newBrowser(t, st)
	mark := st.api.mark()
	login(tb)
	if got := tb.text("user"); got != username {
		tb.errorf("#user = %q, want %q", got, username)
	}
	if got := tb.text("email"); !strings.Contains(got, email) {
		tb.errorf("#email = %q, want it to contain %q", got, email)
	}
	if got := tb.text("groups"); !strings.Contains(got, "admins") || !strings.Contains(got, "dev") {
		tb.errorf("#groups = %q, want admins and dev", got)
	}
	if !apiSaw(st.api.since(mark), "GET", "/me", st.origin("app"), username) {
		tb.errorf("the API never saw GET /me from %s as %s; it saw %v", st.origin("app"), username, st.api.since(mark))
	}
}

// Scenario 2: the cookie as the browser stores it, and where it goes.
func testCookieScope(t *testing.T, st *stack) {
	tb := newBrowser(t, st)
	login(tb)

	var c *network.Cookie
	for _, ck := range tb.cookies(st.url("api", "/me")) {
		if ck.Name == cookieName {
			c = ck
		}
	}
	if c == nil {
		tb.fatalf("no cookie %q for %s; the browser has: %v", cookieName, st.url("api", "/me"), cookieNames(tb.cookies(st.url("login", "/"))))
	}
	// A Domain cookie is stored with a leading dot; a host-only one without.
	if c.Domain != "."+domain {
		tb.errorf("cookie Domain = %q, want %q (host-only or wrong parent: siblings would not get it)", c.Domain, "."+domain)
	}
	if !c.Secure {
		tb.errorf("cookie Secure = false, want true")
	}
	if !c.HTTPOnly {
		tb.errorf("cookie HttpOnly = false, want true")
	}
	if c.SameSite != network.CookieSameSiteLax {
		tb.errorf("cookie SameSite = %q, want %q", c.SameSite, network.CookieSameSiteLax)
	}
	if c.Path != "/" {
		tb.errorf("cookie Path = %q, want /", c.Path)
	}
	for _, ck := range tb.cookies(st.url(evilHost, "/")) {
		if ck.Name == cookieName {
			tb.errorf("the browser would send %s to %s: %+v", cookieName, evilHost, ck)
		}
	}

	// Sent to api.: the app's fetch carried it, and the API saw the user.
	appOrigin := st.origin("app")
	me := tb.waitRequest("the app's GET /me", func(r *netRequest) bool {
		return r.URL == st.url("api", "/me") && r.Origin == appOrigin && r.Method == "GET"
	})
	if !me.cookieSent(cookieName) || me.Status != http.StatusOK {
		tb.errorf("the app's GET /me: want %s sent and 200, got %v", cookieName, &me)
	}

	// Not sent by a page of another site.
	mark := st.api.mark()
	tb.navigate(st.url(evilHost, "/index.html"))
	tb.waitPage("the evil page has tried the API", stepTimeout, func(p pageState) bool { return p.State == "done" })
	evilOrigin := st.origin(evilHost)
	evil := tb.waitRequest("evil.test's GET /me", func(r *netRequest) bool {
		return r.URL == st.url("api", "/me") && r.Origin == evilOrigin && r.Method == "GET"
	})
	if evil.cookieSent(cookieName) {
		tb.errorf("evil.test's GET /me carried %s: %v", cookieName, &evil)
	}
	blocked := false
	for _, ac := range evil.Cookies {
		if ac.Cookie != nil && ac.Cookie.Name == cookieName {
			for _, r := range ac.BlockedReasons {
				blocked = blocked || strings.Contains(string(r), "SameSite")
			}
		}
	}
	if !blocked {
		tb.errorf("evil.test's GET /me: want %s blocked for SameSite, got %v", cookieName, &evil)
	}
	for _, r := range st.api.since(mark) {
		if r.Origin == evilOrigin || r.User != "" {
			tb.errorf("the API saw a request while only evil.test ran: %v", r)
		}
	}
}

// Scenario 3: a preflighted PUT (JSON body, X-CSRF-Token) from the app.
func testPreflightedPut(t *testing.T, st *stack) {
	tb := newBrowser(t, st)
	login(tb)
	mark := st.api.mark()
	tb.do("click #put", stepTimeout, chromedp.Click(chromedp.ID("put")))
	var got string
	deadline := time.Now().Add(stepTimeout)
	for {
		got = tb.text("put-result")
		if got != "" && got != "…" {
			break
		}
		if time.Now().After(deadline) {
			tb.fatalf("#put-result still %q after %v", got, stepTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(got, "200 ") || !strings.Contains(got, `"by": "`+username+`"`) {
		tb.errorf("#put-result = %q, want 200 and \"by\": %q", got, username)
	}
	appOrigin := st.origin("app")
	if !apiSaw(st.api.since(mark), "PUT", "/items/1", appOrigin, username) {
		tb.errorf("the API never saw PUT /items/1 from %s as %s; it saw %v", appOrigin, username, st.api.since(mark))
	}
	// The preflight went to sso, never to the upstream.
	for _, r := range st.api.since(0) {
		if r.Method == http.MethodOptions {
			tb.errorf("a preflight reached the API upstream: %v", r)
		}
	}
	put := tb.waitRequest("the app's PUT", func(r *netRequest) bool {
		return r.URL == st.url("api", "/items/1") && r.Method == "PUT"
	})
	if put.Status != http.StatusOK || !put.cookieSent(cookieName) || put.Raw["x-csrf-token"] == "" {
		tb.errorf("the app's PUT: want 200 with %s and X-CSRF-Token, got %v", cookieName, &put)
	}
	// Chromium reports the preflight as a request of its own.
	pre := tb.waitRequest("the PUT's preflight", func(r *netRequest) bool {
		return r.URL == st.url("api", "/items/1") && r.Method == http.MethodOptions
	})
	if pre.Status != http.StatusNoContent || pre.Origin != appOrigin {
		tb.errorf("preflight of the app's PUT: want 204 for %s, got %v", appOrigin, &pre)
	}
}

// Scenario 4: logout in one tab; the API then answers 401 to the app in
// another tab, which shows the login link, and opening the app redirects to
// the login hub again.
func testLogout(t *testing.T, st *stack) {
	tb := newBrowser(t, st)
	login(tb)
	other := tb.b.newTab()
	appURL := st.url("app", "/")
	other.navigate(appURL)
	if p := other.waitPage("the app in a second tab", navTimeout, func(p pageState) bool {
		return p.State != "" && p.State != "loading"
	}); p.State != "ready" || !strings.HasPrefix(p.URL, appURL) {
		other.fatalf("second tab before logout: %+v, want the app, ready", p)
	}

	tb.do("click #logout", stepTimeout, chromedp.Click(chromedp.ID("logout")))
	// The page reloads after logout; the protected page now redirects.
	p := tb.waitPage("redirect to the login hub after logout", navTimeout, func(p pageState) bool {
		return strings.HasPrefix(p.URL, st.url("login", "/login")) && p.Ready == "complete"
	})
	del := tb.waitRequest("DELETE /api/session", func(r *netRequest) bool {
		return r.Method == "DELETE" && r.URL == st.url("login", "/api/session")
	})
	if del.Status != http.StatusNoContent {
		tb.errorf("DELETE /api/session: want 204, got %v", &del)
	}
	for _, c := range tb.cookies(st.url("api", "/me")) {
		if c.Name == cookieName {
			tb.errorf("cookie %s still stored after logout (landed on %s): %+v", cookieName, p.URL, c)
		}
	}

	// The second tab's page asks the API again, with its own code.
	state := other.eval("loadMe() in the second tab", `loadMe().then(() => document.body.dataset.state)`)
	if state != "unauthorized" {
		other.errorf("second tab after logout: data-state = %q, want unauthorized (status %q)", state, other.text("status"))
	}
	me := other.waitRequest("second tab's GET /me after logout", func(r *netRequest) bool {
		return r.URL == st.url("api", "/me") && r.Status == http.StatusUnauthorized
	})
	if me.cookieSent(cookieName) {
		other.errorf("GET /me after logout still carried %s: %v", cookieName, &me)
	}
	href := run(other, "read #login-link", stepTimeout, chromedp.AttributeValue(chromedp.ID("login-link"), "href"))
	if !strings.HasPrefix(href.Value, st.url("login", "/login")) {
		other.errorf("#login-link href = %q, want the login hub", href.Value)
	}

	tb.navigate(appURL)
	p = tb.waitPage("opening the app after logout", navTimeout, func(p pageState) bool {
		return p.Ready == "complete" && !strings.HasPrefix(p.URL, appURL)
	})
	if !strings.HasPrefix(p.URL, st.url("login", "/login?rd=")) {
		tb.errorf("opening the app after logout landed on %s, want the login hub", p.URL)
	}
}

// Scenario 5: another site and a same-site sibling that is not an allowed
// origin cannot read the API or write through it, while the user is logged
// in.
func testCrossOrigin(t *testing.T, st *stack) {
	tb := newBrowser(t, st)
	login(tb)
	mark := st.api.mark()

	evilOrigin := st.origin(evilHost)
	tb.navigate(st.url(evilHost, "/index.html"))
	tb.waitPage("the evil page has tried the API", stepTimeout, func(p pageState) bool { return p.State == "done" })
	if got := tb.text("fetch-result"); !isTypeError(got) {
		tb.errorf("evil.test fetch(/me) = %q, want a TypeError (unreadable)", got)
	}
	if got := tb.text("put-result"); !isTypeError(got) {
		tb.errorf("evil.test fetch(PUT /items/1) = %q, want a TypeError", got)
	}

	// The classic cross-site form POST: no preflight, the browser navigates.
	tb.navigate(st.url(evilHost, "/post.html"))
	apiItem := st.url("api", "/items/1")
	p := tb.waitPage("the forged form's answer", navTimeout, func(p pageState) bool {
		return p.URL == apiItem && p.Ready == "complete"
	})
	post := tb.waitRequest("the forged POST", func(r *netRequest) bool {
		return r.URL == apiItem && r.Method == "POST"
	})
	if post.Status != http.StatusForbidden || post.Origin != evilOrigin {
		tb.errorf("forged form POST from %s: want 403, got %v", evilOrigin, &post)
	}
	// The shield's reason (sso's X-Auth-Error) reaches the page through nginx.
	if body := tb.eval("read the forged POST's answer", `document.body.innerText`); !strings.Contains(body, `"error":"cross_site_request"`) {
		tb.errorf("forged form POST answer at %s = %q, want the 403 JSON with error cross_site_request", p.URL, body)
	}

	// A sibling on the same site, not in SSO_CORS_ORIGINS: the cookie goes
	// along (same site), but the answer is unreadable and the preflight is
	// refused, so the PUT is never sent.
	sibOrigin := st.origin(sibling)
	tb.navigate(st.url(sibling, "/index.html"))
	tb.waitPage("the sibling page has tried the API", stepTimeout, func(p pageState) bool { return p.State == "done" })
	if got := tb.text("fetch-result"); !isTypeError(got) {
		tb.errorf("%s fetch(/me) = %q, want a TypeError (unreadable)", sibling, got)
	}
	if got := tb.text("put-result"); !isTypeError(got) {
		tb.errorf("%s fetch(PUT /items/1) = %q, want a TypeError", sibling, got)
	}
	put := tb.waitRequest("the sibling's PUT", func(r *netRequest) bool {
		return r.URL == apiItem && r.Method == "PUT" && strings.HasPrefix(r.Doc, sibOrigin+"/")
	})
	if !strings.Contains(put.Failed, "Preflight") {
		tb.errorf("%s PUT: want a failed preflight, got %v", sibling, &put)
	}
	for _, origin := range []string{evilOrigin, sibOrigin} {
		pre := tb.requests(func(r *netRequest) bool {
			return r.URL == apiItem && r.Method == http.MethodOptions && r.Origin == origin
		})
		if len(pre) != 1 || pre[0].Status != http.StatusForbidden {
			tb.errorf("preflight of the PUT from %s: want one, answered 403; got %s", origin, list(pre))
		}
	}

	for _, r := range st.api.since(mark) {
		switch {
		case r.Origin == evilOrigin:
			tb.errorf("a request from %s reached the API: %v", evilOrigin, r)
		case r.Method != http.MethodGet:
			// Only the sibling's simple GET may arrive: CORS protects the
			// answer, not the request.
			tb.errorf("an unsafe request reached the API: %v", r)
		}
	}
}

// Scenario 6: a script logs in through the JSON API; other processes (curl,
// on new connections) use the cookie value, or a cookie jar, through nginx.
func testScriptClient(t *testing.T, st *stack) {
	curl := testproc.RequireTool(t, "SSO_REQUIRE_TOOLS", "curl")
	client := st.nginx.Client()
	body := `{"username":"` + username + `","password":"` + st.password + `"}`
	resp, err := client.Post(st.url("login", "/api/session"), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST /api/session: %v", err)
	}
	var created struct {
		User    struct{ Name string }
		Session struct{ Name, Value string }
	}
	err = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || err != nil || created.Session.Value == "" {
		t.Fatalf("POST /api/session = %d, %+v (decode error %v), want 201 with a session value", resp.StatusCode, created, err)
	}
	if created.Session.Name != cookieName || created.User.Name != username {
		t.Errorf("POST /api/session: session name %q user %q, want %q and %q", created.Session.Name, created.User.Name, cookieName, username)
	}

	port := strconv.Itoa(st.port)
	curlGet := func(t *testing.T, args ...string) (int, string) {
		t.Helper()
		ctx, cancel := withTimeout(20 * time.Second)
		defer cancel()
		all := append([]string{"-sS", "--max-time", "15",
			"--resolve", "api." + domain + ":" + port + ":127.0.0.1",
			"--resolve", "login." + domain + ":" + port + ":127.0.0.1",
			"--cacert", st.caFile, "-w", "\n%{http_code}"}, args...)
		out, err := exec.CommandContext(ctx, curl, all...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		s := strings.TrimRight(string(out), "\n")
		i := strings.LastIndex(s, "\n")
		code, _ := strconv.Atoi(s[i+1:])
		return code, s[:max(i, 0)]
	}
	wantAlice := func(t *testing.T, how string, code int, out string) {
		t.Helper()
		var me struct{ User string }
		if err := json.Unmarshal([]byte(out), &me); code != http.StatusOK || err != nil || me.User != username {
			t.Errorf("%s: GET /me = %d %q, want 200 as %s", how, code, out, username)
		}
	}
	apiMe := st.url("api", "/me")

	t.Run("CookieValue", func(t *testing.T) {
		code, out := curlGet(t, "-H", "Cookie: "+created.Session.Name+"="+created.Session.Value, apiMe)
		wantAlice(t, "curl with the cookie value", code, out)
		if code, out := curlGet(t, apiMe); code != http.StatusUnauthorized {
			t.Errorf("curl without a cookie: GET /me = %d %q, want 401", code, out)
		}
	})
	t.Run("CookieJar", func(t *testing.T) {
		jar := filepath.Join(t.TempDir(), "cookies.txt")
		code, out := curlGet(t, "-c", jar, "-H", "Content-Type: application/json", "--data", body, st.url("login", "/api/session"))
		if code != http.StatusCreated {
			t.Fatalf("curl POST /api/session = %d %q, want 201", code, out)
		}
		code, out = curlGet(t, "-b", jar, apiMe)
		wantAlice(t, "curl with the cookie jar", code, out)
	})
}

func apiSaw(reqs []apiRequest, method, path, origin, user string) bool {
	for _, r := range reqs {
		if r.Method == method && r.Path == path && r.Origin == origin && r.User == user {
			return true
		}
	}
	return false
}

func cookieNames(cs []*network.Cookie) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name+"@"+c.Domain)
	}
	return out
}
