package app

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/cors"
	"github.com/example/sso/doctor"
	"github.com/example/sso/server"
)

func (b *builder) cookies() {
	const label = "cookie"
	if b.refused(RuleCookie, label, "SSO_COOKIE_DOMAINS", "SSO_COOKIE_NAME", "SSO_COOKIE_SAMESITE", "SSO_COOKIE_SECURE") {
		return
	}
	cfg := b.cfg
	// Each domain on its own first, so that the refusal names the one
	// at fault (a public suffix, an IP, a single label).
	for _, d := range cfg.CookieDomains {
		if _, err := cookiedomain.ValidateParent(d); err != nil {
			b.refuse(RuleCookie, label, "SSO_COOKIE_DOMAINS", err, "use a domain you registered, such as example.com; public suffixes (co.uk, github.io), IPs and single labels take no cookie")
			return
		}
	}
	p, err := cookiedomain.New(cookiedomain.Config{
		Domains: cfg.CookieDomains, Name: cfg.CookieName, SameSite: SameSite(cfg.CookieSameSite), Secure: cfg.CookieSecure,
	})
	if err != nil {
		b.refuse(RuleCookie, label, "SSO_COOKIE_DOMAINS", err, "check SSO_COOKIE_DOMAINS, SSO_COOKIE_NAME, SSO_COOKIE_SAMESITE and SSO_COOKIE_SECURE together")
		return
	}
	b.pol.Cookies = p
}

func (b *builder) loginURL() {
	const label = "cookie"
	const setting = "SSO_LOGIN_URL"
	if b.refused(RuleLoginURL, "login URL", setting) || b.pol.Cookies == nil {
		return
	}
	cookies := b.pol.Cookies
	login, err := url.Parse(b.cfg.LoginURL)
	if err != nil || !cookies.Contains(login.Hostname()) {
		b.refuse(RuleLoginURL, "login URL", setting,
			fmt.Errorf("its host is under none of SSO_COOKIE_DOMAINS %v, so the login hub could not set the session cookie", cookies.Domains()),
			"put the login hub on a host under a cookie domain, such as https://login."+cookies.Domains()[0])
		return
	}
	b.pol.Login = login
	d, _ := cookies.For(login.Hostname())
	attrs := "HttpOnly, SameSite=" + doctor.SameSiteName(cookies.SameSite())
	if cookies.Secure() {
		attrs = "Secure, " + attrs
	}
	b.ok(RuleCookie, label, "SSO_COOKIE_DOMAINS", "%s with Domain=%s, set by the login hub %s://%s; %s", cookies.Name(), d, login.Scheme, login.Host, attrs)
	if w := nestedLoginDomain(cookies, login.Hostname()); w != "" {
		b.warn(RuleLoginNested, "login URL", "SSO_LOGIN_URL,SSO_COOKIE_DOMAINS", w, "list only the widest cookie domain, or put the login hub directly under it")
	}
}

func (b *builder) corsPolicy() {
	const label = "CORS origins"
	if b.refused(RuleCORS, label, "SSO_CORS_ORIGINS", "SSO_CORS_HEADERS") || b.pol.Login == nil {
		return
	}
	cfg, cookies, login := b.cfg, b.pol.Cookies, b.pol.Login
	origins := cfg.CORSOrigins
	if len(origins) == 0 {
		origins = cors.DefaultOrigins(cookies.Domains())
		if !cfg.CookieSecure {
			// Plain-HTTP development: the same hosts over http.
			for _, d := range cookies.Domains() {
				origins = append(origins, "http://"+d, "http://*."+d)
			}
		}
	}
	// The login hub's own origin is always allowed: its pages call its API.
	origins = append(origins, login.Scheme+"://"+login.Host)
	p, err := cors.New(cors.Config{
		Origins:      origins,
		AllowHeaders: append(cors.DefaultAllowHeaders(), cfg.CORSHeaders...),
	})
	if err != nil {
		setting := "SSO_CORS_ORIGINS"
		if len(cfg.CORSOrigins) == 0 {
			setting = "SSO_CORS_HEADERS"
		}
		b.refuse(RuleCORS, label, setting, err, "list origins such as https://app.example.com or https://*.example.com, and header names such as X-Request-Id")
		return
	}
	b.pol.CORS = p
	b.ok(RuleCORS, label, "SSO_CORS_ORIGINS", "%s", strings.Join(p.Config().Origins, ", "))
}

