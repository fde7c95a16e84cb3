//go:build bench

package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/sso/internal/testproc"
	"github.com/example/sso/internal/testredis"
	"github.com/example/sso/nginx/nginxtest"
)

const (
	domain    = "example.test"
	benchUser = "bench"
	// benchPassword is not a secret: the users file lives in a temporary
	// directory and sso listens on loopback only while the test runs.
	benchPassword = "bench-password"
	// defaultSessions is how many logins the memory measurement makes per
	// sso; SSO_BENCH_SESSIONS lowers it for the smoke run CI makes.
	defaultSessions = 10_000
	sessionsEnv     = "SSO_BENCH_SESSIONS"
	// loginWorkers log in concurrently: bcrypt at MinCost takes about a
	// millisecond, the rest is HTTP and the store.
	loginWorkers = 8
	wrkThreads   = 2
	// roundsEnv sets how many alternating rounds are measured.
	roundsEnv     = "SSO_BENCH_ROUNDS"
	defaultRounds = 3
	// durationEnv overrides the length of each wrk run.
	durationEnv     = "SSO_BENCH_DURATION"
	defaultDuration = 3 * time.Second
	warmup          = time.Second
	// staticFile is what the static scenarios fetch: small, so nginx's
	// own work is mostly TLS and HTTP, which auth_request adds to.
	staticFile = "/bench.html"
)

// wrkConns are the connection counts every scenario runs at.
var wrkConns = []int{32, 64}

// scenario is what one wrk run measures: a URL and the headers that make
// it what it is, and the status every response must have (checked once
// with a Go client before the runs, and by wrk's error count after each).
type scenario struct {
	name    string
	compare []string // baselines (scenario names) it is compared with; nil for a baseline
	url     string
	headers []string     // "Name: value"
	status  int          // every response's
	client  *http.Client // for the check before the run; nil: a plain one
}

// Baselines, each measured in the same rounds as the cases.
const (
	baseGin      = "bare Gin 200"
	baseGinGET   = "Gin + one go-redis GET"
	baseNginxGo  = "nginx auth_request → bare Go handler"
	viaNginxName = "nginx auth_request → sso, cookie (Redis, cache on)"
)

