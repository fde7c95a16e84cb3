package server_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/pquerna/otp/totp"

	"github.com/example/sso/internal/softauthn"
	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/login"
	"github.com/example/sso/mfa"
	mfamem "github.com/example/sso/mfa/memstore"
	"github.com/example/sso/server"
	"github.com/example/sso/session"
)

// events records the login pipeline's events (the audit hook).
type events struct {
	mu   sync.Mutex
	list []login.Event
}

func (ev *events) Observe(_ context.Context, e login.Event) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.list = append(ev.list, e)
}

func (ev *events) kinds(detail string) []login.EventKind {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var out []login.EventKind
	for _, e := range ev.list {
		if strings.HasPrefix(string(e.Kind), "second_factor_") && (detail == "" || e.Detail == detail) {
			out = append(out, e.Kind)
		}
	}
	return out
}

// withMFA gives the server a second factor on an in-memory mfa store that
// follows the test clock, regulation on the session store, and records
// events in ev.
func withMFA(t *testing.T, ev *events, required ...string) envOption {
	return func(o *server.Options) {
		m, err := mfa.New(mfa.Options{Store: mfamem.New(o.Now), Keys: [][]byte{[]byte("0123456789abcdef0123456789abcdef")}, Now: o.Now})
		if err != nil {
			t.Fatal(err)
		}
		o.MFA, o.MFARequiredGroups = m, required
		o.Regulation = server.Regulation{MaxRetries: 3, FindTime: time.Minute, BanTime: 5 * time.Minute}
		o.Limiter = o.Store.(session.Limiter)
		o.LoginObserver = ev
	}
}

func newMFAEnv(t *testing.T, ev *events, required ...string) *env {
	t.Helper()
	return newEnv(t, withMFA(t, ev, required...))
}

var (
	csrfRE   = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	secretRE = regexp.MustCompile(`id="secret">([A-Z2-7]+)<`)
	codeRE   = regexp.MustCompile(`<li><code>([a-z0-9-]+)</code></li>`)
)

func find(t *testing.T, re *regexp.Regexp, r *response) string {
	t.Helper()
	m := re.FindSubmatch(r.body)
	if m == nil {
		t.Fatalf("%s %s: no %s in %s", r.Request.Method, r.Request.URL, re, r.body)
	}
	return string(m[1])
}

func sfPostForm(t *testing.T, c *http.Client, path string, form url.Values) *response {
	t.Helper()
	return do(t, c, req{method: "POST", url: hub + path, body: form.Encode(), ctype: "application/x-www-form-urlencoded"})
}

func (e *env) code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// auth asks /auth at api. with c's cookies and query q.
func auth(t *testing.T, c *http.Client, q string) *response {
	t.Helper()
	return do(t, c, req{url: "http://api.example.test/auth" + q})
}

func sfFormLogin(t *testing.T, c *http.Client, user string) *response {
	t.Helper()
	return postLogin(t, c, user, password, "", loginForm(t, c, ""), nil)
}

func hasSetCookie(r *response, name string) bool {
	return slices.ContainsFunc(r.Cookies(), func(c *http.Cookie) bool { return c.Name == name && c.MaxAge >= 0 })
}

