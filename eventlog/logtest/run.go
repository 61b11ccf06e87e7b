package logtest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/eventlog"
)

// Opener returns a new, empty Log; it closes it in t.Cleanup (closing a
// closed Log must be harmless: some subtests close it themselves).
type Opener func(t *testing.T) eventlog.Log

// SharedOpener returns two Logs on one new, empty backend, as two
// processes would open it; it closes them in t.Cleanup.
type SharedOpener func(t *testing.T) (a, b eventlog.Log)

// hangGuard bounds every wait, so a broken adapter fails instead of
// hanging the test binary; it is no timing assertion.
const hangGuard = 30 * time.Second

// Run runs the contract suite, each subtest on a Log of its own.
func Run(t *testing.T, open Opener) {
	t.Run("AppendReturnsIncreasingSequences", func(t *testing.T) { testAppendSequences(t, open(t)) })
	t.Run("TopicsAreIndependent", func(t *testing.T) { testTopicsIndependent(t, open(t)) })
	t.Run("ReadBatchInOrderFromAnyFrom", func(t *testing.T) { testReadBatchFrom(t, open(t)) })
	t.Run("ReadBatchKeepsToLimit", func(t *testing.T) { testReadBatchLimit(t, open(t)) })
	t.Run("ReadBatchStopsPast8MiB", func(t *testing.T) { testReadBatchBytes(t, open(t)) })
	t.Run("ReadBatchPastHeadIsEmpty", func(t *testing.T) { testReadBatchPastHead(t, open(t)) })
	t.Run("ReadEntryAndNotFound", func(t *testing.T) { testReadEntry(t, open(t)) })
	t.Run("HeadCoversOwnAppends", func(t *testing.T) { testHeadCoversAppends(t, open(t)) })
	t.Run("WaitForWakesOnAppend", func(t *testing.T) { testWaitFor(t, open(t)) })
	t.Run("AppendAtAppendsOrConflicts", func(t *testing.T) { testAppendAt(t, open(t)) })
	t.Run("ConcurrentAppendAtOneWinnerPerHead", func(t *testing.T) { testConcurrentAppendAt(t, open(t)) })
	t.Run("HashChainLinksEveryEntry", func(t *testing.T) { testHashChain(t, open(t)) })
	t.Run("CloseAnswersErrClosed", func(t *testing.T) { testClose(t, open(t)) })
	t.Run("RefuseStopsAppends", func(t *testing.T) { testRefuse(t, open(t)) })
	t.Run("MetadataRoundTrip", func(t *testing.T) { testMetadata(t, open(t)) })
	t.Run("PayloadBytesExact", func(t *testing.T) { testPayloads(t, open(t)) })
	t.Run("Import", func(t *testing.T) { testImport(t, open) })
	t.Run("UniqueKeyRefusesDuplicates", func(t *testing.T) { testUniqueRefused(t, open(t)) })
	t.Run("UniqueKeyConcurrentAppendsStoreOne", func(t *testing.T) { testUniqueConcurrent(t, open(t)) })
	t.Run("UniqueKeyKnownAfterImport", func(t *testing.T) { testUniqueAfterImport(t, open) })
}

// RunShared runs the subtests about two Logs on one backend: what one
// appends, the other sees, waits for and conflicts with.
func RunShared(t *testing.T, open SharedOpener) {
	t.Run("WaitForWakesOnOtherLogsAppend", func(t *testing.T) { testSharedWaitFor(t, open) })
	t.Run("AppendAtConflictsAcrossLogs", func(t *testing.T) { testSharedAppendAt(t, open) })
	t.Run("AppendAtOnHeadLearntFromOtherLog", func(t *testing.T) { testSharedAppendAtLearnt(t, open) })
	t.Run("ConcurrentWritersKeepOneChain", func(t *testing.T) { testSharedWriters(t, open) })
	t.Run("UniqueKeyAcrossLogsStoresOne", func(t *testing.T) { testSharedUnique(t, open) })
}

