// Package redisstore is a session.Store, session.KeyStore and
// session.Limiter on Redis, through go-redis v9's redis.UniversalClient, so
// standalone, Sentinel and Cluster deployments all work. It needs Redis 6.2 or later (PXAT, GETDEL).
//
// Every command touches one key, so no command ever spans hash slots:
//
//	sso:s:<id>          session, compact binary record (record.go; legacy JSON is
//	                    still read), expires (PXAT) at its Deadline
//	sso:u:<user>:s      sorted set of the user's session ids, scored by ExpiresAt;
//	                    expires with the last of them
//	sso:k:<hash>        API key, JSON, expires at ExpiresAt or never
//	sso:u:<user>:k      hash of the user's API keys: id -> key hash
//	sso:rl:n:<key>      Limiter count (INCR), expires when its window ends
//	sso:rl:b:<key>      Limiter block, expires (PX) when the block ends
//
// <user> is the unpadded base64url of the user name, so names containing
// ':' or '{' can neither collide nor pick a cluster hash tag. Index entries
// whose record is gone are pruned lazily. Limiter keys are the caller's
// opaque strings (the server hashes user names before they get here); every
// sso instance on one Redis shares their counts and blocks.
//
// A user holds at most Options.MaxSessionsPerUser sessions (default 100):
// Create evicts the user's oldest ones, lowest score first, one key per
// command. Logins of one user racing each other may leave them one or two
// over the cap until their next login.
//
// Bus carries the auth cache's invalidations between instances on the
// pub/sub channel <prefix>inval, and tells a Listener when its subscription
// is confirmed (pings answered in order with the messages) or lost.
//
//	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs})
//	store := redisstore.New(client, redisstore.Options{})
//	if err := store.Ping(ctx); err != nil { ... } // fail at start-up
//	bus := redisstore.NewBus(client, redisstore.BusOptions{})
//	go bus.Run(ctx, cache) // an *authcache.Cache
package redisstore
