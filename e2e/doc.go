// Package e2e holds the browser tests of sso: headless Chromium, driven by
// chromedp, against the real programs (cmd/sso, cmd/demoapi, redis-server and
// nginx with the templates of package nginx), all started by the test on
// loopback with a throwaway TLS certificate.
//
// The tests are behind the build tag e2e:
//
//	go test -race -tags e2e -count=1 ./e2e/...   # or: make e2e
//
// Chromium maps *.example.test and evil.test to 127.0.0.1
// (--host-resolver-rules) and trusts exactly the generated leaf key
// (--ignore-certificate-errors-spki-list), so Secure, SameSite and CORS behave
// as they do in production. One Chromium serves the run; each scenario gets a
// browser context of its own (cookies, cache and storage, as fresh as a new
// profile); on failure it saves a screenshot, the console, the network log
// and the server logs in e2e/artifacts/<TestName>/.
//
// Besides login., app. and api., the stack serves hostile hosts: evil.test
// (another site), other.example.test (a sibling CORS does not allow) and
// blog.example.test (a sibling that tosses cookies for the parent domain,
// from script and by Set-Cookie, and auto-submits forms to the hub), and
// optin.example.test, a second sso on the same sessions whose
// SSO_LOGIN_ORIGINS lists the app. The users are alice (the victim) and bob
// (the attacker's own account).
//
// TestDoctorAgreesWithChromium (agreement_test.go) runs three more sso
// instances (SameSite Lax, Strict, None), each behind its own nginx, and
// asserts for 20 URL pairs that doctor.Explain predicts what Chromium does.
//
// A missing chromium, nginx, redis-server or curl skips the tests, unless
// SSO_REQUIRE_CHROMIUM, SSO_REQUIRE_NGINX, SSO_REQUIRE_REDIS or
// SSO_REQUIRE_TOOLS is 1 (make test sets them). SSO_CHROMIUM names another
// Chromium binary.
package e2e