// TestTOTPEndToEnd: enrolment on the account page, step-up of /auth with
// factor=2 and max_age, a login with a code, a reused code refused, a
// recovery code that works once, and the audit events.
func TestTOTPEndToEnd(t *testing.T) {
	ev := &events{}
	logs := &testproc.Buffer{}
	e := newEnv(t, withMFA(t, ev), jsonLog(logs))

	// A user without a second factor signs in with one factor, as before.
	b, _ := e.browser()
	r := sfFormLogin(t, b, "alice")
	expectStatus(t, r, http.StatusSeeOther)
	r = auth(t, b, "")
	expectStatus(t, r, http.StatusOK)
	if got := r.Header.Get("X-Auth-AMR"); got != "pwd" {
		t.Fatalf("X-Auth-AMR = %q, want pwd", got)
	}
	// factor=2: 401 with the hub's page for the missing factor.
	r = auth(t, b, "?factor=2")
	expectStatus(t, r, http.StatusUnauthorized)
	if r.Header.Get("X-Auth-Error") != "second_factor_required" || r.Header.Get("X-Auth-Login-URL") != hub+"/login/factor" {
		t.Fatalf("step-up answer: %q %q", r.Header.Get("X-Auth-Error"), r.Header.Get("X-Auth-Login-URL"))
	}
	// That page has nothing to ask yet: it leads to the account page.
	r = do(t, b, req{url: hub + "/login/factor"})
	expectStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), `id="setup"`) {
		t.Fatalf("factor page without a factor: %s", r.body)
	}

	// The signed-in page links the account security page.
	r = do(t, b, req{url: hub + "/"})
	expectStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), `href="/account/security"`) {
		t.Fatal("the signed-in page does not link /account/security")
	}

	// Enrolment: QR code and secret, confirmed by a first code.
	r = do(t, b, req{url: hub + "/account/security"})
	expectStatus(t, r, http.StatusOK)
	csrf := find(t, csrfRE, r)
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline'; script") {
		t.Fatalf("CSP %q", csp)
	}
	r = sfPostForm(t, b, "/account/security/totp", url.Values{"csrf_token": {"wrong"}})
	expectStatus(t, r, http.StatusForbidden)
	r = sfPostForm(t, b, "/account/security/totp", url.Values{"csrf_token": {csrf}})
	expectStatus(t, r, http.StatusOK)
	secret := find(t, secretRE, r)
	if !strings.Contains(string(r.body), `src="data:image/png;base64,`) {
		t.Fatal("no QR code image on the enrolment page")
	}
	r = sfPostForm(t, b, "/account/security/totp/confirm", url.Values{"csrf_token": {csrf}, "code": {"000000"}})
	if r.StatusCode != http.StatusUnauthorized && e.code(t, secret) != "000000" {
		t.Fatalf("wrong first code: %d", r.StatusCode)
	}
	// The wrong code ended that page; begin again.
	r = sfPostForm(t, b, "/account/security/totp", url.Values{"csrf_token": {csrf}})
	secret = find(t, secretRE, r)
	enrolCode := e.code(t, secret)
	r = sfPostForm(t, b, "/account/security/totp/confirm", url.Values{"csrf_token": {csrf}, "code": {enrolCode}})
	expectStatus(t, r, http.StatusOK)
	if !hasSetCookie(r, cookieName) {
		t.Fatal("confirming the first code did not step the session up (no new cookie)")
	}
	codes := codeRE.FindAllStringSubmatch(string(r.body), -1)
	if len(codes) != mfa.RecoveryCodes {
		t.Fatalf("%d recovery codes shown, want %d", len(codes), mfa.RecoveryCodes)
	}
	r = auth(t, b, "?factor=2")
	expectStatus(t, r, http.StatusOK)
	if got := r.Header.Get("X-Auth-AMR"); got != "pwd,otp" {
		t.Fatalf("X-Auth-AMR = %q, want pwd,otp", got)
	}

	// max_age: a second factor older than it is not enough.
	e.clock.Advance(11 * time.Minute)
	expectStatus(t, auth(t, b, "?factor=2&max_age=10m"), http.StatusUnauthorized)
	expectStatus(t, auth(t, b, "?factor=2"), http.StatusOK)
	expectStatus(t, auth(t, b, "?factor=3"), http.StatusBadRequest)
	expectStatus(t, auth(t, b, "?max_age=10m"), http.StatusBadRequest)
	// Step-up at the hub: the page asks for the code, the session gets a
	// fresh factor under a new id.
	r = do(t, b, req{url: hub + "/login/factor?rd=" + url.QueryEscape("https://app.example.test/x")})
	expectStatus(t, r, http.StatusOK)
	tok := find(t, formTokenRE, r)
	stepCode := e.code(t, secret)
	r = sfPostForm(t, b, "/login/factor", url.Values{"form_token": {tok}, "code": {stepCode}, "rd": {"https://app.example.test/x"}})
	expectStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "https://app.example.test/x" || !hasSetCookie(r, cookieName) {
		t.Fatalf("step-up: Location %q, cookies %q", loc, r.Header.Values("Set-Cookie"))
	}
	r = auth(t, b, "?factor=2&max_age=10m")
	expectStatus(t, r, http.StatusOK)

	// A new browser: password, then no session until the code.
	b2, _ := e.browser()
	r = sfFormLogin(t, b2, "alice")
	expectStatus(t, r, http.StatusSeeOther)
	if r.Header.Get("Location") != "/login/factor" || hasSetCookie(r, cookieName) || !hasSetCookie(r, "sso_pending") {
		t.Fatalf("first factor of an enrolled user: Location %q, cookies %q", r.Header.Get("Location"), r.Header.Values("Set-Cookie"))
	}
	expectStatus(t, auth(t, b2, ""), http.StatusUnauthorized)
	r = do(t, b2, req{url: hub + "/login/factor"})
	expectStatus(t, r, http.StatusOK)
	tok = find(t, formTokenRE, r)
	// The code of the step-up, again: refused (same time step).
	r = sfPostForm(t, b2, "/login/factor", url.Values{"form_token": {tok}, "code": {stepCode}})
	expectStatus(t, r, http.StatusUnauthorized)
	tok = find(t, formTokenRE, r) // each page has a fresh token
	expectStatus(t, auth(t, b2, ""), http.StatusUnauthorized)
	e.clock.Advance(30 * time.Second)
	r = sfPostForm(t, b2, "/login/factor", url.Values{"form_token": {tok}, "code": {e.code(t, secret)}})
	expectStatus(t, r, http.StatusSeeOther)
	r = auth(t, b2, "?factor=2&max_age=1m")
	expectStatus(t, r, http.StatusOK)
	if got := r.Header.Get("X-Auth-AMR"); got != "pwd,otp" {
		t.Fatalf("X-Auth-AMR = %q after a login with a code", got)
	}

	// A recovery code works once.
	rc := codes[3][1]
	for i, want := range []int{http.StatusSeeOther, http.StatusUnauthorized} {
		b3, _ := e.browser()
		sfFormLogin(t, b3, "alice")
		r = do(t, b3, req{url: hub + "/login/factor"})
		r = sfPostForm(t, b3, "/login/factor", url.Values{"form_token": {find(t, formTokenRE, r)}, "code": {rc}})
		if r.StatusCode != want {
			t.Fatalf("recovery code use %d: %d, want %d", i+1, r.StatusCode, want)
		}
	}

	// Scripts: an account with a second factor does not log in by API.
	r = do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: `{"username":"alice","password":"` + password + `"}`})
	expectStatus(t, r, http.StatusUnauthorized)
	if !strings.Contains(string(r.body), "second_factor_required") {
		t.Fatalf("API login: %s", r.body)
	}

	want := []login.EventKind{login.EventEnrolled} // TOTP
	if got := ev.kinds("totp"); !slices.Contains(got, login.EventEnrolled) || !slices.Contains(got, login.EventSecondSucceeded) || !slices.Contains(got, login.EventSecondFailed) {
		t.Errorf("totp events %v, want %v, succeeded and failed among them", got, want)
	}
	if got := ev.kinds("replay"); len(got) != 1 {
		t.Errorf("replay events %v, want one", got)
	}
	if got := ev.kinds("recovery"); !slices.Contains(got, login.EventSecondSucceeded) || !slices.Contains(got, login.EventSecondFailed) || !slices.Contains(got, login.EventEnrolled) {
		t.Errorf("recovery events %v", got)
	}

	// Removal needs the second factor (b2 has it), and is audited.
	r = do(t, b2, req{url: hub + "/account/security"})
	expectStatus(t, r, http.StatusOK)
	r = sfPostForm(t, b2, "/account/security/totp/remove", url.Values{"csrf_token": {find(t, csrfRE, r)}})
	expectStatus(t, r, http.StatusSeeOther)
	if got := ev.kinds("totp"); got[len(got)-1] != login.EventRemoved {
		t.Errorf("last totp event %v, want removed", got)
	}

	// The same, as JSON audit events: one of each kind, a replay named
	// as such, and no secret, code or recovery code in the log.
	seen := map[string]bool{}
	for _, a := range auditEvents(t, logs) {
		name, _ := a["event"].(string)
		seen[name+"/"+fmt.Sprint(a["outcome"])] = true
		if strings.HasPrefix(name, "second_factor_") && a["user"] != "alice" {
			t.Errorf("%s event without the user: %v", name, a)
		}
		// docs/audit.md: user_agent is a common field, second factors too.
		if strings.HasPrefix(name, "second_factor_") && a["user_agent"] != goUA {
			t.Errorf("%s event: user_agent %v, want %q: %v", name, a["user_agent"], goUA, a)
		}
	}
	for _, want := range []string{"second_factor_enrolled/ok", "second_factor_succeeded/ok", "second_factor_failed/replay", "second_factor_removed/ok"} {
		if !seen[want] {
			t.Errorf("no %s audit event; saw %v", want, seen)
		}
	}
	noSecrets(t, logs, map[string]string{"TOTP secret": secret, "first code": enrolCode, "recovery code": rc})
}

