package logtest

import (
	"errors"
	"sync"
	"testing"

	"github.com/hookd/hookd/eventlog"
)

func testSharedWaitFor(t *testing.T, open SharedOpener) {
	a, b := open(t)
	ctx := guard(t)
	h, err := a.Head(eventlog.Topic)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.WaitFor(ctx, eventlog.Topic, h) }()
	seqs := mustAppend(t, b, eventlog.Topic, msgs(1)...)
	if err := <-done; err != nil {
		t.Fatalf("WaitFor on one log while the other appended: %v", err)
	}
	if got, _ := a.Head(eventlog.Topic); got < seqs[0] {
		t.Fatalf("Head %d after WaitFor, want at least %d", got, seqs[0])
	}
	e, err := a.ReadEntry(ctx, eventlog.Topic, seqs[0])
	if err != nil {
		t.Fatalf("ReadEntry of the other log's append: %v", err)
	}
	if e.Seq != seqs[0] {
		t.Fatalf("read entry %d, want %d", e.Seq, seqs[0])
	}
}

func testSharedAppendAt(t *testing.T, open SharedOpener) {
	a, b := open(t)
	ctx := guard(t)
	if _, err := a.AppendAt(ctx, eventlog.Topic, 0, msgs(1)...); err != nil {
		t.Fatal(err)
	}
	// b may not have heard of a's append: the backend decides.
	if _, err := b.AppendAt(ctx, eventlog.Topic, 0, msgs(1)...); !errors.Is(err, eventlog.ErrConflict) {
		t.Fatalf("AppendAt(0) on the second log after the first appended: %v, want ErrConflict", err)
	}
	seqs, err := b.AppendAt(ctx, eventlog.Topic, 1, msgs(1)...)
	if err != nil || seqs[0] != 2 {
		t.Fatalf("AppendAt(1) on the second log = %v, %v; want [2]", seqs, err)
	}
	if err := a.WaitFor(ctx, eventlog.Topic, 1); err != nil {
		t.Fatal(err)
	}
	checkChain(t, readAll(t, a, eventlog.Topic, 10))
}

// testSharedAppendAtLearnt: a Log that appended before, then waited for
// the other's appends, appends at the head it learnt: no conflict, though
// its own view of the chain's end was older.
func testSharedAppendAtLearnt(t *testing.T, open SharedOpener) {
	a, b := open(t)
	ctx := guard(t)
	mustAppend(t, b, eventlog.Topic, msgs(1)...)
	seqs := mustAppend(t, a, eventlog.Topic, msgs(2)...)
	if err := b.WaitFor(ctx, eventlog.Topic, seqs[1]-1); err != nil {
		t.Fatal(err)
	}
	h, err := b.Head(eventlog.Topic)
	if err != nil || h != seqs[1] {
		t.Fatalf("Head after WaitFor = %d, %v; want %d", h, err, seqs[1])
	}
	got, err := b.AppendAt(ctx, eventlog.Topic, h, msgs(1)...)
	if err != nil || got[0] != h+1 {
		t.Fatalf("AppendAt(%d) at the head learnt from the other log = %v, %v; want [%d]", h, got, err, h+1)
	}
	checkChain(t, readAll(t, a, eventlog.Topic, 10))
}

// testSharedWriters has two logs append 500 entries each, from several
// goroutines: one unbroken chain of 1,000 entries, each stored once.
func testSharedWriters(t *testing.T, open SharedOpener) {
	a, b := open(t)
	const perLog, goroutines = 500, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	want := map[string]uint64{} // uuid → returned seq
	for _, l := range []eventlog.Log{a, b} {
		for range goroutines {
			wg.Go(func() {
				for range perLog / goroutines {
					m := msgs(1)
					seqs, err := l.Append(guard(t), eventlog.Topic, m...)
					if err != nil {
						t.Errorf("Append: %v", err)
						return
					}
					mu.Lock()
					want[m[0].UUID] = seqs[0]
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, l := range []eventlog.Log{a, b} {
		if err := l.WaitFor(guard(t), eventlog.Topic, 2*perLog-1); err != nil {
			t.Fatal(err)
		}
	}
	all := readAll(t, b, eventlog.Topic, 128)
	if len(all) != 2*perLog {
		t.Fatalf("the log holds %d entries, want %d", len(all), 2*perLog)
	}
	checkChain(t, all)
	for _, e := range all {
		seq, ok := want[e.UUID]
		if !ok {
			t.Fatalf("entry %d (%s) was stored twice or never appended", e.Seq, e.UUID)
		}
		if seq != e.Seq {
			t.Fatalf("entry %s is at %d, but its Append returned %d", e.UUID, e.Seq, seq)
		}
		delete(want, e.UUID)
	}
}
