package federation

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sso/internal/testoidc"
)

// hub is a stand-in for the login hub's adapter: /start/{id} and
// /oauth2/callback/{id} around a Federation, over TLS so that the
// __Host- cookie is the one in play.
type hub struct {
	srv *httptest.Server
	mu  sync.Mutex
	f   *Federation
}

type result struct {
	Status   int      `json:"status"`
	Error    string   `json:"error"`
	Reason   string   `json:"reason"`
	User     string   `json:"user"`
	Email    string   `json:"email"`
	Groups   []string `json:"groups"`
	Provider string   `json:"provider"`
	RD       string   `json:"rd"`
	Subject  string   `json:"sub"`
	Refresh  string   `json:"refresh"` // test only: a real adapter never shows it
	AMR      []string `json:"amr"`
	AuthTime int64    `json:"auth_time"`
}

func (r result) identity() Identity {
	return Identity{User: r.User, Email: r.Email, Groups: r.Groups, Provider: r.Provider, Subject: r.Subject, RefreshToken: r.Refresh}
}

func newHub(t *testing.T) *hub {
	h := &hub{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /start/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := h.fed().Start(w, r, r.PathValue("id"), r.FormValue("rd")); err != nil {
			w.WriteHeader(Status(err))
			_ = json.NewEncoder(w).Encode(result{Status: Status(err), Error: err.Error()})
		}
	})
	mux.HandleFunc("GET /oauth2/callback/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, rd, err := h.fed().Callback(w, r, r.PathValue("id"))
		res := result{Status: Status(err), User: id.User, Email: id.Email, Groups: id.Groups, Provider: id.Provider, RD: rd, Subject: id.Subject, Refresh: id.RefreshToken, AMR: id.AMR}
		if !id.AuthTime.IsZero() {
			res.AuthTime = id.AuthTime.Unix()
		}
		if err != nil {
			res.Error = err.Error()
			var d *DeniedError
			if errors.As(err, &d) {
				res.Reason = d.Reason
			}
		}
		w.WriteHeader(res.Status)
		_ = json.NewEncoder(w).Encode(res)
	})
	h.srv = httptest.NewTLSServer(mux)
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hub) fed() *Federation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.f
}

func (h *hub) set(f *Federation) {
	h.mu.Lock()
	h.f = f
	h.mu.Unlock()
}

// browser is an http.Client with a cookie jar that trusts the hub's
// certificate and follows every redirect except those to the hub, so a
// test sees the provider's redirect to the callback and decides what to do
// with it.
func (h *hub) browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := h.srv.Client()
	c.Jar = jar
	c.Timeout = 30 * time.Second
	hubHost := strings.TrimPrefix(h.srv.URL, "https://")
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host == hubHost || len(via) > 10 {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return c
}

func (h *hub) callbackURL(id string) string { return h.srv.URL + "/oauth2/callback/" + id }

var testKey = []byte("0123456789abcdef0123456789abcdef")

var flowUsers = []testoidc.User{
	{ID: "u1", Username: "alice", Password: "alice-pw", Email: "Alice@Example.com", EmailVerified: true, Groups: []string{"staff", "dev"}},
	{ID: "u2", Username: "mallory", Password: "mallory-pw", Email: "mallory@example.com", EmailVerified: false, Groups: []string{"staff"}},
	{ID: "u3", Username: "eve", Password: "eve-pw", Email: "eve@elsewhere.org", EmailVerified: true, Groups: []string{"staff"}},
	{ID: "u4", Username: "bob", Password: "bob-pw", Email: "bob@example.com", EmailVerified: true, Groups: []string{"guests"}},
	{ID: "u5", Username: "carol", Password: "carol-pw", Email: "carol@example.com", EmailVerified: true, Groups: []string{"staff"}, AMR: []string{"pwd", "otp"}},
}

type env struct {
	hub *hub
	idp *testoidc.Server
}

