package natslog_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/natslog"
	"github.com/hookd/hookd/internal/natstest"
)

// TestClusterAppendsSurviveNodeLoss appends under load from two Logs
// connected to different nodes of a three-node cluster (R3), and stops a
// node mid-load: first a follower, then the stream's leader. Appends go
// on (after a leader election, retried inside Append); every append
// acknowledged is in the stream exactly once, where its Append said; the
// chain verifies; and each stopped node, started again, catches up.
func TestClusterAppendsSurviveNodeLoss(t *testing.T) {
	t.Parallel() // mostly waits (leases, elections): overlap it with others
	c := natstest.RunCluster(t)
	cfgA := freshConfig(nodesFrom(c, 0))
	cfgA.Replicas, cfgA.PublishTimeout = 3, 2*time.Second
	cfgA.Options = []nats.Option{nats.DontRandomize(), nats.ReconnectWait(100 * time.Millisecond)}
	cfgB := cfgA
	cfgB.URL = nodesFrom(c, 1)
	a, b := openLog(t, cfgA), openLog(t, cfgB)

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	load := startLoad(ctx, t, a, b)

	load.waitAcks(t, 200)
	for _, which := range []string{"follower", "leader"} {
		leader := streamLeader(t, c, cfgA.Stream)
		stop := leader
		if which == "follower" {
			stop = (leader + 1) % 3
		}
		at := load.acks.Load()
		c.Stop(stop)
		start := time.Now()
		load.waitAcks(t, at+200)
		t.Logf("%s n%d stopped: 200 more appends acknowledged in %v", which, stop+1, time.Since(start).Round(time.Millisecond))
		c.Start(stop)
		head := load.maxSeq()
		start = time.Now()
		for {
			if got, ok := c.LocalLastSeq(stop, cfgA.Stream); ok && got >= head {
				break
			}
			if time.Since(start) > 30*time.Second {
				got, _ := c.LocalLastSeq(stop, cfgA.Stream)
				t.Fatalf("n%d, started again, holds up to %d after 30 s, want %d", stop+1, got, head)
			}
			time.Sleep(50 * time.Millisecond) // polling the node's state: it has no event to wait on
		}
		t.Logf("n%d caught up to %d in %v", stop+1, head, time.Since(start).Round(time.Millisecond))
	}
	acked := load.stop(t)

	head := load.maxSeq()
	if err := a.WaitFor(ctx, eventlog.Topic, head-1); err != nil {
		t.Fatal(err)
	}
	rep, err := eventlog.Verify(ctx, a, eventlog.Topic, nil)
	if err != nil || !rep.OK() {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	seen := map[string]uint64{}
	for next := uint64(1); next <= rep.Head; {
		es, err := a.ReadBatch(ctx, eventlog.Topic, next, 512)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if s, dup := seen[e.UUID]; dup {
				t.Fatalf("%s is stored twice, at %d and %d", e.UUID, s, e.Seq)
			}
			seen[e.UUID] = e.Seq
		}
		next = es[len(es)-1].Seq + 1
	}
	for id, seq := range acked {
		if seen[id] != seq {
			t.Fatalf("%s was acknowledged at %d, the stream has it at %d", id, seq, seen[id])
		}
	}
	// Entries beyond the acknowledged ones are appends whose answer was
	// lost as the load stopped (no retry followed): stored once, too.
	t.Logf("%d appends acknowledged, %d entries in the stream, none twice, chain verified", len(acked), rep.Checked)
}

// nodesFrom lists every node's URL, node first.
func nodesFrom(c *natstest.Cluster, first int) string {
	urls := []string{c.NodeURL(first)}
	for i := range 3 {
		if i != first {
			urls = append(urls, c.NodeURL(i))
		}
	}
	return strings.Join(urls, ",")
}

// streamLeader asks the cluster which node leads stream.
func streamLeader(t *testing.T, c *natstest.Cluster, stream string) int {
	t.Helper()
	nc, err := nats.Connect(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		s, err := js.Stream(ctx, stream)
		if err == nil && s.CachedInfo().Cluster != nil && s.CachedInfo().Cluster.Leader != "" {
			return c.Index(s.CachedInfo().Cluster.Leader)
		}
		if ctx.Err() != nil {
			t.Fatalf("no leader of %s: %v", stream, err)
		}
		time.Sleep(50 * time.Millisecond) // polling: there is no leader event to wait on
	}
}

// load is appends from several goroutines per Log, each retrying an
// append that failed with the same UUIDs until it is acknowledged.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	acks   atomic.Int64
	mu     sync.Mutex
	acked  map[string]uint64
	more   chan struct{} // signalled on each ack
}

func startLoad(ctx context.Context, t *testing.T, logs ...*natslog.Log) *load {
	ctx, cancel := context.WithCancel(ctx)
	ld := &load{cancel: cancel, acked: map[string]uint64{}, more: make(chan struct{}, 1)}
	for _, l := range logs {
		for g := range 4 {
			ld.wg.Go(func() {
				for ctx.Err() == nil {
					ms := []eventlog.AppendMessage{newMsg()}
					if g%2 == 1 {
						ms = append(ms, newMsg(), newMsg()) // a batch of its own
					}
					seqs, err := appendUntilAcked(ctx, l, ms)
					if err != nil {
						if ctx.Err() == nil {
							t.Errorf("append: %v", err)
						}
						return
					}
					ld.mu.Lock()
					for i, m := range ms {
						ld.acked[m.UUID] = seqs[i]
					}
					ld.mu.Unlock()
					ld.acks.Add(int64(len(ms)))
					select {
					case ld.more <- struct{}{}:
					default:
					}
				}
			})
		}
	}
	return ld
}

// appendUntilAcked appends ms, again with the same UUIDs while the log
// says the outcome is unknown.
func appendUntilAcked(ctx context.Context, l *natslog.Log, ms []eventlog.AppendMessage) ([]uint64, error) {
	for {
		seqs, err := l.Append(ctx, eventlog.Topic, ms...)
		if err == nil || !errors.Is(err, eventlog.ErrUnavailable) || ctx.Err() != nil {
			return seqs, err
		}
	}
}

func (ld *load) waitAcks(t *testing.T, n int64) {
	t.Helper()
	deadline := time.After(45 * time.Second)
	for ld.acks.Load() < n {
		select {
		case <-ld.more:
		case <-deadline:
			t.Fatalf("%d appends acknowledged after 45 s, want %d", ld.acks.Load(), n)
		}
	}
}

func (ld *load) maxSeq() uint64 {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	var m uint64
	for _, s := range ld.acked {
		m = max(m, s)
	}
	return m
}

// stop ends the load and returns what was acknowledged.
func (ld *load) stop(t *testing.T) map[string]uint64 {
	ld.cancel()
	ld.wg.Wait()
	ld.mu.Lock()
	defer ld.mu.Unlock()
	return ld.acked
}
