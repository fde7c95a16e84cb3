//go:build bench

package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/example/sso/internal/testproc"
)

// TestMain lets testproc.Build build cmd/sso and cmd/demoapi once.
func TestMain(m *testing.M) { os.Exit(testproc.Main(m)) }

// process is sso or demoapi as the load run needs it: the address it
// logged as listening on, and its pid for /proc/<pid>/status.
type process struct {
	addr string
	pid  int
}

// startProcess builds the main package pkg (testproc.Build: no race
// detector, which would measure itself), runs it with env on top of the
// caller's environment minus every SSO_, DEMOAPI_ and BASESRV_ variable,
// on the server's CPU (pin), and waits
// until it logs its address. testproc stops it when the test ends.
func startProcess(t *testing.T, pin pinning, name, pkg string, env []string) process {
	t.Helper()
	cmd := pin.server(testproc.Build(t, pkg))
	cmd.Env = append(testproc.Environ("SSO_", "DEMOAPI_", "BASESRV_"), env...)
	p := testproc.Start(t, name, cmd)
	addr, err := p.WaitListening(20 * time.Second)
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	// Start has set cmd.Process, and nothing changes it afterwards.
	return process{addr: addr, pid: cmd.Process.Pid}
}

// procMem returns VmRSS and VmHWM of pid in bytes.
func procMem(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("bench: %v", err)
	}
	rss, hwm, err = ParseProcStatus(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return rss, hwm
}

// measureSessions logs in `sessions` times through sso's JSON API and
// records sso's resident memory before and after. It returns the last
// session's Cookie header value and CSRF token, and the growth per 10k
// sessions in bytes.
func measureSessions(t *testing.T, rows *[]MemRow, name string, p process, httpsPort int) (cookie, csrf string, growth int64) {
	t.Helper()
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: loginWorkers},
	}
	defer client.CloseIdleConnections()
	// One login first, so that the lazily built parts (users, the store's
	// connection pool) are not counted as sessions.
	if _, _, err := login(client, p.addr, httpsPort); err != nil {
		t.Fatalf("bench: %s: %v", name, err)
	}
	rss0, _ := procMem(t, p.pid)
	begin := time.Now()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		lastErr error
		next    = make(chan struct{})
	)
	for range loginWorkers {
		wg.Go(func() {
			for range next {
				c, x, err := login(client, p.addr, httpsPort)
				mu.Lock()
				if err != nil {
					lastErr = err
				} else {
					cookie, csrf = c, x
				}
				mu.Unlock()
			}
		})
	}
	sessions := sessionCount(t)
	for range sessions - 1 {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	if lastErr != nil {
		t.Fatalf("bench: %s: %v", name, lastErr)
	}
	rss1, _ := procMem(t, p.pid)
	t.Logf("%s: %d logins in %v", name, sessions, time.Since(begin).Round(time.Millisecond))
	growth = (rss1 - rss0) * 10_000 / int64(sessions)
	*rows = append(*rows,
		MemRow{name, "VmRSS at start (one session)", rss0},
		MemRow{name, fmt.Sprintf("VmRSS after %d sessions", sessions), rss1},
		MemRow{name, "VmRSS growth per 10k sessions", growth})
	return cookie, csrf, growth
}

// login makes one session through POST /api/session, addressed to the
// login hub as nginx would forward it.
func login(client *http.Client, ssoAddr string, httpsPort int) (cookie, csrf string, err error) {
	body := fmt.Sprintf(`{"username":%q,"password":%q}`, benchUser, benchPassword)
	req, err := http.NewRequest(http.MethodPost, "http://"+ssoAddr+"/api/session", strings.NewReader(body))
	if err != nil {
		return "", "", err
	}
	hub := "login." + domain + ":" + strconv.Itoa(httpsPort)
	req.Host = hub
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", hub)
	req.Header.Set("X-Forwarded-For", "127.0.0.1")
	resp, err := client.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("login: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", "", fmt.Errorf("login: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("login: POST /api/session = %d, want 201: %s", resp.StatusCode, b)
	}
	var out struct {
		Session struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"session"`
		CSRFToken string `json:"csrf_token"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Session.Value == "" {
		return "", "", fmt.Errorf("login: answer %q has no cookie value (%v)", b, err)
	}
	return out.Session.Name + "=" + out.Session.Value, out.CSRFToken, nil
}

// createAPIKey makes an API key for the bench user with the session cookie.
func createAPIKey(t *testing.T, ssoAddr string, httpsPort int, cookie, csrf string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+ssoAddr+"/api/keys", strings.NewReader(`{"name":"bench"}`))
	if err != nil {
		t.Fatal(err)
	}
	hub := "login." + domain + ":" + strconv.Itoa(httpsPort)
	req.Host = hub
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", cookie)
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", hub)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("bench: POST /api/keys: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Key string `json:"key"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &out) != nil || out.Key == "" {
		t.Fatalf("bench: POST /api/keys = %d, want 201 with a key: %s", resp.StatusCode, b)
	}
	return out.Key
}
