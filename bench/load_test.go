//go:build bench

package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
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
	wrkConns     = 32
	// durationEnv overrides the length of each wrk run.
	durationEnv     = "SSO_BENCH_DURATION"
	defaultDuration = 5 * time.Second
	warmup          = time.Second
	// staticFile is what the static scenarios fetch: small, so nginx's
	// own work is mostly TLS and HTTP, which auth_request adds to.
	staticFile = "/bench.html"
)

// scenario is one wrk run: a URL and the headers that make it what it is,
// and the status every response must have (checked once with a Go client
// before the run, and by wrk's error count after it).
type scenario struct {
	name     string
	baseline string // name of the scenario this one is compared with; "" for a baseline
	url      string
	headers  []string     // "Name: value"
	status   int          // every response's
	client   *http.Client // for the check before the run; nil: a plain one
}

// TestLoad measures, in one run on loopback, what sso's /auth costs behind
// nginx and on its own, against baselines from the same run, and how much
// memory sessions take. It prints two markdown tables and asserts nothing
// about speed.
func TestLoad(t *testing.T) {
	wrk := requireTools(t)
	dur := duration(t)
	begin := time.Now()

	dir := t.TempDir()
	usersFile := filepath.Join(dir, "users.yml")
	writeUsers(t, usersFile, benchPassword)
	web := filepath.Join(dir, "web")
	writeFile(t, filepath.Join(web, staticFile), staticPage)
	script := filepath.Join(dir, "bench.lua")
	writeFile(t, script, WrkScript)

	api := startProcess(t, "demoapi", "./cmd/demoapi", []string{"DEMOAPI_LISTEN=127.0.0.1:0"})
	redisAddr := testredis.Start(t)

	// One nginx per sso: the snippet names its upstream "sso". The first
	// also serves the baselines on plain.<domain>: the same file, and
	// demoapi behind the same kind of proxy, without auth_request.
	memPort, redisPort := testproc.FreePort(t), testproc.FreePort(t)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	mem := startSSO(t, "sso (memstore)", memPort, usersFile, "", key)
	red := startSSO(t, "sso (Redis)", redisPort, usersFile, "redis://"+redisAddr, key)
	// The same Redis and key with the verified-session cache off: every
	// /auth reads the store (SSO_AUTH_CACHE=0), against the default above.
	redOff := startSSO(t, "sso (Redis, cache off)", redisPort, usersFile, "redis://"+redisAddr, key, "SSO_AUTH_CACHE=0")
	memNginx := startNginx(t, memPort, mem.addr, api.addr, web, baselineVhost(web))
	redNginx := startNginx(t, redisPort, red.addr, api.addr, web, "")
	t.Logf("stack up in %v", time.Since(begin).Round(time.Millisecond))

	// Memory first, on processes that have served nothing else yet, so
	// the load runs' garbage does not hide or inflate the sessions' share.
	// The Redis-backed sso does the same logins and keeps no session: its
	// growth is what logging in itself leaves behind.
	var memRows []MemRow
	memCookie, csrf, memGrowth := measureSessions(t, &memRows, "sso (memstore)", mem, memPort)
	redCookie, _, redGrowth := measureSessions(t, &memRows, "sso (Redis)", red, redisPort)
	memRows = append(memRows, MemRow{"memstore − Redis", "growth per 10k sessions held in sso's memory", memGrowth - redGrowth})
	apiKey := createAPIKey(t, mem.addr, memPort, memCookie, csrf)

	goBase := startTrivial(t)

	u := func(port int, sub, path string) string {
		return "https://" + sub + "." + domain + ":" + strconv.Itoa(port) + path
	}
	fetch := []string{"Origin: " + u(memPort, "app", ""), "Sec-Fetch-Mode: cors", "Sec-Fetch-Site: same-site", "Sec-Fetch-Dest: empty", "Accept: application/json"}
	// What nginx's /_sso_auth location sends, for the runs without nginx.
	direct := func(cookie string) []string {
		h := []string{
			"Host: app." + domain + ":" + strconv.Itoa(memPort),
			"X-Original-Method: GET",
			"X-Original-URL: " + u(memPort, "app", staticFile),
			"X-Forwarded-For: 127.0.0.1",
			"X-Forwarded-Proto: https",
			"X-Forwarded-Host: app." + domain + ":" + strconv.Itoa(memPort),
		}
		if cookie != "" {
			h = append(h, "Cookie: "+cookie)
		}
		return h
	}
	const (
		baseA = "A: static file, nginx TLS, no auth"
		baseB = "B: demoapi via nginx, no auth"
		baseC = "C: trivial Go handler, plain HTTP"
	)
	mc, rc := memNginx.Client(), redNginx.Client()
	scenarios := []scenario{
		{name: baseA, url: u(memPort, "plain", staticFile), status: 200, client: mc},
		{name: "static file + sso cookie (memstore)", baseline: baseA, url: u(memPort, "app", staticFile), headers: []string{"Cookie: " + memCookie}, status: 200, client: mc},
		{name: "static file + sso cookie (Redis)", baseline: baseA, url: u(redisPort, "app", staticFile), headers: []string{"Cookie: " + redCookie}, status: 200, client: rc},
		{name: "anonymous fetch → 401 (memstore)", baseline: baseA, url: u(memPort, "api", "/me"), headers: fetch, status: 401, client: mc},
		{name: baseB, url: u(memPort, "plain", "/api/me"), headers: fetch, status: 200, client: mc},
		{name: "demoapi + sso cookie (memstore)", baseline: baseB, url: u(memPort, "api", "/me"), headers: append([]string{"Cookie: " + memCookie}, fetch...), status: 200, client: mc},
		{name: "demoapi + API key Bearer (memstore)", baseline: baseB, url: u(memPort, "api", "/me"), headers: []string{"Authorization: Bearer " + apiKey, "Accept: application/json"}, status: 200, client: mc},
		{name: baseC, url: "http://" + goBase + "/auth", headers: direct(memCookie), status: 200},
		{name: "sso /auth direct, cookie (memstore)", baseline: baseC, url: "http://" + mem.addr + "/auth", headers: direct(memCookie), status: 200},
		{name: "sso /auth direct, cookie (Redis, cache on)", baseline: baseC, url: "http://" + red.addr + "/auth", headers: direct(redCookie), status: 200},
		{name: "sso /auth direct, cookie (Redis, cache off)", baseline: baseC, url: "http://" + redOff.addr + "/auth", headers: direct(redCookie), status: 200},
		{name: "sso /auth direct, anonymous → 401", baseline: baseC, url: "http://" + mem.addr + "/auth", headers: direct(""), status: 401},
	}
	results := map[string]*Result{}
	var rows []Row
	for _, sc := range scenarios {
		client := sc.client
		if client == nil {
			client = &http.Client{Timeout: 5 * time.Second}
		}
		checkOnce(t, client, sc)
		// A short unrecorded run first: heaps, upstream keepalive pools and
		// TLS session caches settle before the measured one.
		runWrk(t, wrk, script, warmup, sc)
		r := runWrk(t, wrk, script, dur, sc)
		results[sc.name] = &r
		short, _, _ := strings.Cut(sc.baseline, ":") // "A: static file, …" → "A"
		rows = append(rows, Row{Name: sc.name, Result: r, Baseline: short, Base: results[sc.baseline]})
		t.Logf("%s: %.0f req/s, p50 %v, p99 %v", sc.name, r.RPS(), r.P50, r.P99)
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

	fmt.Printf("\n### sso load benchmark (wrk -t%d -c%d -d%v --latency, loopback, %d CPUs)\n\n", wrkThreads, wrkConns, dur, runtime.NumCPU())
	fmt.Print(LoadTable(rows))
	fmt.Printf("\nRatios: req/s over the baseline's req/s (below 1 is slower); latency over the baseline's latency (above 1 is slower). " +
		"wrk, nginx, sso, Redis and demoapi share the machine's CPUs, so p99 is noisy; compare ratios within one run only.\n\n")
	fmt.Print(MemTable(memRows))
	fmt.Printf("\n(%d logins per sso through POST /api/session, bcrypt MinCost; the Redis-backed sso keeps no session and shows what logging in alone leaves behind.)\n", sessionCount(t))
	t.Logf("load run done in %v", time.Since(begin).Round(time.Second))
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
func startSSO(t *testing.T, name string, httpsPort int, usersFile, redisURL string, key []byte, extra ...string) process {
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
	return startProcess(t, name, "./cmd/sso", append(env, extra...))
}

func startNginx(t *testing.T, httpsPort int, ssoAddr, apiAddr, web, extra string) *nginxtest.Server {
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
		ExtraHTTP: "access_log off;\n" + extra,
	})
}

