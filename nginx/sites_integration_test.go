package nginx_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/example/sso/nginx"
	"github.com/example/sso/nginx/nginxtest"
)

// RenderSites' output passes nginx -t (nginxtest.Start runs it) and serves:
// each site reaches its own upstream, a group site and a location that sets
// $sso_auth_query hand their groups to /auth, the others none, and the hub
// goes to sso.
func TestSitesIntegration(t *testing.T) {
	auth, api, admin := &seen{}, &seen{}, &seen{}
	ssoTS := httptest.NewServer(fakeSSO("https://login.example.test", nginxtest.DefaultCookieName, auth))
	t.Cleanup(ssoTS.Close)
	apiTS := httptest.NewServer(echoAPI(api))
	t.Cleanup(apiTS.Close)
	adminTS := httptest.NewServer(echoAPI(admin))
	t.Cleanup(adminTS.Close)

	appDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(appDir, "index.html"), []byte("<!doctype html><title>static app</title>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := nginxtest.Start(t, nginxtest.Options{
		Sites: &nginx.SitesConfig{
			SSOUpstream: ssoTS.Listener.Addr().String(),
			Sites: []nginx.Site{
				{Name: "api", Upstream: "http://" + apiTS.Listener.Addr().String()},
				{Name: "admin", Upstream: "http://" + adminTS.Listener.Addr().String(), Groups: []string{"admins", "ops"}},
				{Name: "app", Upstream: appDir},
			},
		},
		// A hand-written server that restricts one location, as
		// nginx/README.md documents.
		ExtraHTTP: `server {
    listen ${LISTEN_ADDR}:${HTTPS_PORT} ssl;
    server_name ops.example.test;
    include snippets/sso-protect.conf;
    location / { proxy_pass http://sso_site_api; }
    location /ops/ {
        set $sso_auth_query "?group=ops";
        proxy_pass http://sso_site_api;
    }
}`,
	})
	c := srv.Client()
	get := func(id, rawURL, cookie string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, rawURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Test-ID", id)
		if cookie != "" {
			req.Header.Set("Cookie", nginxtest.DefaultCookieName+"="+cookie)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", rawURL, err)
		}
		resp.Body.Close()
		return resp
	}

	for _, tc := range []struct {
		id, url string
		up      *seen  // the upstream that must see it
		query   string // what /auth must be asked with
	}{
		{"api", srv.URL("api", "/items/1"), api, ""},
		{"admin", srv.URL("admin", "/dash"), admin, "?group=admins&group=ops"},
		{"ops-open", srv.URL("ops", "/x"), api, ""},
		{"ops-restricted", srv.URL("ops", "/ops/y"), api, "?group=ops"},
	} {
		resp := get(tc.id, tc.url, "good")
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: GET %s = %d, want 200", tc.id, tc.url, resp.StatusCode)
		}
		got := auth.get(tc.id)
		if len(got) != 1 || got[0].Path != "/auth"+tc.query {
			t.Errorf("%s: /auth asked as %+v, want one request for /auth%s", tc.id, got, tc.query)
		}
		ups := tc.up.get(tc.id)
		if len(ups) != 1 || ups[0].Header.Get("X-Auth-User") != "alice" {
			t.Errorf("%s: upstream saw %+v, want one request with X-Auth-User alice", tc.id, ups)
		}
		// Without a session: refused before the upstream.
		if resp := get(tc.id+"-anon", tc.url, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: anonymous GET = %d, want 401", tc.id, resp.StatusCode)
		}
		if n := len(tc.up.get(tc.id + "-anon")); n != 0 {
			t.Errorf("%s: anonymous request reached the upstream %d times", tc.id, n)
		}
	}
	if n := len(admin.get("api")) + len(api.get("admin")); n != 0 {
		t.Errorf("a site's request reached another site's upstream (%d)", n)
	}
	if resp := get("app", srv.URL("app", "/"), "good"); resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("static app: %d %s, want 200 text/html", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// "/" is asked about twice: nginx's index redirect runs the access
	// phase again.
	for _, r := range auth.get("app") {
		if r.Path != "/auth" {
			t.Errorf("static app: /auth asked as %s", r.Path)
		}
	}
	if resp := get("hub", srv.URL("login", "/login"), ""); resp.StatusCode != http.StatusOK {
		t.Errorf("hub: %d, want 200 from sso", resp.StatusCode)
	}
	if got := auth.get("hub"); len(got) != 1 || got[0].Path != "/login" || got[0].Header.Get("X-Forwarded-Host") == "" {
		t.Errorf("hub: sso saw %+v, want /login with X-Forwarded-Host", got)
	}
}
