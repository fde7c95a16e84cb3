package nginx_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/nginx"
)

func TestParseSite(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want nginx.Site
	}{
		{"api=http://127.0.0.1:9000", nginx.Site{Name: "api", Upstream: "http://127.0.0.1:9000"}},
		{"admin=http://10.0.0.5:8080?group=admins", nginx.Site{Name: "admin", Upstream: "http://10.0.0.5:8080", Groups: []string{"admins"}}},
		{"ops=http://ops:80?group=a&group=b", nginx.Site{Name: "ops", Upstream: "http://ops:80", Groups: []string{"a", "b"}}},
		{"app=/srv/app", nginx.Site{Name: "app", Upstream: "/srv/app"}},
		{"app=/srv/app?group=dev", nginx.Site{Name: "app", Upstream: "/srv/app", Groups: []string{"dev"}}},
		{"pay=http://pay:80?factor=2", nginx.Site{Name: "pay", Upstream: "http://pay:80", Factor: 2}},
		{"pay=http://pay:80?group=fin&factor=2&max_age=10m", nginx.Site{Name: "pay", Upstream: "http://pay:80", Groups: []string{"fin"}, Factor: 2, MaxAge: 10 * time.Minute}},
	} {
		got, err := nginx.ParseSite(tc.in)
		if err != nil || got.Name != tc.want.Name || got.Upstream != tc.want.Upstream || !slices.Equal(got.Groups, tc.want.Groups) || got.Factor != tc.want.Factor || got.MaxAge != tc.want.MaxAge {
			t.Errorf("ParseSite(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "api", "=http://x:1", "api=", "api=http://x:1?role=admins", "api=http://x:1?group=%zz", "api=http://x:1?factor=3", "api=http://x:1?factor=2&factor=2", "api=http://x:1?factor=2&max_age=soon"} {
		if got, err := nginx.ParseSite(in); err == nil {
			t.Errorf("ParseSite(%q) = %+v, want an error", in, got)
		}
	}
}

func sitesConfig() nginx.SitesConfig {
	return nginx.SitesConfig{
		Domain: "example.com", SSOUpstream: "127.0.0.1:8080",
		TLSCert: "/etc/ssl/sso/cert.pem", TLSKey: "/etc/ssl/sso/key.pem",
		Sites: []nginx.Site{
			{Name: "api", Upstream: "http://127.0.0.1:9000"},
			{Name: "admin", Upstream: "http://10.0.0.5:8080", Groups: []string{"ops", "admins", "ops"}},
			{Name: "app", Upstream: "/srv/app"},
		},
	}
}

func TestRenderSites(t *testing.T) {
	out, err := nginx.RenderSites(sitesConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out["sso-redirect.conf"]; ok {
		t.Errorf("HTTPPort 0 rendered a redirect server")
	}
	if !strings.Contains(out["sso-maps.conf"], `\Qsso_session\E=`) {
		t.Errorf("sso-maps.conf does not strip the default cookie name")
	}
	conf := out["sso-sites.conf"]
	for _, want := range []string{
		"server 127.0.0.1:8080;", "server 127.0.0.1:9000;", "server 10.0.0.5:8080;",
		"server_name login.example.com;", "server_name api.example.com;", "server_name admin.example.com;", "server_name app.example.com;",
		"listen 0.0.0.0:443 ssl;", "ssl_certificate     /etc/ssl/sso/cert.pem;", "root /srv/app;",
		`set $sso_auth_query "?group=admins&group=ops";`, // sorted, once each
		"proxy_pass http://sso_site_api;", "proxy_pass http://sso_site_admin;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("sso-sites.conf lacks %q:\n%s", want, conf)
		}
	}
	if n := strings.Count(conf, "include snippets/sso-protect.conf;"); n != 3 {
		t.Errorf("sso-protect.conf included %d times, want once per site (3)", n)
	}
	if n := strings.Count(conf, "set $sso_auth_query"); n != 1 {
		t.Errorf("$sso_auth_query set %d times, want only for the group site", n)
	}

	c := sitesConfig()
	c.HTTPPort, c.HTTPSPort, c.ListenAddr, c.CookieName, c.Hub = 8080, 8443, "::1", "__Secure-sso", "auth"
	out, err = nginx.RenderSites(c)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"sso-sites.conf":    "listen [::1]:8443 ssl;",
		"sso-redirect.conf": "listen [::1]:8080;",
		"sso-maps.conf":     `\Q__Secure-sso\E=`,
	} {
		if !strings.Contains(out[name], want) {
			t.Errorf("%s lacks %q", name, want)
		}
	}
	if !strings.Contains(out["sso-sites.conf"], "server_name auth.example.com;") {
		t.Errorf("hub label not used")
	}
}

