//go:build e2e

package demo_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/example/sso/demo"
	"github.com/example/sso/internal/testproc"
)

// In Chromium started with exactly the flags the banner prints, the demo
// app sends you to the hub, and after logging in with the demo credentials
// the page shows what its credentialed fetch to api. answered.
func TestDemoBrowser(t *testing.T) {
	bin := os.Getenv("SSO_CHROMIUM")
	if bin == "" {
		bin = testproc.RequireTool(t, "SSO_REQUIRE_CHROMIUM", "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
	}
	st, _ := startDemo(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("host-resolver-rules", "MAP *."+st.Domain+" 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", st.SPKIHash),
		chromedp.UserDataDir(t.TempDir()),
	)
	if b := st.Banner(); !strings.Contains(b, `--host-resolver-rules="MAP *.`+st.Domain+` 127.0.0.1"`) ||
		!strings.Contains(b, "--ignore-certificate-errors-spki-list="+st.SPKIHash) {
		t.Fatalf("the banner does not print the flags this test uses:\n%s", b)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	// A bound, not a timed assertion: a loaded machine is slow.
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelT()

	if err := chromedp.Do(ctx,
		chromedp.Navigate(st.URL("app", "/")),
		chromedp.WaitVisible(chromedp.ID("password")),
	); err != nil {
		t.Fatalf("open the app: %v", err)
	}
	loginURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.HasPrefix(loginURL, st.URL("login", "/login?")) {
		t.Fatalf("the app led to %s (%v), want the hub's login page", loginURL, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("username"), demo.User),
		chromedp.SendKeys(chromedp.ID("password"), demo.Password),
		chromedp.Click(chromedp.ID("submit")),
		// The page's first fetch to api. has finished, one way or another.
		chromedp.WaitVisible(chromedp.CSS(`body[data-state="ready"], body[data-state="error"], body[data-state="unauthorized"]`)),
	); err != nil {
		t.Fatalf("log in: %v", err)
	}
	state, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("body"), "data-state"))
	if err != nil {
		t.Fatal(err)
	}
	user, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("user")))
	if err != nil {
		t.Fatal(err)
	}
	if state.Value != "ready" || user != demo.User {
		t.Errorf("app page after login: data-state %q, #user %q; want ready, %s", state.Value, user, demo.User)
	}
}
