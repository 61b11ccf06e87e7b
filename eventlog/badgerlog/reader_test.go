package badgerlog_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
)

// appendBulk appends n messages in one atomic Append, named bulk-1..bulk-n.
func appendBulk(t *testing.T, store *badgerlog.Store, n int) {
	t.Helper()
	msgs := make([]*message.Message, n)
	for i := range msgs {
		msgs[i] = newMsg(fmt.Sprintf("bulk-%d", i+1))
	}
	seqs, err := eventlog.NewPublisher(store).Append(testContext(t), eventlog.Topic, msgs...)
	if err != nil {
		t.Fatal(err)
	}
	if len(seqs) != n || seqs[0] != 1 || seqs[n-1] != uint64(n) {
		t.Fatalf("bulk append: got %d seqs from %d to %d, want 1..%d", len(seqs), seqs[0], seqs[len(seqs)-1], n)
	}
}

func checkBulkEntry(t *testing.T, e eventlog.Entry, seq uint64) {
	t.Helper()
	id := fmt.Sprintf("bulk-%d", seq)
	if e.Seq != seq || e.UUID != id || string(e.Payload) != string(payloadFor(id)) {
		t.Fatalf("entry = seq %d %s %q; want seq %d %s %q", e.Seq, e.UUID, e.Payload, seq, id, payloadFor(id))
	}
	if e.Name() != "test.appended.v1" || e.Metadata[eventlog.MetaSeq] != strconv.FormatUint(seq, 10) {
		t.Fatalf("seq %d: metadata %v", seq, e.Metadata)
	}
	if e.Time.IsZero() || e.Time.Location() != time.UTC {
		t.Fatalf("seq %d: time %v (location %v), want non-zero UTC", seq, e.Time, e.Time.Location())
	}
}

// TestReaderReplaysFromAnySequence: a Reader started at 1, in the middle,
// at the head or past it yields exactly the entries from there to the head,
// across its internal read batches (2,500 entries > one batch).
func TestReaderReplaysFromAnySequence(t *testing.T) {
	const n = 2500
	store := openStore(t, t.TempDir())
	defer store.Close()
	appendBulk(t, store, n)

	if head, err := store.Head(eventlog.Topic); err != nil || head != n {
		t.Fatalf("Head = %d, %v; want %d", head, err, n)
	}
	if head, err := store.Head("another.topic"); err != nil || head != 0 {
		t.Fatalf("Head of an empty topic = %d, %v; want 0", head, err)
	}

	for _, from := range []uint64{0, 1, 2, 1024, 1025, 1300, n, n + 1, n + 100} {
		t.Run(fmt.Sprint("from=", from), func(t *testing.T) {
			want := max(from, 1)
			r := eventlog.NewReader(store, eventlog.Topic, from)
			ctx := testContext(t)
			for r.Next(ctx) {
				checkBulkEntry(t, r.Entry(), want)
				want++
			}
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			// Past the head the reader yields nothing, so want stays at from.
			if wantEnd := max(n+1, from); want != wantEnd {
				t.Fatalf("reader from %d stopped before seq %d, want it to reach the head %d", from, want, n)
			}
			// At the head Next stays false; it is not a subscription.
			if r.Next(ctx) {
				t.Fatalf("Next after the head returned seq %d", r.Entry().Seq)
			}
		})
	}
}

// TestReaderSeesLaterAppends: a Reader that reached the head continues
// with entries appended afterwards on its next call.
func TestReaderSeesLaterAppends(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	ctx := testContext(t)
	r := eventlog.NewReader(store, eventlog.Topic, 1)
	if r.Next(ctx) {
		t.Fatal("Next on an empty log returned an entry")
	}
	published := publishN(t, store, "late", 2)
	for i, m := range published {
		if !r.Next(ctx) {
			t.Fatalf("Next did not see appended entry %d: %v", i+1, r.Err())
		}
		if e := r.Entry(); e.Seq != uint64(i+1) || e.UUID != m.UUID {
			t.Fatalf("entry = %d %s, want %d %s", e.Seq, e.UUID, i+1, m.UUID)
		}
	}
}

func TestReadBatchRespectsLimit(t *testing.T) {
	const n = 10
	store := openStore(t, t.TempDir())
	defer store.Close()
	appendBulk(t, store, n)
	ctx := testContext(t)

	for _, tc := range []struct {
		from      uint64
		limit     int
		wantFirst uint64
		wantLen   int
	}{
		{from: 1, limit: 3, wantFirst: 1, wantLen: 3},
		{from: 4, limit: 3, wantFirst: 4, wantLen: 3},
		{from: 8, limit: 5, wantFirst: 8, wantLen: 3}, // clipped at the head
		{from: 1, limit: 100, wantFirst: 1, wantLen: n},
		{from: n, limit: 1, wantFirst: n, wantLen: 1},
		{from: n + 1, limit: 5, wantLen: 0},
		{from: 3, limit: 0, wantLen: 0},
	} {
		batch, err := store.ReadBatch(ctx, eventlog.Topic, tc.from, tc.limit)
		if err != nil {
			t.Fatalf("ReadBatch(from=%d, limit=%d): %v", tc.from, tc.limit, err)
		}
		if len(batch) != tc.wantLen {
			t.Fatalf("ReadBatch(from=%d, limit=%d): %d entries, want %d", tc.from, tc.limit, len(batch), tc.wantLen)
		}
		for i, e := range batch {
			checkBulkEntry(t, e, tc.wantFirst+uint64(i))
		}
	}
	if _, err := store.ReadBatch(ctx, "", 1, 1); err == nil {
		t.Fatal("ReadBatch with an empty topic: want an error")
	}
}

func TestEntryTypeAndVersion(t *testing.T) {
	for _, tc := range []struct {
		name, wantType string
		wantVersion    int
	}{
		{"hook.configured.v1", "hook.configured", 1},
		{"build_event.received.v1", "build_event.received", 1},
		{"delivery.attempted.v12", "delivery.attempted", 12},
		{"no_version", "no_version", 0},
		{"bad.vx", "bad.vx", 0},
		{"", "", 0},
	} {
		e := eventlog.Entry{Metadata: map[string]string{eventlog.MetaName: tc.name}}
		if e.Name() != tc.name || e.Type() != tc.wantType || e.Version() != tc.wantVersion {
			t.Errorf("%q: Name/Type/Version = %q, %q, %d; want %q, %q, %d",
				tc.name, e.Name(), e.Type(), e.Version(), tc.name, tc.wantType, tc.wantVersion)
		}
	}

	// And through a real store.
	store := openStore(t, t.TempDir())
	defer store.Close()
	m := message.NewMessage("h1", []byte(`{}`))
	m.Metadata.Set(eventlog.MetaName, "hook.configured.v1")
	if err := eventlog.NewPublisher(store).Publish(eventlog.Topic, m); err != nil {
		t.Fatal(err)
	}
	entries := readAll(t, store)
	if len(entries) != 1 || entries[0].Type() != "hook.configured" || entries[0].Version() != 1 {
		t.Fatalf("stored entry: %+v", entries)
	}
}
