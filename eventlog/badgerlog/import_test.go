package badgerlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
)

// oddPayloads are payloads whose bytes a JSON round trip would change.
var oddPayloads = [][]byte{
	[]byte("not json at all"),
	[]byte(`{"html":"<a href='x'>&</a>"}`),
	[]byte("{\"sep\":\"\u2028\u2029\"}"),
	[]byte(`{ "spaced" : [ 1, 2 ] }`),
	{},
	{0xff, 0xfe, 0x00, '\n'},
	bytes.Repeat([]byte("v"), 100<<10), // past the value threshold: in the value log
}

// buildSourceLog appends n ordinary entries with a delivery id in their
// metadata, plus the odd payloads, and returns the store's entries.
func buildSourceLog(t *testing.T, store *badgerlog.Store, n int) []eventlog.Entry {
	t.Helper()
	ctx := testContext(t)
	var msgs []eventlog.AppendMessage
	for i := range n {
		msgs = append(msgs, eventlog.AppendMessage{
			UUID:     fmt.Sprintf("id-%d", i),
			Metadata: map[string]string{eventlog.MetaName: "delivery.attempted.v1", eventlog.MetaDeliveryID: fmt.Sprintf("d-%d", i)},
			Payload:  payloadFor(fmt.Sprintf("id-%d", i)),
		})
		if len(msgs) == 500 {
			if _, err := store.Append(ctx, eventlog.Topic, msgs...); err != nil {
				t.Fatal(err)
			}
			msgs = nil
		}
	}
	for i, p := range oddPayloads {
		msgs = append(msgs, eventlog.AppendMessage{UUID: fmt.Sprintf("odd-%d", i), Metadata: map[string]string{eventlog.MetaName: "odd"}, Payload: p})
	}
	msgs = append(msgs, eventlog.AppendMessage{UUID: "no-name", Payload: []byte("{}")})
	if _, err := store.Append(ctx, eventlog.Topic, msgs...); err != nil {
		t.Fatal(err)
	}
	return readAll(t, store)
}

