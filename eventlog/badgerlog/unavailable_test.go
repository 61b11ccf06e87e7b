package badgerlog_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
)

// TestAppendsAfterAFailedCommitWrapErrUnavailableUntilReopened makes Badger
// refuse a commit, as a failing disk does, and checks that the store then
// refuses every append with ErrUnavailable (even once Badger would take
// writes again, since what is on disk is no longer known), that what it
// had acknowledged before is kept, and that reopening recovers.
func TestAppendsAfterAFailedCommitWrapErrUnavailableUntilReopened(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	msg := func(id string) eventlog.AppendMessage {
		return eventlog.AppendMessage{UUID: id, Payload: []byte(`{"id":"` + id + `"}`)}
	}

	store, err := badgerlog.Open(dir, badgerlog.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	seqs, err := store.Append(ctx, eventlog.Topic, msg("acked-1"), msg("acked-2"))
	if err != nil || !slices.Equal(seqs, []uint64{1, 2}) {
		t.Fatalf("Append before the failure = %v, %v; want [1 2]", seqs, err)
	}

	// A stream writer being prepared blocks Badger's writes: the next
	// commit fails with badger.ErrBlockedWrites. (With data in the
	// memtable it also reports an error; writes are blocked either way
	// until Cancel.)
	sw := store.DB().NewStreamWriter()
	_ = sw.PrepareIncremental()
	_, err = store.Append(ctx, eventlog.Topic, msg("refused-1"))
	if !errors.Is(err, eventlog.ErrUnavailable) {
		sw.Cancel()
		_ = store.Close()
		t.Fatalf("Append while Badger refuses writes: err = %v, want one wrapping eventlog.ErrUnavailable", err)
	}
	sw.Cancel() // Badger takes writes again...

	// ...but the store does not: the failure is sticky until reopened.
	for _, id := range []string{"refused-2", "refused-3"} {
		if _, err := store.Append(ctx, eventlog.Topic, msg(id)); !errors.Is(err, eventlog.ErrUnavailable) {
			_ = store.Close()
			t.Fatalf("Append %s after the failure: err = %v, want one wrapping eventlog.ErrUnavailable", id, err)
		}
	}
	if err := store.Close(); err != nil {
		t.Logf("Close after the failure: %v", err)
	}

	// Reopened: what was acknowledged is there, nothing refused is, and
	// appends work again.
	store, err = badgerlog.Open(dir, badgerlog.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer store.Close()
	var ids []string
	r := eventlog.NewReader(store, eventlog.Topic, 1)
	for r.Next(ctx) {
		ids = append(ids, r.Entry().UUID)
	}
	if err := r.Err(); err != nil {
		t.Fatalf("Reader: %v", err)
	}
	if !slices.Equal(ids, []string{"acked-1", "acked-2"}) {
		t.Fatalf("log after reopening holds %q, want the two acknowledged entries only", ids)
	}
	if seqs, err := store.Append(ctx, eventlog.Topic, msg("after")); err != nil || !slices.Equal(seqs, []uint64{3}) {
		t.Fatalf("Append after reopening = %v, %v; want [3]", seqs, err)
	}
}
