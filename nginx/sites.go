package nginx

import (
	"bytes"
	_ "embed" // the sites template
	"fmt"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/internal/shortdur"
)

// Site is one protected host under the parent domain.
type Site struct {
	// Name is the host's label under the domain: "api" is api.<domain>;
	// one label only (a wildcard certificate covers no deeper name). The hub's label ("login") is taken.
	Name string
	// Upstream is where nginx sends the requests sso admits: an
	// http://host:port URL, or an absolute directory served as static
	// files (an app's built pages).
	Upstream string
	// Groups, when set, admit only members of at least one of them: nginx
	// asks /auth?group=…, and sso answers 403 to everyone else.
	Groups []string
	// Factor 2 admits only sessions that passed a second factor (nginx
	// asks /auth?factor=2; sso sends the others to its step-up page);
	// 0 or 1: a first factor is enough.
	Factor int
	// MaxAge, with Factor 2, admits only a second factor at most this old
	// (/auth?factor=2&max_age=…): 1s to 24h.
	MaxAge time.Duration
}

// ParseSite reads the command-line form of a site:
// "name=upstream[?group=g1&group=g2][&factor=2[&max_age=10m]]", e.g. "api=http://127.0.0.1:9000",
// "admin=http://10.0.0.5:8080?group=admins" or "app=/srv/app". The query
// belongs to nginx's /auth call, not to the upstream; group, factor and
// max_age are known.
func ParseSite(s string) (Site, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" || rest == "" {
		return Site{}, fmt.Errorf("nginx: site %q: want name=upstream[?group=g], e.g. api=http://127.0.0.1:9000", s)
	}
	up, query, _ := strings.Cut(rest, "?")
	site := Site{Name: name, Upstream: up}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return Site{}, fmt.Errorf("nginx: site %q: query: %w", s, err)
		}
		for k, v := range q {
			switch {
			case k == "group":
				site.Groups = append(site.Groups, v...)
			case k == "factor" && len(v) == 1 && (v[0] == "1" || v[0] == "2"):
				site.Factor = int(v[0][0] - '0')
			case k == "max_age" && len(v) == 1:
				d, err := time.ParseDuration(v[0])
				if err != nil {
					return Site{}, fmt.Errorf("nginx: site %q: max_age %q: want a duration such as 10m", s, v[0])
				}
				site.MaxAge = d
			default:
				return Site{}, fmt.Errorf("nginx: site %q: parameter %q: only group=…, factor=1|2 and max_age=<duration> (once each) are known", s, k)
			}
		}
	}
	return site, nil
}

// SitesConfig describes a whole deployment under one parent domain: the
// login hub at <Hub>.<Domain> and the protected Sites.
type SitesConfig struct {
	Domain      string // parent domain, sso's SSO_COOKIE_DOMAINS: example.com
	Hub         string // the login hub's label; "" = "login"
	SSOUpstream string // sso's host:port as nginx reaches it
	CookieName  string // sso's SSO_COOKIE_NAME; "" = "sso_session"
	TLSCert     string // PEM chain covering every host (a *.<Domain> wildcard, or one name each)
	TLSKey      string // its PEM key
	ListenAddr  string // IP address to listen on; "" = 0.0.0.0
	HTTPSPort   int    // 0 = 443
	HTTPPort    int    // plain-http port that redirects to https; 0 = none
	Sites       []Site
}

//go:embed sites/sso-sites.conf.tmpl
var sitesTemplateText string

var sitesTemplate = template.Must(template.New("sites").Parse(sitesTemplateText))

// siteView is one Site as the template needs it.
type siteView struct {
	Host      string // api.example.com
	Upstream  string // upstream block name; "" for a directory
	Server    string // host:port of the upstream
	Root      string // directory, for static sites
	AuthQuery string // "?factor=2&group=…&max_age=…" or ""
}

type sitesView struct {
	SitesConfig
	Hub, Listen string
	Sites       []siteView
}

