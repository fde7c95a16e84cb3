// Package bench measures what sso's /auth costs (issue 10,
// docs/PERFORMANCE.md). The load run (TestLoad, build tag bench) starts
// sso on the in-memory store and on Redis, each with the verified-session
// cache on and off, the baselines of bench/internal/basesrv (a bare Gin
// 200, Gin + one go-redis GET, a bare net/http handler) and two nginx with
// the shipped templates (auth_request to sso, and to the bare handler), on
// loopback, pins them to CPU 0 and wrk to CPU 1, and measures every case
// at 32 and 64 connections in alternating rounds. It prints a markdown
// table of medians: req/s, the ratio against each baseline of the same
// round, p50 and p99; then sso's resident memory per 10k sessions and
// Redis's MEMORY USAGE per session. TestMillion (SSO_BENCH_MILLION) puts a
// million sessions in Redis and reports Redis's memory per session and
// sso's resident memory. There are no timed assertions: the numbers are
// printed, not judged.
//
//	make bench          # the Go micro-benchmarks, then TestLoad (about 6 minutes)
//	make bench-million  # TestMillion with a million sessions
//	make bench-smoke    # both, reduced, for CI (about a minute)
//
// SSO_BENCH_DURATION (default 3s) and SSO_BENCH_ROUNDS (default 3) set the
// length of the load run, SSO_BENCH_SESSIONS the logins of the memory
// measurement, SSO_BENCH_PIN=0 turns pinning off. The runs skip, saying
// why, when wrk, nginx or redis-server is missing.
//
// The package's own code is the pure part (wrk's summary line,
// /proc/<pid>/status, the tables and their medians), unit-tested by make
// test without the tag; the runs themselves are in the _test files.
package bench
