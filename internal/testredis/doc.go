// Package testredis starts a real redis-server for tests, on a free
// loopback port, and stops it when the test ends.
//
//	func TestX(t *testing.T) {
//		addr := testredis.Start(t) // skips when redis-server is missing, unless SSO_REQUIRE_REDIS=1
//		client := redis.NewClient(&redis.Options{Addr: addr})
//		...
//	}
//
// StartCluster starts a one-node Redis Cluster owning every slot: it refuses
// multi-key commands across slots just as a real cluster does, so a store
// that passes against it does not depend on keys sharing a node.
//
// StartSentinel starts a master and one Sentinel (redis-server --sentinel,
// no separate binary needed) that monitors it:
//
//	master, sentinel, masterAddr := testredis.StartSentinel(t)
//	client := redis.NewFailoverClient(&redis.FailoverOptions{
//		MasterName: master, SentinelAddrs: []string{sentinel},
//	})
//
// StartArgs(t, "--requirepass", pw), StartClusterAuth and StartSentinelAuth
// start servers that require a password.
//
// For failover and restart tests, StartServer returns a Server that the
// test can crash (Kill) and start again on the same port (Restart), with
// whatever it persisted; StartReplica adds a replica to one. StartSentinels
// is a master, a replica and three Sentinels (quorum 2) that fail over
// within seconds of the master's crash:
//
//	s := testredis.StartSentinels(t)
//	s.Primary.Kill()
//	took, err := s.WaitPromoted(s.Replica, 30*time.Second)
//
// StartClusterOf(t, 3, 1) is a cluster of three masters with a replica
// each. Cluster.Migrate moves a slot as redis-cli --cluster reshard does
// (ASK while it moves, MOVED afterwards) and Cluster.Failover promotes a
// replica with CLUSTER FAILOVER.
//
// The package speaks RESP itself, for the few commands it needs, and so
// stays free of a client library.
package testredis
