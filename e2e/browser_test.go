//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/example/sso/internal/testproc"
)

// Timeouts of single browser steps. Generous for a loaded 2-core machine,
// short enough that a hang fails within the run's budget.
const (
	startTimeout = 30 * time.Second
	navTimeout   = 15 * time.Second
	stepTimeout  = 10 * time.Second
)

// RequireChromiumEnv turns a missing Chromium into a failure.
const RequireChromiumEnv = "SSO_REQUIRE_CHROMIUM"

// chromiumPath returns $SSO_CHROMIUM or the first Chromium found; it skips
// the test (fails with SSO_REQUIRE_CHROMIUM=1) when there is none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SSO_CHROMIUM"); p != "" {
		return p
	}
	return testproc.RequireTool(t, RequireChromiumEnv, "/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
}

// browser is one Chromium process with a fresh profile, and its tabs.
type browser struct {
	t     *testing.T
	st    *stack
	bin   string
	tabs  []*tab
	dir   string // artifacts on failure
	saved bool

	logMu  sync.Mutex
	closed bool // t may no longer log
}

// logf logs chromedp's messages until the test ends.
func (b *browser) logf(format string, args ...any) {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	if !b.closed {
		b.t.Logf("chromedp: "+format, args...)
	}
}

// tab is one page of the browser, with what it logged and requested.
type tab struct {
	b      *browser
	name   string
	ctx    context.Context
	cancel context.CancelFunc // closes the tab (or, for the first, the browser)
	wg     sync.WaitGroup

	mu      sync.Mutex
	console []string
	reqs    map[network.RequestID]*netRequest // the current hop of each request
	order   []*netRequest                     // every hop, in order
}

// netRequest is what the DevTools protocol told about one request.
type netRequest struct {
	ID          network.RequestID
	Type        network.ResourceType
	Method, URL string
	Doc         string            // URL of the document that made the request
	Origin      string            // the Origin header, as the page sent it
	Raw         map[string]string // headers as sent over the wire (extra info), lower-case names
	Cookies     []*network.AssociatedCookie
	Status      int64
	Failed      string // loadingFailed: errorText, CORS error
}

// cookieSent reports whether the request carried a cookie named name.
func (r *netRequest) cookieSent(name string) bool {
	for _, c := range r.Cookies {
		if c.Cookie != nil && c.Cookie.Name == name && len(c.BlockedReasons) == 0 {
			return true
		}
	}
	return strings.Contains(r.Raw["cookie"], name+"=")
}

func (r *netRequest) String() string {
	var cookies []string
	for _, c := range r.Cookies {
		if c.Cookie == nil {
			continue
		}
		s := c.Cookie.Name
		if len(c.BlockedReasons) > 0 {
			s += fmt.Sprintf(" blocked%v", c.BlockedReasons)
		} else {
			s += " sent"
		}
		cookies = append(cookies, s)
	}
	return fmt.Sprintf("%s %s %s origin=%q status=%d failed=%q cookies=%v cookie-header=%v",
		r.Type, r.Method, r.URL, r.Origin, r.Status, r.Failed, cookies, r.Raw["cookie"] != "")
}

