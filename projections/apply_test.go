package projections_test

import (
	"path/filepath"
	"testing"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/projections"
)

// historyLog appends a random history of n events and returns the log's entries.
func historyLog(t *testing.T, seed uint64, n int) (*badgerlog.Store, []eventlog.Entry) {
	t.Helper()
	store := openStore(t)
	pub := eventlog.NewPublisher(store)
	hist := newHistory(seed)
	for _, chunk := range [][]int{{0, n / 3}, {n / 3, n}} {
		appendEvents(t, pub, hist.events(chunk[1]-chunk[0])...)
	}
	entries := readLog(t, store)
	if len(entries) != n {
		t.Fatalf("log holds %d entries, want %d", len(entries), n)
	}
	return store, entries
}

func apply(t *testing.T, v *projections.Views, entries []eventlog.Entry) {
	t.Helper()
	if err := v.Apply(entries); err != nil {
		t.Fatalf("Apply(entries %d..%d): %v", entries[0].Seq, entries[len(entries)-1].Seq, err)
	}
}

func TestApplyingTheSameEntriesAgainChangesNothing(t *testing.T) {
	_, entries := historyLog(t, 7, 400)
	once := newViews(t)
	apply(t, once, entries)
	want := dump(t, once)
	if cp := checkpoint(t, once); cp != 400 {
		t.Fatalf("checkpoint %d, want 400", cp)
	}

	apply(t, once, entries)
	assertSameViews(t, "after applying every entry twice", want, dump(t, once))
	apply(t, once, entries[100:250])
	assertSameViews(t, "after applying a middle slice again", want, dump(t, once))
	apply(t, once, entries[399:])
	assertSameViews(t, "after applying the last entry again", want, dump(t, once))

	// Overlapping batches, as a runner retrying after a failed commit sends.
	overlapped := newViews(t)
	var wantCP uint64
	for _, r := range [][2]int{{0, 60}, {30, 90}, {0, 90}, {89, 200}, {150, 320}, {10, 20}, {319, 400}} {
		apply(t, overlapped, entries[r[0]:r[1]])
		wantCP = max(wantCP, uint64(r[1]))
		if cp := checkpoint(t, overlapped); cp != wantCP {
			t.Fatalf("after entries [%d,%d): checkpoint %d, want %d", r[0], r[1], cp, wantCP)
		}
	}
	assertSameViews(t, "applied in overlapping batches", want, dump(t, overlapped))
}

func TestApplyingWithAGapIsAnErrorAndChangesNothing(t *testing.T) {
	_, entries := historyLog(t, 11, 120)
	v := newViews(t)

	if err := v.Apply(entries[5:]); err == nil {
		t.Fatal("Apply starting at entry 6 on empty views succeeded, want a gap error")
	}
	if cp := checkpoint(t, v); cp != 0 {
		t.Fatalf("checkpoint %d after a refused apply, want 0", cp)
	}
	if d := dump(t, v); len(d) != 0 {
		t.Fatalf("a refused apply left %d keys", len(d))
	}

	apply(t, v, entries[:40])
	before := dump(t, v)
	if err := v.Apply(entries[41:80]); err == nil {
		t.Fatal("Apply skipping entry 41 succeeded, want a gap error")
	}
	// A batch that starts well but has a hole in the middle is refused whole.
	holed := append(append([]eventlog.Entry{}, entries[40:50]...), entries[51:60]...)
	if err := v.Apply(holed); err == nil {
		t.Fatal("Apply with a hole after entry 50 succeeded, want a gap error")
	}
	if cp := checkpoint(t, v); cp != 40 {
		t.Fatalf("checkpoint %d after refused applies, want 40", cp)
	}
	assertSameViews(t, "after refused applies", before, dump(t, v))

	apply(t, v, entries[40:])
	full := newViews(t)
	apply(t, full, entries)
	assertSameViews(t, "after filling the gap", dump(t, full), dump(t, v))
}

func TestCheckpointSurvivesReopenAndRunnerResumesFromIt(t *testing.T) {
	store := openStore(t)
	pub := eventlog.NewPublisher(store)
	hist := newHistory(99)
	dir := filepath.Join(t.TempDir(), "views")

	views := openViews(t, dir)
	run := startRunner(t, store, views)
	first := appendEvents(t, pub, hist.events(300)...)
	run.waitApplied(t, first)
	run.stop(t)
	if err := views.Close(); err != nil {
		t.Fatalf("close views: %v", err)
	}

	// The log moves on while the views are closed.
	head := appendEvents(t, pub, hist.events(200)...)

	views = openViews(t, dir)
	defer views.Close()
	if cp := checkpoint(t, views); cp != first {
		t.Fatalf("checkpoint after reopen %d, want %d", cp, first)
	}
	run = startRunner(t, store, views)
	if a := run.Applied(); a != first {
		t.Fatalf("new runner starts at %d, want the checkpoint %d", a, first)
	}
	run.waitApplied(t, head)
	run.stop(t)
	if cp := checkpoint(t, views); cp != head {
		t.Fatalf("checkpoint %d, want the head %d", cp, head)
	}

	rebuilt := newViews(t)
	if err := projections.Rebuild(testContext(t), store, rebuilt, nil); err != nil {
		t.Fatal(err)
	}
	assertSameViews(t, "resumed views vs rebuilt views", dump(t, rebuilt), dump(t, views))
}
