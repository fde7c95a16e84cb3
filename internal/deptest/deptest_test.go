// Package deptest holds the negative dependency test (after Tailscale's
// deptest): the pure packages must never pull in a web framework or a store
// client, so that their logic stays testable and reusable on its own.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

func TestPurePackagesStayPure(t *testing.T) {
	pure := map[string]string{
		"github.com/example/sso/cookiedomain":       "cookie-domain logic is pure: stdlib and x/net only",
		"github.com/example/sso/cors":               "the origin policy must be usable without Gin (gincors is the adapter)",
		"github.com/example/sso/redirect":           "the rd rule is pure logic",
		"github.com/example/sso/ticket":             "signing session ids is pure logic",
		"github.com/example/sso/session":            "session types and interfaces know no backend",
		"github.com/example/sso/session/authcache":  "the cache knows no store client: invalidations come through a Publisher",
		"github.com/example/sso/apikey":             "the API key format is pure logic",
		"github.com/example/sso/users":              "the users file knows no HTTP framework or store",
		"github.com/example/sso/token":              "JWT issuing knows no HTTP framework or store",
		"github.com/example/sso/authz":              "the /auth decision is plain net/http, tested without Gin or Redis",
		"github.com/example/sso/doctor":             "doctor explains browser rules in pure Go",
		"github.com/example/sso/internal/httptoken": "the one token check, shared by the pure packages",
		"github.com/example/sso/ldapusers":          "the LDAP users backend knows no HTTP framework or store",
		"github.com/example/sso/login":              "the login pipeline is plain Go: server adapts HTTP to it",
		"github.com/example/sso/federation":         "OIDC sign-in is plain net/http: the hub adapts it, the tests drive it with an http.Client",
		"github.com/example/sso/mfa":                "second-factor logic knows no HTTP framework or store client: stores come through mfa.Store",
	}
	forbidden := []string{"github.com/gin-gonic/", "github.com/gin-contrib/", "github.com/redis/"}
	// And our pure packages must not import one another's Gin/Redis users.
	forbiddenOurs := []string{"github.com/example/sso/server", "github.com/example/sso/session/redisstore", "github.com/example/sso/mfa/redisstore", "github.com/example/sso/cmd/"}
	// Set apart from the literal above, which gofmt realigns with each key.
	pure["github.com/example/sso/audit"] = "audit events are plain slog records: any package may write them"
	for pkg, why := range pure {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, bad := range append(forbidden, forbiddenOurs...) {
				if strings.HasPrefix(dep, bad) {
					t.Errorf("%s depends on %s: %s", pkg, dep, why)
				}
			}
		}
	}
}

// The shared helpers of the pure packages import only the standard
// library, so that every package may use them without pulling anything in.
func TestSharedHelpersAreLeaves(t *testing.T) {
	for _, pkg := range []string{"github.com/example/sso/internal/httptoken", "github.com/example/sso/internal/limitfile"} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep != pkg {
				t.Errorf("%s imports %s: it must import only the standard library", pkg, dep)
			}
		}
	}
}
