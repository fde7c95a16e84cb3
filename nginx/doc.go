// Package nginx holds the nginx configuration for sso: vhost templates in
// the ${VAR} style of the official nginx image (rendered there by envsubst)
// and the include snippets that protect a server with auth_request. The
// files are embedded, so compose, the integration test and the e2e tests
// all use the same text.
//
// Usage (tests, tools):
//
//	err := nginx.Install(dir, map[string]string{
//		"SSO_DOMAIN":      "example.test",
//		"SSO_UPSTREAM":    "127.0.0.1:8080",
//		"SSO_COOKIE_NAME": "sso_session", // sso's; never sent upstream
//		"API_UPSTREAM":    "127.0.0.1:9090",
//		"APP_ROOT":        "/srv/app",
//		"TLS_CERT":        "/srv/tls/cert.pem",
//		"TLS_KEY":         "/srv/tls/key.pem",
//		"LISTEN_ADDR":     "127.0.0.1",
//		"HTTPS_PORT":      "8443",
//		"HTTP_PORT":       "8080",
//	})
//	// dir/conf.d/*.conf and dir/snippets/*.conf now exist; an nginx.conf in
//	// dir includes "conf.d/*.conf" inside http{}.
//
// See README.md in this directory for the snippet explained line by line,
// and package nginxtest for running the real nginx binary in tests.
package nginx
