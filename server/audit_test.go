package server_test

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/example/sso/audit"
	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/server"
)

// jsonLog makes the server log JSON into buf, as SSO_LOG_FORMAT=json does.
func jsonLog(buf *testproc.Buffer) envOption {
	return func(o *server.Options) { o.Log = slog.New(slog.NewJSONHandler(buf, nil)) }
}

// events parses every line of buf as JSON (each must be) and returns the
// records that carry an event field, in order.
func auditEvents(t *testing.T, buf *testproc.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not one JSON object: %q: %v", sc.Text(), err)
		}
		if _, ok := rec["event"]; ok {
			out = append(out, rec)
		}
	}
	return out
}

func names(evs []map[string]any) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e["event"].(string))
	}
	return out
}

// checkFields fails unless ev has exactly want's values for want's keys,
// and none of absent.
func checkFields(t *testing.T, ev map[string]any, want map[string]any, absent ...string) {
	t.Helper()
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("%s event: %s = %#v, want %#v (event %v)", ev["event"], k, ev[k], v, ev)
		}
	}
	for _, k := range absent {
		if _, ok := ev[k]; ok {
			t.Errorf("%s event has %s: %v", ev["event"], k, ev)
		}
	}
}

// noSecrets fails when the log holds any of secrets.
func noSecrets(t *testing.T, buf *testproc.Buffer, secrets map[string]string) {
	t.Helper()
	log := buf.String()
	for what, s := range secrets {
		if s != "" && strings.Contains(log, s) {
			t.Errorf("the log holds the %s %q", what, s)
		}
	}
}

// With a JSON log, a login, a failed login and a logout are three
// parseable events with user, client, session hash, user agent and
// outcome; no password, cookie, session id or token is in the log.
func TestAuditLoginFailureLogout(t *testing.T) {
	var buf testproc.Buffer
	e := newEnv(t, jsonLog(&buf))

	a, _ := e.browser()
	csrf := formLogin(t, a, "alice")
	value := cookieValue(t, a)
	id := sessionIDOf(t, e, value)
	const wrong = "Tr0ub4dor&3-wrong"
	r := do(t, e.client(), req{method: "POST", url: hub + "/api/session", body: `{"username":"alice","password":"` + wrong + `"}`,
		headers: map[string]string{"User-Agent": "curl/8.5.0"}})
	expectStatus(t, r, http.StatusUnauthorized)
	location(t, postForm(t, a, "/logout", url.Values{"csrf_token": {csrf}}, map[string]string{"User-Agent": firefoxUA}), "/login")

	evs := auditEvents(t, &buf)
	if got := strings.Join(names(evs), " "); got != "login login_failed logout" {
		t.Fatalf("events %q, want login login_failed logout; log:\n%s", got, buf.String())
	}
	ref := audit.SessionRef(id)
	checkFields(t, evs[0], map[string]any{"level": "INFO", "msg": "login", "user": "alice", "client": "127.0.0.1", "session": ref,
		"user_agent": "Firefox 128 · Linux", "outcome": "ok", "via": "form", "method": "pwd"})
	checkFields(t, evs[1], map[string]any{"client": "127.0.0.1", "user_agent": "curl 8", "outcome": "invalid_credentials", "via": "api", "method": "pwd"},
		"user", "session")
	checkFields(t, evs[2], map[string]any{"user": "alice", "client": "127.0.0.1", "session": ref, "user_agent": "Firefox 128 · Linux",
		"outcome": "ok", "via": "form"})
	noSecrets(t, &buf, map[string]string{"password": password, "wrong password": wrong, "cookie value": value, "stored session id": id, "CSRF token": csrf})
}

// The account page's actions and a lockout are events too; a new key
// never reaches the log.
func TestAuditAccountEvents(t *testing.T) {
	var buf testproc.Buffer
	e, _ := regulated(t, jsonLog(&buf))
	a, _ := e.browser()
	csrf := formLogin(t, a, "alice")
	own := sessionIDOf(t, e, cookieValue(t, a))
	other := e.apiLogin(t, e.client(), "alice").Session.Value
	otherID := sessionIDOf(t, e, other)
	e.apiLogin(t, e.client(), "alice")

	r := postForm(t, a, "/account/keys", url.Values{"name": {"ci"}, "expires": {"1d"}, "csrf_token": {csrf}}, nil)
	expectStatus(t, r, http.StatusCreated)
	key := string(newKeyRE.FindSubmatch(r.body)[1])
	keyID := strings.Split(strings.Split(string(r.body), `(id <code id="new-key-id">`)[1], "<")[0]
	location(t, postForm(t, a, "/account/keys/revoke", url.Values{"id": {keyID}, "csrf_token": {csrf}}, nil), "/?done=key_revoked")
	location(t, postForm(t, a, "/account/sessions/revoke", url.Values{"id": {otherID}, "csrf_token": {csrf}}, nil), "/?done=session_revoked")
	location(t, postForm(t, a, "/account/sessions/revoke-others", url.Values{"csrf_token": {csrf}}, nil), "/?done=sessions_revoked")
	for range testRegulation.MaxRetries + 1 {
		apiTry(t, e.client(), "bob", "wrong", nil)
	}

	evs := auditEvents(t, &buf)
	// The attempt that sets a ban logs the lockout before its own failure.
	want := "login login login key_created key_revoked session_revoked session_revoked " +
		strings.Repeat("login_failed ", testRegulation.MaxRetries-1) + "lockout login_failed login_failed"
	if got := strings.Join(names(evs), " "); got != strings.TrimSpace(want) {
		t.Fatalf("events %q, want %q; log:\n%s", got, want, buf.String())
	}
	by := audit.SessionRef(own)
	checkFields(t, evs[3], map[string]any{"user": "alice", "session": by, "key_id": keyID, "key_name": "ci", "outcome": "ok", "via": "account",
		"expires": e.clock.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)})
	checkFields(t, evs[4], map[string]any{"user": "alice", "session": by, "key_id": keyID, "outcome": "ok", "via": "account"})
	checkFields(t, evs[5], map[string]any{"user": "alice", "session": audit.SessionRef(otherID), "by_session": by, "outcome": "ok", "via": "account", "client": "127.0.0.1"})
	checkFields(t, evs[6], map[string]any{"user": "alice", "by_session": by, "scope": "others", "count": float64(1), "via": "account"}, "session")
	lock := evs[len(evs)-3]
	checkFields(t, lock, map[string]any{"level": "WARN", "client": "127.0.0.1", "outcome": "blocked", "failures": float64(testRegulation.MaxRetries),
		"window": "2m", "ban": "5m"})
	if lock["bucket"] == "" || lock["bucket"] == nil {
		t.Errorf("lockout without a bucket: %v", lock)
	}
	checkFields(t, evs[len(evs)-1], map[string]any{"outcome": "blocked", "retry_after": "5m"})
	noSecrets(t, &buf, map[string]string{"API key": key, "password": password, "CSRF token": csrf, "cookie value": other})
}