func importEntries(entries []eventlog.Entry) iter.Seq2[eventlog.Entry, error] {
	return func(yield func(eventlog.Entry, error) bool) {
		for _, e := range entries {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// rawEntries returns every stored key and value of the log's entries.
func rawEntries(t *testing.T, store *badgerlog.Store) [][2][]byte {
	t.Helper()
	var out [][2][]byte
	err := store.DB().View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte("e")})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out = append(out, [2][]byte{it.Item().KeyCopy(nil), v})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestImportRestoresEveryStoredByteAndAppendsContinueTheChain(t *testing.T) {
	ctx := testContext(t)
	src := openStore(t, t.TempDir())
	defer src.Close()
	entries := buildSourceLog(t, src, 3000)
	srcRep, err := eventlog.Verify(ctx, src, eventlog.Topic, nil)
	if err != nil || !srcRep.OK() {
		t.Fatalf("source log: %+v, %v", srcRep, err)
	}

	// Small groups, so the import takes many transactions.
	dst, err := badgerlog.Open(t.TempDir(), badgerlog.Options{MaxGroupEntries: 100, MaxGroupBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	head, _ := dst.Head(eventlog.Topic) // caches head 0, as a server's first look would
	if head != 0 {
		t.Fatalf("new log's head %d", head)
	}
	rep, err := dst.Import(ctx, eventlog.Topic, importEntries(entries))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if rep.Entries != uint64(len(entries)) || rep.Head != srcRep.Head || rep.LastHash != srcRep.LastHash {
		t.Fatalf("Import reported %+v, want %d entries, head %d, last hash %x", rep, len(entries), srcRep.Head, srcRep.LastHash)
	}
	if got, want := rawEntries(t, dst), rawEntries(t, src); !slices.EqualFunc(got, want, func(a, b [2][]byte) bool {
		return bytes.Equal(a[0], b[0]) && bytes.Equal(a[1], b[1])
	}) {
		t.Fatalf("the imported log's stored entries differ from the source's (%d vs %d)", len(got), len(want))
	}
	dstRep, err := eventlog.Verify(ctx, dst, eventlog.Topic, nil)
	if err != nil || !dstRep.OK() || dstRep.Head != srcRep.Head || dstRep.LastHash != srcRep.LastHash {
		t.Fatalf("imported log verifies as %+v (%v), want %+v", dstRep, err, srcRep)
	}

	// The store knows its new head: waiters wake, and an append goes on
	// from the imported chain.
	if err := dst.WaitFor(ctx, eventlog.Topic, rep.Head-1); err != nil {
		t.Fatalf("WaitFor after the import: %v", err)
	}
	seqs, err := dst.Append(ctx, eventlog.Topic, eventlog.AppendMessage{UUID: "after", Metadata: map[string]string{eventlog.MetaName: "x.v1"}, Payload: []byte("{}")})
	if err != nil || len(seqs) != 1 || seqs[0] != rep.Head+1 {
		t.Fatalf("append after the import: seqs %v, %v; want [%d]", seqs, err, rep.Head+1)
	}
	if r, err := eventlog.Verify(ctx, dst, eventlog.Topic, nil); err != nil || !r.OK() || r.Head != rep.Head+1 {
		t.Fatalf("after an append, the imported log verifies as %+v (%v)", r, err)
	}
}

func TestImportRefusesABrokenChainAndLeavesTheLogEmpty(t *testing.T) {
	ctx := testContext(t)
	src := openStore(t, t.TempDir())
	defer src.Close()
	entries := buildSourceLog(t, src, 600)
	n := len(entries)

	edit := func(f func([]eventlog.Entry) []eventlog.Entry) []eventlog.Entry {
		c := make([]eventlog.Entry, n)
		for i, e := range entries {
			e.Payload = slices.Clone(e.Payload)
			e.Metadata = maps.Clone(e.Metadata)
			c[i] = e
		}
		return f(c)
	}
	for _, c := range []struct {
		name    string
		entries []eventlog.Entry
		seq     uint64
		reason  string
	}{
		{"partial export", edit(func(es []eventlog.Entry) []eventlog.Entry { return es[4:] }), 5, "cannot be restored"},
		{"line removed", edit(func(es []eventlog.Entry) []eventlog.Entry { return slices.Delete(es, 550, 551) }), 552, "entry 551 is missing"},
		{"payload byte changed", edit(func(es []eventlog.Entry) []eventlog.Entry { es[520].Payload[3] ^= 1; return es }), 521, "hash mismatch"},
		{"metadata changed", edit(func(es []eventlog.Entry) []eventlog.Entry {
			es[530].Metadata[eventlog.MetaDeliveryID] = "other"
			return es
		}), 531, "hash mismatch"},
		{"time changed", edit(func(es []eventlog.Entry) []eventlog.Entry { es[540].Time = es[540].Time.Add(1); return es }), 541, "hash mismatch"},
		{"hash changed", edit(func(es []eventlog.Entry) []eventlog.Entry { es[560].Hash[0] ^= 1; return es }), 561, "hash mismatch"},
		{"prev hash changed", edit(func(es []eventlog.Entry) []eventlog.Entry { es[570].PrevHash[0] ^= 1; return es }), 571, "prev-hash mismatch"},
		{"entries swapped", edit(func(es []eventlog.Entry) []eventlog.Entry { es[580], es[581] = es[581], es[580]; return es }), 582, "entry 582 follows entry 580: entry 581 is missing"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst := openStore(t, t.TempDir())
			defer dst.Close()
			_, err := dst.Import(ctx, eventlog.Topic, importEntries(c.entries))
			var ie *eventlog.ImportError
			if !errors.As(err, &ie) || !errors.Is(err, eventlog.ErrImportRefused) || ie.Seq != c.seq || !strings.Contains(ie.Reason, c.reason) {
				t.Fatalf("Import: %v, want an eventlog.ImportError at seq %d saying %q", err, c.seq, c.reason)
			}
			if raw := rawEntries(t, dst); len(raw) != 0 {
				t.Fatalf("a refused import left %d entries", len(raw))
			}
			if h, err := dst.Head(eventlog.Topic); h != 0 || err != nil {
				t.Fatalf("head after a refused import: %d, %v", h, err)
			}
			// The store is still usable: the intact export imports.
			if rep, err := dst.Import(ctx, eventlog.Topic, importEntries(entries)); err != nil || rep.Head != uint64(n) {
				t.Fatalf("import of the intact entries after a refusal: %+v, %v", rep, err)
			}
		})
	}
}

func TestImportRefusesALogWithEntriesAndPassesOnSequenceErrors(t *testing.T) {
	ctx := testContext(t)
	src := openStore(t, t.TempDir())
	defer src.Close()
	entries := buildSourceLog(t, src, 10)

	_, err := src.Import(ctx, eventlog.Topic, importEntries(entries))
	if !errors.Is(err, eventlog.ErrNotEmpty) {
		t.Fatalf("import into a log with entries: %v, want eventlog.ErrNotEmpty", err)
	}

	dst := openStore(t, t.TempDir())
	defer dst.Close()
	bad := errors.New("line 7 is not JSON")
	_, err = dst.Import(ctx, eventlog.Topic, func(yield func(eventlog.Entry, error) bool) {
		for ie := range importEntries(entries[:6]) {
			if !yield(ie, nil) {
				return
			}
		}
		yield(eventlog.Entry{}, bad)
	})
	if err != bad {
		t.Fatalf("Import with a failing sequence: %v, want its error as is", err)
	}
	if raw := rawEntries(t, dst); len(raw) != 0 {
		t.Fatalf("a failed import left %d entries", len(raw))
	}
}