func setup(t *testing.T) *env {
	t.Helper()
	h := newHub(t)
	idp := testoidc.Start(t, testoidc.Options{Users: flowUsers, RedirectURIs: []string{h.callbackURL("web"), h.callbackURL("idc")}})
	t.Logf("provider binary ready in %v", testoidc.BuildTime())
	return &env{hub: h, idp: idp}
}

// provider is the "web" provider (claims from userinfo) admitting
// example.com addresses in group staff.
func (e *env) provider(id string) Provider {
	client := testoidc.ClientUserinfo
	if id == "idc" {
		client = testoidc.ClientIDClaims
	}
	return Provider{ID: id, Name: "Test IdP", Issuer: e.idp.Issuer, ClientID: client, ClientSecret: testoidc.Secret,
		RedirectURL: e.hub.callbackURL(id), AllowedEmailDomains: []string{"example.com"}, AllowedGroups: []string{"staff"}}
}

func (e *env) federation(t *testing.T, ps ...Provider) *Federation {
	t.Helper()
	f, err := New(Options{Providers: ps, Keys: [][]byte{testKey}, Secure: true,
		AllowRedirect:    func(h string) bool { return h == "app.example.com" },
		DiscoveryTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.hub.set(f)
	return f
}

// toCallback starts a sign-in at the hub and logs in at the provider's own
// page; it returns the provider's redirect to the hub's callback, not yet
// followed.
func (e *env) toCallback(t *testing.T, c *http.Client, id, user, password, rd string) *url.URL {
	t.Helper()
	page, err := c.Get(e.hub.srv.URL + "/start/" + id + "?rd=" + url.QueryEscape(rd))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(page.Request.URL.String(), e.idp.Issuer) {
		t.Fatalf("start landed on %s (status %d), want the provider's login page", page.Request.URL, page.StatusCode)
	}
	resp := testoidc.SubmitLogin(t, c, page, user, password)
	resp.Body.Close()
	loc, err := resp.Location()
	if resp.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), e.hub.callbackURL(id)+"?") {
		t.Fatalf("after login: status %d, Location %v (%v); want 302 to the hub's callback", resp.StatusCode, loc, err)
	}
	return loc
}

func get(t *testing.T, c *http.Client, u string) result {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r result
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("GET %s: status %d, undecodable body: %v", u, resp.StatusCode, err)
	}
	if r.Status != resp.StatusCode {
		t.Fatalf("GET %s: status %d, body says %d", u, resp.StatusCode, r.Status)
	}
	return r
}

func TestFlow(t *testing.T) {
	e := setup(t)
	e.federation(t, e.provider("web"), e.provider("idc"))

	for _, id := range []string{"web", "idc"} {
		t.Run(id, func(t *testing.T) {
			c := e.hub.browser(t)
			cb := e.toCallback(t, c, id, "alice", "alice-pw", "https://app.example.com/page?x=1")
			r := get(t, c, cb.String())
			if r.Status != http.StatusOK {
				t.Fatalf("callback: %+v", r)
			}
			want := result{Status: 200, User: "alice", Email: "alice@example.com", Groups: []string{"staff", "dev"}, Provider: id, RD: "https://app.example.com/page?x=1"}
			if r.User != want.User || r.Email != want.Email || !slices.Equal(r.Groups, want.Groups) || r.Provider != want.Provider || r.RD != want.RD {
				t.Errorf("callback = %+v, want %+v", r, want)
			}
			// The state cookie is gone: the same callback again is ErrState.
			if r := get(t, c, cb.String()); r.Status != http.StatusBadRequest || !strings.Contains(r.Error, "invalid sign-in state") {
				t.Errorf("replayed callback = %+v, want 400 invalid state", r)
			}
		})
	}
}

func TestRedirectRefusedIsDropped(t *testing.T) {
	e := setup(t)
	e.federation(t, e.provider("web"))
	c := e.hub.browser(t)
	cb := e.toCallback(t, c, "web", "alice", "alice-pw", "https://evil.example.net/")
	if r := get(t, c, cb.String()); r.Status != 200 || r.RD != "" {
		t.Errorf("callback = %+v, want 200 with rd dropped", r)
	}
}

