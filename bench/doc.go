// Package bench measures what sso costs a request behind nginx. The load
// run (TestLoad, build tag bench) starts nginx, sso on the in-memory store
// and on Redis, and cmd/demoapi on loopback, drives them with wrk and prints
// a markdown table: requests/s and p50/p99 latency of each protected path,
// each as a ratio against a baseline measured in the same run (nginx without
// auth, a trivial Go handler), plus sso's resident memory per 10k sessions.
// There are no timed assertions: the numbers are printed, not judged.
//
//	go test -tags bench -run '^TestLoad$' -count=1 -v ./bench/
//	make bench   # the Go micro-benchmarks, then this run
//
// SSO_BENCH_DURATION sets the length of each wrk run (default 5s). The run
// skips, saying why, when wrk, nginx or redis-server is missing.
//
// The package's own code is the pure part (wrk's summary line,
// /proc/<pid>/status, the tables), unit-tested by make test without the
// tag; the load run itself is in load_test.go and proc_test.go.
package bench
