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
package testredis
