package logtest

import (
	"errors"
	"sync"
	"testing"

	"github.com/hookd/hookd/eventlog"
)

func testAppendSequences(t *testing.T, l eventlog.Log) {
	var got []uint64
	for range 3 {
		got = append(got, mustAppend(t, l, eventlog.Topic, msgs(1)...)...)
	}
	got = append(got, mustAppend(t, l, eventlog.Topic, msgs(4)...)...)
	for i, s := range got {
		// A fresh log, one writer: sequences start at 1, without gaps.
		if s != uint64(i+1) {
			t.Fatalf("sequences %v, want 1 to %d", got, len(got))
		}
	}
	if h, err := l.Head(eventlog.Topic); err != nil || h != uint64(len(got)) {
		t.Fatalf("Head = %d, %v; want %d", h, err, len(got))
	}
	if seqs, err := l.Append(guard(t), eventlog.Topic); err != nil || len(seqs) != 0 {
		t.Fatalf("Append of nothing = %v, %v; want no sequences and no error", seqs, err)
	}
	if err := l.Writable(); err != nil {
		t.Fatalf("Writable on an open log: %v", err)
	}
}

func testTopicsIndependent(t *testing.T, l eventlog.Log) {
	mustAppend(t, l, eventlog.Topic, msgs(3)...)
	other := "logtest.other"
	if seqs := mustAppend(t, l, other, msgs(2)...); seqs[0] != 1 || seqs[1] != 2 {
		t.Fatalf("another topic's first sequences are %v, want [1 2]", seqs)
	}
	if h, _ := l.Head(eventlog.Topic); h != 3 {
		t.Fatalf("Head(%s) = %d after appending to another topic, want 3", eventlog.Topic, h)
	}
	checkChain(t, readAll(t, l, other, 10))
	checkChain(t, readAll(t, l, eventlog.Topic, 10))
}

func testHeadCoversAppends(t *testing.T, l eventlog.Log) {
	const writers, each = 4, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for range writers {
		wg.Go(func() {
			for range each {
				seqs, err := l.Append(guard(t), eventlog.Topic, msgs(1)...)
				if err != nil {
					errs <- err
					return
				}
				if h, err := l.Head(eventlog.Topic); err != nil || h < seqs[0] {
					errs <- errors.New("logtest: Head is behind an append that returned")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if h, _ := l.Head(eventlog.Topic); h != writers*each {
		t.Fatalf("Head = %d, want %d", h, writers*each)
	}
	checkChain(t, readAll(t, l, eventlog.Topic, 16))
}

func testAppendAt(t *testing.T, l eventlog.Log) {
	ctx := guard(t)
	first := msg("test.first.v1", []byte("1"))
	seqs, err := l.AppendAt(ctx, eventlog.Topic, 0, first)
	if err != nil || len(seqs) != 1 || seqs[0] != 1 {
		t.Fatalf("AppendAt(0) on an empty log = %v, %v; want [1]", seqs, err)
	}
	if _, err := l.AppendAt(ctx, eventlog.Topic, 0, msgs(2)...); !errors.Is(err, eventlog.ErrConflict) {
		t.Fatalf("AppendAt(0) at head 1: %v, want ErrConflict", err)
	}
	if _, err := l.AppendAt(ctx, eventlog.Topic, 5, msgs(1)...); !errors.Is(err, eventlog.ErrConflict) {
		t.Fatalf("AppendAt(5) at head 1: %v, want ErrConflict", err)
	}
	all := readAll(t, l, eventlog.Topic, 10)
	if len(all) != 1 || all[0].UUID != first.UUID {
		t.Fatalf("after refused AppendAts the log holds %d entries, want only the first", len(all))
	}
	seqs, err = l.AppendAt(ctx, eventlog.Topic, 1, msgs(2)...)
	if err != nil || len(seqs) != 2 || seqs[0] != 2 || seqs[1] != 3 {
		t.Fatalf("AppendAt(1) of 2 = %v, %v; want [2 3]", seqs, err)
	}
	checkChain(t, readAll(t, l, eventlog.Topic, 10))
}

func testConcurrentAppendAt(t *testing.T, l eventlog.Log) {
	const n = 8
	const rounds = 10
	var mu sync.Mutex
	winners := map[uint64]int{} // head → winners at it
	var wins int
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for range rounds {
				h, err := l.Head(eventlog.Topic)
				if err != nil {
					t.Error(err)
					return
				}
				seqs, err := l.AppendAt(guard(t), eventlog.Topic, h, msgs(1)...)
				switch {
				case errors.Is(err, eventlog.ErrConflict):
				case err != nil:
					t.Errorf("AppendAt(%d): %v", h, err)
					return
				default:
					if seqs[0] != h+1 {
						t.Errorf("AppendAt(%d) appended at %d", h, seqs[0])
					}
					mu.Lock()
					winners[h]++
					wins++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for h, w := range winners {
		if w != 1 {
			t.Errorf("%d AppendAt calls won at head %d, want exactly one", w, h)
		}
	}
	all := readAll(t, l, eventlog.Topic, 32)
	if len(all) != wins {
		t.Fatalf("the log holds %d entries, but %d AppendAt calls won", len(all), wins)
	}
	checkChain(t, all)
}