// Every bad input is refused before anything is rendered, naming the field.
func TestRenderSitesRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*nginx.SitesConfig)
		reason string
	}{
		{"public suffix", func(c *nginx.SitesConfig) { c.Domain = "co.uk" }, "domain"},
		{"IP domain", func(c *nginx.SitesConfig) { c.Domain = "10.0.0.1" }, "domain"},
		{"no sso", func(c *nginx.SitesConfig) { c.SSOUpstream = "" }, "sso upstream"},
		{"sso without port", func(c *nginx.SitesConfig) { c.SSOUpstream = "sso" }, "sso upstream"},
		{"relative cert", func(c *nginx.SitesConfig) { c.TLSCert = "cert.pem" }, "TLS certificate"},
		{"cert injection", func(c *nginx.SitesConfig) { c.TLSKey = "/k.pem; include /etc/passwd" }, "TLS key"},
		{"listen name", func(c *nginx.SitesConfig) { c.ListenAddr = "localhost" }, "listen address"},
		{"port", func(c *nginx.SitesConfig) { c.HTTPSPort = 70000 }, "https port"},
		{"same ports", func(c *nginx.SitesConfig) { c.HTTPPort = 443 }, "http port"},
		{"cookie", func(c *nginx.SitesConfig) { c.CookieName = `a\E.*` }, "cookie name"},
		{"no sites", func(c *nginx.SitesConfig) { c.Sites = nil }, "no sites"},
		{"hub taken", func(c *nginx.SitesConfig) { c.Sites[0].Name = "login" }, "named twice"},
		{"duplicate", func(c *nginx.SitesConfig) { c.Sites[1].Name = "API" }, "named twice"},
		{"wildcard", func(c *nginx.SitesConfig) { c.Sites[0].Name = "*" }, `site "*"`},
		{"injection in name", func(c *nginx.SitesConfig) { c.Sites[0].Name = "a;b" }, `site "a;b"`},
		// A wildcard certificate covers one label only.
		{"two labels", func(c *nginx.SitesConfig) { c.Sites[0].Name = "a.b" }, `want a host label`},
		{"hub two labels", func(c *nginx.SitesConfig) { c.Hub = "a.b" }, `want a host label`},
		// sso refuses __Host- names (no Domain attribute allowed).
		{"__Host- cookie", func(c *nginx.SitesConfig) { c.CookieName = "__Host-x" }, "__Host- prefix"},
		{"__host- cookie", func(c *nginx.SitesConfig) { c.CookieName = "__host-sso" }, "__Host- prefix"},
		{"https upstream", func(c *nginx.SitesConfig) { c.Sites[0].Upstream = "https://x:443" }, "upstream"},
		{"upstream path", func(c *nginx.SitesConfig) { c.Sites[0].Upstream = "http://x:80/v1" }, "upstream"},
		{"upstream user", func(c *nginx.SitesConfig) { c.Sites[0].Upstream = "http://u:p@x:80" }, "upstream"},
		{"upstream injection", func(c *nginx.SitesConfig) { c.Sites[0].Upstream = "http://x:80;}" }, "upstream"},
		{"dir injection", func(c *nginx.SitesConfig) { c.Sites[2].Upstream = "/srv/app; autoindex on" }, "directory"},
		{"dir unclean", func(c *nginx.SitesConfig) { c.Sites[2].Upstream = "/srv/../etc" }, "directory"},
		{"empty group", func(c *nginx.SitesConfig) { c.Sites[0].Groups = []string{""} }, "group"},
		{"comma group", func(c *nginx.SitesConfig) { c.Sites[0].Groups = []string{"a,b"} }, "group"},
		{"factor 3", func(c *nginx.SitesConfig) { c.Sites[0].Factor = 3 }, "factor"},
		{"max_age without factor", func(c *nginx.SitesConfig) { c.Sites[0].MaxAge = time.Minute }, "max_age"},
		{"max_age too long", func(c *nginx.SitesConfig) { c.Sites[0].Factor, c.Sites[0].MaxAge = 2, 48*time.Hour }, "max_age"},
	} {
		c := sitesConfig()
		c.Sites = slices.Clone(c.Sites)
		tc.edit(&c)
		out, err := nginx.RenderSites(c)
		if err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: RenderSites = %d files, %v; want an error about %s", tc.name, len(out), err, tc.reason)
		}
	}
}

