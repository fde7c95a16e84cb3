// Package storetest is the conformance suite that every session store must
// pass, so that memstore and redisstore behave alike (oauth2-proxy's
// pattern). It uses real time with short durations, since Redis's own
// clock rules its TTLs; the whole suite takes about a second.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, perUser int) storetest.Store {
//			s := memstore.New(memstore.Options{MaxSessionsPerUser: perUser})
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
package storetest
