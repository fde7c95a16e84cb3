// Package examples holds runnable clients of sso that are not browsers: a
// Python script on requests.Session (python/session_login.py) and a curl
// script (curl/session.sh). docs/clients.md explains when to use which
// credential; the test in this directory runs both scripts end to end
// against a freshly built sso, once on the in-memory store and once on two
// processes sharing a Redis:
//
//	SSO_REQUIRE_TOOLS=1 SSO_REQUIRE_REDIS=1 go test -race ./examples/...
package examples
