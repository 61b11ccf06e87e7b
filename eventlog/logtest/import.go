package logtest

import (
	"errors"
	"iter"
	"slices"
	"testing"

	"github.com/hookd/hookd/eventlog"
)

func entriesOf(es []eventlog.Entry) iter.Seq2[eventlog.Entry, error] {
	return func(yield func(eventlog.Entry, error) bool) {
		for _, e := range es {
			if !yield(e, nil) {
				return
			}
		}
	}
}

func testImport(t *testing.T, open Opener) {
	src := open(t)
	if _, ok := src.(eventlog.Importer); !ok {
		t.Skip("the log does not implement eventlog.Importer")
	}
	mustAppend(t, src, eventlog.Topic, msgs(5)...)
	mustAppend(t, src, eventlog.Topic, msg("test.binary.v1", []byte{0, 1, 2, 255}), msg("test.empty.v1", nil))
	exported := readAll(t, src, eventlog.Topic, 3)

	t.Run("RestoresEntries", func(t *testing.T) {
		dst := open(t)
		rep, err := dst.(eventlog.Importer).Import(guard(t), eventlog.Topic, entriesOf(exported))
		if err != nil {
			t.Fatalf("Import: %v", err)
		}
		last := exported[len(exported)-1]
		if rep.Entries != uint64(len(exported)) || rep.Head != last.Seq || rep.LastHash != last.Hash {
			t.Fatalf("report %+v, want %d entries up to %d, last hash %x", rep, len(exported), last.Seq, last.Hash)
		}
		got := readAll(t, dst, eventlog.Topic, 3)
		if len(got) != len(exported) {
			t.Fatalf("read %d imported entries, want %d", len(got), len(exported))
		}
		for i := range got {
			if err := sameEntry(got[i], exported[i]); err != nil {
				t.Fatalf("imported entry differs: %v", err)
			}
		}
		// Appends go on from the imported chain.
		if seqs := mustAppend(t, dst, eventlog.Topic, msgs(2)...); seqs[0] != last.Seq+1 {
			t.Fatalf("first append after the import got %d, want %d", seqs[0], last.Seq+1)
		}
		checkChain(t, readAll(t, dst, eventlog.Topic, 4))
	})

	t.Run("RefusesBrokenChain", func(t *testing.T) {
		dst := open(t)
		broken := slices.Clone(exported)
		broken[3].Payload = []byte("changed")
		_, err := dst.(eventlog.Importer).Import(guard(t), eventlog.Topic, entriesOf(broken))
		if !errors.Is(err, eventlog.ErrImportRefused) {
			t.Fatalf("Import of a changed entry: %v, want ErrImportRefused", err)
		}
		var ie *eventlog.ImportError
		if !errors.As(err, &ie) || ie.Seq != broken[3].Seq {
			t.Fatalf("Import of a changed entry %d: %v, want an ImportError naming it", broken[3].Seq, err)
		}
	})

	t.Run("RefusesMissingFirst", func(t *testing.T) {
		dst := open(t)
		_, err := dst.(eventlog.Importer).Import(guard(t), eventlog.Topic, entriesOf(exported[1:]))
		if !errors.Is(err, eventlog.ErrImportRefused) {
			t.Fatalf("Import starting at 2: %v, want ErrImportRefused", err)
		}
		if h, _ := dst.Head(eventlog.Topic); h != 0 {
			t.Fatalf("Head after a refused first entry is %d, want 0", h)
		}
	})

	t.Run("RefusesNonEmptyTopic", func(t *testing.T) {
		dst := open(t)
		mustAppend(t, dst, eventlog.Topic, msgs(1)...)
		_, err := dst.(eventlog.Importer).Import(guard(t), eventlog.Topic, entriesOf(exported))
		if !errors.Is(err, eventlog.ErrNotEmpty) {
			t.Fatalf("Import into a topic with entries: %v, want ErrNotEmpty", err)
		}
		if h, _ := dst.Head(eventlog.Topic); h != 1 {
			t.Fatalf("Head after a refused import is %d, want 1", h)
		}
	})
}