// newBrowser starts Chromium with a fresh profile. On failure of t, it saves
// a screenshot of each tab, the console and network logs, and the server
// logs into e2e/artifacts/<TestName>/ before the browser closes.
func newBrowser(t *testing.T, st *stack) *tab {
	t.Helper()
	b := &browser{
		t:   t,
		st:  st,
		bin: chromiumPath(t),
		dir: artifactDir(t),
	}
	_ = os.RemoveAll(b.dir) // leftovers of an earlier failed run
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(b.bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("host-resolver-rules", "MAP *."+domain+" 127.0.0.1, MAP "+evilHost+" 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", st.spki),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 768),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// Protocol noise (events of unknown types) goes to the test log, shown
	// with -v or on failure; it is never a failure by itself.
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(b.logf))
	t.Cleanup(func() {
		defer b.slow("close the browser", time.Now())
		// Close the other tabs, then the browser gracefully, then the
		// allocator, which waits for the process to exit (before
		// t.TempDir removes the profile).
		for _, tb := range b.tabs[min(1, len(b.tabs)):] {
			tb.cancel()
		}
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		_ = chromedp.Cancel(cctx)
		cancel()
		cancelAlloc()
		for _, tb := range b.tabs {
			tb.wg.Wait()
		}
		b.logMu.Lock()
		b.closed = true
		b.logMu.Unlock()
	})
	// Registered after the close above, so it runs first, while the browser
	// still answers.
	t.Cleanup(func() {
		if t.Failed() {
			b.saveArtifacts()
			t.Logf("artifacts (screenshot, console, network, server logs) in %s", b.absDir())
		}
	})

	// The first Run starts the browser and ties it to ctx, so it must not
	// carry a timeout; a watchdog bounds the start instead.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("e2e: start %s: %v", b.bin, err)
		}
	case <-time.After(startTimeout):
		cancel()
		t.Fatalf("e2e: %s did not start within %v", b.bin, startTimeout)
	}
	return b.attach("tab1", ctx, cancel)
}

// newTab opens another tab in the same browser (same profile and cookies).
func (b *browser) newTab() *tab {
	b.t.Helper()
	// Closed by newBrowser's clean-up, after the artifacts are saved.
	ctx, cancel := chromedp.NewContext(b.tabs[0].ctx)
	// Open the tab (the first Run on ctx, no timeout: see newBrowser).
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			b.tabs[0].fatalf("open a second tab: %v", err)
		}
	case <-time.After(stepTimeout):
		cancel()
		b.tabs[0].fatalf("open a second tab: no answer within %v", stepTimeout)
	}
	return b.attach(fmt.Sprintf("tab%d", len(b.tabs)+1), ctx, cancel)
}

// attach starts recording the console and network events of the tab.
func (b *browser) attach(name string, ctx context.Context, cancel context.CancelFunc) *tab {
	tb := &tab{b: b, name: name, ctx: ctx, cancel: cancel, reqs: map[network.RequestID]*netRequest{}}
	b.tabs = append(b.tabs, tb)
	messages := chromedp.Console(ctx)
	tb.wg.Add(1)
	go func() {
		defer tb.wg.Done()
		for m, err := range messages {
			if err != nil {
				return
			}
			line := m.Time.Format("15:04:05.000") + " " + m.String()
			if m.URL != "" {
				line += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
			}
			tb.mu.Lock()
			tb.console = append(tb.console, line)
			tb.mu.Unlock()
		}
	}()
	if err := chromedp.Listen(ctx, tb.onEvent); err != nil {
		b.t.Fatalf("e2e: listen to %s: %v", name, err)
	}
	return tb
}

// onEvent runs on chromedp's reader goroutine: record and return.
func (tb *tab) onEvent(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	get := func(id network.RequestID) *netRequest {
		r, ok := tb.reqs[id]
		if !ok {
			r = &netRequest{ID: id}
			tb.reqs[id] = r
			tb.order = append(tb.order, r)
		}
		return r
	}
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.RedirectResponse != nil {
			// The same id continues after a redirect: the hop that was
			// redirected stays in the log as a request of its own.
			get(ev.RequestID).Status = ev.RedirectResponse.Status
			delete(tb.reqs, ev.RequestID)
		}
		r := get(ev.RequestID)
		r.Type, r.Method, r.URL, r.Doc = ev.Type, ev.Request.Method, ev.Request.URL, ev.DocumentURL
		if o := header(ev.Request.Headers, "origin"); o != "" {
			r.Origin = o
		}
	case *network.EventRequestWillBeSentExtraInfo:
		r := get(ev.RequestID)
		r.Raw = map[string]string{}
		for k, v := range ev.Headers {
			r.Raw[strings.ToLower(k)] = fmt.Sprint(v)
		}
		r.Cookies = ev.AssociatedCookies
		if o := r.Raw["origin"]; o != "" {
			// The network stack adds Origin after requestWillBeSent.
			r.Origin = o
		}
	case *network.EventResponseReceived:
		get(ev.RequestID).Status = ev.Response.Status
	case *network.EventLoadingFailed:
		r := get(ev.RequestID)
		r.Failed = ev.ErrorText
		if ev.CorsErrorStatus != nil {
			r.Failed += " cors=" + string(ev.CorsErrorStatus.CorsError)
		}
		if ev.BlockedReason != "" {
			r.Failed += " blocked=" + string(ev.BlockedReason)
		}
	}
}