// goUA is the summary of the test client's User-Agent (Go-http-client/1.1).
var goUA = session.UserAgentSummary("Go-http-client/1.1")

// TestSecondFactorRegulated: wrong codes count like wrong passwords.
func TestSecondFactorRegulated(t *testing.T) {
	ev := &events{}
	e := newMFAEnv(t, ev)
	b, _ := e.browser()
	sfFormLogin(t, b, "alice")
	r := do(t, b, req{url: hub + "/account/security"})
	csrf := find(t, csrfRE, r)
	r = sfPostForm(t, b, "/account/security/totp", url.Values{"csrf_token": {csrf}})
	secret := find(t, secretRE, r)
	expectStatus(t, sfPostForm(t, b, "/account/security/totp/confirm", url.Values{"csrf_token": {csrf}, "code": {e.code(t, secret)}}), http.StatusOK)

	b2, _ := e.browser()
	sfFormLogin(t, b2, "alice")
	r = do(t, b2, req{url: hub + "/login/factor"})
	tok := find(t, formTokenRE, r)
	good := e.code(t, secret)
	wrong := "123456"
	if good == wrong {
		wrong = "654321"
	}
	for range 3 {
		r = sfPostForm(t, b2, "/login/factor", url.Values{"form_token": {tok}, "code": {wrong}})
		expectStatus(t, r, http.StatusUnauthorized)
		tok = find(t, formTokenRE, r)
	}
	// Banned: even the right code is refused now, with Retry-After.
	r = sfPostForm(t, b2, "/login/factor", url.Values{"form_token": {tok}, "code": {good}})
	expectStatus(t, r, http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	expectStatus(t, auth(t, b2, ""), http.StatusUnauthorized)
}

// TestRequiredGroupEnrols: a member of SSO_MFA_REQUIRED_GROUPS without a
// second factor sets one up during sign-in; others sign in as before.
func TestRequiredGroupEnrols(t *testing.T) {
	ev := &events{}
	e := newMFAEnv(t, ev, "admins")
	bob, _ := e.browser()
	r := sfFormLogin(t, bob, "bob")
	if r.Header.Get("Location") != "/" || !hasSetCookie(r, cookieName) {
		t.Fatalf("bob (no required group): Location %q", r.Header.Get("Location"))
	}
	b, _ := e.browser()
	r = sfFormLogin(t, b, "alice")
	if r.Header.Get("Location") != "/login/factor" || hasSetCookie(r, cookieName) {
		t.Fatalf("alice (admins): Location %q, cookies %q", r.Header.Get("Location"), r.Header.Values("Set-Cookie"))
	}
	r = do(t, b, req{url: hub + "/login/factor"})
	expectStatus(t, r, http.StatusOK)
	secret := find(t, secretRE, r)
	tok := find(t, formTokenRE, r)
	r = sfPostForm(t, b, "/login/factor/enrol", url.Values{"form_token": {tok}, "code": {e.code(t, secret)}})
	expectStatus(t, r, http.StatusOK)
	if !hasSetCookie(r, cookieName) || len(codeRE.FindAllSubmatch(r.body, -1)) != mfa.RecoveryCodes {
		t.Fatalf("enrolment at sign-in: cookies %q, body %s", r.Header.Values("Set-Cookie"), r.body)
	}
	r = auth(t, b, "?factor=2")
	expectStatus(t, r, http.StatusOK)
	if got := r.Header.Get("X-Auth-AMR"); got != "pwd,otp" {
		t.Fatalf("X-Auth-AMR = %q", got)
	}
	// The pending login was used up with it.
	expectStatus(t, sfPostForm(t, b, "/login/factor/enrol", url.Values{"form_token": {tok}, "code": {e.code(t, secret)}}), http.StatusBadRequest)
}

// TestPasskeySecondFactor: register a passkey on the account page (with a
// software authenticator speaking the browser's JSON), step up with it,
// then sign in with password and passkey.
func TestPasskeySecondFactor(t *testing.T) {
	ev := &events{}
	e := newMFAEnv(t, ev)
	soft := softauthn.New(hub)
	b, _ := e.browser()
	sfFormLogin(t, b, "alice")
	r := do(t, b, req{url: hub + "/account/security"})
	expectStatus(t, r, http.StatusOK)
	csrf := find(t, csrfRE, r)
	js := do(t, b, req{url: hub + "/static/webauthn.js"})
	expectStatus(t, js, http.StatusOK)
	if !strings.HasPrefix(js.Header.Get("Content-Type"), "text/javascript") || !strings.Contains(string(js.body), "navigator.credentials.create") {
		t.Fatalf("webauthn.js: %q", js.Header.Get("Content-Type"))
	}

	// Registration: no CSRF token, no ceremony.
	expectStatus(t, do(t, b, req{method: "POST", url: hub + "/account/security/passkeys/begin"}), http.StatusForbidden)
	r = do(t, b, req{method: "POST", url: hub + "/account/security/passkeys/begin", headers: map[string]string{"X-CSRF-Token": csrf}})
	expectStatus(t, r, http.StatusOK)
	var creation protocol.CredentialCreation
	r.json(t, &creation)
	// User.ID is an any: JSON gives a string, the authenticator wants bytes.
	if id, ok := creation.Response.User.ID.(string); ok {
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil {
			t.Fatal(err)
		}
		creation.Response.User.ID = protocol.URLEncodedBase64(raw)
	}
	if creation.Response.RelyingParty.ID != "example.test" {
		t.Fatalf("relying party id %q, want the cookie domain", creation.Response.RelyingParty.ID)
	}
	body, err := soft.Register(&creation)
	if err != nil {
		t.Fatal(err)
	}
	r = do(t, b, req{method: "POST", url: hub + "/account/security/passkeys/finish?name=laptop", body: string(body), headers: map[string]string{"X-CSRF-Token": csrf}})
	expectStatus(t, r, http.StatusOK)
	if got := ev.kinds("passkey"); !slices.Equal(got, []login.EventKind{login.EventEnrolled}) {
		t.Fatalf("passkey events %v", got)
	}

	// Step-up with it.
	expectStatus(t, auth(t, b, "?factor=2"), http.StatusUnauthorized)
	r = do(t, b, req{url: hub + "/login/factor"})
	expectStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), `id="passkey"`) || !strings.Contains(r.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("factor page offers no passkey: %s", r.body)
	}
	tok := find(t, regexp.MustCompile(`data-token="([^"]+)"`), r)
	assertion := func(c *http.Client, tok string) []byte {
		t.Helper()
		r := do(t, c, req{method: "POST", url: hub + "/login/factor/passkey/begin", headers: map[string]string{"X-SSO-Form-Token": tok}})
		expectStatus(t, r, http.StatusOK)
		var a protocol.CredentialAssertion
		r.json(t, &a)
		body, err := soft.Assert(&a)
		if err != nil {
			t.Fatal(err)
		}
		return body
	}
	expectStatus(t, do(t, b, req{method: "POST", url: hub + "/login/factor/passkey/begin"}), http.StatusForbidden)
	answer := assertion(b, tok)
	r = do(t, b, req{method: "POST", url: hub + "/login/factor/passkey/finish?rd=%2Fnext", body: string(answer), headers: map[string]string{"X-SSO-Form-Token": tok}})
	expectStatus(t, r, http.StatusOK)
	var out struct{ Redirect string }
	r.json(t, &out)
	if out.Redirect != "/next" || !hasSetCookie(r, cookieName) {
		t.Fatalf("passkey step-up: %s, cookies %q", r.body, r.Header.Values("Set-Cookie"))
	}
	r = auth(t, b, "?factor=2")
	expectStatus(t, r, http.StatusOK)
	if got := r.Header.Get("X-Auth-AMR"); got != "pwd,hwk" {
		t.Fatalf("X-Auth-AMR = %q, want pwd,hwk", got)
	}
	// The same answer again: its ceremony is gone (400, not a counted failure).
	r = do(t, b, req{method: "POST", url: hub + "/login/factor/passkey/finish", body: string(answer), headers: map[string]string{"X-SSO-Form-Token": tok}})
	expectStatus(t, r, http.StatusBadRequest)

	// A new browser: password, then the passkey mints the session.
	b2, _ := e.browser()
	r = sfFormLogin(t, b2, "alice")
	if r.Header.Get("Location") != "/login/factor" || hasSetCookie(r, cookieName) {
		t.Fatalf("login of a user with a passkey: %q", r.Header.Get("Location"))
	}
	r = do(t, b2, req{url: hub + "/login/factor"})
	tok = find(t, regexp.MustCompile(`data-token="([^"]+)"`), r)
	r = do(t, b2, req{method: "POST", url: hub + "/login/factor/passkey/finish", body: string(assertion(b2, tok)), headers: map[string]string{"X-SSO-Form-Token": tok}})
	expectStatus(t, r, http.StatusOK)
	r = auth(t, b2, "?factor=2&max_age=1m")
	expectStatus(t, r, http.StatusOK)
	if got := r.Header.Get("X-Auth-AMR"); got != "pwd,hwk" {
		t.Fatalf("X-Auth-AMR = %q after a passkey login", got)
	}
	if got := ev.kinds("passkey"); !slices.Equal(got, []login.EventKind{login.EventEnrolled, login.EventSecondSucceeded, login.EventSecondSucceeded}) {
		t.Errorf("passkey events %v", got)
	}
}

