package logtest

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/hookd/hookd/eventlog"
)

// RunReopen runs the subtests that need the log reopened on the same
// backend: each Log open returns is closed before the next is opened, so
// an adapter that allows one process per backend (Badger) can run them.
func RunReopen(t *testing.T, open Reopener) {
	t.Run("UniqueKeyKnownAfterReopen", func(t *testing.T) { testUniqueAfterReopen(t, open) })
}

// keyed returns a message named name with unique key key.
func keyed(name, key string) eventlog.AppendMessage {
	m := msg(name, []byte(`{"keyed":true}`))
	m.Metadata[eventlog.MetaUnique] = key
	return m
}

// wantDuplicate fails unless err is a *DuplicateError for key held by seq.
func wantDuplicate(t *testing.T, what string, err error, topic, key string, seq uint64) {
	t.Helper()
	var de *eventlog.DuplicateError
	if !errors.Is(err, eventlog.ErrDuplicate) || !errors.As(err, &de) {
		t.Fatalf("%s: %v, want a *DuplicateError", what, err)
	}
	if de.Topic != topic || de.Key != key || de.Seq != seq {
		t.Fatalf("%s: %+v, want topic %q, key %q, seq %d", what, *de, topic, key, seq)
	}
}

// holders returns the sequences of topic's entries holding key.
func holders(t *testing.T, l eventlog.Log, topic, key string) []uint64 {
	t.Helper()
	var out []uint64
	for _, e := range readAll(t, l, topic, 64) {
		if e.Metadata[eventlog.MetaUnique] == key {
			out = append(out, e.Seq)
		}
	}
	return out
}

func testUniqueRefused(t *testing.T, l eventlog.Log) {
	ctx := guard(t)
	first := mustAppend(t, l, eventlog.Topic, msgs(1)[0], keyed("test.keyed.v1", "build:1"))[1]
	mustAppend(t, l, eventlog.Topic, msgs(2)...)
	head, _ := l.Head(eventlog.Topic)

	// A refused call stores none of its messages, keyed or not.
	plain := msg("test.plain.v1", []byte("p"))
	other := keyed("test.keyed.v1", "build:2")
	_, err := l.Append(ctx, eventlog.Topic, plain, other, keyed("test.keyed.v1", "build:1"))
	wantDuplicate(t, "Append of a held key", err, eventlog.Topic, "build:1", first)
	_, err = l.AppendAt(ctx, eventlog.Topic, head, keyed("test.keyed.v1", "build:1"))
	wantDuplicate(t, "AppendAt on the head of a held key", err, eventlog.Topic, "build:1", first)
	_, err = l.AppendAt(ctx, eventlog.Topic, head+7, keyed("test.keyed.v1", "build:1"))
	wantDuplicate(t, "AppendAt off the head of a held key (a duplicate takes precedence over a conflict)", err, eventlog.Topic, "build:1", first)
	// The same key twice in one call, held by no entry.
	_, err = l.Append(ctx, eventlog.Topic, keyed("test.keyed.v1", "build:3"), keyed("test.keyed.v1", "build:3"))
	wantDuplicate(t, "Append of one key twice", err, eventlog.Topic, "build:3", 0)
	for _, bad := range []string{"", strings.Repeat("k", eventlog.MaxUniqueKey+1)} {
		if _, err := l.Append(ctx, eventlog.Topic, plain, keyed("test.keyed.v1", bad)); !errors.Is(err, eventlog.ErrInvalidUnique) {
			t.Fatalf("Append with a %d-byte key: %v, want ErrInvalidUnique", len(bad), err)
		}
	}
	if h, _ := l.Head(eventlog.Topic); h != head {
		t.Fatalf("head %d after refused appends, want %d", h, head)
	}
	for _, e := range readAll(t, l, eventlog.Topic, 64) {
		if e.UUID == plain.UUID || e.UUID == other.UUID {
			t.Fatalf("entry %d is a message of a refused call", e.Seq)
		}
	}

	// Keys of other calls go in; a key is per topic; the longest key fits.
	long := strings.Repeat("\xff", eventlog.MaxUniqueKey)
	seqs := mustAppend(t, l, eventlog.Topic, other, keyed("test.keyed.v1", "build:3"), keyed("test.keyed.v1", long))
	if got := mustAppend(t, l, "logtest.other", keyed("test.keyed.v1", "build:1")); got[0] != 1 {
		t.Fatalf("a key held in %s appended to another topic at %d, want 1", eventlog.Topic, got[0])
	}
	_, err = l.Append(ctx, eventlog.Topic, keyed("test.keyed.v1", long))
	wantDuplicate(t, "Append of a held 200-byte key", err, eventlog.Topic, long, seqs[2])
	for key, want := range map[string]uint64{"build:1": first, "build:2": seqs[0], "build:3": seqs[1], long: seqs[2]} {
		if got := holders(t, l, eventlog.Topic, key); len(got) != 1 || got[0] != want {
			t.Fatalf("entries holding %q: %v, want [%d]", key, got, want)
		}
	}
	checkChain(t, readAll(t, l, eventlog.Topic, 64))
}

