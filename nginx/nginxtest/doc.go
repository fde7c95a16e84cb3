// Package nginxtest runs the real nginx binary with the templates and
// snippets of package nginx, for integration and e2e tests, and makes the
// throwaway TLS certificates they need.
//
// Usage:
//
//	srv := nginxtest.Start(t, nginxtest.Options{Vars: map[string]string{
//		"SSO_UPSTREAM": ssoAddr, // host:port of sso (or a fake)
//		"API_UPSTREAM": apiAddr,
//	}})
//	resp, err := srv.Client().Get(srv.URL("api", "/me"))
//
// Start skips the test when nginx is not installed, unless
// SSO_REQUIRE_NGINX=1; SSO_NGINX names another binary.
package nginxtest
