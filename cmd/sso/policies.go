package main

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/example/sso/config"
	"github.com/example/sso/cookiedomain"
	"github.com/example/sso/cors"
	"github.com/example/sso/server"
	"github.com/example/sso/ticket"
)

// secretKeys parses SSO_SECRET_KEYS. Nil keys and no error mean dev mode,
// where serve generates one.
func secretKeys(cfg config.Config) ([][]byte, error) {
	if cfg.SecretKeys == "" && cfg.DevMode {
		return nil, nil
	}
	keys, err := ticket.ParseKeys(cfg.SecretKeys)
	if err != nil {
		return nil, fmt.Errorf("SSO_SECRET_KEYS: %w", err)
	}
	return keys, nil
}

// webPolicies builds the cookie and origin policies from cfg and returns the
// parsed login URL. serve and doctor both call it, so what doctor explains is
// what serve does.
func webPolicies(cfg config.Config) (*cookiedomain.Policy, *cors.Policy, *url.URL, error) {
	for _, d := range cfg.CookieDomains {
		if _, err := cookiedomain.ValidateParent(d); err != nil {
			return nil, nil, nil, fmt.Errorf("SSO_COOKIE_DOMAINS=%q: %w", strings.Join(cfg.CookieDomains, ","), err)
		}
	}
	cookies, err := cookiedomain.New(cookiedomain.Config{
		Domains: cfg.CookieDomains, Name: cfg.CookieName, SameSite: sameSite(cfg.CookieSameSite), Secure: cfg.CookieSecure,
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("cookie settings (SSO_COOKIE_*): %w", err)
	}
	login, err := url.Parse(cfg.LoginURL)
	if err != nil || !cookies.Contains(login.Hostname()) {
		return nil, nil, nil, fmt.Errorf("SSO_LOGIN_URL=%q: its host is under none of SSO_COOKIE_DOMAINS %v, so the login hub could not set the session cookie", cfg.LoginURL, cookies.Domains())
	}
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
	corsPolicy, err := cors.New(cors.Config{
		Origins:      origins,
		AllowHeaders: append(cors.DefaultAllowHeaders(), cfg.CORSHeaders...),
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("SSO_CORS_ORIGINS/SSO_CORS_HEADERS: %w", err)
	}
	return cookies, corsPolicy, login, nil
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

// loginOrigins builds the SSO_LOGIN_ORIGINS policy; nil when none are set.
// Each exact origin must be one the CORS policy allows too, or a browser
// there could never read the answer to its login.
func loginOrigins(cfg config.Config, corsPolicy *cors.Policy) (*cors.Policy, error) {
	if len(cfg.LoginOrigins) == 0 {
		return nil, nil
	}
	list := strings.Join(cfg.LoginOrigins, ",")
	for _, o := range cfg.LoginOrigins {
		if !strings.Contains(o, "*") && !corsPolicy.Allowed(o) {
			return nil, fmt.Errorf("SSO_LOGIN_ORIGINS=%q: %q is not allowed by SSO_CORS_ORIGINS, so a page there could not read its login's answer; add it there too", list, o)
		}
	}
	p, err := cors.New(cors.Config{Origins: cfg.LoginOrigins})
	if err != nil {
		return nil, fmt.Errorf("SSO_LOGIN_ORIGINS=%q: %w", list, err)
	}
	return p, nil
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

// hubPolicy is the CORS policy of the hub's own API, as serve's server
// builds it, for doctor.
func hubPolicy(cfg config.Config, corsPolicy *cors.Policy) (*cors.Policy, error) {
	logins, err := loginOrigins(cfg, corsPolicy)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.LoginURL)
	if err != nil {
		return nil, fmt.Errorf("SSO_LOGIN_URL=%q: %w", cfg.LoginURL, err)
	}
	return server.HubAPIPolicy(corsPolicy, strings.ToLower(u.Scheme+"://"+u.Host), logins)
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
