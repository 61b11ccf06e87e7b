package projections_test

import (
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/projections"
)

// TestRebuildGivesIdenticalViews builds a random history through the live
// runner, in many small batches, and checks that rebuilding from the log,
// into a fresh database and beside damaged views (RebuildViewsDir), gives the same
// views byte for byte.
func TestRebuildGivesIdenticalViews(t *testing.T) {
	store := openStore(t)
	pub := eventlog.NewPublisher(store)
	dir := t.TempDir()
	live := openViews(t, filepath.Join(dir, "live"))
	defer func() { _ = live.Close() }()

	hist := newHistory(20250301)
	events := hist.events(3000)
	run := startRunner(t, store, live)
	// Append in chunks of 1 to 40 events while the runner applies them, so
	// the live path sees many small batches of varying size.
	for rest := events; len(rest) > 0; {
		n := min(len(rest), 1+hist.r.IntN(40))
		appendEvents(t, pub, rest[:n]...)
		rest = rest[n:]
	}
	head, err := store.Head(eventlog.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if head != uint64(len(events)) {
		t.Fatalf("log head %d, want %d", head, len(events))
	}
	run.waitApplied(t, head)
	run.stop(t)
	if cp := checkpoint(t, live); cp != head {
		t.Fatalf("live checkpoint %d, want the head %d", cp, head)
	}
	liveDump := dump(t, live)
	assertRichViews(t, live, hist)

	rebuilt := openViews(t, filepath.Join(dir, "rebuilt"))
	defer rebuilt.Close()
	var lastDone, lastTotal uint64
	calls := 0
	err = projections.Rebuild(testContext(t), store, rebuilt, func(done, total uint64) {
		if done <= lastDone {
			t.Errorf("progress went from %d to %d", lastDone, done)
		}
		lastDone, lastTotal = done, total
		calls++
	})
	if err != nil {
		t.Fatalf("Rebuild: %v", err)
	}
	if calls == 0 || lastDone != head || lastTotal != head {
		t.Errorf("progress: %d calls, last (%d, %d); want the last to be (%d, %d)", calls, lastDone, lastTotal, head, head)
	}
	if cp := checkpoint(t, rebuilt); cp != head {
		t.Fatalf("rebuilt checkpoint %d, want the head %d", cp, head)
	}
	assertSameViews(t, "rebuilt views vs live views", liveDump, dump(t, rebuilt))

	// Damage the live views: a stray key, a wrong count, a deleted hook
	// index. Rebuilding them must drop all of it, checkpoint included,
	// and replay from the first entry.
	err = live.DB().Update(func(txn *badger.Txn) error {
		if err := txn.Set([]byte("zz-stray"), []byte("left over")); err != nil {
			return err
		}
		if err := txn.Set(append([]byte{'n'}, hist.apps[0]...), []byte{0, 0, 0, 0, 0, 0, 3, 231}); err != nil {
			return err
		}
		return txn.Delete(append([]byte{'H'}, hist.live[0].slug...))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	if err := projections.RebuildViewsDir(testContext(t), filepath.Join(dir, "live"), store, nil, nil); err != nil {
		t.Fatalf("RebuildViewsDir: %v", err)
	}
	live = openViews(t, filepath.Join(dir, "live"))
	if cp := checkpoint(t, live); cp != head {
		t.Fatalf("checkpoint after rebuilding the live views %d, want %d", cp, head)
	}
	assertSameViews(t, "live views rebuilt vs live views", liveDump, dump(t, live))
}

// assertRichViews guards the comparison against a history that exercises
// nothing: the views must hold many hooks and delivery items, removals
// and duplicates, for every app.
func assertRichViews(t *testing.T, v *projections.Views, hist *history) {
	t.Helper()
	liveHooks := 0
	for _, app := range hist.apps {
		page, err := v.ListHooks(app, "", 200)
		if err != nil {
			t.Fatal(err)
		}
		if page.Total == 0 || int(page.Total) != len(page.Items) {
			t.Errorf("app %s: total %d with %d hooks listed", app, page.Total, len(page.Items))
		}
		liveHooks += len(page.Items)
	}
	if liveHooks != len(hist.live) {
		t.Errorf("views list %d hooks, the history has %d live", liveHooks, len(hist.live))
	}
	if removed := len(hist.hooks) - len(hist.live); removed < 10 {
		t.Errorf("only %d hooks removed; the history is too tame", removed)
	}
	firsts := map[string]domain.DeliveryAttempted{}
	for _, a := range hist.attempts {
		if _, ok := firsts[a.DeliveryID]; !ok {
			firsts[a.DeliveryID] = a
		}
	}
	items := 0
	for _, ref := range hist.hooks {
		page, err := v.ListDeliveryItems(ref.slug, "", 200)
		if err != nil {
			t.Fatal(err)
		}
		items += int(page.Total)
	}
	if items != len(firsts) || items < 1000 {
		t.Errorf("views hold %d delivery items, want %d (one per delivery id), at least 1000", items, len(firsts))
	}
	tokens, err := v.ListTokens("", 200)
	if err != nil {
		t.Fatal(err)
	}
	revoked := 0
	for _, tk := range tokens.Items {
		if tk.RevokedAt != nil {
			revoked++
		}
	}
	if len(tokens.Items) != len(hist.tokens) || len(hist.tokens) < 10 || revoked < 3 {
		t.Errorf("views hold %d tokens (%d revoked), the history issued %d; want at least 10, 3 revoked", len(tokens.Items), revoked, len(hist.tokens))
	}
}
