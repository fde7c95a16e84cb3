package testredis

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Slots is the number of hash slots of a Redis Cluster.
const Slots = 16384

// NodeTimeout is the cluster-node-timeout of StartClusterOf's nodes: a
// master that does not answer for this long is failed over to its replica.
const NodeTimeout = 2 * time.Second

// Cluster is a Redis Cluster of several masters, each owning an equal share
// of the slots, and their replicas, built as redis-cli --cluster create
// builds one, command by command.
type Cluster struct {
	// Masters are the masters at start, in slot order: Masters[0] owns
	// the first slots. Replicas[i] replicates Masters[i] at start.
	Masters, Replicas []*Server

	t     testing.TB
	mu    sync.Mutex
	ids   map[string]string  // address → node id
	nodes map[string]*Server // node id → server
}

// StartClusterOf starts a cluster of masters masters, with replicas
// replicas each (0 or 1), and returns once every node sees every other,
// each replica is in sync and the cluster state is ok everywhere. extra
// are more redis-server arguments for every node. Everything stops when the
// test ends.
func StartClusterOf(t testing.TB, masters, replicas int, extra ...string) *Cluster {
	t.Helper()
	if masters < 1 || masters > Slots || replicas < 0 || replicas > 1 {
		t.Fatalf("testredis: StartClusterOf(%d masters, %d replicas each): want 1… masters and 0 or 1 replicas", masters, replicas)
	}
	args := append([]string{
		"--cluster-enabled", "yes",
		// Relative to the server's --dir, so that a Restart finds it.
		"--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.FormatInt(NodeTimeout.Milliseconds(), 10),
	}, extra...)
	c := &Cluster{t: t, ids: map[string]string{}, nodes: map[string]*Server{}}
	for range masters {
		c.Masters = append(c.Masters, StartServer(t, args...))
	}
	for range masters * replicas {
		c.Replicas = append(c.Replicas, StartServer(t, args...))
	}
	all := c.all()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("testredis: cluster: "+format, args...)
	}
	for _, s := range all {
		id, err := command(s.Addr, "CLUSTER", "MYID")
		if err != nil {
			fail("CLUSTER MYID on %s: %v", s.Addr, err)
		}
		c.ids[s.Addr], c.nodes[id] = id, s
	}
	for i, m := range c.Masters {
		lo, hi := i*Slots/masters, (i+1)*Slots/masters-1
		if _, err := command(m.Addr, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)); err != nil {
			fail("ADDSLOTSRANGE %d %d on %s: %v", lo, hi, m.Addr, err)
		}
		// Distinct epochs, as redis-cli sets them, so that the nodes need
		// not resolve a collision before they agree on the slot owners.
		if _, err := command(m.Addr, "CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1)); err != nil {
			fail("SET-CONFIG-EPOCH on %s: %v", m.Addr, err)
		}
	}
	for _, s := range all[1:] {
		host, port, _ := strings.Cut(s.Addr, ":")
		if _, err := command(all[0].Addr, "CLUSTER", "MEET", host, port); err != nil {
			fail("CLUSTER MEET %s: %v", s.Addr, err)
		}
	}
	// A node can replicate only a master it knows: wait for the gossip.
	err := waitFor(30*time.Second, func() error {
		for _, s := range all {
			ns, err := clusterNodes(s.Addr)
			if err != nil {
				return err
			}
			known := 0
			for _, n := range ns {
				if !n.has("handshake") && !n.has("noaddr") {
					known++
				}
			}
			if known != len(all) {
				return fmt.Errorf("%s knows %d of %d nodes", s.Addr, known, len(all))
			}
		}
		return nil
	})
	if err != nil {
		fail("%v", err)
	}
	for i, r := range c.Replicas {
		if _, err := command(r.Addr, "CLUSTER", "REPLICATE", c.ids[c.Masters[i].Addr]); err != nil {
			fail("CLUSTER REPLICATE on %s: %v", r.Addr, err)
		}
	}
	if err := c.WaitHealthy(30 * time.Second); err != nil {
		fail("%v", err)
	}
	return c
}

func (c *Cluster) all() []*Server {
	return append(append([]*Server(nil), c.Masters...), c.Replicas...)
}

// Addrs returns the addresses of the masters at start, the seed nodes of a
// client (SSO_REDIS_CLUSTER_ADDRS).
func (c *Cluster) Addrs() []string {
	var a []string
	for _, m := range c.Masters {
		a = append(a, m.Addr)
	}
	return a
}

