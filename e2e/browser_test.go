//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
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

// chromium is the one Chromium process the scenarios of a run share. Each
// scenario gets a browser context of its own (newBrowser): its own cookies,
// cache and storage, like a fresh profile, without a process start each.
type chromium struct {
	bin string
	ctx context.Context // the process's first tab: the parent of every browser context

	logMu  sync.Mutex
	t      *testing.T // the test that owns the process
	closed bool       // t may no longer log
}

// logf logs chromedp's messages until the process is closed.
func (c *chromium) logf(format string, args ...any) {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	if !c.closed {
		c.t.Logf("chromedp: "+format, args...)
	}
}

// startChromium starts Chromium with a fresh profile; it stops when t ends.
func startChromium(t *testing.T, st *stack) *chromium {
	t.Helper()
	c := &chromium{bin: chromiumPath(t), t: t}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(c.bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("host-resolver-rules", "MAP *."+domain+" 127.0.0.1, MAP "+domain+" 127.0.0.1, MAP "+evilHost+" 127.0.0.1"),
		chromedp.Flag("ignore-certificate-errors-spki-list", st.spki),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 768),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// Protocol noise (events of unknown types) goes to the test log, shown
	// with -v or on failure; it is never a failure by itself.
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(c.logf))
	c.ctx = ctx
	t.Cleanup(func() {
		// Close the browser gracefully, then the allocator, which waits
		// for the process to exit (before t.TempDir removes the profile).
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		_ = chromedp.Cancel(cctx)
		cancel()
		cancelAlloc()
		c.logMu.Lock()
		c.closed = true
		c.logMu.Unlock()
	})
	// The first Run starts the browser and ties it to ctx, so it must not
	// carry a timeout; a watchdog bounds the start instead.
	begin := time.Now()
	if err := firstRun(ctx, cancel, startTimeout); err != nil {
		t.Fatalf("e2e: start %s: %v", c.bin, err)
	}
	t.Logf("chromium up in %v", time.Since(begin).Round(time.Millisecond))
	return c
}

// firstRun runs nothing on ctx, which starts its browser or opens its tab
// and ties it to ctx, within timeout (cancelling ctx when it passes).
func firstRun(ctx context.Context, cancel context.CancelFunc, timeout time.Duration) error {
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		return err
	case <-time.After(timeout):
		cancel()
		return fmt.Errorf("no answer within %v", timeout)
	}
}

// browser is one scenario's browser context in the shared Chromium, and its
// tabs.
type browser struct {
	t     *testing.T
	st    *stack
	tabs  []*tab
	dir   string // artifacts on failure
	saved bool
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
	hops    map[network.RequestID]*hops // the hops of each request id
	order   []*netRequest               // every hop, in order
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
	// RespRaw are the response headers as received (extra info), lower-case
	// names; several Set-Cookie headers are joined by "\n".
	RespRaw map[string]string
}