// TestRequiredGroupEnrolsPasskey: the enrolment at sign-in may be a
// passkey instead of an authenticator app.
func TestRequiredGroupEnrolsPasskey(t *testing.T) {
	ev := &events{}
	e := newMFAEnv(t, ev, "admins")
	b, _ := e.browser()
	sfFormLogin(t, b, "alice")
	r := do(t, b, req{url: hub + "/login/factor"})
	expectStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), `id="passkey-enrol"`) {
		t.Fatalf("enrolment page offers no passkey: %s", r.body)
	}
	tok := find(t, regexp.MustCompile(`data-token="([^"]+)"`), r)
	hdr := map[string]string{"X-SSO-Form-Token": tok}
	expectStatus(t, do(t, b, req{method: "POST", url: hub + "/login/factor/passkey/register/begin"}), http.StatusForbidden)
	r = do(t, b, req{method: "POST", url: hub + "/login/factor/passkey/register/begin", headers: hdr})
	expectStatus(t, r, http.StatusOK)
	var creation protocol.CredentialCreation
	r.json(t, &creation)
	if id, ok := creation.Response.User.ID.(string); ok {
		raw, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil {
			t.Fatal(err)
		}
		creation.Response.User.ID = protocol.URLEncodedBase64(raw)
	}
	body, err := softauthn.New(hub).Register(&creation)
	if err != nil {
		t.Fatal(err)
	}
	r = do(t, b, req{method: "POST", url: hub + "/login/factor/passkey/register/finish", body: string(body), headers: hdr})
	expectStatus(t, r, http.StatusOK)
	if !hasSetCookie(r, cookieName) {
		t.Fatalf("no session after enrolling a passkey: %q", r.Header.Values("Set-Cookie"))
	}
	r = auth(t, b, "?factor=2")
	expectStatus(t, r, http.StatusOK)
	if got := r.Header.Get("X-Auth-AMR"); got != "pwd,hwk" {
		t.Fatalf("X-Auth-AMR = %q, want pwd,hwk", got)
	}
	if got := ev.kinds("passkey"); !slices.Equal(got, []login.EventKind{login.EventSecondSucceeded, login.EventEnrolled}) {
		t.Errorf("passkey events %v", got)
	}
}
