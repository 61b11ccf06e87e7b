package natslog_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/natslog"
	"github.com/hookd/hookd/internal/natstest"
)

// Three processes starting at once on a fresh three-node cluster, each on
// another node, all open the log: concurrent creates of one R3 stream and
// its buckets are answered late or not at all by some nodes, and Open
// tries again instead of failing (seen when following the README).
func TestThreeLogsOpenAtOnceOnAFreshCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out unanswered creates on a cluster: make test-cluster runs it")
	}
	c := natstest.RunCluster(t)
	cfg := freshConfig(c.NodeURL(0))
	cfg.Replicas = 3
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	logs := make([]*natslog.Log, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() {
			nc := cfg
			nc.URL = c.NodeURL(i)
			logs[i], errs[i] = natslog.Open(ctx, nc)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open on node %d: %v", i, err)
		}
		t.Cleanup(func() { _ = logs[i].Close() })
	}
	// One stream: an append through one is the head of the others.
	seqs, err := logs[0].Append(ctx, eventlog.Topic, eventlog.AppendMessage{UUID: "u-1", Metadata: map[string]string{eventlog.MetaName: "test.v1"}})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range logs[1:] {
		if err := l.WaitFor(ctx, eventlog.Topic, seqs[0]-1); err != nil {
			t.Fatalf("log %d never saw the append: %v", i+1, err)
		}
	}
}