// ID returns the node id of s.
func (c *Cluster) ID(s *Server) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ids[s.Addr]
}

// running returns the nodes whose process runs.
func (c *Cluster) running() []*Server {
	var up []*Server
	for _, s := range c.all() {
		select {
		case <-s.Exited():
		default:
			up = append(up, s)
		}
	}
	return up
}

// WaitHealthy waits until every running node says cluster_state:ok, agrees
// with the others on which node owns each slot and which node each replica
// follows, and every running replica's link to its master is up.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	return waitFor(timeout, func() error {
		var first string
		for _, s := range c.running() {
			info, err := command(s.Addr, "CLUSTER", "INFO")
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("%s: cluster state is not ok", s.Addr)
			}
			ns, err := clusterNodes(s.Addr)
			if err != nil {
				return err
			}
			v := view(ns)
			if first == "" {
				first = v
			} else if v != first {
				return fmt.Errorf("nodes disagree:\n%s\n%s", first, v)
			}
			for _, n := range ns {
				if n.has("myself") && n.has("slave") {
					if err := infoHas(s.Addr, "replication", "master_link_status:up"); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// KeySlot returns the hash slot of key.
func (c *Cluster) KeySlot(key string) (int, error) {
	var lastErr error
	for _, s := range c.running() {
		reply, err := command(s.Addr, "CLUSTER", "KEYSLOT", key)
		if err != nil {
			lastErr = err
			continue
		}
		return strconv.Atoi(reply)
	}
	return 0, lastErr
}

// Owner returns the master that owns slot, as the first running node that
// answers sees it.
func (c *Cluster) Owner(slot int) (*Server, error) {
	ns, err := c.nodesOfAny()
	if err != nil {
		return nil, err
	}
	for _, n := range ns {
		if n.has("master") && !n.has("fail") && n.owns(slot) {
			return c.server(n.id)
		}
	}
	return nil, fmt.Errorf("testredis: no master owns slot %d", slot)
}

// ReplicaOf returns a replica of master.
func (c *Cluster) ReplicaOf(master *Server) (*Server, error) {
	ns, err := c.nodesOfAny()
	if err != nil {
		return nil, err
	}
	id := c.ID(master)
	for _, n := range ns {
		if n.has("slave") && n.master == id && !n.has("fail") {
			return c.server(n.id)
		}
	}
	return nil, fmt.Errorf("testredis: %s has no replica", master.Addr)
}

// Failover makes replica take over from its master with CLUSTER FAILOVER,
// which waits until the replica has every write the master acknowledged,
// and returns once the cluster is healthy again.
func (c *Cluster) Failover(replica *Server, timeout time.Duration) error {
	if _, err := command(replica.Addr, "CLUSTER", "FAILOVER"); err != nil {
		return fmt.Errorf("testredis: CLUSTER FAILOVER on %s: %w", replica.Addr, err)
	}
	if err := waitFor(timeout, func() error { return infoHas(replica.Addr, "replication", "role:master") }); err != nil {
		return fmt.Errorf("testredis: failover to %s: %w", replica.Addr, err)
	}
	return c.WaitHealthy(timeout)
}

func (c *Cluster) server(id string) (*Server, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.nodes[id]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("testredis: unknown node %s", id)
}

func (c *Cluster) nodesOfAny() ([]node, error) {
	var lastErr error = errors.New("testredis: no cluster node runs")
	for _, s := range c.running() {
		ns, err := clusterNodes(s.Addr)
		if err == nil {
			return ns, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// Migration is one slot on its way from one master to another, as
// redis-cli --cluster reshard moves it: while it lasts, the source answers
// ASK for the keys it no longer holds.
type Migration struct {
	c        *Cluster
	slot     int
	from, to *Server
}

// Migrate starts moving slot to the master to: IMPORTING on to, MIGRATING on
// its owner. No key has moved yet.
func (c *Cluster) Migrate(slot int, to *Server) (*Migration, error) {
	from, err := c.Owner(slot)
	if err != nil {
		return nil, err
	}
	if from == to {
		return nil, fmt.Errorf("testredis: %s already owns slot %d", to.Addr, slot)
	}
	s := strconv.Itoa(slot)
	if _, err := command(to.Addr, "CLUSTER", "SETSLOT", s, "IMPORTING", c.ID(from)); err != nil {
		return nil, fmt.Errorf("testredis: SETSLOT %d IMPORTING on %s: %w", slot, to.Addr, err)
	}
	if _, err := command(from.Addr, "CLUSTER", "SETSLOT", s, "MIGRATING", c.ID(to)); err != nil {
		return nil, fmt.Errorf("testredis: SETSLOT %d MIGRATING on %s: %w", slot, from.Addr, err)
	}
	return &Migration{c: c, slot: slot, from: from, to: to}, nil
}

// MoveKeys moves up to n of the slot's keys (all of them when n <= 0) with
// MIGRATE and returns how many it moved.
func (m *Migration) MoveKeys(n int) (int, error) {
	moved := 0
	for n <= 0 || moved < n {
		batch := 100
		if n > 0 {
			batch = min(batch, n-moved)
		}
		reply, err := roundTrip(m.from.Addr, "", "CLUSTER", "GETKEYSINSLOT", strconv.Itoa(m.slot), strconv.Itoa(batch))
		if err != nil {
			return moved, fmt.Errorf("testredis: GETKEYSINSLOT %d: %w", m.slot, err)
		}
		keys, _ := reply.([]string)
		if len(keys) == 0 {
			return moved, nil
		}
		host, port, _ := strings.Cut(m.to.Addr, ":")
		args := append([]string{"MIGRATE", host, port, "", "0", "5000", "KEYS"}, keys...)
		if _, err := command(m.from.Addr, args...); err != nil {
			return moved, fmt.Errorf("testredis: MIGRATE from %s to %s: %w", m.from.Addr, m.to.Addr, err)
		}
		moved += len(keys)
	}
	return moved, nil
}

// Finish moves the keys left and gives the slot to the new owner on every
// master (the new owner first, then the old one, then the rest, as the
// Redis Cluster specification orders it), then waits until the cluster
// agrees.
func (m *Migration) Finish(timeout time.Duration) error {
	if _, err := m.MoveKeys(0); err != nil {
		return err
	}
	id := m.c.ID(m.to)
	order := []*Server{m.to, m.from}
	for _, s := range m.c.running() {
		if s != m.to && s != m.from {
			order = append(order, s)
		}
	}
	for _, s := range order {
		ns, err := clusterNodes(s.Addr)
		if err != nil {
			return err
		}
		if !myself(ns).has("master") {
			continue
		}
		if _, err := command(s.Addr, "CLUSTER", "SETSLOT", strconv.Itoa(m.slot), "NODE", id); err != nil {
			return fmt.Errorf("testredis: SETSLOT %d NODE on %s: %w", m.slot, s.Addr, err)
		}
	}
	return m.c.WaitHealthy(timeout)
}

// node is one line of CLUSTER NODES.
type node struct {
	id     string
	flags  []string
	master string // "-" for a master
	slots  [][2]int
}

func (n node) has(flag string) bool { return slices.Contains(n.flags, flag) }

func (n node) owns(slot int) bool {
	for _, r := range n.slots {
		if r[0] <= slot && slot <= r[1] {
			return true
		}
	}
	return false
}

func myself(ns []node) node {
	for _, n := range ns {
		if n.has("myself") {
			return n
		}
	}
	return node{}
}

// view is what a node believes of the cluster, with what differs between
// nodes' answers (myself, ping times, link state) left out.
func view(ns []node) string {
	var lines []string
	for _, n := range ns {
		role := "master"
		if n.has("slave") {
			role = "replica of " + n.master
		}
		if n.has("fail") {
			role += ",fail"
		}
		lines = append(lines, fmt.Sprintf("%s %s %v", n.id, role, n.slots))
	}
	// CLUSTER NODES lists nodes in no particular order.
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// clusterNodes parses CLUSTER NODES of the node at addr. Slots being
// migrated ("[slot->-id]") are not counted as owned.
func clusterNodes(addr string) ([]node, error) {
	out, err := command(addr, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	var ns []node
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("testredis: CLUSTER NODES line %q", line)
		}
		n := node{id: f[0], flags: strings.Split(f[2], ","), master: f[3]}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue
			}
			lo, hi, isRange := strings.Cut(r, "-")
			if !isRange {
				hi = lo
			}
			a, err1 := strconv.Atoi(lo)
			b, err2 := strconv.Atoi(hi)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("testredis: CLUSTER NODES slot range %q", r)
			}
			n.slots = append(n.slots, [2]int{a, b})
		}
		ns = append(ns, n)
	}
	return ns, nil
}
