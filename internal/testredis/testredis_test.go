package testredis

import (
	"strings"
	"testing"
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
