package natstest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Cluster is a three-node JetStream cluster on loopback. Each node keeps
// its client and route ports and its store across Stop and Start, as a
// machine that crashed and came back would. Routes run through a proxy
// per pair of nodes (routes[i][j] carries node i's route to node j), so
// Stop can cut a node off before it shuts down.
type Cluster struct {
	t      testing.TB
	mu     sync.Mutex
	opts   []*server.Options
	nodes  []*server.Server // nil while stopped
	routes [][]*Proxy
}

// RunCluster starts three nodes routed to each other and waits until
// JetStream has a meta leader; they are shut down when the test ends.
func RunCluster(t testing.TB) *Cluster {
	t.Helper()
	const n = 3
	c := &Cluster{t: t, opts: make([]*server.Options, n), nodes: make([]*server.Server, n), routes: make([][]*Proxy, n)}
	clientPorts, routePorts := freePorts(t, n), freePorts(t, n)
	for i := range n {
		c.routes[i] = make([]*Proxy, n)
		for j := range n {
			if i != j {
				c.routes[i][j] = newProxy(t, fmt.Sprintf("127.0.0.1:%d", routePorts[j]), "nats")
			}
		}
	}
	for i := range n {
		o := baseOptions(t.TempDir())
		o.ServerName = fmt.Sprintf("n%d", i+1)
		o.Port = clientPorts[i]
		// NoAdvertise: peers must not learn each other's route ports and
		// dial them past the proxies.
		o.Cluster = server.ClusterOpts{Name: "hookd-test", Host: "127.0.0.1", Port: routePorts[i], NoAdvertise: true}
		for j := range n {
			if i != j {
				u, _ := url.Parse(c.routes[i][j].URL)
				o.Routes = append(o.Routes, u)
			}
		}
		c.opts[i] = o
	}
	// Start all before waiting: a node waits for its peers to elect a leader.
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := server.NewServer(c.opts[i])
			if err != nil {
				errs[i] = err
				return
			}
			go s.Start()
			c.nodes[i] = s
		}()
	}
	wg.Wait()
	t.Cleanup(c.shutdown)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("natstest: node %d: %v", i+1, err)
		}
	}
	for i, s := range c.nodes {
		if !s.ReadyForConnections(startTimeout) {
			t.Fatalf("natstest: node %d did not accept connections within %v", i+1, startTimeout)
		}
	}
	c.WaitForLeader()
	return c
}

// URL is a comma-separated list of every node's client address, as
// nats.Connect takes it.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.opts))
	for i := range c.opts {
		urls[i] = c.NodeURL(i)
	}
	return strings.Join(urls, ",")
}

// NodeURL is node i's client address alone.
func (c *Cluster) NodeURL(i int) string { return fmt.Sprintf("nats://127.0.0.1:%d", c.opts[i].Port) }

// Node returns node i (0, 1 or 2), nil while it is stopped.
func (c *Cluster) Node(i int) *server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i]
}

// Stop kills node i: its routes are cut first, so the leaderships it
// holds are not handed over (a server's Shutdown steps its raft leaders
// down, which a crash does not), then it shuts down, closing its clients'
// connections. To the rest of the cluster the process died: they elect
// new leaders once they miss it.
func (c *Cluster) Stop(i int) {
	c.mu.Lock()
	s := c.nodes[i]
	c.nodes[i] = nil
	c.mu.Unlock()
	if s == nil {
		return
	}
	c.cutRoutes(i, true)
	stop(s)
}

func (c *Cluster) cutRoutes(i int, cut bool) {
	for j := range c.routes {
		for _, p := range []*Proxy{c.routes[i][j], c.routes[j][i]} {
			switch {
			case p == nil:
			case cut:
				p.Cut()
			default:
				p.Restore()
			}
		}
	}
}

// Start starts a stopped node i again on its ports and store.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nodes[i] != nil {
		return
	}
	c.cutRoutes(i, false)
	c.nodes[i] = start(c.t, c.opts[i].Clone())
}

// WaitForLeader waits until a running node is the JetStream meta leader,
// sees every other running node as current, and places a stream with a
// replica on each of them: before that, creating a stream can fail ("no
// suitable peers for placement, peer offline"), as CI saw in tests that
// create streams themselves.
func (c *Cluster) WaitForLeader() {
	c.t.Helper()
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		if c.leaderSeesAll() && c.placesStreams() {
			return
		}
		// Polling the server's state: there is no leader-elected event to wait on.
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("natstest: no JetStream meta leader seeing every node within %v", startTimeout)
}

func (c *Cluster) leaderSeesAll() bool {
	c.mu.Lock()
	var leader *server.Server
	running := 0
	for _, s := range c.nodes {
		if s != nil {
			running++
			if s.JetStreamIsLeader() {
				leader = s
			}
		}
	}
	c.mu.Unlock()
	if leader == nil {
		return false
	}
	info, err := leader.Jsz(nil)
	if err != nil || info.Meta == nil {
		return false
	}
	current := 0
	for _, p := range info.Meta.Replicas {
		if p.Current && !p.Offline {
			current++
		}
	}
	return current >= running-1
}

// placesStreams creates, and deletes, a memory stream with a replica on
// every running node.
func (c *Cluster) placesStreams() bool {
	var urls []string
	c.mu.Lock()
	for i, s := range c.nodes {
		if s != nil {
			urls = append(urls, c.NodeURL(i))
		}
	}
	c.mu.Unlock()
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		return false
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	const probe = "NATSTEST_PLACEMENT_PROBE"
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: probe, Subjects: []string{"natstest.probe"},
		Storage: jetstream.MemoryStorage, Replicas: len(urls)}); err != nil {
		return false
	}
	return js.DeleteStream(ctx, probe) == nil
}

func (c *Cluster) shutdown() {
	for i := range c.nodes {
		c.mu.Lock()
		s := c.nodes[i]
		c.nodes[i] = nil
		c.mu.Unlock()
		if s != nil {
			stop(s)
		}
	}
	for i := range c.routes {
		for _, p := range c.routes[i] {
			if p != nil {
				p.close()
			}
		}
	}
}

// freePorts asks the system for n free loopback ports. They are released
// before the servers bind them, which another process could race for; on
// a test machine that is rare, and the server then fails loudly.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	ls := make([]net.Listener, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: pick a port: %v", err)
		}
		ls[i] = l
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

// Index returns the index of the node named name ("n1" is 0), or -1.
func (c *Cluster) Index(name string) int {
	for i, o := range c.opts {
		if o.ServerName == name {
			return i
		}
	}
	return -1
}

// LocalLastSeq returns the last sequence of stream in node i's own
// replica (not the leader's), and false if node i is stopped or holds no
// replica of it: whether a node that came back has caught up.
func (c *Cluster) LocalLastSeq(i int, stream string) (uint64, bool) {
	s := c.Node(i)
	if s == nil {
		return 0, false
	}
	info, err := s.Jsz(&server.JSzOptions{Accounts: true, Streams: true})
	if err != nil {
		return 0, false
	}
	for _, a := range info.AccountDetails {
		for _, sd := range a.Streams {
			if sd.Name == stream {
				return sd.State.LastSeq, true
			}
		}
	}
	return 0, false
}
