package testredis

import (
	"strings"
	"testing"
	"time"
)

func TestStart(t *testing.T) {
	addr := Start(t)
	if got, err := command(addr, "PING"); err != nil || got != "PONG" {
		t.Fatalf("PING %s = %q, %v; want PONG", addr, got, err)
	}
	if _, err := command(addr, "SET", "k", "v"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := command(addr, "GET", "k"); err != nil || got != "v" {
		t.Fatalf("GET k = %q, %v; want %q", got, err, "v")
	}
}

func TestStartTwice(t *testing.T) {
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two servers on one address %s", a)
	}
}

func TestStartCluster(t *testing.T) {
	addr := StartCluster(t)
	// Keys in different slots: a one-node cluster refuses them together.
	_, err := command(addr, "MSET", "a", "1", "b", "2")
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("MSET across slots error = %v, want CROSSSLOT", err)
	}
	if _, err := command(addr, "SET", "a", "1"); err != nil {
		t.Fatalf("SET a: %v", err)
	}
}

func TestStopped(t *testing.T) {
	var addr string
	t.Run("server", func(t *testing.T) { addr = Start(t) })
	if addr == "" {
		t.Skip("no redis-server")
	}
	if _, err := command(addr, "PING"); err == nil {
		t.Errorf("PING %s after the test ended succeeded, want the server stopped", addr)
	}
}

func TestStartSentinel(t *testing.T) {
	master, sentinel, masterAddr := StartSentinel(t)
	reply, err := roundTrip(sentinel, "", "SENTINEL", "get-master-addr-by-name", master)
	hp, ok := reply.([]string)
	if err != nil || !ok || len(hp) != 2 || hp[0]+":"+hp[1] != masterAddr {
		t.Fatalf("SENTINEL get-master-addr-by-name %s = %q, %v; want %s", master, reply, err, masterAddr)
	}
	if _, err := command(sentinel, "SET", "k", "v"); err == nil {
		t.Errorf("SET on the sentinel %s succeeded, want it refused (a sentinel is no data node)", sentinel)
	}
	if got, err := command(masterAddr, "SET", "k", "v"); err != nil || got != "OK" {
		t.Errorf("SET on the master = %q, %v; want OK", got, err)
	}
}

func TestStartAuth(t *testing.T) {
	const pw = "s3cret-pw"
	check := func(t *testing.T, addr string) {
		t.Helper()
		if _, err := command(addr, "SET", "k", "v"); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
			t.Errorf("SET without AUTH: err = %v, want NOAUTH", err)
		}
		if _, err := roundTrip(addr, "wrong", "PING"); err == nil {
			t.Errorf("PING after AUTH with a wrong password succeeded")
		}
		if got, err := roundTrip(addr, pw, "PING"); err != nil || got != "PONG" {
			t.Errorf("PING after AUTH = %q, %v; want PONG", got, err)
		}
	}
	t.Run("standalone", func(t *testing.T) { check(t, StartArgs(t, "--requirepass", pw)) })
	t.Run("cluster", func(t *testing.T) {
		addr := StartClusterAuth(t, pw)
		check(t, addr)
		if got, err := roundTrip(addr, pw, "CLUSTER", "INFO"); err != nil || !strings.Contains(got.(string), "cluster_state:ok") {
			t.Errorf("CLUSTER INFO = %q, %v; want cluster_state:ok", got, err)
		}
	})
	t.Run("sentinel", func(t *testing.T) {
		_, _, masterAddr := StartSentinelAuth(t, pw)
		check(t, masterAddr)
	})
}