// RenderSites renders the nginx configuration for c: conf.d files by name
// ("sso-sites.conf" with the upstreams, TLS and vhosts; "sso-maps.conf";
// "sso-redirect.conf" when HTTPPort is set). They need the snippets (see
// Snippets, InstallSites) under <conf prefix>/snippets/. Every input is
// checked first; the error names the field.
func RenderSites(c SitesConfig) (map[string]string, error) {
	v, err := c.view()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := sitesTemplate.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("nginx: render sites: %w", err)
	}
	out := map[string]string{"sso-sites.conf": b.String()}
	tmpls, err := Templates()
	if err != nil {
		return nil, err
	}
	vars := map[string]string{
		"SSO_COOKIE_NAME": v.CookieName,
		"SSO_DOMAIN":      v.Domain,
		"LISTEN_ADDR":     v.Listen,
		"HTTPS_PORT":      strconv.Itoa(v.HTTPSPort),
		"HTTP_PORT":       strconv.Itoa(v.HTTPPort),
	}
	names := []string{"sso-maps.conf"}
	if c.HTTPPort != 0 {
		names = append(names, "sso-redirect.conf")
	}
	for _, name := range names {
		s, err := Expand(tmpls[name+TemplateSuffix], vars)
		if err != nil {
			return nil, fmt.Errorf("nginx: render %s: %w", name, err)
		}
		out[name] = s
	}
	return out, nil
}

// InstallSites writes RenderSites' files into dir/conf.d and the snippets
// into dir/snippets, as Install does for the templates.
func InstallSites(dir string, c SitesConfig) error {
	rendered, err := RenderSites(c)
	if err != nil {
		return err
	}
	return install(dir, rendered)
}

func (c SitesConfig) view() (sitesView, error) {
	v := sitesView{SitesConfig: c, Hub: c.Hub, Listen: c.ListenAddr}
	d, err := cookiedomain.ValidateParent(c.Domain)
	if err != nil {
		return v, fmt.Errorf("nginx: domain: %w", err)
	}
	v.Domain = d
	if v.Hub == "" {
		v.Hub = "login"
	}
	if _, err := hostUnder(v.Hub, d); err != nil {
		return v, fmt.Errorf("nginx: hub: %w", err)
	}
	if err := checkHostPort(c.SSOUpstream); err != nil {
		return v, fmt.Errorf("nginx: sso upstream: %w", err)
	}
	if v.CookieName == "" {
		v.CookieName = "sso_session"
	}
	if len(v.CookieName) >= len("__Host-") && strings.EqualFold(v.CookieName[:len("__Host-")], "__Host-") {
		// sso refuses it (SSO_COOKIE_NAME): such a cookie cannot carry the
		// Domain attribute the subdomains need.
		return v, fmt.Errorf("nginx: cookie name %q: the __Host- prefix forbids the Domain attribute sso's cookie needs; sso refuses it as SSO_COOKIE_NAME", v.CookieName)
	}
	if !cookieName(v.CookieName) {
		return v, fmt.Errorf("nginx: cookie name %q: want letters, digits, '_', '-' or '.'", v.CookieName)
	}
	for field, p := range map[string]string{"TLS certificate": c.TLSCert, "TLS key": c.TLSKey} {
		if !path.IsAbs(p) || !plainPath(p) {
			return v, fmt.Errorf("nginx: %s %q: want an absolute path without blanks, quotes, '$', ';' or braces", field, p)
		}
	}
	if v.Listen == "" {
		v.Listen = "0.0.0.0"
	}
	ip := net.ParseIP(v.Listen)
	if ip == nil {
		return v, fmt.Errorf("nginx: listen address %q: want an IP address", c.ListenAddr)
	}
	if ip.To4() == nil {
		v.Listen = "[" + ip.String() + "]"
	}
	if v.HTTPSPort == 0 {
		v.HTTPSPort = 443
	}
	for field, p := range map[string]int{"https port": v.HTTPSPort, "http port": v.HTTPPort} {
		if p < 0 || p > 65535 {
			return v, fmt.Errorf("nginx: %s %d: want 1 to 65535", field, p)
		}
	}
	if v.HTTPPort == v.HTTPSPort {
		return v, fmt.Errorf("nginx: http port %d is the https port", v.HTTPPort)
	}
	if len(c.Sites) == 0 {
		return v, fmt.Errorf("nginx: no sites: name at least one, e.g. api=http://127.0.0.1:9000")
	}
	seen := map[string]bool{v.Hub + "." + d: true}
	upstreams := map[string]bool{}
	for _, s := range c.Sites {
		sv, err := s.view(d)
		if err != nil {
			return v, err
		}
		if seen[sv.Host] {
			return v, fmt.Errorf("nginx: site %q: %s is named twice (or is the hub)", s.Name, sv.Host)
		}
		seen[sv.Host] = true
		// "a-b" and "a.b" both read sso_site_a_b: number the second.
		for name, n := sv.Upstream, 2; sv.Upstream != "" && upstreams[sv.Upstream]; n++ {
			sv.Upstream = name + "_" + strconv.Itoa(n)
		}
		upstreams[sv.Upstream] = true
		v.Sites = append(v.Sites, sv)
	}
	return v, nil
}

