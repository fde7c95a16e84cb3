//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// Scenario: the account page in Chromium. Two browsers sign in as alice;
// the first signs the second out from its account page (whose cookie is
// then refused), creates an API key (which then works against the API
// through nginx) and revokes it (which is then refused). The page's times
// are shown in the browser's time zone by the hub's own script, under the
// hub's CSP.
func testAccountPage(t *testing.T, st *stack) {
	tb := newBrowser(t, st)
	login(tb)
	own := tb.hubCookie()
	other := newBrowser(t, st)
	login(other)
	otherValue := other.hubCookie()
	otherID := st.currentSessionID(t, otherValue)
	if code, user := st.whoIs(t, otherValue); code != http.StatusOK || user != username {
		t.Fatalf("the second browser's session: %d %q, want 200 %s", code, user, username)
	}

	// Tokyo has no daylight saving time: its offset is always +9.
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"}); err != nil {
		tb.fatalf("Emulation.setTimezoneOverride: %v", err)
	}
	account := st.url("login", "/")
	tb.navigate(account)
	tb.waitPage("the account page", navTimeout, func(p pageState) bool { return p.URL == account && p.Ready == "complete" })
	if got := tb.text("user"); got != username {
		tb.fatalf("account page #user = %q, want %s", got, username)
	}
	// The script turned each UTC time into Tokyo's, and kept the UTC text
	// as the title.
	var times []struct{ Text, Title, ISO string }
	js := tb.eval("read the times", `JSON.stringify([...document.querySelectorAll("time[datetime]")].map(e =>
		({Text: e.textContent, Title: e.title, ISO: e.dateTime, Local: e.hasAttribute("data-local")})))`)
	if err := json.Unmarshal([]byte(js), &times); err != nil || len(times) == 0 {
		tb.fatalf("times on the account page: %q (%v)", js, err)
	}
	for _, tm := range times {
		if !strings.HasSuffix(tm.Title, " UTC") || !strings.Contains(tm.Text, "GMT+9") {
			tb.errorf("time %s shows %q (title %q), want Tokyo's time with the UTC text as title", tm.ISO, tm.Text, tm.Title)
		}
	}
	if c := tb.consoleLog(); strings.Contains(c, "Content Security Policy") {
		tb.errorf("the account page broke its CSP:\n%s", c)
	}

	// Sign the other browser out.
	tb.do("revoke the other browser's session", stepTimeout,
		chromedp.Click(chromedp.CSS(`form.revoke-session input[name="id"][value="`+otherID+`"] ~ button`)))
	tb.waitPage("back on the account page after the revocation", navTimeout, func(p pageState) bool {
		return strings.HasSuffix(p.URL, "/?done=session_revoked") && p.Ready == "complete"
	})
	if code, _ := st.whoIs(t, otherValue); code != http.StatusUnauthorized {
		t.Errorf("the revoked session through nginx: %d, want 401", code)
	}
	if code, user := st.whoIs(t, own); code != http.StatusOK || user != username {
		t.Errorf("this browser's session after revoking the other: %d %q, want 200 %s", code, user, username)
	}

	// Create an API key; it is shown once and works from a script.
	tb.do("create an API key", stepTimeout,
		chromedp.SendKeys(chromedp.ID("key-name"), "e2e script"),
		chromedp.SetValue(chromedp.ID("key-expires"), "1d"),
		chromedp.Click(chromedp.ID("create-key-submit")),
	)
	keyPage := st.url("login", "/account/keys")
	tb.waitPage("the new key's page", navTimeout, func(p pageState) bool { return p.URL == keyPage && p.Ready == "complete" })
	key, keyID := tb.text("new-key"), tb.text("new-key-id")
	if !strings.HasPrefix(key, "sso_") || keyID == "" {
		tb.fatalf("key page: key %q, id %q", key, keyID)
	}
	if code, user := st.keyWho(t, key); code != http.StatusOK || user != username {
		t.Fatalf("the new key through nginx: %d %q, want 200 %s", code, user, username)
	}

	// Revoke it from the account page.
	tb.navigate(account)
	tb.do("revoke the key", stepTimeout, chromedp.Click(chromedp.CSS(`tr.key[data-id="`+keyID+`"] button`)))
	tb.waitPage("back on the account page after revoking the key", navTimeout, func(p pageState) bool {
		return strings.HasSuffix(p.URL, "/?done=key_revoked") && p.Ready == "complete"
	})
	if code, _ := st.keyWho(t, key); code != http.StatusUnauthorized {
		t.Errorf("the revoked key through nginx: %d, want 401", code)
	}
}

// currentSessionID returns the store id of the session of cookie value v
// (GET /api/sessions through nginx).
func (s *stack) currentSessionID(t *testing.T, v string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url("login", "/api/sessions"), nil)
	req.Header.Set("Cookie", cookieName+"="+v)
	resp, err := s.nginx.Client().Do(req)
	if err != nil {
		t.Fatalf("GET /api/sessions: %v", err)
	}
	defer resp.Body.Close()
	var list struct {
		Sessions []struct {
			ID      string
			Current bool
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("GET /api/sessions = %d (%v), want 200", resp.StatusCode, err)
	}
	for _, x := range list.Sessions {
		if x.Current {
			return x.ID
		}
	}
	t.Fatal("GET /api/sessions names no current session")
	return ""
}

// keyWho asks the API through nginx who the API key is.
func (s *stack) keyWho(t *testing.T, key string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url("api", "/me"), nil)
	req.Header.Set("X-API-Key", key)
	resp, err := s.nginx.Client().Do(req)
	if err != nil {
		t.Fatalf("GET /me with X-API-Key: %v", err)
	}
	defer resp.Body.Close()
	var me struct{ User string }
	_ = json.NewDecoder(resp.Body).Decode(&me)
	return resp.StatusCode, me.User
}
