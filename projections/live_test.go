package projections_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/projections"
)

// TestOnlineRebuildSwapsInEqualViewsWhileReadsAndAppliesGoOn rebuilds the
// live views while appends, the runner and readers keep going: no read
// fails or sees the views go back, the runner's position equals the new
// views' checkpoint, and the views equal a fresh rebuild's.
func TestOnlineRebuildSwapsInEqualViewsWhileReadsAndAppliesGoOn(t *testing.T) {
	store := openStore(t)
	pub := eventlog.NewPublisher(store)
	hist := newHistory(11)
	dir := filepath.Join(t.TempDir(), "views")
	ctx := testContext(t)
	live, err := projections.OpenLive(ctx, dir, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := startRunnerOn(t, store, live)
	for range 10 {
		appendEvents(t, pub, hist.events(200)...)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var readErr error
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		if readErr == nil {
			readErr = err
		}
		mu.Unlock()
	}
	wg.Go(func() { // appends
		for range 100 {
			select {
			case <-stop:
				return
			default:
			}
			appendEvents(t, pub, hist.events(20)...)
		}
	})
	wg.Go(func() { // reads: never an error, the checkpoint never goes back
		var last uint64
		for {
			select {
			case <-stop:
				return
			default:
			}
			cp, err := live.Checkpoint()
			if err != nil {
				fail(err)
				return
			}
			if cp < last {
				fail(fmt.Errorf("the views went back from %d to %d", last, cp))
				return
			}
			last = cp
			if _, err := live.ListHooks("app-1", "", 50); err != nil {
				fail(err)
				return
			}
		}
	})

	if _, err := live.StartRebuild(); err != nil {
		t.Fatal(err)
	}
	if _, err := live.StartRebuild(); err != projections.ErrRebuildRunning {
		t.Errorf("a second StartRebuild while one runs: %v, want ErrRebuildRunning", err)
	}
	var st projections.Projections
	deadline := time.Now().Add(waitLimit)
	for {
		if st, err = live.Status(); err != nil {
			t.Fatal(err)
		}
		if st.Rebuild.State != projections.RebuildRunning || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if st.Rebuild.State != projections.RebuildDone {
		t.Fatalf("rebuild: %+v", st.Rebuild)
	}
	if readErr != nil {
		t.Fatalf("during the rebuild: %v", readErr)
	}
	if st.Rebuild.SwapMillis == nil || st.Rebuild.Processed == 0 {
		t.Errorf("status: %+v", st.Rebuild)
	}
	t.Logf("rebuild: %d events, swap held reads for %.2f ms", st.Rebuild.Processed, *st.Rebuild.SwapMillis)

	head, err := store.Head(eventlog.Topic)
	if err != nil {
		t.Fatal(err)
	}
	run.waitApplied(t, head)
	if cp, err := live.Checkpoint(); err != nil || cp != run.Applied() {
		t.Errorf("checkpoint %d (%v), runner at %d", cp, err, run.Applied())
	}
	run.stop(t)
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	for _, stale := range []string{".rebuild", ".new", ".old"} {
		if _, err := os.Stat(dir + stale); err == nil {
			t.Errorf("%s left on disk", dir+stale)
		}
	}
	got := openViews(t, dir)
	fresh := openViews(t, filepath.Join(t.TempDir(), "fresh"))
	if err := projections.Rebuild(ctx, store, fresh, nil); err != nil {
		t.Fatal(err)
	}
	assertSameViews(t, "after an online rebuild", dump(t, fresh), dump(t, got))
}

// startRunnerOn is startRunner for any target.
func startRunnerOn(t *testing.T, store *badgerlog.Store, target projections.Target) *runner {
	t.Helper()
	r, err := projections.NewRunner(store, target, nil)
	if err != nil {
		t.Fatalf("NewRunner: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rr := &runner{Runner: r, cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(func() { rr.stop(t) })
	return rr
}

// TestClosingDuringAnOnlineRebuildLeavesTheLiveViewsAndNoStagedOnes stops
// a rebuild half-way (as a shutdown does): the live views stay as they
// were and nothing is left beside them.
func TestClosingDuringAnOnlineRebuildLeavesTheLiveViewsAndNoStagedOnes(t *testing.T) {
	store := openStore(t)
	pub := eventlog.NewPublisher(store)
	hist := newHistory(12)
	for range 20 {
		appendEvents(t, pub, hist.events(500)...)
	}
	dir := filepath.Join(t.TempDir(), "views")
	ctx := testContext(t)
	live, err := projections.OpenLive(ctx, dir, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	run := startRunnerOn(t, store, live)
	head, err := store.Head(eventlog.Topic)
	if err != nil {
		t.Fatal(err)
	}
	run.waitApplied(t, head)
	run.stop(t)
	if _, err := live.StartRebuild(); err != nil {
		t.Fatal(err)
	}
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	for _, stale := range []string{".rebuild", ".new", ".old"} {
		if _, err := os.Stat(dir + stale); err == nil {
			t.Errorf("%s left on disk", dir+stale)
		}
	}
	got := openViews(t, dir)
	if cp := checkpoint(t, got); cp != head {
		t.Errorf("checkpoint %d after a stopped rebuild, want %d", cp, head)
	}
}
