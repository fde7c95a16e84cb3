package app

import (
	"net"
	"strings"
	"testing"

	"github.com/example/sso/config"
)

// TestBoundPortOIDCCallback: in dev mode on port 0 the login URL gets the
// port bound, and so do the OIDC callbacks derived from it.
func TestBoundPortOIDCCallback(t *testing.T) {
	env := map[string]string{
		"SSO_LISTEN":                     "127.0.0.1:0",
		"SSO_OIDC_ISSUER":                "http://127.0.0.1:9/",
		"SSO_OIDC_CLIENT_ID":             "c",
		"SSO_OIDC_CLIENT_SECRET":         "s",
		"SSO_OIDC_ALLOWED_EMAIL_DOMAINS": "*",
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	cfg = WithBoundPort(cfg, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4321})
	if got, want := cfg.OIDCProviders[0].RedirectURL, cfg.LoginURL+"/oauth2/callback/oidc"; got != want || !strings.Contains(got, ":4321/") {
		t.Errorf("RedirectURL = %q, want %q with the bound port", got, want)
	}
}