func TestDenied(t *testing.T) {
	e := setup(t)
	base := e.provider("web")
	domainOnly := base
	domainOnly.AllowedGroups = nil
	groupsOnly := base
	groupsOnly.AllowedEmailDomains = nil
	unverifiedOK := base
	unverifiedOK.AllowUnverifiedEmail = true
	for _, tc := range []struct {
		name, user string
		p          Provider
		status     int
		reason     string
	}{
		{"unverified email", "mallory", base, 403, "not verified"},
		{"unverified email allowed", "mallory", unverifiedOK, 200, ""},
		{"domain outside", "eve", domainOnly, 403, "e-mail domain"},
		{"domain outside, groups only", "eve", groupsOnly, 200, ""},
		{"group outside", "bob", groupsOnly, 403, "none of the groups"},
		{"group outside, domain only", "bob", domainOnly, 200, ""},
		{"both lists: domain fails", "eve", base, 403, "e-mail domain"},
		{"both lists: group fails", "bob", base, 403, "none of the groups"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.federation(t, tc.p)
			c := e.hub.browser(t)
			pw := map[string]string{"mallory": "mallory-pw", "eve": "eve-pw", "bob": "bob-pw"}[tc.user]
			r := get(t, c, e.toCallback(t, c, "web", tc.user, pw, "").String())
			if r.Status != tc.status || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("callback = %+v, want %d with reason containing %q", r, tc.status, tc.reason)
			}
			if r.Status != 200 && r.User != "" {
				t.Errorf("refusal carries an identity: %+v", r)
			}
		})
	}
}

