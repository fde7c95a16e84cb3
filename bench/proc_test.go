//go:build bench

package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// process is a program the test started; it gets SIGINT when the test ends.
type process struct {
	name string
	addr string // the address it logged as listening on
	pid  int
	log  *tailBuffer
}

// buildBinaries builds cmd/sso and cmd/demoapi without the race detector
// (which would measure itself) into a temporary directory.
func buildBinaries(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("bench: the go command is needed to build cmd/sso: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(goBin, "build", "-o", dir+string(filepath.Separator), "./cmd/sso", "./cmd/demoapi")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bench: go build ./cmd/sso ./cmd/demoapi: %v\n%s", err, out)
	}
	return dir
}

// listening matches the start-up line of sso and demoapi (slog text):
// msg="sso listening" addr=127.0.0.1:41234.
var listening = regexp.MustCompile(`msg="\w+ listening" addr=(\S+)`)

// startProcess runs bin with env (on top of the caller's environment minus
// every SSO_ and DEMOAPI_ variable) and waits until it logs its address.
func startProcess(t *testing.T, name, bin string, env []string) *process {
	t.Helper()
	cmd := exec.Command(bin)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SSO_") && !strings.HasPrefix(kv, "DEMOAPI_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	log := &tailBuffer{max: 64 << 10}
	cmd.Stdout = log
	if err := cmd.Start(); err != nil {
		t.Fatalf("bench: start %s: %v", name, err)
	}
	addrc := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			_, _ = log.Write([]byte(line + "\n"))
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case addrc <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(log, stderr)
	}()
	exited := make(chan error, 1)
	go func() {
		<-copied // Wait closes the pipe: read everything first
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("%s log (tail):\n%s", name, log.String())
		}
	})
	select {
	case addr := <-addrc:
		return &process{name: name, addr: addr, pid: cmd.Process.Pid, log: log}
	case err := <-exited:
		t.Fatalf("bench: %s exited before listening: %v\n%s", name, err, log.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("bench: %s not listening after 20s:\n%s", name, log.String())
	}
	return nil
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
func measureSessions(t *testing.T, rows *[]MemRow, name string, p *process, httpsPort int) (cookie, csrf string, growth int64) {
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
	growth = (rss1 - rss0) * 10_000 / sessions
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

// tailBuffer keeps the last max bytes written to it: the processes run for
// the whole benchmark and the logins alone log thousands of lines.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if extra := b.buf.Len() - b.max; extra > 0 {
		b.buf.Next(extra)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
