package projections_test

import (
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/projections"
)

// TestViewsOfAnOlderFormatAreRebuiltOnOpen takes views without the format
// key (as every hookd before format 2 wrote them, with none of the build
// event and index keys), and checks that OpenViewsDir rebuilds them into
// exactly what a fresh rebuild gives.
func TestViewsOfAnOlderFormatAreRebuiltOnOpen(t *testing.T) {
	store := openStore(t)
	pub := eventlog.NewPublisher(store)
	hist := newHistory(7)
	appendEvents(t, pub, hist.events(400)...)
	dir := filepath.Join(t.TempDir(), "views")

	v := openViews(t, dir)
	if err := projections.Rebuild(testContext(t), store, v, nil); err != nil {
		t.Fatal(err)
	}
	want := dump(t, v)
	if f, err := v.Format(); err != nil || f != projections.ViewsFormat {
		t.Fatalf("fresh views format %d (%v), want %d", f, err, projections.ViewsFormat)
	}
	// Make them look like format 1: no format key, no build events.
	err := v.DB().Update(func(txn *badger.Txn) error {
		for _, k := range [][]byte{{'v'}, {'o', 'a', 'p', 'p', '-', 'a', 'l', 'p', 'h', 'a'}} {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if f, err := v.Format(); err != nil || f != 1 {
		t.Fatalf("views without the key: format %d (%v), want 1", f, err)
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}

	reopened, err := projections.OpenViewsDir(testContext(t), dir, store, nil)
	if err != nil {
		t.Fatalf("OpenViewsDir: %v", err)
	}
	defer reopened.Close()
	assertSameViews(t, "views rebuilt from format 1", want, dump(t, reopened))
}