// setCookies returns the Set-Cookie headers of the answer, parsed.
func (r *netRequest) setCookies() []*http.Cookie {
	var out []*http.Cookie
	for line := range strings.SplitSeq(r.RespRaw["set-cookie"], "\n") {
		if c, err := http.ParseSetCookie(line); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// sentCookies lists the values of the cookies named name the request
// carried, in the order sent.
func (r *netRequest) sentCookies(name string) []string {
	var out []string
	for _, c := range r.Cookies {
		if c.Cookie != nil && c.Cookie.Name == name && len(c.BlockedReasons) == 0 {
			out = append(out, c.Cookie.Value)
		}
	}
	return out
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
	var set []string
	for _, c := range r.setCookies() {
		set = append(set, fmt.Sprintf("%s@%s%s(max-age=%d)", c.Name, c.Domain, c.Path, c.MaxAge))
	}
	return fmt.Sprintf("%s %s %s origin=%q status=%d failed=%q cookies=%v cookie-header=%v set-cookie=%v",
		r.Type, r.Method, r.URL, r.Origin, r.Status, r.Failed, cookies, r.Raw["cookie"] != "", set)
}

// newBrowser opens a fresh browser context (cookies, cache and storage of
// its own) with one tab in the run's Chromium. On failure of t, it saves a
// screenshot of each tab, the console and network logs, and the server logs
// into e2e/artifacts/<TestName>/ before the context closes.
func newBrowser(t *testing.T, st *stack) *tab {
	t.Helper()
	if st.chrome == nil {
		t.Fatal("e2e: newBrowser needs the run's Chromium (startChromium)")
	}
	b := &browser{t: t, st: st, dir: artifactDir(t)}
	_ = os.RemoveAll(b.dir) // leftovers of an earlier failed run
	ctx, cancel := chromedp.NewContext(st.chrome.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(func() {
		defer b.slow("close the browser context", time.Now())
		// Close the other tabs, then the first, which disposes of the
		// browser context.
		for _, tb := range b.tabs[min(1, len(b.tabs)):] {
			tb.cancel()
		}
		cancel()
		for _, tb := range b.tabs {
			tb.wg.Wait()
		}
	})
	// Registered after the close above, so it runs first, while the browser
	// still answers.
	t.Cleanup(func() {
		if t.Failed() {
			b.saveArtifacts()
			t.Logf("artifacts (screenshot, console, network, server logs) in %s", b.absDir())
		}
	})
	if err := firstRun(ctx, cancel, startTimeout); err != nil {
		t.Fatalf("e2e: open a browser context in %s: %v", st.chrome.bin, err)
	}
	return b.attach("tab1", ctx, cancel)
}

// newTab opens another tab in the same browser context (same cookies).
func (b *browser) newTab() *tab {
	b.t.Helper()
	// Closed by newBrowser's clean-up, after the artifacts are saved.
	ctx, cancel := chromedp.NewContext(b.tabs[0].ctx)
	// Open the tab (the first Run on ctx, no timeout: see firstRun).
	if err := firstRun(ctx, cancel, stepTimeout); err != nil {
		b.tabs[0].fatalf("open a second tab: %v", err)
	}
	return b.attach(fmt.Sprintf("tab%d", len(b.tabs)+1), ctx, cancel)
}

// attach starts recording the console and network events of the tab.
func (b *browser) attach(name string, ctx context.Context, cancel context.CancelFunc) *tab {
	tb := &tab{b: b, name: name, ctx: ctx, cancel: cancel, hops: map[network.RequestID]*hops{}}
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
//
// A request id names every hop of a redirect chain, and Chromium sends the
// extra-info events (headers as sent and as received) in no fixed order
// relative to requestWillBeSent and to each other: a redirect's answer may
// be reported after the next hop was announced. Each kind of event comes
// once per hop, in hop order, so the k-th event of a kind belongs to the
// k-th hop.
func (tb *tab) onEvent(ev any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	hop := func(id network.RequestID, k int) *netRequest {
		h := tb.hops[id]
		if h == nil {
			h = &hops{}
			tb.hops[id] = h
		}
		for len(h.list) <= k {
			r := &netRequest{ID: id}
			h.list = append(h.list, r)
			tb.order = append(tb.order, r)
		}
		return h.list[k]
	}
	next := func(id network.RequestID, n func(*hops) *int) *netRequest {
		hop(id, 0)
		i := n(tb.hops[id])
		r := hop(id, *i)
		*i++
		return r
	}
	last := func(id network.RequestID) *netRequest {
		hop(id, 0)
		return hop(id, max(tb.hops[id].sent-1, 0))
	}
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if ev.RedirectResponse != nil {
			// The hop that was redirected stays in the log as a
			// request of its own.
			last(ev.RequestID).Status = ev.RedirectResponse.Status
		}
		r := next(ev.RequestID, func(h *hops) *int { return &h.sent })
		r.Type, r.Method, r.URL, r.Doc = ev.Type, ev.Request.Method, ev.Request.URL, ev.DocumentURL
		if o := header(ev.Request.Headers, "origin"); o != "" && r.Origin == "" {
			r.Origin = o
		}
	case *network.EventRequestWillBeSentExtraInfo:
		r := next(ev.RequestID, func(h *hops) *int { return &h.sentExtra })
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
		last(ev.RequestID).Status = ev.Response.Status
	case *network.EventResponseReceivedExtraInfo:
		r := next(ev.RequestID, func(h *hops) *int { return &h.answered })
		r.RespRaw = map[string]string{}
		for k, v := range ev.Headers {
			r.RespRaw[strings.ToLower(k)] = fmt.Sprint(v)
		}
		if r.Status == 0 {
			r.Status = ev.StatusCode
		}
	case *network.EventLoadingFailed:
		r := last(ev.RequestID)
		r.Failed = ev.ErrorText
		if ev.CorsErrorStatus != nil {
			r.Failed += " cors=" + string(ev.CorsErrorStatus.CorsError)
		}
		if ev.BlockedReason != "" {
			r.Failed += " blocked=" + string(ev.BlockedReason)
		}
	}
}

// hops are the hops of one request id, and how many events of each kind
// have been assigned to them.
type hops struct {
	list                      []*netRequest
	sent, sentExtra, answered int
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

// waitResponse is waitRequest that also waits for the answer's headers as
// received (Set-Cookie).
func (tb *tab) waitResponse(what string, match func(*netRequest) bool) netRequest {
	tb.b.t.Helper()
	return tb.waitRequest(what, func(r *netRequest) bool { return match(r) && (r.Failed != "" || r.RespRaw != nil) })
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

// allCookies returns every cookie of the browser context, for every host and
// path (Storage.getCookies): what a sibling planted, wherever it planted it.
func (tb *tab) allCookies() []*network.Cookie {
	tb.b.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	// On the browser endpoint, naming the context: on a page's session
	// it answers for the default context.
	id := chromedp.FromContext(tb.ctx).BrowserContextID
	res, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{BrowserContextID: id})
	if err != nil {
		tb.fatalf("Storage.getCookies: %v", err)
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