// loginOrigins builds the SSO_LOGIN_ORIGINS policy (nil when none are set)
// and the hub API's policy. Each exact origin must be one the CORS policy
// allows too, or a browser there could never read the answer to its login.
func (b *builder) loginOrigins() {
	const label, setting = "login origins", "SSO_LOGIN_ORIGINS"
	if b.refused(RuleLoginOrigins, label, setting) || b.pol.CORS == nil {
		return
	}
	cfg := b.cfg
	fix := "list your first-party apps' origins, each also allowed by SSO_CORS_ORIGINS"
	var logins *cors.Policy
	if len(cfg.LoginOrigins) > 0 {
		for _, o := range cfg.LoginOrigins {
			if !strings.Contains(o, "*") && !b.pol.CORS.Allowed(o) {
				b.refuse(RuleLoginOrigins, label, setting, fmt.Errorf("%q is not allowed by SSO_CORS_ORIGINS, so a page there could not read its login's answer; add it there too", o), fix)
				return
			}
		}
		p, err := cors.New(cors.Config{Origins: cfg.LoginOrigins})
		if err != nil {
			b.refuse(RuleLoginOrigins, label, setting, err, fix)
			return
		}
		logins = p
	}
	login := b.pol.Login
	hub, err := server.HubAPIPolicy(b.pol.CORS, strings.ToLower(login.Scheme+"://"+login.Host), logins)
	if err != nil {
		b.refuse(RuleLoginOrigins, label, setting, err, fix)
		return
	}
	b.logins, b.pol.HubCORS = logins, hub
	if logins == nil {
		b.ok(RuleLoginOrigins, label, setting, "only the hub's own origin %s://%s logs in", login.Scheme, login.Host)
	} else {
		b.ok(RuleLoginOrigins, label, setting, "the hub and %s log in", strings.Join(cfg.LoginOrigins, ", "))
	}
	if w := wildLoginOrigins(cfg.LoginOrigins); w != "" {
		b.warn(RuleLoginWildcard, label, setting, w, "list your first-party apps one by one")
	}
}

// nestedLoginDomain warns when the login hub's host picks a cookie domain
// that lies under another configured one (login.example.com listed next to
// example.com): its cookie then never reaches the siblings under the wider
// domain, and single sign-on loops between app and hub.
func nestedLoginDomain(p *cookiedomain.Policy, loginHost string) string {
	parent, err := p.For(loginHost)
	if err != nil {
		return ""
	}
	for _, d := range p.Domains() {
		if d != parent && cookiedomain.Under(parent, d) {
			return fmt.Sprintf("SSO_LOGIN_URL host %q sets cookies for %q, which lies under the wider cookie domain %q: hosts under %q but not under %q never receive the session cookie", loginHost, parent, d, d, parent)
		}
	}
	return ""
}

// proxyReach warns when sso listens where other hosts can reach it but
// trusts only loopback proxies: nginx on another host (a container, say)
// then sends X-Original-* from an untrusted address, and every /auth it asks
// is answered 500 untrusted_proxy (fail closed).
func proxyReach(listen string, trusted []string) string {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
		return ""
	}
	if host == "localhost" {
		return ""
	}
	for _, t := range trusted {
		p, err := netip.ParsePrefix(t)
		if err != nil {
			a, aerr := netip.ParseAddr(t)
			if aerr != nil {
				return ""
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if !p.Addr().IsLoopback() {
			return ""
		}
	}
	return fmt.Sprintf("SSO_LISTEN=%q accepts connections from other hosts, but SSO_TRUSTED_PROXIES trusts only loopback: if nginx runs on another host or in a container, each /auth it sends is answered 500 untrusted_proxy; add nginx's address to SSO_TRUSTED_PROXIES", listen)
}

// wildLoginOrigins warns about wildcards in SSO_LOGIN_ORIGINS: every host
// they match may act as the user at the hub (read the CSRF token, mint API
// keys), which is what the setting exists to prevent for siblings.
func wildLoginOrigins(origins []string) string {
	var wild []string
	for _, o := range origins {
		if strings.Contains(o, "*") {
			wild = append(wild, o)
		}
	}
	if len(wild) == 0 {
		return ""
	}
	return fmt.Sprintf("SSO_LOGIN_ORIGINS has wildcards (%s): every host they match can read the session's CSRF token at the hub and act as the user there; list your first-party apps one by one", strings.Join(wild, ", "))
}