func testUniqueConcurrent(t *testing.T, l eventlog.Log) {
	const n = 20
	const key = "build:concurrent"
	mustAppend(t, l, eventlog.Topic, msgs(1)...)
	var wg sync.WaitGroup
	stored := make(chan uint64, n)
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			// Some calls carry a keyless message too: it must not be
			// stored when the call is refused.
			ms := []eventlog.AppendMessage{keyed("test.keyed.v1", key)}
			if i%2 == 1 {
				ms = append([]eventlog.AppendMessage{msg("test.plain.v1", nil)}, ms...)
			}
			seqs, err := l.Append(guard(t), eventlog.Topic, ms...)
			if err != nil {
				errs <- err
				return
			}
			stored <- seqs[len(seqs)-1]
		})
	}
	close(start)
	wg.Wait()
	close(stored)
	close(errs)
	var won []uint64
	for s := range stored {
		won = append(won, s)
	}
	if len(won) != 1 {
		t.Fatalf("%d of %d appends of one key were stored (at %v), want exactly one", len(won), n, won)
	}
	dups := 0
	for err := range errs {
		wantDuplicate(t, "a concurrent append of a held key", err, eventlog.Topic, key, won[0])
		dups++
	}
	if dups != n-1 {
		t.Fatalf("%d duplicates, want %d", dups, n-1)
	}
	if got := holders(t, l, eventlog.Topic, key); len(got) != 1 || got[0] != won[0] {
		t.Fatalf("entries holding the key: %v, want [%d]", got, won[0])
	}
	// The first entry, then the winner's call (one or two messages):
	// nothing of the refused calls.
	all := readAll(t, l, eventlog.Topic, 64)
	if len(all) != 2 && len(all) != 3 || all[len(all)-1].Seq != won[0] {
		t.Fatalf("the log holds %d entries ending at %d, want the first and the winning call's, ending at %d", len(all), all[len(all)-1].Seq, won[0])
	}
	checkChain(t, all)
}

func testUniqueAfterImport(t *testing.T, open Opener) {
	src := open(t)
	if _, ok := src.(eventlog.Importer); !ok {
		t.Skip("the log does not implement eventlog.Importer")
	}
	mustAppend(t, src, eventlog.Topic, msgs(2)...)
	seq := mustAppend(t, src, eventlog.Topic, keyed("test.keyed.v1", "build:imported"))[0]
	mustAppend(t, src, eventlog.Topic, msgs(1)...)
	exported := readAll(t, src, eventlog.Topic, 2)

	dst := open(t)
	if _, err := dst.(eventlog.Importer).Import(guard(t), eventlog.Topic, entriesOf(exported)); err != nil {
		t.Fatalf("Import: %v", err)
	}
	_, err := dst.Append(guard(t), eventlog.Topic, keyed("test.keyed.v1", "build:imported"))
	wantDuplicate(t, "Append of a key imported", err, eventlog.Topic, "build:imported", seq)
	mustAppend(t, dst, eventlog.Topic, keyed("test.keyed.v1", "build:new"))
	_, err = dst.Append(guard(t), eventlog.Topic, keyed("test.keyed.v1", "build:new"))
	wantDuplicate(t, "Append of a key appended after the import", err, eventlog.Topic, "build:new", uint64(len(exported)+1))
	if got := holders(t, dst, eventlog.Topic, "build:imported"); len(got) != 1 || got[0] != seq {
		t.Fatalf("entries holding the imported key: %v, want [%d]", got, seq)
	}
}

func testUniqueAfterReopen(t *testing.T, open Reopener) {
	reopen := open(t)
	l := reopen()
	mustAppend(t, l, eventlog.Topic, msgs(3)...)
	seq := mustAppend(t, l, eventlog.Topic, keyed("test.keyed.v1", "build:reopened"))[0]
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	l = reopen()
	_, err := l.Append(guard(t), eventlog.Topic, msgs(1)[0], keyed("test.keyed.v1", "build:reopened"))
	wantDuplicate(t, "Append of a held key after reopening", err, eventlog.Topic, "build:reopened", seq)
	if h, _ := l.Head(eventlog.Topic); h != seq {
		t.Fatalf("head %d after a refused append, want %d", h, seq)
	}
}

// testSharedUnique appends one key from two Logs at once, with keyless
// traffic beside it: exactly one is stored, every other call is refused
// with its sequence, and the chain holds.
func testSharedUnique(t *testing.T, open SharedOpener) {
	a, b := open(t)
	const each = 10
	const key = "build:shared"
	var wg sync.WaitGroup
	stored := make(chan uint64, 2*each)
	errs := make(chan error, 2*each)
	start := make(chan struct{})
	for _, l := range []eventlog.Log{a, b} {
		for i := range each {
			wg.Go(func() {
				<-start
				if i%3 == 0 {
					if _, err := l.Append(guard(t), eventlog.Topic, msgs(1)...); err != nil {
						errs <- err
						return
					}
				}
				seqs, err := l.Append(guard(t), eventlog.Topic, keyed("test.keyed.v1", key))
				if err != nil {
					errs <- err
					return
				}
				stored <- seqs[0]
			})
		}
	}
	close(start)
	wg.Wait()
	close(stored)
	close(errs)
	var won []uint64
	for s := range stored {
		won = append(won, s)
	}
	if len(won) != 1 {
		t.Fatalf("%d of %d appends of one key from two logs were stored (at %v), want exactly one", len(won), 2*each, won)
	}
	dups := 0
	for err := range errs {
		wantDuplicate(t, "an append of a key the other log holds", err, eventlog.Topic, key, won[0])
		dups++
	}
	if dups != 2*each-1 {
		t.Fatalf("%d duplicates, want %d", dups, 2*each-1)
	}
	all := readAll(t, a, eventlog.Topic, 64)
	if got := holders(t, a, eventlog.Topic, key); len(got) != 1 || got[0] != won[0] {
		t.Fatalf("entries holding the key: %v, want [%d]", got, won[0])
	}
	checkChain(t, all)
}