func guard(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// msg returns a message named name.v1 with payload p.
func msg(name string, p []byte) eventlog.AppendMessage {
	return eventlog.AppendMessage{
		UUID:     uuid.NewString(),
		Metadata: map[string]string{eventlog.MetaName: name},
		Payload:  p,
	}
}

func msgs(n int) []eventlog.AppendMessage {
	out := make([]eventlog.AppendMessage, n)
	for i := range out {
		out[i] = msg("test.appended.v1", fmt.Appendf(nil, `{"i":%d}`, i))
	}
	return out
}

func mustAppend(t *testing.T, l eventlog.Log, topic string, ms ...eventlog.AppendMessage) []uint64 {
	t.Helper()
	seqs, err := l.Append(guard(t), topic, ms...)
	if err != nil {
		t.Fatalf("Append %d messages to %s: %v", len(ms), topic, err)
	}
	if len(seqs) != len(ms) {
		t.Fatalf("Append %d messages returned %d sequences", len(ms), len(seqs))
	}
	return seqs
}

// readAll reads topic from 1 to its head in batches of batch.
func readAll(t *testing.T, l eventlog.Log, topic string, batch int) []eventlog.Entry {
	t.Helper()
	var out []eventlog.Entry
	for next := uint64(1); ; {
		es, err := l.ReadBatch(guard(t), topic, next, batch)
		if err != nil {
			t.Fatalf("ReadBatch(%s, %d, %d): %v", topic, next, batch, err)
		}
		if len(es) == 0 {
			return out
		}
		out = append(out, es...)
		next = es[len(es)-1].Seq + 1
	}
}

// checkChain checks entries form topic's chain from seq 1, and that each
// carries its sequence in MetaSeq.
func checkChain(t *testing.T, entries []eventlog.Entry) {
	t.Helper()
	chain := eventlog.NewChainChecker(1, [eventlog.HashSize]byte{})
	var prev [eventlog.HashSize]byte
	for _, e := range entries {
		if e.PrevHash != prev {
			t.Fatalf("entry %d: PrevHash %x, want the previous entry's Hash %x", e.Seq, e.PrevHash, prev)
		}
		if err := chain.Check(e); err != nil {
			t.Fatalf("hash chain: %v", err)
		}
		b, sum := eventlog.MarshalEntry(nil, e.Seq, e.PrevHash, e.UUID, e.Time, e.Metadata, e.Payload)
		if sum != e.Hash || eventlog.EntryHash(e.Seq, b) != e.Hash {
			t.Fatalf("entry %d: Hash %x is not the hash of its fields %x", e.Seq, e.Hash, sum)
		}
		if got, want := e.Metadata[eventlog.MetaSeq], fmt.Sprint(e.Seq); got != want {
			t.Fatalf("entry %d: MetaSeq %q, want %q", e.Seq, got, want)
		}
		prev = e.Hash
	}
}

func sameEntry(a, b eventlog.Entry) error {
	switch {
	case a.Seq != b.Seq:
		return fmt.Errorf("seq %d, want %d", a.Seq, b.Seq)
	case a.UUID != b.UUID:
		return fmt.Errorf("entry %d: uuid %q, want %q", a.Seq, a.UUID, b.UUID)
	case !a.Time.Equal(b.Time):
		return fmt.Errorf("entry %d: time %v, want %v", a.Seq, a.Time, b.Time)
	case !bytes.Equal(a.Payload, b.Payload):
		return fmt.Errorf("entry %d: payload %q, want %q", a.Seq, a.Payload, b.Payload)
	case a.Hash != b.Hash || a.PrevHash != b.PrevHash:
		return fmt.Errorf("entry %d: hashes %x/%x, want %x/%x", a.Seq, a.PrevHash, a.Hash, b.PrevHash, b.Hash)
	case len(a.Metadata) != len(b.Metadata):
		return fmt.Errorf("entry %d: metadata %v, want %v", a.Seq, a.Metadata, b.Metadata)
	}
	for k, v := range b.Metadata {
		if a.Metadata[k] != v {
			return fmt.Errorf("entry %d: metadata %v, want %v", a.Seq, a.Metadata, b.Metadata)
		}
	}
	return nil
}
