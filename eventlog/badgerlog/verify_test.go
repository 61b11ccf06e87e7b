package badgerlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
)

const otherTopic = "other.topic"

// buildChainedLog writes a log in dir the way a server does: concurrent
// appends of 1 to 3 messages (so group commits of many sizes, some mixing
// two topics), then a reopen and more appends (so the chain goes on from
// the hash loaded from disk). Its main topic is longer than one Reader
// batch (1,024). It closes the store and returns the head.
func buildChainedLog(t *testing.T, dir string) uint64 {
	t.Helper()
	store := openStore(t, dir)
	pub := eventlog.NewPublisher(store)
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for w := range 5 {
		wg.Go(func() {
			topic := eventlog.Topic
			if w == 4 {
				topic = otherTopic
			}
			for b := range 150 {
				msgs := make([]*message.Message, 1+(w+b)%3)
				for i := range msgs {
					msgs[i] = newMsg(fmt.Sprintf("w%d-b%d-%d", w, b, i))
				}
				if _, err := pub.Append(ctx, topic, msgs...); err != nil {
					errs <- err
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
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	store = openStore(t, dir)
	publishN(t, store, "after-reopen", 20)
	head, err := store.Head(eventlog.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	return head
}

// copyDir copies a closed log's directory to a new one.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
	return dst
}

// copyLog copies a closed log's directory to a new one and opens the copy.
func copyLog(t *testing.T, src string) *badgerlog.Store {
	t.Helper()
	store := openStore(t, copyDir(t, src))
	t.Cleanup(func() { store.Close() })
	return store
}

func verify(t *testing.T, store *badgerlog.Store, topic string) eventlog.VerifyReport {
	t.Helper()
	rep, err := eventlog.Verify(testContext(t), store, topic, nil)
	if err != nil {
		t.Fatalf("Verify(%s): %v", topic, err)
	}
	return rep
}

func requireIntact(t *testing.T, rep eventlog.VerifyReport, head uint64) {
	t.Helper()
	if !rep.OK() || rep.Broken != nil {
		t.Fatalf("Verify of an untampered log: broken at seq %d: %s", rep.Broken.Seq, rep.Broken.Reason)
	}
	if rep.Head != head || rep.Checked != head {
		t.Fatalf("Verify: head %d, checked %d; want both %d", rep.Head, rep.Checked, head)
	}
}

// TestVerifyIntactLogAndChainFields: an untampered log verifies clean on
// every topic; every entry links to the one before, the first to zeros,
// and the report's LastHash is the last entry's Hash.
func TestVerifyIntactLogAndChainFields(t *testing.T) {
	dir := t.TempDir()
	head := buildChainedLog(t, dir)
	store := openStore(t, dir)
	defer store.Close()

	var calls []uint64
	rep, err := eventlog.Verify(testContext(t), store, eventlog.Topic, func(done, total uint64) {
		if total != head || done > total || (len(calls) > 0 && done < calls[len(calls)-1]) {
			t.Errorf("progress(%d, %d) after %v; head %d", done, total, calls, head)
		}
		calls = append(calls, done)
	})
	if err != nil {
		t.Fatal(err)
	}
	requireIntact(t, rep, head)
	if len(calls) == 0 || calls[len(calls)-1] != head {
		t.Fatalf("progress calls %v, want the last to be %d", calls, head)
	}

	entries := readAll(t, store)
	var prev [eventlog.HashSize]byte
	seen := map[[eventlog.HashSize]byte]bool{}
	for _, e := range entries {
		if e.PrevHash != prev {
			t.Fatalf("seq %d: PrevHash %x, want the previous entry's Hash %x", e.Seq, e.PrevHash, prev)
		}
		if seen[e.Hash] {
			t.Fatalf("seq %d: Hash %x seen before", e.Seq, e.Hash)
		}
		seen[e.Hash] = true
		prev = e.Hash
	}
	if rep.LastHash != prev {
		t.Fatalf("LastHash %x, want the last entry's Hash %x", rep.LastHash, prev)
	}

	otherHead, err := store.Head(otherTopic)
	if err != nil {
		t.Fatal(err)
	}
	requireIntact(t, verify(t, store, otherTopic), otherHead)
	if otherHead == 0 {
		t.Fatal("the other topic is empty")
	}

	empty := verify(t, store, "never.written")
	if !empty.OK() || empty.Head != 0 || empty.Checked != 0 || empty.LastHash != ([eventlog.HashSize]byte{}) {
		t.Fatalf("Verify of an empty topic: %+v", empty)
	}
}

// TestChainContinuesFromDiskAfterReopen: the first append after a reopen
// links to the last entry written before it.
func TestChainContinuesFromDiskAfterReopen(t *testing.T) {
	dir := t.TempDir()
	store := openStore(t, dir)
	publishN(t, store, "before", 3)
	before := readAll(t, store)
	store.Close()

	store = openStore(t, dir)
	defer store.Close()
	// A reader first loads the head without the hash; the append still finds it.
	if _, err := store.Head(eventlog.Topic); err != nil {
		t.Fatal(err)
	}
	publishN(t, store, "after", 2)
	all := readAll(t, store)
	if len(all) != 5 || all[3].PrevHash != before[2].Hash {
		t.Fatalf("entry 4 links to %x, want entry 3's hash %x", all[3].PrevHash, before[2].Hash)
	}
	requireIntact(t, verify(t, store, eventlog.Topic), 5)
}

// TestFailedGroupDoesNotAdvanceChain: an append refused as too big for one
// transaction takes no sequence and no link; the next append links to the
// last committed entry.
func TestFailedGroupDoesNotAdvanceChain(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	ctx := testContext(t)
	publishN(t, store, "ok", 2)

	// 200 × 30 KiB values, each kept in the LSM tree (under the value
	// threshold): over Badger's per-transaction limit.
	big := make([]eventlog.AppendMessage, 200)
	for i := range big {
		big[i] = eventlog.AppendMessage{UUID: fmt.Sprint("big-", i), Payload: bytes.Repeat([]byte("x"), 30<<10)}
	}
	if _, err := store.Append(ctx, eventlog.Topic, big...); err == nil {
		t.Fatal("an append too big for one transaction succeeded")
	}
	seqs, err := store.Append(ctx, eventlog.Topic, eventlog.AppendMessage{UUID: "after-refused", Payload: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if seqs[0] != 3 {
		t.Fatalf("append after the refused one got seq %d, want 3", seqs[0])
	}
	requireIntact(t, verify(t, store, eventlog.Topic), 3)
}

// flip changes one byte at i (from the end if i < 0).
func flip(i int) func([]byte) []byte {
	return func(b []byte) []byte {
		if i < 0 {
			i += len(b)
		}
		b[i] ^= 0x20
		return b
	}
}

// TestVerifyFindsTampering tampers with copies of one log through the
// store's raw keys and checks that Verify names the first entry whose link
// breaks, and how.
func TestVerifyFindsTampering(t *testing.T) {
	pristine := t.TempDir()
	head := buildChainedLog(t, pristine)
	const k = 137 // in the middle, inside the Reader's first batch
	if head <= 1024+10 {
		t.Fatalf("head %d too small", head)
	}
	topic := eventlog.Topic
	rewrite := func(seq uint64, f func([]byte) []byte) func(*badgerlog.Store) error {
		return func(s *badgerlog.Store) error { return s.RewriteEntryForTest(topic, seq, f) }
	}
	del := func(seqs ...uint64) func(*badgerlog.Store) error {
		return func(s *badgerlog.Store) error {
			for _, seq := range seqs {
				if err := s.DeleteEntryForTest(topic, seq); err != nil {
					return err
				}
			}
			return nil
		}
	}
	// forge changes the payload and recomputes the entry's own hash.
	forge := func(seq uint64) func([]byte) []byte {
		return func(b []byte) []byte {
			b = bytes.Replace(b, []byte(`"pad"`), []byte(`"PAD"`), 1)
			return badgerlog.RehashEntryForTest(seq, b)
		}
	}
	both := func(fs ...func(*badgerlog.Store) error) func(*badgerlog.Store) error {
		return func(s *badgerlog.Store) error {
			for _, f := range fs {
				if err := f(s); err != nil {
					return err
				}
			}
			return nil
		}
	}
	swap := func(a, b uint64) func(*badgerlog.Store) error {
		return func(s *badgerlog.Store) error {
			var va []byte
			if err := s.RewriteEntryForTest(topic, a, func(v []byte) []byte { va = bytes.Clone(v); return v }); err != nil {
				return err
			}
			var vb []byte
			if err := s.RewriteEntryForTest(topic, b, func(v []byte) []byte { vb = bytes.Clone(v); return va }); err != nil {
				return err
			}
			return s.RewriteEntryForTest(topic, a, func([]byte) []byte { return vb })
		}
	}

	cases := []struct {
		name     string
		tamper   func(*badgerlog.Store) error
		wantSeq  uint64
		wantKind eventlog.BreakKind
		wantText string
	}{
		{"payload byte changed", rewrite(k, flip(-3)), k, eventlog.BreakHash, "hash mismatch"},
		{"time changed", rewrite(k, flip(badgerlog.EntryBodyAtForTest+7)), k, eventlog.BreakHash, "hash mismatch"},
		{"uuid changed", rewrite(k, flip(badgerlog.EntryBodyAtForTest+9)), k, eventlog.BreakHash, "hash mismatch"},
		{"stored hash changed", rewrite(k, flip(badgerlog.EntryHashAtForTest)), k, eventlog.BreakHash, "hash mismatch"},
		{"payload changed and its hash recomputed", rewrite(k, forge(k)), k + 1, eventlog.BreakPrevHash, fmt.Sprintf("entry %d's hash is", k)},
		{"prev hash changed", rewrite(k, flip(badgerlog.EntryPrevAtForTest+5)), k, eventlog.BreakPrevHash, "prev-hash mismatch"},
		{"prev hash changed and hash recomputed", rewrite(k, func(b []byte) []byte {
			return badgerlog.RehashEntryForTest(k, flip(badgerlog.EntryPrevAtForTest)(b))
		}), k, eventlog.BreakPrevHash, "prev-hash mismatch"},
		{"entry deleted", del(k), k, eventlog.BreakGap, fmt.Sprintf("entry %d is missing (the next entry is %d)", k, k+1)},
		{"two entries deleted", del(k, k+1), k, eventlog.BreakGap, fmt.Sprintf("entries %d to %d are missing", k, k+1)},
		{"first entry deleted", del(1), 1, eventlog.BreakGap, "entry 1 is missing"},
		{"format byte changed", rewrite(k, func(b []byte) []byte { b[0] = 1; return b }), k, eventlog.BreakUndecodable, "does not decode"},
		{"entry truncated", rewrite(k, func(b []byte) []byte { return b[:badgerlog.EntryBodyAtForTest+10] }), k, eventlog.BreakUndecodable, "does not decode"},
		{"entry emptied", rewrite(k, func([]byte) []byte { return []byte{} }), k, eventlog.BreakUndecodable, "does not decode"},
		{"first entry changed", rewrite(1, flip(-2)), 1, eventlog.BreakHash, "hash mismatch"},
		{"first entry linked to non-zero", rewrite(1, func(b []byte) []byte {
			return badgerlog.RehashEntryForTest(1, flip(badgerlog.EntryPrevAtForTest)(b))
		}), 1, eventlog.BreakPrevHash, "want 32 zero bytes"},
		{"last entry changed", rewrite(head, flip(-2)), head, eventlog.BreakHash, "hash mismatch"},
		{"two entries swapped", swap(k, k+1), k, eventlog.BreakPrevHash, "prev-hash mismatch"},
		{"entry replayed over the next", func(s *badgerlog.Store) error {
			var v []byte
			if err := s.RewriteEntryForTest(topic, k, func(b []byte) []byte { v = bytes.Clone(b); return b }); err != nil {
				return err
			}
			return s.RewriteEntryForTest(topic, k+1, func([]byte) []byte { return badgerlog.RehashEntryForTest(k+1, v) })
		}, k + 1, eventlog.BreakPrevHash, "prev-hash mismatch"},
		{"first of two changes is reported", both(rewrite(k, flip(-3)), rewrite(k+5, flip(-3))), k, eventlog.BreakHash, ""},
		{"change before an undecodable entry in the same batch", both(rewrite(k, flip(-3)), rewrite(k+5, func(b []byte) []byte { return b[:3] })), k, eventlog.BreakHash, ""},
		{"gap before an undecodable entry", both(del(k), rewrite(k+1, func(b []byte) []byte { return b[:3] })), k, eventlog.BreakGap, ""},
		{"past the first read batch", rewrite(1030, flip(-3)), 1030, eventlog.BreakHash, ""},
		{"deleted at a read batch boundary", del(1025), 1025, eventlog.BreakGap, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := copyLog(t, pristine)
			if err := tc.tamper(store); err != nil {
				t.Fatalf("tamper: %v", err)
			}
			rep := verify(t, store, topic)
			if rep.OK() {
				t.Fatalf("Verify after tampering reports an intact log: %+v", rep)
			}
			if b := rep.Broken; b.Seq != tc.wantSeq || b.Kind != tc.wantKind || !strings.Contains(b.Reason, tc.wantText) {
				t.Fatalf("Verify: broken at seq %d (%v): %q; want seq %d (%v) saying %q",
					b.Seq, b.Kind, b.Reason, tc.wantSeq, tc.wantKind, tc.wantText)
			}
			if !strings.HasPrefix(rep.Broken.Reason, tc.wantKind.String()+": ") {
				t.Fatalf("reason %q does not start with its kind %q", rep.Broken.Reason, tc.wantKind)
			}
			if want := tc.wantSeq - 1; rep.Checked != want {
				t.Fatalf("Checked = %d, want the %d entries before the break", rep.Checked, want)
			}
			// The other topic is untouched and still verifies.
			otherHead, _ := store.Head(otherTopic)
			requireIntact(t, verify(t, store, otherTopic), otherHead)
		})
	}

	// The copies were tampered with, not the original.
	store := openStore(t, pristine)
	defer store.Close()
	requireIntact(t, verify(t, store, topic), head)
}

// TestVerifyAnchorsCatchRewritesFromTheEnd: a log cut short, or rewritten
// with every hash after the change recomputed, is a valid chain; the
// report's Head and LastHash differ from the original's, which is what an
// anchor kept elsewhere catches.
func TestVerifyAnchorsCatchRewritesFromTheEnd(t *testing.T) {
	pristine := t.TempDir()
	head := buildChainedLog(t, pristine)
	orig := func() eventlog.VerifyReport {
		s := openStore(t, pristine)
		defer s.Close()
		return verify(t, s, eventlog.Topic)
	}()

	// Cut the last entry, then reopen so the head is read from disk again.
	cutDir := copyDir(t, pristine)
	cut := openStore(t, cutDir)
	if err := cut.DeleteEntryForTest(eventlog.Topic, head); err != nil {
		t.Fatal(err)
	}
	cut.Close()
	cut = openStore(t, cutDir)
	defer cut.Close()
	rep := verify(t, cut, eventlog.Topic)
	if !rep.OK() || rep.Head != head-1 || rep.LastHash == orig.LastHash {
		t.Fatalf("log cut short: %+v; want an intact chain with head %d and another last hash", rep, head-1)
	}

	// Change entry head-5 and re-link every entry after it.
	rewritten := copyLog(t, pristine)
	var prev [eventlog.HashSize]byte
	for seq := head - 5; seq <= head; seq++ {
		err := rewritten.RewriteEntryForTest(eventlog.Topic, seq, func(b []byte) []byte {
			if seq == head-5 {
				b = bytes.Replace(b, []byte(`"pad"`), []byte(`"PAD"`), 1)
			} else {
				copy(b[badgerlog.EntryPrevAtForTest:], prev[:])
			}
			b = badgerlog.RehashEntryForTest(seq, b)
			copy(prev[:], b[badgerlog.EntryHashAtForTest:badgerlog.EntryBodyAtForTest])
			return b
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rep = verify(t, rewritten, eventlog.Topic)
	if !rep.OK() || rep.Head != head || rep.LastHash == orig.LastHash || rep.LastHash != prev {
		t.Fatalf("log re-linked from the end: %+v; want an intact chain whose last hash %x differs from %x", rep, prev, orig.LastHash)
	}
}

// TestReaderStopsAtUndecodableEntry: a Reader yields the entries before an
// entry that does not decode, then stops with an error.
func TestReaderStopsAtUndecodableEntry(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	publishN(t, store, "r", 10)
	if err := store.RewriteEntryForTest(eventlog.Topic, 6, func(b []byte) []byte { return b[:4] }); err != nil {
		t.Fatal(err)
	}
	r := eventlog.NewReader(store, eventlog.Topic, 1)
	var last uint64
	for r.Next(testContext(t)) {
		last = r.Entry().Seq
	}
	if last != 5 || r.Err() == nil || !strings.Contains(r.Err().Error(), "seq 6") {
		t.Fatalf("reader stopped after seq %d with %v; want after 5 with an error naming seq 6", last, r.Err())
	}
	if _, err := store.ReadBatch(testContext(t), eventlog.Topic, 1, 100); err == nil {
		t.Fatal("ReadBatch over an undecodable entry: no error")
	}
}

func TestVerifyStopsOnCancelledContext(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	publishN(t, store, "c", 3)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := eventlog.Verify(ctx, store, eventlog.Topic, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := eventlog.Verify(testContext(t), store, "", nil); err == nil {
		t.Fatal("Verify of an invalid topic: no error")
	}
}
