package testredis

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// StartReplica starts a redis-server that replicates master (replicaof)
// and returns once its link to the master is up and the initial sync is
// done. extra are more redis-server arguments, as for StartServer.
func StartReplica(t testing.TB, master *Server, extra ...string) *Server {
	t.Helper()
	host, port, err := net.SplitHostPort(master.Addr)
	if err != nil {
		t.Fatalf("testredis: %v", err)
	}
	r := StartServer(t, append([]string{"--replicaof", host, port}, extra...)...)
	if err := waitFor(startTimeout, func() error {
		return infoHas(r.Addr, "replication", "master_link_status:up", "master_sync_in_progress:0")
	}); err != nil {
		t.Fatalf("testredis: replica %s of %s: %v", r.Addr, master.Addr, err)
	}
	return r
}

// Sentinels is a master with one replica, watched by three Sentinels with
// quorum 2 that fail over within seconds: a master that stops answering is
// subjectively down after DownAfter, and two Sentinels agreeing on that make
// one of them promote the replica.
type Sentinels struct {
	// Master is the name the Sentinels monitor, for
	// redis.UniversalOptions.MasterName (SSO_REDIS_SENTINEL_MASTER).
	Master string
	// Addrs are the Sentinels' addresses (SSO_REDIS_SENTINEL_ADDRS).
	Addrs []string
	// Primary is the master at start, Replica its replica; after a
	// failover their roles are swapped.
	Primary, Replica *Server
}

// Sentinel timings of StartSentinels: short, so that a test sees a
// failover within seconds, and long enough for a loaded 2-core CI machine
// not to think a busy master is down.
const (
	DownAfter       = time.Second
	failoverTimeout = 3 * time.Second
)

// StartSentinels starts a master, one replica and three Sentinels (quorum
// 2) and returns once every Sentinel knows the replica and the other two
// Sentinels, so that a failover can be authorised and has a replica to
// promote. extra are redis-server arguments for both master and replica,
// such as "--appendonly", "yes". Everything stops when the test ends.
func StartSentinels(t testing.TB, extra ...string) *Sentinels {
	t.Helper()
	bin := lookPath(t)
	s := &Sentinels{Master: SentinelMaster}
	s.Primary = StartServer(t, extra...)
	s.Replica = StartReplica(t, s.Primary, extra...)
	for range 3 {
		s.Addrs = append(s.Addrs, startSentinelProc(t, bin, sentinelConf{
			masterAddr: s.Primary.Addr, quorum: 2, downAfter: DownAfter, failoverTimeout: failoverTimeout,
		}))
	}
	// Sentinels find the replica in the master's INFO (every 10 s at first)
	// and each other through the master's hello channel (every 2 s).
	err := waitFor(30*time.Second, func() error {
		for _, a := range s.Addrs {
			m, err := sentinelMaster(a)
			if err != nil {
				return fmt.Errorf("sentinel %s: %w", a, err)
			}
			if m["num-slaves"] != "1" || m["num-other-sentinels"] != "2" {
				return fmt.Errorf("sentinel %s knows %s replicas and %s other sentinels, want 1 and 2",
					a, m["num-slaves"], m["num-other-sentinels"])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("testredis: %v", err)
	}
	return s
}

// MasterAddr returns the master's address as the first Sentinel that
// answers reports it.
func (s *Sentinels) MasterAddr() (string, error) {
	var lastErr error
	for _, a := range s.Addrs {
		reply, err := roundTrip(a, "", "SENTINEL", "get-master-addr-by-name", s.Master)
		if err != nil {
			lastErr = err
			continue
		}
		if hp, ok := reply.([]string); ok && len(hp) == 2 {
			return net.JoinHostPort(hp[0], hp[1]), nil
		}
		lastErr = fmt.Errorf("sentinel %s: get-master-addr-by-name = %q", a, reply)
	}
	return "", lastErr
}

// WaitPromoted waits until every Sentinel names want as the master and want
// itself says it is one, and returns how long that took.
func (s *Sentinels) WaitPromoted(want *Server, timeout time.Duration) (time.Duration, error) {
	begin := time.Now()
	err := waitFor(timeout, func() error {
		for _, a := range s.Addrs {
			reply, err := roundTrip(a, "", "SENTINEL", "get-master-addr-by-name", s.Master)
			if err != nil {
				return err
			}
			if hp, ok := reply.([]string); !ok || len(hp) != 2 || net.JoinHostPort(hp[0], hp[1]) != want.Addr {
				return fmt.Errorf("sentinel %s names master %q, want %s", a, reply, want.Addr)
			}
		}
		return infoHas(want.Addr, "replication", "role:master")
	})
	return time.Since(begin), err
}

// sentinelMaster returns SENTINEL MASTER's flat list of fields as a map.
func sentinelMaster(addr string) (map[string]string, error) {
	reply, err := roundTrip(addr, "", "SENTINEL", "MASTER", SentinelMaster)
	if err != nil {
		return nil, err
	}
	kv, ok := reply.([]string)
	if !ok || len(kv)%2 != 0 {
		return nil, fmt.Errorf("SENTINEL MASTER = %q", reply)
	}
	m := make(map[string]string, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m, nil
}

// infoHas checks that INFO section of the server at addr has every one of
// lines.
func infoHas(addr, section string, lines ...string) error {
	info, err := command(addr, "INFO", section)
	if err != nil {
		return err
	}
	have := strings.Split(strings.ReplaceAll(info, "\r\n", "\n"), "\n")
	for _, l := range lines {
		if !slices.Contains(have, l) {
			return fmt.Errorf("INFO %s of %s lacks %q", section, addr, l)
		}
	}
	return nil
}

// waitFor calls f until it returns nil or timeout passes, and then returns
// its last error.
func waitFor(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
