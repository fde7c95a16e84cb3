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