// Groups with odd characters are escaped into the query, never into the
// nginx syntax around it.
func TestRenderSitesEscapesGroups(t *testing.T) {
	c := sitesConfig()
	c.Sites = []nginx.Site{{Name: "x", Upstream: "http://127.0.0.1:1", Groups: []string{`a"b$c;d&e`}}}
	out, err := nginx.RenderSites(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := `set $sso_auth_query "?group=a%22b%24c%3Bd%26e";`; !strings.Contains(out["sso-sites.conf"], want) {
		t.Errorf("sso-sites.conf lacks %s", want)
	}
}

// Sites get distinct upstreams (nginx refuses two upstream blocks of one
// name); '-' becomes '_' in the upstream's name. (Names with '.', which
// could collide with '-', are refused: one label per site.)
func TestRenderSitesUpstreamNames(t *testing.T) {
	c := sitesConfig()
	c.Sites = []nginx.Site{
		{Name: "a-b", Upstream: "http://127.0.0.1:1"},
		{Name: "ab", Upstream: "http://127.0.0.1:2"},
		{Name: "c", Upstream: "/srv/c"},
		{Name: "a-b-x", Upstream: "http://127.0.0.1:3"},
		{Name: "a--b", Upstream: "http://127.0.0.1:4"},
	}
	out, err := nginx.RenderSites(c)
	if err != nil {
		t.Fatal(err)
	}
	conf := out["sso-sites.conf"]
	for _, want := range []string{"upstream sso_site_a_b {", "upstream sso_site_ab {", "upstream sso_site_a_b_x {", "upstream sso_site_a__b {"} {
		if strings.Count(conf, want) != 1 {
			t.Errorf("sso-sites.conf has %q %d times, want once", want, strings.Count(conf, want))
		}
	}
	if n := strings.Count(conf, "\nupstream "); n != 5 { // sso and the four proxied sites
		t.Errorf("%d upstream blocks, want 5", n)
	}
}

// A site that needs a second factor asks /auth for it, with its groups.
func TestRenderSitesFactor(t *testing.T) {
	c := sitesConfig()
	c.Sites = []nginx.Site{{Name: "pay", Upstream: "http://127.0.0.1:1", Groups: []string{"fin"}, Factor: 2, MaxAge: 10 * time.Minute}}
	out, err := nginx.RenderSites(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := `set $sso_auth_query "?factor=2&group=fin&max_age=10m";`; !strings.Contains(out["sso-sites.conf"], want) {
		t.Errorf("sso-sites.conf lacks %s", want)
	}
}
