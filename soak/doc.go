// Package soak runs built sso binaries against real Redis topologies under
// load and counts what their clients saw, so that "never a wrong 200"
// holds through failures, not only on a quiet day:
//
//   - TestSentinelFailover: a master, a replica and three Sentinels; two
//     sso instances; clients log in, call /auth through both and log out
//     while the master is killed (SIGKILL).
//   - TestCluster: a cluster of three masters with a replica each; every
//     endpoint that touches several keys, then a slot moved under live
//     sessions (ASK, then MOVED), a manual failover and a master's crash.
//
// Each prints one summary line (Figures.String): requests, answers by
// status, wrong 200s, sessions lost, the slowest answer and how long the
// instances took to answer 200 again. They assert counts (no wrong 200, no
// hang, no lost session where the topology promises none), never timings.
//
//	go test -run . -count=1 -v ./soak/
//
// They need redis-server and skip, saying so, without it unless
// SSO_REQUIRE_REDIS=1.
package soak
