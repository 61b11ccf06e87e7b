package badgerlog_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
)

func TestAppendAfterStoreCloseIsErrClosed(t *testing.T) {
	store := openStore(t, t.TempDir())
	pub := eventlog.NewPublisher(store)
	if err := pub.Publish(eventlog.Topic, newMsg("before-close")); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := store.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := store.Append(testContext(t), eventlog.Topic, eventlog.AppendMessage{UUID: "x", Payload: []byte("{}")}); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("Store.Append after Close: err = %v, want eventlog.ErrClosed", err)
	}
	if err := pub.Publish(eventlog.Topic, newMsg("after-close")); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("Publish after Store.Close: err = %v, want eventlog.ErrClosed", err)
	}
}

func TestPublisherCloseDoesNotCloseStore(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	ctx := testContext(t)

	first := eventlog.NewPublisher(store)
	if _, err := first.Append(ctx, eventlog.Topic, newMsg("a")); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Publisher.Close: %v", err)
	}
	if _, err := first.Append(ctx, eventlog.Topic, newMsg("b")); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("Append on closed publisher: err = %v, want eventlog.ErrClosed", err)
	}

	second := eventlog.NewPublisher(store)
	seqs, err := second.Append(ctx, eventlog.Topic, newMsg("c"))
	if err != nil {
		t.Fatalf("Append through another publisher after the first closed: %v", err)
	}
	if !slices.Equal(seqs, []uint64{2}) {
		t.Fatalf("seqs = %v, want [2] (the closed publisher's refused append takes no sequence)", seqs)
	}
	if head, err := store.Head(eventlog.Topic); err != nil || head != 2 {
		t.Fatalf("Head = %d, %v; want 2", head, err)
	}
}

// TestConcurrentAppendsGetContiguousSequences: 8 goroutines × 200 appends,
// every one answered with its own sequence, together exactly 1..1600, and
// each sequence holds the message that was told it.
func TestConcurrentAppendsGetContiguousSequences(t *testing.T) {
	const workers, perWorker = 8, 200
	store := openStore(t, t.TempDir())
	defer store.Close()
	ctx := testContext(t)
	pub := eventlog.NewPublisher(store)

	var mu sync.Mutex
	got := map[uint64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				id := fmt.Sprintf("w%d-%d", w, i)
				seqs, err := pub.Append(ctx, eventlog.Topic, newMsg(id))
				if err != nil {
					errs <- fmt.Errorf("append %s: %w", id, err)
					return
				}
				if len(seqs) != 1 {
					errs <- fmt.Errorf("append %s: %d seqs, want 1", id, len(seqs))
					return
				}
				mu.Lock()
				if prev, dup := got[seqs[0]]; dup {
					mu.Unlock()
					errs <- fmt.Errorf("seq %d given to both %s and %s", seqs[0], prev, id)
					return
				}
				got[seqs[0]] = id
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	const total = workers * perWorker
	if len(got) != total {
		t.Fatalf("%d distinct seqs, want %d", len(got), total)
	}
	for seq := uint64(1); seq <= total; seq++ {
		if _, ok := got[seq]; !ok {
			t.Fatalf("seq %d was never given out: sequences are not contiguous", seq)
		}
	}
	if head, err := store.Head(eventlog.Topic); err != nil || head != total {
		t.Fatalf("Head = %d, %v; want %d", head, err, total)
	}
	for _, e := range readAll(t, store) {
		if e.UUID != got[e.Seq] {
			t.Fatalf("seq %d holds %q, but that seq was returned to %q", e.Seq, e.UUID, got[e.Seq])
		}
		if string(e.Payload) != string(payloadFor(e.UUID)) {
			t.Fatalf("seq %d: payload %q, want %q", e.Seq, e.Payload, payloadFor(e.UUID))
		}
	}
}

// TestAppendsRacingCloseAreAnsweredAndDurable: appends racing Store.Close
// either succeed (and are then in the reopened log at their sequence) or
// fail with ErrClosed; none hangs, and the log stays contiguous.
func TestAppendsRacingCloseAreAnsweredAndDurable(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	pub := eventlog.NewPublisher(store)
	ctx := testContext(t)

	var mu sync.Mutex
	acked := map[string]uint64{}
	var wg sync.WaitGroup
	started := make(chan struct{}, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				seqs, err := pub.Append(ctx, eventlog.Topic, newMsg(id))
				if errors.Is(err, eventlog.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("append %s: %v (want success or eventlog.ErrClosed)", id, err)
					return
				}
				mu.Lock()
				acked[id] = seqs[0]
				mu.Unlock()
				if i == 20 {
					started <- struct{}{}
				}
			}
		})
	}
	for range 8 {
		select {
		case <-started:
		case <-time.After(waitLimit):
			t.Fatal("appenders did not get going")
		}
	}
	if err := store.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("appends still blocked after Close")
	}

	store = openStore(t, dir)
	defer store.Close()
	entries := readAll(t, store)
	byUUID := map[string]uint64{}
	for i, e := range entries {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d: gap in the log", i+1, e.Seq)
		}
		byUUID[e.UUID] = e.Seq
	}
	for id, seq := range acked {
		if got, ok := byUUID[id]; !ok || got != seq {
			t.Fatalf("acknowledged %s at seq %d; after reopen found at %d (present %v)", id, seq, got, ok)
		}
	}
}

// TestOpenSameDirTwiceInProcess: a second Open of a directory this process
// already holds fails quickly with an error saying the directory is in use.
func TestOpenSameDirTwiceInProcess(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	defer store.Close()

	type result struct {
		s   *badgerlog.Store
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := badgerlog.Open(dir, badgerlog.Options{})
		ch <- result{s, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-time.After(waitLimit):
		t.Fatal("second Open of the same dir hangs")
	}
	if r.err == nil {
		r.s.Close()
		t.Fatal("second Open of the same dir succeeded, want an error")
	}
	if !strings.Contains(r.err.Error(), "in use") || !strings.Contains(r.err.Error(), dir) {
		t.Fatalf("error %q does not say that %s is in use", r.err, dir)
	}

	// The first store is unharmed.
	if _, err := eventlog.NewPublisher(store).Append(testContext(t), eventlog.Topic, newMsg("still-works")); err != nil {
		t.Fatalf("append on the first store after the failed second Open: %v", err)
	}
}

// TestStoredMetadataExcludesSeq: a "seq" a publisher sets is not stored;
// the entry's seq metadata always comes from its key. Other metadata is kept.
func TestStoredMetadataExcludesSeq(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	m := message.NewMessage("with-seq", []byte(`{}`))
	m.Metadata.Set(eventlog.MetaName, "test.appended.v1")
	m.Metadata.Set(eventlog.MetaSeq, "999")
	m.Metadata.Set("correlation_id", "corr-1")
	if err := eventlog.NewPublisher(store).Publish(eventlog.Topic, m); err != nil {
		t.Fatal(err)
	}
	entries := readAll(t, store)
	if len(entries) != 1 {
		t.Fatalf("%d entries, want 1", len(entries))
	}
	want := map[string]string{eventlog.MetaName: "test.appended.v1", eventlog.MetaSeq: "1", "correlation_id": "corr-1"}
	if !maps.Equal(entries[0].Metadata, want) {
		t.Fatalf("metadata = %v, want %v", entries[0].Metadata, want)
	}
}