// TestLoad measures, in one run on loopback, what sso's /auth costs for
// each case of issue 10 (valid cookie on Redis and on the in-memory store,
// API key on Redis, no credentials, a garbage cookie), with the
// verified-session cache on and off, at 32 and 64 connections, directly
// and through nginx, against baselines of the same rounds: a bare Gin 200,
// Gin with one go-redis GET, and nginx's auth_request to a bare Go
// handler. The server side (sso, its Redis, nginx, the baselines) is
// pinned to CPU 0 and wrk to CPU 1 when the machine has two (see pinning).
// It prints markdown tables and asserts nothing about speed.
func TestLoad(t *testing.T) {
	wrk := requireTools(t)
	dur := duration(t)
	rounds := roundCount(t)
	begin := time.Now()
	pin := newPinning(t)

	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users.yml")
	writeUsers(t, usersFile, benchPassword)
	web := filepath.Join(dir, "web")
	writeFile(t, filepath.Join(web, staticFile), staticPage)
	script := filepath.Join(dir, "bench.lua")
	writeFile(t, script, WrkScript)

	redisAddr := testredis.Start(t)
	pin.redis(t, redisAddr)

	memPort, redisPort, goPort := testproc.FreePort(t), testproc.FreePort(t), testproc.FreePort(t)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	mem := startSSO(t, pin, "sso (memstore)", memPort, usersFile, "", key)
	memOff := startSSO(t, pin, "sso (memstore, cache off)", memPort, usersFile, "", key, "SSO_AUTH_CACHE=0")
	red := startSSO(t, pin, "sso (Redis)", redisPort, usersFile, "redis://"+redisAddr, key)
	// The same Redis and key with the verified-session cache off: every
	// /auth reads the store (SSO_AUTH_CACHE=0), against the default above.
	redOff := startSSO(t, pin, "sso (Redis, cache off)", redisPort, usersFile, "redis://"+redisAddr, key, "SSO_AUTH_CACHE=0")
	gin := startProcess(t, pin, "basesrv (gin)", "./bench/internal/basesrv", []string{"BASESRV_MODE=gin"})
	ginGET := startProcess(t, pin, "basesrv (gin-get)", "./bench/internal/basesrv", []string{"BASESRV_MODE=gin-get", "BASESRV_REDIS=redis://" + redisAddr})
	bare := startProcess(t, pin, "basesrv (http)", "./bench/internal/basesrv", []string{"BASESRV_MODE=http"})
	// Two nginx with the same snippet: one asks sso, one the bare handler.
	redNginx := startNginx(t, redisPort, red.addr, bare.addr, web)
	goNginx := startNginx(t, goPort, bare.addr, bare.addr, web)
	pin.nginx(t, redNginx)
	pin.nginx(t, goNginx)
	t.Logf("stack up in %v (%s)", time.Since(begin).Round(time.Millisecond), pin)

	// Memory first, on processes that have served nothing else yet, so
	// the load runs' garbage does not hide or inflate the sessions' share.
	// The Redis-backed sso does the same logins and keeps no session: its
	// growth is what logging in itself leaves behind.
	var memRows []MemRow
	memCookie, _, memGrowth := measureSessions(t, &memRows, "sso (memstore)", mem, memPort)
	redCookie, csrf, redGrowth := measureSessions(t, &memRows, "sso (Redis)", red, redisPort)
	memRows = append(memRows, MemRow{"memstore − Redis", "growth per 10k sessions held in sso's memory", memGrowth - redGrowth})
	apiKey := createAPIKey(t, red.addr, redisPort, redCookie, csrf)
	// The in-memory stores are two: the one without the cache needs a
	// session of its own.
	memOffCookie, _, err := login(&http.Client{Timeout: 10 * time.Second}, memOff.addr, memPort)
	if err != nil {
		t.Fatalf("bench: sso (memstore, cache off): %v", err)
	}
	sizes := redisSizes(t, redisAddr)

	u := func(port int, sub, path string) string {
		return "https://" + sub + "." + domain + ":" + strconv.Itoa(port) + path
	}
	// What nginx's /_sso_auth location sends, for the runs without nginx.
	direct := func(port int, extra ...string) []string {
		return append([]string{
			"Host: app." + domain + ":" + strconv.Itoa(port),
			"X-Original-Method: GET",
			"X-Original-URL: " + u(port, "app", staticFile),
			"X-Forwarded-For: 127.0.0.1",
			"X-Forwarded-Proto: https",
			"X-Forwarded-Host: app." + domain + ":" + strconv.Itoa(port),
		}, extra...)
	}
	garbage := "Cookie: " + garbageCookie(redCookie)
	onRedis := []string{baseGin, baseGinGET}
	onGin := []string{baseGin}
	at := func(p process) string { return "http://" + p.addr + "/auth" }
	scenarios := []scenario{
		{name: baseGin, url: at(gin), headers: direct(redisPort), status: 200},
		{name: baseGinGET, url: at(ginGET), headers: direct(redisPort), status: 200},
		{name: baseNginxGo, url: u(goPort, "app", staticFile), headers: []string{"Cookie: " + redCookie}, status: 200, client: goNginx.Client()},
	}
	for _, c := range []struct {
		cache     string
		red, mem  process
		memCookie string
	}{{"on", red, mem, memCookie}, {"off", redOff, memOff, memOffCookie}} {
		scenarios = append(scenarios,
			scenario{name: "valid cookie, Redis, cache " + c.cache, compare: onRedis, url: at(c.red), headers: direct(redisPort, "Cookie: "+redCookie), status: 200},
			scenario{name: "valid cookie, memstore, cache " + c.cache, compare: onGin, url: at(c.mem), headers: direct(memPort, "Cookie: "+c.memCookie), status: 200},
			scenario{name: "API key, Redis, cache " + c.cache, compare: onRedis, url: at(c.red), headers: direct(redisPort, "X-API-Key: "+apiKey), status: 200},
			scenario{name: "no credentials (401), Redis, cache " + c.cache, compare: onGin, url: at(c.red), headers: direct(redisPort), status: 401},
			scenario{name: "garbage cookie (401), Redis, cache " + c.cache, compare: onGin, url: at(c.red), headers: direct(redisPort, garbage), status: 401},
		)
	}
	scenarios = append(scenarios, scenario{name: viaNginxName, compare: []string{baseNginxGo}, url: u(redisPort, "app", staticFile), headers: []string{"Cookie: " + redCookie}, status: 200, client: redNginx.Client()})

	for _, sc := range scenarios {
		client := sc.client
		if client == nil {
			client = &http.Client{Timeout: 5 * time.Second}
		}
		checkOnce(t, client, sc)
		// A short unrecorded run first: heaps, caches, keepalive pools
		// and TLS session caches settle before the measured ones. Not in
		// the smoke run (1s runs), which only keeps the code from rotting.
		if dur > time.Second {
			runWrk(t, pin, wrk, script, warmup, wrkConns[0], sc)
		}
	}
	var runs []Run
	for round := range rounds {
		for _, conns := range wrkConns {
			for _, sc := range scenarios {
				r := runWrk(t, pin, wrk, script, dur, conns, sc)
				runs = append(runs, Run{Scenario: sc.name, Conns: conns, Round: round, Result: r})
				t.Logf("round %d, %d conns, %s: %.0f req/s, p50 %v, p99 %v", round+1, conns, sc.name, r.RPS(), r.P50, r.P99)
			}
		}
	}

	for _, p := range []struct {
		name string
		proc process
	}{{"sso (memstore)", mem}, {"sso (Redis)", red}} {
		rss, hwm := procMem(t, p.proc.pid)
		memRows = append(memRows,
			MemRow{p.name, "VmRSS after the load runs", rss},
			MemRow{p.name, "VmHWM (peak) after the load runs", hwm})
	}

	cases := make([]Case, len(scenarios))
	for i, sc := range scenarios {
		cases[i] = Case{Name: sc.name, Compare: sc.compare}
	}
	fmt.Printf("\n### sso load benchmark (wrk -t%d --latency, %v per run, %d alternating rounds, medians; %d CPUs, %s)\n\n",
		wrkThreads, dur, rounds, runtime.NumCPU(), pin)
	fmt.Print(RatioTable(cases, []string{baseGin, baseGinGET, baseNginxGo}, wrkConns, runs))
	fmt.Printf("\nRatios: req/s over the baseline's req/s in the same round and at the same connections, median over the rounds " +
		"(above 1 is faster than the baseline). Latencies are wrk's, medians over the rounds.\n\n")
	fmt.Print(MemTable(memRows))
	fmt.Printf("\n(%d logins per sso through POST /api/session, bcrypt MinCost; the Redis-backed sso keeps no session and shows what logging in alone leaves behind.)\n\n", sessionCount(t))
	fmt.Print(sizes)
	t.Logf("load run done in %v", time.Since(begin).Round(time.Second))
}

