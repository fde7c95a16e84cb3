package server_test

import (
	"net/http"
	"testing"
)

// The session keeps the browser summary, not the raw header (issue 10): the
// API list shows what every store holds.
func TestSessionUserAgentSummary(t *testing.T) {
	e := newEnv(t)
	c, _ := e.browser()
	const chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
	r := do(t, c, req{method: "POST", url: hub + "/api/session", body: `{"username":"alice","password":"` + password + `"}`,
		headers: map[string]string{"User-Agent": chrome}})
	expectStatus(t, r, http.StatusCreated)
	r = do(t, c, req{url: hub + "/api/sessions"})
	expectStatus(t, r, http.StatusOK)
	var out struct {
		Sessions []struct {
			UserAgent string `json:"user_agent"`
		}
	}
	r.json(t, &out)
	if len(out.Sessions) != 1 || out.Sessions[0].UserAgent != "Chrome 156 · Linux" {
		t.Errorf("sessions = %+v, want one with user_agent %q", out.Sessions, "Chrome 156 · Linux")
	}
}