// baselineVhost serves what app.<domain> and api.<domain> serve, without
// sso: the static root, and demoapi under /api/ through the same upstream
// and proxy settings, with the identity headers demoapi wants set to
// constants (it answers 401 without X-Auth-User).
func baselineVhost(web string) string {
	return `
server {
    listen ${LISTEN_ADDR}:${HTTPS_PORT} ssl;
    server_name plain.${SSO_DOMAIN};
    root ` + web + `;
    location / {
        try_files $uri $uri/ =404;
    }
    location /api/ {
        proxy_pass http://sso_demo_api/;
        proxy_http_version 1.1;
        proxy_set_header Connection        "";
        proxy_set_header Host              $host;
        proxy_set_header X-Forwarded-For   $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host  $http_host;
        proxy_set_header X-Auth-User       ` + benchUser + `;
        proxy_set_header X-Auth-Email      ` + benchUser + `@${SSO_DOMAIN};
        proxy_set_header X-Auth-Groups     dev;
        proxy_connect_timeout 2s;
        proxy_read_timeout    30s;
    }
}
`
}

// startTrivial serves the smallest answer a Go HTTP server can give, with
// one header as /auth gives several: the floor for sso's /auth measured
// directly. It runs in this process, idle during every other run.
func startTrivial(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Auth-User", benchUser)
			w.WriteHeader(http.StatusOK)
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return ln.Addr().String()
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

// runWrk runs wrk for sc and checks that every response had sc's status.
func runWrk(t *testing.T, wrk, script string, dur time.Duration, sc scenario) Result {
	t.Helper()
	args := []string{
		"-t", strconv.Itoa(wrkThreads), "-c", strconv.Itoa(wrkConns),
		"-d", strconv.Itoa(int(dur.Seconds())) + "s", "--timeout", "2s", "--latency", "-s", script,
	}
	for _, h := range sc.headers {
		args = append(args, "-H", h)
	}
	args = append(args, sc.url)
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, wrk, args...).CombinedOutput()
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