func TestServerRestart(t *testing.T) {
	s := StartServer(t, "--appendonly", "yes", "--appendfsync", "always")
	if _, err := command(s.Addr, "SET", "k", "v"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	s.Kill()
	if _, err := command(s.Addr, "PING"); err == nil {
		t.Fatalf("PING %s after Kill succeeded", s.Addr)
	}
	s.Restart()
	if got, err := command(s.Addr, "GET", "k"); err != nil || got != "v" {
		t.Errorf("GET k after a crash with appendfsync always = %q, %v; want %q", got, err, "v")
	}

	// Without persistence the data is gone, and the address stays.
	plain := StartServer(t)
	if _, err := command(plain.Addr, "SET", "k", "v"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	plain.Restart()
	if _, err := command(plain.Addr, "GET", "k"); err == nil || !strings.Contains(err.Error(), "bad bulk reply") {
		t.Errorf("GET k after restarting a server without persistence: %v, want a nil reply", err)
	}
}

func TestStartSentinels(t *testing.T) {
	s := StartSentinels(t)
	if got, err := s.MasterAddr(); err != nil || got != s.Primary.Addr {
		t.Fatalf("MasterAddr() = %q, %v; want %s", got, err, s.Primary.Addr)
	}
	if _, err := command(s.Primary.Addr, "SET", "k", "v"); err != nil {
		t.Fatalf("SET on the master: %v", err)
	}
	if _, err := command(s.Replica.Addr, "SET", "k", "w"); err == nil || !strings.Contains(err.Error(), "READONLY") {
		t.Errorf("SET on the replica: %v, want READONLY", err)
	}
	s.Primary.Kill()
	took, err := s.WaitPromoted(s.Replica, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover after the master's crash: %v", took.Round(time.Millisecond))
	if got, err := command(s.Replica.Addr, "GET", "k"); err != nil || got != "v" {
		t.Errorf("GET k on the promoted replica = %q, %v; want %q", got, err, "v")
	}
}

func TestStartClusterOf(t *testing.T) {
	c := StartClusterOf(t, 3, 1)
	const key = "k"
	slot, err := c.KeySlot(key)
	if err != nil || slot != 7629 { // CRC16("k") mod 16384
		t.Fatalf("KeySlot(%q) = %d, %v; want 7629", key, slot, err)
	}
	owner, err := c.Owner(slot)
	if err != nil || owner != c.Masters[1] {
		t.Fatalf("Owner(%d) = %v, %v; want the second master %s", slot, owner, err, c.Masters[1].Addr)
	}
	if _, err := command(owner.Addr, "SET", key, "v"); err != nil {
		t.Fatalf("SET on the owner: %v", err)
	}
	if _, err := command(c.Masters[0].Addr, "GET", key); err == nil || !strings.Contains(err.Error(), "MOVED 7629 "+owner.Addr) {
		t.Errorf("GET on another master: %v, want MOVED 7629 %s", err, owner.Addr)
	}

	// Half-way through a migration the old owner sends clients on (ASK);
	// afterwards the new one owns the slot.
	m, err := c.Migrate(slot, c.Masters[2])
	if err != nil {
		t.Fatal(err)
	}
	if n, err := m.MoveKeys(1); err != nil || n != 1 {
		t.Fatalf("MoveKeys(1) = %d, %v; want 1", n, err)
	}
	if _, err := command(owner.Addr, "GET", key); err == nil || !strings.Contains(err.Error(), "ASK 7629 "+c.Masters[2].Addr) {
		t.Errorf("GET on the old owner during the migration: %v, want ASK 7629 %s", err, c.Masters[2].Addr)
	}
	if err := m.Finish(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got, err := command(c.Masters[2].Addr, "GET", key); err != nil || got != "v" {
		t.Errorf("GET on the new owner = %q, %v; want %q", got, err, "v")
	}

	// A manual failover swaps the new owner and its replica.
	r, err := c.ReplicaOf(c.Masters[2])
	if err != nil || r != c.Replicas[2] {
		t.Fatalf("ReplicaOf(third master) = %v, %v; want %s", r, err, c.Replicas[2].Addr)
	}
	if err := c.Failover(r, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if owner, err := c.Owner(slot); err != nil || owner != r {
		t.Errorf("Owner(%d) after the failover = %v, %v; want %s", slot, owner, err, r.Addr)
	}
	if got, err := command(r.Addr, "GET", key); err != nil || got != "v" {
		t.Errorf("GET on the promoted replica = %q, %v; want %q", got, err, "v")
	}
}