func (s Site) view(domain string) (siteView, error) {
	host, err := hostUnder(s.Name, domain)
	if err != nil {
		return siteView{}, fmt.Errorf("nginx: site %q: %w", s.Name, err)
	}
	sv := siteView{Host: host}
	if strings.HasPrefix(s.Upstream, "/") {
		if !plainPath(s.Upstream) || path.Clean(s.Upstream) != s.Upstream {
			return sv, fmt.Errorf("nginx: site %q: directory %q: want a clean absolute path without blanks, quotes, '$', ';' or braces", s.Name, s.Upstream)
		}
		sv.Root = s.Upstream
	} else {
		u, err := url.Parse(s.Upstream)
		if err != nil || u.Scheme != "http" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
			return sv, fmt.Errorf("nginx: site %q: upstream %q: want http://host:port (no path; https upstreams are not rendered: keep the upstream on loopback or a private network) or an absolute directory", s.Name, s.Upstream)
		}
		hp := u.Host
		if u.Port() == "" {
			hp = net.JoinHostPort(u.Hostname(), "80")
		}
		if err := checkHostPort(hp); err != nil {
			return sv, fmt.Errorf("nginx: site %q: upstream: %w", s.Name, err)
		}
		sv.Server = hp
		sv.Upstream = "sso_site_" + strings.NewReplacer(".", "_", "-", "_").Replace(strings.TrimSuffix(host, "."+domain))
	}
	for _, g := range s.Groups {
		if g == "" || strings.ContainsAny(g, " \t\r\n,") {
			return sv, fmt.Errorf("nginx: site %q: group %q: want a non-empty name without blanks or commas", s.Name, g)
		}
	}
	switch {
	case s.Factor < 0 || s.Factor > 2:
		return sv, fmt.Errorf("nginx: site %q: factor %d: want 1 or 2", s.Name, s.Factor)
	case s.MaxAge != 0 && s.Factor != 2:
		return sv, fmt.Errorf("nginx: site %q: max_age needs factor 2", s.Name)
	case s.MaxAge != 0 && (s.MaxAge < time.Second || s.MaxAge > 24*time.Hour):
		return sv, fmt.Errorf("nginx: site %q: max_age %v: want 1s to 24h", s.Name, s.MaxAge)
	}
	q := url.Values{}
	if len(s.Groups) > 0 {
		groups := slices.Clone(s.Groups)
		slices.Sort(groups)
		q["group"] = slices.Compact(groups)
	}
	if s.Factor == 2 {
		q.Set("factor", "2")
		if s.MaxAge != 0 {
			q.Set("max_age", shortdur.String(s.MaxAge))
		}
	}
	if len(q) > 0 {
		// QueryEscape leaves no quote, '$', '\' or blank: safe inside "…".
		sv.AuthQuery = "?" + q.Encode()
	}
	return sv, nil
}

// hostUnder returns name.domain in canonical form, refusing anything that
// is not a plain host name strictly under domain.
func hostUnder(name, domain string) (string, error) {
	// One label only: a wildcard certificate for *.<domain> covers no
	// deeper name (a.b.<domain>).
	if name == "" || strings.ContainsAny(name, "*/:.") {
		return "", fmt.Errorf("name %q: want a host label such as api (one label: *.%s covers no deeper name)", name, domain)
	}
	h, err := cookiedomain.Canonical(name + "." + domain)
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(h, "."+domain) || strings.Trim(h, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
		return "", fmt.Errorf("name %q: %s is no host name under %s", name, h, domain)
	}
	return h, nil
}

// checkHostPort accepts "host:port" with a host name or an IP address.
func checkHostPort(hp string) error {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return fmt.Errorf("%q: want host:port: %w", hp, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port: want 1 to 65535", hp)
	}
	if net.ParseIP(host) != nil {
		return nil
	}
	if _, err := cookiedomain.Canonical(host); err != nil || strings.Trim(strings.ToLower(host), "abcdefghijklmnopqrstuvwxyz0123456789.-_") != "" {
		return fmt.Errorf("%q: want a host name or an IP address", hp)
	}
	return nil
}

func cookieName(s string) bool {
	return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == ""
}

// plainPath keeps a path from breaking out of an nginx directive.
func plainPath(p string) bool {
	return !strings.ContainsAny(p, " \t\r\n\"'$;{}\\#")
}
