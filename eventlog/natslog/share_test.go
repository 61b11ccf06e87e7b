package natslog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/logtest"
	"github.com/hookd/hookd/eventlog/natslog"
	"github.com/hookd/hookd/internal/natstest"
)

// reopener opens Logs on one fresh stream of url, as processes would.
func reopener(url string) logtest.Reopener {
	return func(t *testing.T) func() eventlog.Log {
		cfg := freshConfig(url)
		return func() eventlog.Log { return openLog(t, cfg) }
	}
}

func TestClaims(t *testing.T) {
	t.Parallel() // mostly waits (leases, elections): overlap it with others
	srv := natstest.RunServer(t)
	logtest.RunClaims(t, reopener(srv.URL))
}

func TestLeases(t *testing.T) {
	t.Parallel() // mostly waits (leases, elections): overlap it with others
	srv := natstest.RunServer(t)
	logtest.RunLeases(t, reopener(srv.URL))
}

const ttl = 2 * time.Second

// TestPartitionedHolderLosesLeaseBeforeOtherTakesIt cuts the holder off
// from the server (a partition: its connection stays up, its renewals go
// nowhere). The other Log acquires the lease once the key's TTL has run
// out, and by then the holder's Lost is closed: it stopped relying on
// the lease before anyone else could have it.
func TestPartitionedHolderLosesLeaseBeforeOtherTakesIt(t *testing.T) {
	t.Parallel() // mostly waits (leases, elections): overlap it with others
	srv := natstest.RunServer(t)
	proxy := natstest.NewProxy(t, srv.URL)
	cfg := freshConfig(proxy.URL)
	cfg.PublishTimeout = 500 * time.Millisecond
	a := openLog(t, cfg)
	cfgB := cfg
	cfgB.URL = srv.URL
	b := openLog(t, cfgB)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	held, err := a.Acquire(ctx, "matcher", ttl)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Block()
	blocked := time.Now()
	taken, err := b.Acquire(ctx, "matcher", ttl)
	if err != nil {
		t.Fatalf("Acquire while the holder is cut off: %v", err)
	}
	defer taken.Release()
	took := time.Since(blocked)
	select {
	case <-held.Lost():
	default:
		t.Fatalf("the other Log acquired the lease %v after the holder was cut off, while the holder's Lost was still open", took)
	}
	if took > ttl+3*time.Second {
		t.Fatalf("the lease changed hands %v after the holder was cut off, want within its ttl (%v) and a margin", took, ttl)
	}
	t.Logf("lease taken over %v after the holder was cut off", took)
	proxy.Unblock()
	if err := held.Release(); err != nil {
		t.Fatalf("Release of a lost lease: %v", err)
	}
	select {
	case <-taken.Lost():
		t.Fatal("the old holder's Release took the new holder's lease")
	default:
	}
}

// TestLeaseKeyRemovedClosesLost removes the holder's key from outside
// (nats kv del) and lets another Log take it: the holder's next renewal
// is refused on the revision and its Lost closes.
func TestLeaseKeyRemovedClosesLost(t *testing.T) {
	srv := natstest.RunServer(t)
	cfg := freshConfig(srv.URL)
	a, b := openLog(t, cfg), openLog(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	held, err := a.Acquire(ctx, "matcher", ttl)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	kv, err := js.KeyValue(ctx, cfg.Stream+"_leases")
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "matcher"); err != nil {
		t.Fatal(err)
	}
	taken, err := b.Acquire(ctx, "matcher", ttl)
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Release()
	select {
	case <-held.Lost():
	case <-time.After(ttl): // a renewal is due every ttl/3
		t.Fatal("the holder's Lost stayed open after its key was taken over")
	}
}

// TestAcquireRefusesTTLUnderASecond: JetStream's per-key TTL counts whole
// seconds, from 1.
func TestAcquireRefusesTTLUnderASecond(t *testing.T) {
	srv := natstest.RunServer(t)
	l := openLog(t, freshConfig(srv.URL))
	if _, err := l.Acquire(t.Context(), "matcher", 500*time.Millisecond); err == nil {
		t.Fatal("Acquire with a ttl of 500ms succeeded")
	}
}

// TestClaimsRejectsIncompleteConfig: what a queue needs is said.
func TestClaimsRejectsIncompleteConfig(t *testing.T) {
	srv := natstest.RunServer(t)
	l := openLog(t, freshConfig(srv.URL))
	for _, cfg := range []eventlog.ClaimConfig{
		{Names: []string{"a.v1"}, Lease: time.Second},
		{Queue: "q", Lease: time.Second},
		{Queue: "q", Names: []string{"a.v1"}},
		{Queue: "q", Names: []string{"a.v1"}, Lease: time.Second, MaxPending: -1},
	} {
		if _, err := l.Claims(t.Context(), eventlog.Topic, cfg); err == nil {
			t.Errorf("Claims(%+v) succeeded", cfg)
		}
	}
}

// TestWaitForWakesWithWatcherDown stops one Log's watcher for good: the
// other Log's append still wakes its WaitFor, through the head poll.
func TestWaitForWakesWithWatcherDown(t *testing.T) {
	srv := natstest.RunServer(t)
	cfg := freshConfig(srv.URL)
	cfg.HeadPoll = 200 * time.Millisecond
	a, b := openLog(t, cfg), openLog(t, cfg)
	natslog.StopWatcher(a, eventlog.Topic)
	waitForOthersAppend(t, a, b)
}

// TestWaitForWakesAfterServerRestart restarts the server: once the Logs
// have reconnected, one's append wakes the other's WaitFor.
func TestWaitForWakesAfterServerRestart(t *testing.T) {
	srv := natstest.RunServer(t)
	cfg := freshConfig(srv.URL)
	cfg.HeadPoll = 200 * time.Millisecond
	a, b := openLog(t, cfg), openLog(t, cfg)
	if _, err := b.Append(t.Context(), eventlog.Topic, newMsg()); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	waitForOthersAppend(t, a, b)
}

// waitForOthersAppend has b append while a waits for it.
func waitForOthersAppend(t *testing.T, a, b *natslog.Log) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	h, err := a.Head(eventlog.Topic)
	if err != nil {
		t.Fatal(err)
	}
	woke := make(chan error, 1)
	go func() { woke <- a.WaitFor(ctx, eventlog.Topic, h) }()
	var seqs []uint64
	m := newMsg()
	for {
		// Appends during the reconnect may fail; the Log says so, and a
		// retry with the same UUID is not stored twice.
		seqs, err = b.Append(ctx, eventlog.Topic, m)
		if err == nil || !errors.Is(err, eventlog.ErrUnavailable) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatalf("WaitFor(%d) while the other Log appended %d: %v", h, seqs[0], err)
	}
}