func header(h network.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// requests returns the recorded requests that match, in order.
func (tb *tab) requests(match func(*netRequest) bool) []netRequest {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var out []netRequest
	for _, r := range tb.order {
		if match(r) {
			out = append(out, *r)
		}
	}
	return out
}

// waitRequest waits until a request that match accepts has failed, or has
// an answer and its extra info (the headers as sent) has arrived.
func (tb *tab) waitRequest(what string, match func(*netRequest) bool) netRequest {
	tb.b.t.Helper()
	defer tb.slow(what, time.Now())
	deadline := time.Now().Add(stepTimeout)
	for {
		for _, r := range tb.requests(match) {
			if r.Failed != "" || (r.Status != 0 && r.Raw != nil) {
				return r
			}
		}
		if time.Now().After(deadline) {
			tb.fatalf("%s: no finished request within %v; requests seen:\n%s", what, stepTimeout, tb.networkLog())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// do runs actions with a timeout; what names the step in the failure.
func (tb *tab) do(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	tb.b.t.Helper()
	defer tb.slow(what, time.Now())
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.fatalf("%s: %v", what, err)
	}
}

// slow logs a step that took long: the run has a time budget.
func (tb *tab) slow(what string, begin time.Time) { tb.b.slow(tb.name+": "+what, begin) }

func (b *browser) slow(what string, begin time.Time) {
	if d := time.Since(begin); d > 2*time.Second {
		b.t.Logf("slow step (%v): %s", d.Round(time.Millisecond), what)
	}
}

// run runs one action with a timeout and returns its value.
func run[T any](tb *tab, what string, timeout time.Duration, action chromedp.Action[T]) T {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		tb.fatalf("%s: %v", what, err)
	}
	return v
}

// eval evaluates a JavaScript expression (promises awaited) in the page.
func (tb *tab) eval(what, expr string) string {
	tb.b.t.Helper()
	return run(tb, what, stepTimeout, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
}

// navigate opens url and waits for the load event of the final page (after
// redirects).
func (tb *tab) navigate(url string) {
	tb.b.t.Helper()
	tb.do("navigate to "+url, navTimeout, chromedp.Navigate(url))
}

// pageState is where the tab is and what the page says of itself.
type pageState struct {
	URL, State, Ready string // location.href, body[data-state], document.readyState
}

// waitPage polls until ok accepts the page. It survives navigations (an
// evaluation that fails while a page is replaced is retried), which
// chromedp.Poll does not.
func (tb *tab) waitPage(what string, timeout time.Duration, ok func(pageState) bool) pageState {
	tb.b.t.Helper()
	defer tb.slow(what, time.Now())
	deadline := time.Now().Add(timeout)
	var last pageState
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
			`[location.href, (document.body && document.body.dataset.state) || "", document.readyState]`))
		cancel()
		if err == nil && len(v) == 3 {
			last, lastErr = pageState{URL: v[0], State: v[1], Ready: v[2]}, nil
			if ok(last) {
				return last
			}
			if strings.HasPrefix(last.URL, "chrome-error:") {
				// A network error page (redirect loop, TLS, refused): no
				// point in waiting.
				tb.fatalf("%s: the browser shows an error page; documents requested:\n%s", what, tb.documentLog())
			}
		} else if err != nil {
			lastErr = err
		}
		if time.Now().After(deadline) || tb.ctx.Err() != nil {
			tb.fatalf("%s: not reached within %v; last page %+v, last error %v", what, timeout, last, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// text returns the text of the element with id.
func (tb *tab) text(id string) string {
	tb.b.t.Helper()
	return run(tb, "read #"+id, stepTimeout, chromedp.TextContent(chromedp.ID(id)))
}

// cookies returns the cookies the browser would send to url.
func (tb *tab) cookies(url string) []*network.Cookie {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		tb.fatalf("Network.getCookies(%s): %v", url, err)
	}
	return res.Cookies
}

// fatalf saves the artifacts and fails the test, naming where they are.
func (tb *tab) fatalf(format string, args ...any) {
	tb.b.t.Helper()
	tb.b.saveArtifacts()
	tb.b.t.Fatalf("%s: %s\n(artifacts: %s)", tb.name, fmt.Sprintf(format, args...), tb.b.absDir())
}

// errorf reports a failed check; the artifacts are saved when the test ends.
func (tb *tab) errorf(format string, args ...any) {
	tb.b.t.Helper()
	tb.b.t.Errorf("%s: %s\n(artifacts: %s)", tb.name, fmt.Sprintf(format, args...), tb.b.absDir())
}

func (tb *tab) consoleLog() string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return strings.Join(tb.console, "\n")
}

// documentLog lists the page loads (navigations, redirects, form posts).
func (tb *tab) documentLog() string {
	var lines []string
	for _, r := range tb.requests(func(r *netRequest) bool { return r.Type == network.ResourceTypeDocument }) {
		lines = append(lines, r.String())
	}
	if n := len(lines); n > 12 { // a redirect loop: its start says enough
		lines = append(lines[:10], fmt.Sprintf("… %d more (see the network log)", n-10))
	}
	return strings.Join(lines, "\n")
}

// list formats requests one a line.
func list(reqs []netRequest) string {
	if len(reqs) == 0 {
		return "none"
	}
	var b strings.Builder
	for i := range reqs {
		b.WriteString("\n\t" + reqs[i].String())
	}
	return b.String()
}

func (tb *tab) networkLog() string {
	var lines []string
	for _, r := range tb.requests(func(*netRequest) bool { return true }) {
		lines = append(lines, r.String())
	}
	return strings.Join(lines, "\n")
}

func (b *browser) absDir() string {
	if abs, err := filepath.Abs(b.dir); err == nil {
		return abs
	}
	return b.dir
}

// saveArtifacts writes, once, for each tab a screenshot, its URL and HTML,
// its console and network log, and the logs of sso and demoapi.
func (b *browser) saveArtifacts() {
	if b.saved {
		return
	}
	b.saved = true
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		b.t.Logf("e2e: artifacts: %v", err)
		return
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(b.dir, name), data, 0o644); err != nil {
			b.t.Logf("e2e: artifacts: %v", err)
		}
	}
	for _, tb := range b.tabs {
		ctx, cancel := context.WithTimeout(tb.ctx, 5*time.Second)
		if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			write(tb.name+"-screenshot.png", png)
		} else {
			b.t.Logf("e2e: screenshot of %s: %v", tb.name, err)
		}
		page, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n\n" + document.documentElement.outerHTML`))
		if err != nil {
			page = "e2e: page unreadable: " + err.Error()
		}
		cancel()
		write(tb.name+"-page.html", []byte(page))
		write(tb.name+"-console.log", []byte(tb.consoleLog()+"\n"))
		write(tb.name+"-network.log", []byte(tb.networkLog()+"\n"))
	}
	names := make([]string, 0, len(b.st.procs))
	for n := range b.st.procs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		write(n+".log", []byte(b.st.procs[n].Output()))
	}
	var api []string
	for _, r := range b.st.api.since(0) {
		api = append(api, r.String())
	}
	write("api-upstream.log", []byte(strings.Join(api, "\n")+"\n"))
	if log, err := os.ReadFile(filepath.Join(b.st.nginx.Dir, "logs", "access.log")); err == nil {
		write("nginx-access.log", log)
	}
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// artifactDir is artifacts/<Test>/<Subtest>, each part file-name safe.
func artifactDir(t *testing.T) string {
	parts := []string{"artifacts"}
	for _, p := range strings.Split(t.Name(), "/") {
		parts = append(parts, unsafeName.ReplaceAllString(p, "_"))
	}
	return filepath.Join(parts...)
}

// isTypeError reports whether a hostile page recorded a rejected fetch.
func isTypeError(s string) bool { return strings.HasPrefix(s, "TypeError") }