func TestTamperedState(t *testing.T) {
	e := setup(t)
	e.federation(t, e.provider("web"), e.provider("idc"))
	hubURL, _ := url.Parse(e.hub.srv.URL)

	t.Run("state parameter", func(t *testing.T) {
		c := e.hub.browser(t)
		cb := e.toCallback(t, c, "web", "alice", "alice-pw", "")
		q := cb.Query()
		q.Set("state", q.Get("state")+"x")
		cb.RawQuery = q.Encode()
		if r := get(t, c, cb.String()); r.Status != 400 || !strings.Contains(r.Error, "does not match") {
			t.Errorf("callback = %+v, want 400 state mismatch", r)
		}
	})
	t.Run("another browser", func(t *testing.T) {
		// A sibling site or attacker hands the victim a callback URL of
		// the attacker's own flow: the victim's browser has no cookie.
		c := e.hub.browser(t)
		cb := e.toCallback(t, c, "web", "alice", "alice-pw", "")
		victim := e.hub.browser(t)
		if r := get(t, victim, cb.String()); r.Status != 400 || !strings.Contains(r.Error, "no __Host-sso_oidc_web cookie") {
			t.Errorf("callback = %+v, want 400 no cookie", r)
		}
		// Nor does the victim's own flow's cookie open the attacker's state.
		e.toCallback(t, victim, "web", "bob", "bob-pw", "") // leaves the victim a cookie
		if r := get(t, victim, cb.String()); r.Status != 400 || !strings.Contains(r.Error, "does not match") {
			t.Errorf("callback with the victim's own cookie = %+v, want 400 state mismatch", r)
		}
	})
	t.Run("forged cookie", func(t *testing.T) {
		c := e.hub.browser(t)
		cb := e.toCallback(t, c, "web", "alice", "alice-pw", "")
		other, err := New(Options{Providers: []Provider{e.provider("web")}, Keys: [][]byte{[]byte(strings.Repeat("k", 32))}, Secure: true})
		if err != nil {
			t.Fatal(err)
		}
		forged, err := other.seal.seal("web", flowState{State: cb.Query().Get("state"), Nonce: "n", Verifier: "v", Expires: time.Now().Add(time.Minute).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		c.Jar.SetCookies(hubURL, []*http.Cookie{{Name: "__Host-sso_oidc_web", Value: forged, Path: "/", Secure: true}})
		if r := get(t, c, cb.String()); r.Status != 400 || !strings.Contains(r.Error, "does not open") {
			t.Errorf("callback = %+v, want 400 forged cookie", r)
		}
	})
	t.Run("other provider's cookie", func(t *testing.T) {
		// The cookie of a flow at idc, renamed to web's: bound to idc.
		c := e.hub.browser(t)
		cb := e.toCallback(t, c, "idc", "alice", "alice-pw", "")
		var val string
		for _, ck := range c.Jar.Cookies(hubURL) {
			if ck.Name == "__Host-sso_oidc_idc" {
				val = ck.Value
			}
		}
		c.Jar.SetCookies(hubURL, []*http.Cookie{{Name: "__Host-sso_oidc_web", Value: val, Path: "/", Secure: true}})
		cbWeb := *cb
		cbWeb.Path = "/oauth2/callback/web"
		if r := get(t, c, cbWeb.String()); r.Status != 400 || !strings.Contains(r.Error, "does not open") {
			t.Errorf("callback = %+v, want 400", r)
		}
	})
}

// cookieOf returns the hub cookie name in c's jar.
func cookieOf(t *testing.T, c *http.Client, hubURL *url.URL, name string) string {
	for _, ck := range c.Jar.Cookies(hubURL) {
		if ck.Name == name {
			return ck.Value
		}
	}
	t.Fatalf("no %s cookie in the jar", name)
	return ""
}

func TestReplayedCode(t *testing.T) {
	e := setup(t)
	f := e.federation(t, e.provider("web"))
	hubURL, _ := url.Parse(e.hub.srv.URL)

	t.Run("same request again", func(t *testing.T) {
		// An attacker who captured the whole callback request, cookie
		// included, replays it after the browser used it: the code is spent.
		c := e.hub.browser(t)
		cb := e.toCallback(t, c, "web", "alice", "alice-pw", "")
		saved := cookieOf(t, c, hubURL, "__Host-sso_oidc_web")
		if r := get(t, c, cb.String()); r.Status != 200 {
			t.Fatalf("first callback = %+v", r)
		}
		c.Jar.SetCookies(hubURL, []*http.Cookie{{Name: "__Host-sso_oidc_web", Value: saved, Path: "/", Secure: true}})
		if r := get(t, c, cb.String()); r.Status != 400 || !strings.Contains(r.Error, "refused the code") {
			t.Errorf("replayed callback = %+v, want 400 code refused", r)
		}
	})
	t.Run("code into another flow", func(t *testing.T) {
		// A stolen code injected into the attacker's own flow (own state
		// and cookie): the PKCE verifier does not match, the provider refuses.
		victim := e.hub.browser(t)
		stolen := e.toCallback(t, victim, "web", "alice", "alice-pw", "")
		attacker := e.hub.browser(t)
		own := e.toCallback(t, attacker, "web", "bob", "bob-pw", "")
		q := own.Query()
		q.Set("code", stolen.Query().Get("code"))
		own.RawQuery = q.Encode()
		if r := get(t, attacker, own.String()); r.Status != 400 || !strings.Contains(r.Error, "refused the code") {
			t.Errorf("callback = %+v, want 400 code refused", r)
		}
	})
	t.Run("wrong nonce", func(t *testing.T) {
		c := e.hub.browser(t)
		cb := e.toCallback(t, c, "web", "alice", "alice-pw", "")
		st, err := f.seal.open("web", cookieOf(t, c, hubURL, "__Host-sso_oidc_web"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		st.Nonce = "another-flows-nonce"
		v, err := f.seal.seal("web", st)
		if err != nil {
			t.Fatal(err)
		}
		c.Jar.SetCookies(hubURL, []*http.Cookie{{Name: "__Host-sso_oidc_web", Value: v, Path: "/", Secure: true}})
		if r := get(t, c, cb.String()); r.Status != 400 || !strings.Contains(r.Error, "nonce does not match") {
			t.Errorf("callback = %+v, want 400 nonce mismatch", r)
		}
	})
}

func TestIssuerDown(t *testing.T) {
	e := setup(t)

	t.Run("callback", func(t *testing.T) {
		e.federation(t, e.provider("web"))
		c := e.hub.browser(t)
		cb := e.toCallback(t, c, "web", "alice", "alice-pw", "")
		e.idp.Stop()
		start := time.Now()
		r := get(t, c, cb.String())
		if r.Status != http.StatusBadGateway || !strings.Contains(r.Error, "identity provider unavailable") || r.User != "" {
			t.Errorf("callback with the provider down = %+v, want 502 provider unavailable", r)
		}
		t.Logf("answered in %v", time.Since(start))
	})
	t.Run("start, then back", func(t *testing.T) {
		// A fresh hub (no discovery yet) with the provider down starts
		// fine; the sign-in gets 502 and the next one, once the provider is
		// back, works.
		e.federation(t, e.provider("web"))
		c := e.hub.browser(t)
		r := get(t, c, e.hub.srv.URL+"/start/web")
		if r.Status != http.StatusBadGateway || !strings.Contains(r.Error, "discovery") {
			t.Errorf("start with the provider down = %+v, want 502 discovery", r)
		}
		e.idp.Restart(t)
		cb := e.toCallback(t, c, "web", "alice", "alice-pw", "")
		if r := get(t, c, cb.String()); r.Status != 200 || r.User != "alice" {
			t.Errorf("callback after the provider came back = %+v, want 200 alice", r)
		}
	})
}

func TestUnknownProvider(t *testing.T) {
	e := setup(t)
	e.federation(t, e.provider("web"))
	c := e.hub.browser(t)
	if r := get(t, c, e.hub.srv.URL+"/start/nope"); r.Status != 404 {
		t.Errorf("start = %+v, want 404", r)
	}
	if r := get(t, c, e.hub.srv.URL+"/oauth2/callback/nope?code=x&state=y"); r.Status != 404 {
		t.Errorf("callback = %+v, want 404", r)
	}
}

func TestStartLongRD(t *testing.T) {
	e := setup(t)
	f := e.federation(t, e.provider("web"))
	for _, tc := range []struct {
		rd     string
		wantRD bool
	}{
		{"/" + strings.Repeat("a", 1500), true},
		{"/?" + strings.Repeat("<&>", 680), false}, // 2041 bytes, but JSON escapes each as \u00XX
	} {
		w := httptest.NewRecorder()
		if err := f.Start(w, httptest.NewRequest("GET", "/start/web", nil), "web", tc.rd); err != nil {
			t.Fatal(err)
		}
		ck := w.Result().Cookies()[0]
		st, err := f.seal.open("web", ck.Value, time.Now())
		if err != nil || len(ck.String()) > 4000 || (st.RD != "") != tc.wantRD {
			t.Errorf("rd of %d bytes: cookie of %d bytes, rd kept %v, %v; want kept %v", len(tc.rd), len(ck.String()), st.RD != "", err, tc.wantRD)
		}
	}
}

func TestStartCookieAndURL(t *testing.T) {
	e := setup(t)
	for _, secure := range []bool{true, false} {
		f, err := New(Options{Providers: []Provider{e.provider("web")}, Keys: [][]byte{testKey}, Secure: secure, StateTTL: 3 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		if err := f.Start(w, httptest.NewRequest("GET", "/start/web?rd=/x", nil), "web", "/x"); err != nil {
			t.Fatal(err)
		}
		resp := w.Result()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("secure=%v: status %d, Cache-Control %q", secure, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		cks := resp.Cookies()
		if len(cks) != 1 {
			t.Fatalf("secure=%v: cookies %v, want one", secure, cks)
		}
		ck := cks[0]
		wantName := map[bool]string{true: "__Host-sso_oidc_web", false: "sso_oidc_web"}[secure]
		if ck.Name != wantName || ck.Path != "/" || ck.Domain != "" || ck.Secure != secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.MaxAge != 180 {
			t.Errorf("secure=%v: cookie %+v", secure, ck)
		}
		st, err := f.seal.open("web", ck.Value, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		loc, err := resp.Location()
		if err != nil {
			t.Fatal(err)
		}
		q := loc.Query()
		if !strings.HasPrefix(loc.String(), e.idp.Issuer) || q.Get("state") != st.State || q.Get("nonce") != st.Nonce ||
			q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("code_challenge") == st.Verifier ||
			q.Get("client_id") != testoidc.ClientUserinfo || q.Get("redirect_uri") != e.hub.callbackURL("web") ||
			q.Get("response_type") != "code" || q.Get("scope") != "openid email profile" || st.RD != "/x" {
			t.Errorf("secure=%v: Location %s, state %+v", secure, loc, st)
		}
	}
}

func TestRecheck(t *testing.T) {
	e := setup(t)
	p := e.provider("web")
	p.Scopes = []string{"openid", "email", "profile", "offline_access"}
	f := e.federation(t, p)
	ctx := t.Context()

	signIn := func(t *testing.T) Identity {
		t.Helper()
		c := e.hub.browser(t)
		r := get(t, c, e.toCallback(t, c, "web", "alice", "alice-pw", "").String())
		if r.Status != 200 || r.Refresh == "" || r.Subject != "u1" {
			t.Fatalf("callback = %+v, want 200 with a refresh token and sub u1", r)
		}
		return r.identity()
	}

	t.Run("still allowed, token rotated", func(t *testing.T) {
		prev := signIn(t)
		now, err := f.Recheck(ctx, prev)
		if err != nil {
			t.Fatal(err)
		}
		if now.User != "alice" || now.Email != "alice@example.com" || !slices.Equal(now.Groups, []string{"staff", "dev"}) || now.RefreshToken == "" {
			t.Errorf("Recheck = %v", now)
		}
		if now.RefreshToken == prev.RefreshToken {
			t.Fatal("the provider rotates refresh tokens; Recheck kept the old one")
		}
		// The old token was rotated away: using it again is refused.
		if _, err := f.Recheck(ctx, prev); !errors.Is(err, ErrDenied) {
			t.Errorf("Recheck with the rotated-away token = %v, want ErrDenied", err)
		}
	})
	t.Run("grant revoked at the provider", func(t *testing.T) {
		prev := signIn(t)
		revoke(t, e.idp.Issuer, prev.RefreshToken)
		if _, err := f.Recheck(ctx, prev); !errors.Is(err, ErrDenied) || Status(err) != 403 {
			t.Errorf("Recheck after revocation = %v, want ErrDenied", err)
		}
	})
	t.Run("allow-list narrowed", func(t *testing.T) {
		prev := signIn(t)
		q := p
		q.AllowedGroups = []string{"ops"}
		g, err := New(Options{Providers: []Provider{q}, Keys: [][]byte{testKey}, Secure: true})
		if err != nil {
			t.Fatal(err)
		}
		var d *DeniedError
		if _, err := g.Recheck(ctx, prev); !errors.As(err, &d) || !strings.Contains(d.Reason, "none of the groups") {
			t.Errorf("Recheck with a narrower allow-list = %v, want a group denial", err)
		}
	})
	t.Run("no refresh token", func(t *testing.T) {
		if _, err := f.Recheck(ctx, Identity{Provider: "web", Subject: "u1"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Recheck without a token = %v, want ErrInvalid", err)
		}
	})
	t.Run("provider down", func(t *testing.T) {
		prev := signIn(t)
		e.idp.Stop()
		if _, err := f.Recheck(ctx, prev); !errors.Is(err, ErrProvider) || Status(err) != 502 {
			t.Errorf("Recheck with the provider down = %v, want ErrProvider", err)
		}
	})
}

// revoke revokes token at the provider's revocation endpoint (RFC 7009),
// as an administrator ending a user's grant would.
func revoke(t *testing.T, issuer, token string) {
	t.Helper()
	resp, err := http.Get(issuer + ".well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Revocation string `json:"revocation_endpoint"`
	}
	err = json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if err != nil || disc.Revocation == "" {
		t.Fatalf("no revocation endpoint: %v", err)
	}
	req, _ := http.NewRequest("POST", disc.Revocation, strings.NewReader(url.Values{"token": {token}, "token_type_hint": {"refresh_token"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testoidc.ClientUserinfo, testoidc.Secret)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: status %d", resp.StatusCode)
	}
}

func TestProviderError(t *testing.T) {
	// The user cancels at the provider, which redirects back with error=.
	e := setup(t)
	e.federation(t, e.provider("web"))
	for _, tc := range []struct{ code, want, notWant string }{
		{"access_denied", "the provider refused the sign-in (access_denied)", ""},
		{"<script>alert(1)</script>", "the provider refused the sign-in", "script"},
	} {
		c := e.hub.browser(t)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := c.Get(e.hub.srv.URL + "/start/web")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := resp.Location()
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{"state": {loc.Query().Get("state")}, "error": {tc.code}, "error_description": {"<b>nope</b>"}}
		r := get(t, c, e.hub.callbackURL("web")+"?"+q.Encode())
		if r.Status != 403 || r.Reason != tc.want && !strings.HasPrefix(r.Reason, tc.want) || tc.notWant != "" && strings.Contains(r.Reason, tc.notWant) || strings.Contains(r.Reason, "nope") {
			t.Errorf("error=%q: callback = %+v, want 403 %q", tc.code, r, tc.want)
		}
	}
}

func TestIssuerHangs(t *testing.T) {
	// A provider that accepts connections and never answers: discovery
	// gives up after DiscoveryTimeout, the sign-in gets 502, nothing hangs.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	p := Provider{ID: "slow", Issuer: "http://" + l.Addr().String() + "/", ClientID: "c", ClientSecret: "s",
		RedirectURL: "https://login.example.com/oauth2/callback/slow", AllowedGroups: []string{"g"}}
	f, err := New(Options{Providers: []Provider{p}, Keys: [][]byte{testKey}, Secure: true, DiscoveryTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	w := httptest.NewRecorder()
	err = f.Start(w, httptest.NewRequest("GET", "/start/slow", nil), "slow", "")
	took := time.Since(start)
	if !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "discovery") || Status(err) != 502 {
		t.Errorf("Start = %v, want ErrProvider from discovery", err)
	}
	if len(w.Result().Cookies()) != 0 || w.Code != 200 { // recorder default: nothing written
		t.Errorf("Start wrote status %d, cookies %v", w.Code, w.Result().Cookies())
	}
	// Generous bound for a loaded machine: the point is that it ends, far
	// below the HTTP client's 10s.
	if took > 8*time.Second {
		t.Errorf("Start took %v with DiscoveryTimeout 300ms", took)
	}
	t.Logf("gave up after %v", took)
}

// TestAMR: the ID token's amr and auth_time reach the Identity, with claims
// in the ID token or from userinfo alike (amr only ever from the ID
// token); a user whose provider sends another amr keeps working through a
// refresh.
func TestAMR(t *testing.T) {
	e := setup(t)
	web := e.provider("web")
	web.Scopes = []string{"openid", "email", "profile", "offline_access"}
	f := e.federation(t, web, e.provider("idc"))
	for _, tc := range []struct {
		id, user string
		amr      []string
	}{
		{"web", "alice", []string{"pwd"}}, // the example provider's own
		{"idc", "alice", []string{"pwd"}},
		{"web", "carol", []string{"pwd", "otp"}},
		{"idc", "carol", []string{"pwd", "otp"}},
	} {
		before := time.Now().Add(-time.Second).Unix()
		c := e.hub.browser(t)
		r := get(t, c, e.toCallback(t, c, tc.id, tc.user, tc.user+"-pw", "").String())
		if r.Status != 200 || !slices.Equal(r.AMR, tc.amr) {
			t.Fatalf("%s %s: callback = %+v, want amr %q", tc.id, tc.user, r, tc.amr)
		}
		if r.AuthTime < before || r.AuthTime > time.Now().Unix()+1 {
			t.Errorf("%s %s: auth_time %d, want about now (%d)", tc.id, tc.user, r.AuthTime, before)
		}
		if tc.id == "web" {
			if _, err := f.Recheck(t.Context(), r.identity()); err != nil {
				t.Errorf("%s: Recheck after a sign-in with amr %q: %v", tc.user, tc.amr, err)
			}
		}
	}
}
