package bench

import (
	"strings"
	"testing"
	"time"
)

// wrkOutput is what wrk 4.1 prints with --latency and WrkScript's done().
const wrkOutput = `Running 5s test @ https://app.example.test:40000/bench.html
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms    1.20ms  20.00ms   80.00%
  Latency Distribution
     50%    2.90ms
     99%    7.50ms
  21000 requests in 5.00s, 20.00MB read
Requests/sec:   4200.00
Transfer/sec:      4.00MB
SSO_BENCH requests=21000 duration_us=5000000 p50_us=2900 p99_us=7500 connect=0 read=1 write=2 status=3 timeout=4
`

func TestParseWrk(t *testing.T) {
	got, err := ParseWrk(wrkOutput)
	if err != nil {
		t.Fatalf("ParseWrk: %v", err)
	}
	want := Result{Requests: 21000, Duration: 5 * time.Second, P50: 2900 * time.Microsecond, P99: 7500 * time.Microsecond,
		Read: 1, Write: 2, Status: 3, Timeout: 4}
	if got != want {
		t.Errorf("ParseWrk = %+v, want %+v", got, want)
	}
	if rps := got.RPS(); rps != 4200 {
		t.Errorf("RPS() = %v, want 4200", rps)
	}
	if n := got.SocketErrors(); n != 7 {
		t.Errorf("SocketErrors() = %d, want 7", n)
	}
}

func TestParseWrkErrors(t *testing.T) {
	for _, tc := range []struct{ name, out string }{
		{"no summary line", "Requests/sec: 4200.00\n"},
		{"not key=value", "SSO_BENCH requests\n"},
		{"negative", "SSO_BENCH requests=-1 duration_us=1 p50_us=1 p99_us=1\n"},
		{"not a number", "SSO_BENCH requests=1e3 duration_us=1 p50_us=1 p99_us=1\n"},
		{"unknown field", "SSO_BENCH requests=1 duration_us=1 p50_us=1 p99_us=1 bogus=1\n"},
		{"missing p99", "SSO_BENCH requests=1 duration_us=1 p50_us=1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r, err := ParseWrk(tc.out); err == nil {
				t.Errorf("ParseWrk(%q) = %+v, want an error", tc.out, r)
			}
		})
	}
}

func TestParseProcStatus(t *testing.T) {
	const status = "Name:\tsso\nVmPeak:\t 1300000 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\nThreads:\t7\n"
	rss, hwm, err := ParseProcStatus(status)
	if err != nil || rss != 20<<20 || hwm != 40<<20 {
		t.Errorf("ParseProcStatus = %d, %d, %v; want %d, %d, nil", rss, hwm, err, 20<<20, 40<<20)
	}
	for _, bad := range []string{
		"Name:\tsso\n",                          // a kernel thread has neither
		"VmHWM:\t1 kB\nVmRSS:\tmany kB\n",       // not a number
		"VmHWM:\t1 kB\nVmRSS:\t1 MB\n",          // not kB
		"VmHWM:\t1 kB\nVmRSS:\t1 kB extra\n",    // extra field
		"VmRSS:\t1 kB\nVmRSS:\t1 kB\nVmHWM: \n", // empty value
	} {
		if rss, hwm, err := ParseProcStatus(bad); err == nil {
			t.Errorf("ParseProcStatus(%q) = %d, %d, nil; want an error", bad, rss, hwm)
		}
	}
}

func TestLoadTable(t *testing.T) {
	base := Result{Requests: 10000, Duration: time.Second, P50: time.Millisecond, P99: 4 * time.Millisecond}
	run := Result{Requests: 5000, Duration: time.Second, P50: 3 * time.Millisecond, P99: 6 * time.Millisecond, Timeout: 2}
	got := LoadTable([]Row{
		{Name: "A", Result: base},
		{Name: "auth", Result: run, Baseline: "A", Base: &base},
	})
	want := "| scenario | req/s | p50 | p99 | baseline | req/s ratio | p50 ratio | p99 ratio | errors |\n" +
		"|---|--:|--:|--:|---|--:|--:|--:|--:|\n" +
		"| A | 10000 | 1.00 ms | 4.00 ms | — | 1 | 1 | 1 | 0 |\n" +
		"| auth | 5000 | 3.00 ms | 6.00 ms | A | 0.50 | 3.00 | 1.50 | 2 |\n"
	if got != want {
		t.Errorf("LoadTable =\n%s\nwant\n%s", got, want)
	}
	zero := LoadTable([]Row{{Name: "x", Result: run, Baseline: "empty", Base: &Result{}}})
	if !strings.Contains(zero, "| n/a | n/a | n/a |") {
		t.Errorf("LoadTable with an empty baseline = %q, want n/a ratios", zero)
	}
}

func TestMemTable(t *testing.T) {
	got := MemTable([]MemRow{{"sso", "VmRSS", 3 << 19}})
	want := "| process | measure | MiB |\n|---|---|--:|\n| sso | VmRSS | 1.5 |\n"
	if got != want {
		t.Errorf("MemTable = %q, want %q", got, want)
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := Median(c.in); got != c.want {
			t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// Ratios are taken round by round, then their median: a round in which
// the machine was slow for both scenarios does not skew the ratio.
func TestRatioTable(t *testing.T) {
	res := func(reqs int64, p50, p99 time.Duration) Result {
		return Result{Requests: reqs, Duration: time.Second, P50: p50, P99: p99}
	}
	runs := []Run{
		{"gin", 32, 0, res(1000, time.Millisecond, 4*time.Millisecond)},
		{"auth", 32, 0, res(800, 2*time.Millisecond, 5*time.Millisecond)},
		{"gin", 32, 1, res(500, time.Millisecond, 4*time.Millisecond)}, // a slow round
		{"auth", 32, 1, res(450, 3*time.Millisecond, 9*time.Millisecond)},
		{"gin", 32, 2, res(1000, time.Millisecond, 4*time.Millisecond)},
		{"auth", 32, 2, res(700, 4*time.Millisecond, 6*time.Millisecond)},
		{"auth", 64, 0, Result{Requests: 10, Duration: time.Second, Read: 2}}, // no baseline at 64
	}
	got := RatioTable([]Case{{"gin", nil}, {"auth", []string{"gin", "get"}}}, []string{"gin", "get"}, []int{32, 64}, runs)
	want := "| case | conns | req/s | × gin | × get | p50 | p99 | errors |\n" +
		"|---|--:|--:|--:|--:|--:|--:|--:|\n" +
		"| gin | 32 | 1000 | – | – | 1.00 ms | 4.00 ms | 0 |\n" +
		"| auth | 32 | 700 | 0.80 | n/a | 3.00 ms | 6.00 ms | 0 |\n" +
		"| auth | 64 | 10 | n/a | n/a | 0.00 ms | 0.00 ms | 2 |\n"
	if got != want {
		t.Errorf("RatioTable =\n%s\nwant\n%s", got, want)
	}
}
