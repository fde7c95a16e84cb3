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
//   - TestSoak: two sso instances on one standalone Redis with AOF
//     (appendfsync always), many clients, and Redis killed and started
//     again on the same port.
//
// Each prints one summary line (Figures.String): requests, answers by
// status, wrong 200s, sessions lost, the slowest answer and how long the
// instances took to answer 200 again. They assert counts (no wrong 200, no
// hang, no lost session where the topology promises none), and no timings
// beyond generous deadlines.
//
//	go test -run . -v ./soak/                         # the short runs make test does
//	SSO_SOAK_CLIENTS=50 SSO_SOAK_DURATION=60s \
//	  go test -run '^TestSoak$' -count=1 -v ./soak/   # make soak
//
// They need redis-server and skip, saying so, without it unless
// SSO_REQUIRE_REDIS=1.
package soak