// garbageCookie is cookie ("name=value") with one character of its
// signature changed: well formed, but no signature holds.
func garbageCookie(cookie string) string {
	b := []byte(cookie)
	i := len(b) - 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// roundCount is SSO_BENCH_ROUNDS, or defaultRounds.
func roundCount(t *testing.T) int {
	t.Helper()
	s := os.Getenv(roundsEnv)
	if s == "" {
		return defaultRounds
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 20 {
		t.Fatalf("bench: %s=%q: want a number of rounds from 1 to 20", roundsEnv, s)
	}
	return n
}

// requireTools returns the path of wrk, and skips the test, saying what to
// install, when wrk, nginx or redis-server is missing.
func requireTools(t *testing.T) string {
	t.Helper()
	var missing []string
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		missing = append(missing, "wrk")
	}
	if _, err := nginxtest.Binary(); err != nil {
		missing = append(missing, "nginx")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		missing = append(missing, "redis-server")
	}
	if len(missing) > 0 {
		t.Skipf("bench: load run skipped: %s not installed (Debian: apt-get install %s)", strings.Join(missing, ", "), strings.Join(missing, " "))
	}
	return wrk
}

// sessionCount is SSO_BENCH_SESSIONS, or defaultSessions.
func sessionCount(t *testing.T) int {
	t.Helper()
	s := os.Getenv(sessionsEnv)
	if s == "" {
		return defaultSessions
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 10 || n > 1_000_000 {
		t.Fatalf("bench: %s=%q: want a number of logins from 10 to 1000000", sessionsEnv, s)
	}
	return n
}

func duration(t *testing.T) time.Duration {
	t.Helper()
	s := os.Getenv(durationEnv)
	if s == "" {
		return defaultDuration
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > 5*time.Minute {
		t.Fatalf("bench: %s=%q: want a duration between 1s and 5m, such as 5s", durationEnv, s)
	}
	return d
}

// writeUsers writes a users file with one user whose bcrypt hash has the
// lowest cost, so that thousands of logins take seconds, not minutes of
// argon2id.
func writeUsers(t *testing.T, name, password string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, name, fmt.Sprintf("users:\n  %s:\n    displayname: Bench User\n    email: %s@%s\n    password: %q\n    groups: [dev]\n",
		benchUser, benchUser, domain, hash))
}

// startSSO starts sso with key as its secret, on Redis when redisURL is
// set, with extra settings; instances with the same key read each other's
// cookies.
func startSSO(t *testing.T, pin pinning, name string, httpsPort int, usersFile, redisURL string, key []byte, extra ...string) process {
	t.Helper()
	origin := func(sub string) string { return "https://" + sub + "." + domain + ":" + strconv.Itoa(httpsPort) }
	env := []string{
		"SSO_LISTEN=127.0.0.1:0",
		"SSO_COOKIE_DOMAINS=" + domain,
		"SSO_COOKIE_SECURE=true",
		"SSO_LOGIN_URL=" + origin("login"),
		"SSO_SECRET_KEYS=" + base64.StdEncoding.EncodeToString(key),
		"SSO_USERS_FILE=" + usersFile,
		"SSO_CORS_ORIGINS=" + origin("app") + "," + origin("login"),
		"SSO_TRUSTED_PROXIES=127.0.0.1/32",
	}
	if redisURL != "" {
		env = append(env, "SSO_REDIS_URL="+redisURL)
	}
	return startProcess(t, pin, name, "./cmd/sso", append(env, extra...))
}

func startNginx(t *testing.T, httpsPort int, ssoAddr, apiAddr, web string) *nginxtest.Server {
	t.Helper()
	// Logging half a million requests to a file would measure the disk:
	// "off" at http level cancels the access_log nginxtest's nginx.conf sets.
	return nginxtest.Start(t, nginxtest.Options{
		Vars: map[string]string{
			"SSO_UPSTREAM": ssoAddr,
			"API_UPSTREAM": apiAddr,
			"HTTPS_PORT":   strconv.Itoa(httpsPort),
			"APP_ROOT":     web,
		},
		ExtraHTTP: "access_log off;\n",
	})
}

// checkOnce makes one request of sc with a Go client and fails the test
// unless it gets sc.status: a run against a misconfigured stack would
// measure the wrong thing.
func checkOnce(t *testing.T, client *http.Client, sc scenario) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, sc.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range sc.headers {
		k, v, _ := strings.Cut(h, ": ")
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Add(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("bench: %s: %v", sc.name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != sc.status {
		t.Fatalf("bench: %s: GET %s = %d, want %d", sc.name, sc.url, resp.StatusCode, sc.status)
	}
}

// runWrk runs wrk for sc with conns connections and checks that every response had sc's status.
func runWrk(t *testing.T, pin pinning, wrk, script string, dur time.Duration, conns int, sc scenario) Result {
	t.Helper()
	args := []string{
		"-t", strconv.Itoa(wrkThreads), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(int(dur.Seconds())) + "s", "--timeout", "2s", "--latency", "-s", script,
	}
	for _, h := range sc.headers {
		args = append(args, "-H", h)
	}
	args = append(args, sc.url)
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	out, err := pin.client(ctx, wrk, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("bench: %s: wrk: %v\n%s", sc.name, err, out)
	}
	r, err := ParseWrk(string(out))
	if err != nil {
		t.Fatalf("bench: %s: %v\n%s", sc.name, err, out)
	}
	if r.Requests == 0 {
		t.Fatalf("bench: %s: wrk completed no request\n%s", sc.name, out)
	}
	// wrk counts responses with a status of 400 or more.
	wantStatus := int64(0)
	if sc.status >= 400 {
		wantStatus = r.Requests
	}
	if r.Status != wantStatus {
		t.Errorf("bench: %s: %d of %d responses had a status of 400 or more, want %d (every response %d)\n%s",
			sc.name, r.Status, r.Requests, wantStatus, sc.status, out)
	}
	return r
}

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// staticPage is about the size of a small HTML page or JSON answer.
var staticPage = "<!doctype html>\n<meta charset=\"utf-8\"><title>bench</title>\n<p>" + strings.Repeat("static ", 120) + "</p>\n"
