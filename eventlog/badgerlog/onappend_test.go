package badgerlog_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
)

// appendCall is one call of Options.OnAppend.
type appendCall struct {
	entries int
	d       time.Duration
	err     error
}

type appendCalls struct {
	mu    sync.Mutex
	calls []appendCall
}

func (c *appendCalls) record(entries int, d time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, appendCall{entries, d, err})
}

func (c *appendCalls) take() []appendCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = nil
	return out
}

// TestOnAppendSeesEveryAppendCallWithItsEntriesDurationAndError checks
// the metrics hook: one call per Append (none for an empty one), after
// the entries are durable, with their number, a positive duration and
// the error the caller got, for appends refused by a failed or closed log
// too.
func TestOnAppendSeesEveryAppendCallWithItsEntriesDurationAndError(t *testing.T) {
	ctx := testContext(t)
	calls := &appendCalls{}
	var store *badgerlog.Store
	var headAtCall []uint64
	onAppend := func(entries int, d time.Duration, err error) {
		h, _ := store.Head(eventlog.Topic)
		headAtCall = append(headAtCall, h) // Appends below are sequential.
		calls.record(entries, d, err)
	}
	store, err := badgerlog.Open(t.TempDir(), badgerlog.Options{OnAppend: onAppend})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer store.Close()
	msg := func(id string) eventlog.AppendMessage {
		return eventlog.AppendMessage{UUID: id, Payload: []byte(`{"id":"` + id + `"}`)}
	}

	if _, err := store.Append(ctx, eventlog.Topic, msg("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, eventlog.Topic, msg("b"), msg("c"), msg("d")); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Append(ctx, eventlog.Topic); err != nil {
		t.Fatal(err)
	}
	got := calls.take()
	if len(got) != 2 || got[0].entries != 1 || got[1].entries != 3 || got[0].err != nil || got[1].err != nil {
		t.Fatalf("OnAppend calls %+v, want (1 entry, nil) and (3 entries, nil), none for the empty append", got)
	}
	for i, c := range got {
		if c.d <= 0 {
			t.Errorf("call %d: duration %v, want > 0", i, c.d)
		}
	}
	if headAtCall[0] != 1 || headAtCall[1] != 4 {
		t.Errorf("head when OnAppend was called: %v, want [1 4] (the entries already durable)", headAtCall)
	}

	// A context already done before the hand-over: the caller's error.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	// The commit loop may still take it; either way OnAppend sees what the caller got.
	_, err = store.Append(cancelled, eventlog.Topic, msg("maybe"))
	if got := calls.take(); len(got) != 1 || got[0].err != err {
		t.Errorf("OnAppend after a cancelled append %+v, want the caller's error %v", got, err)
	}

	// Badger refuses the commit: the log fails, and so does every append after.
	sw := store.DB().NewStreamWriter()
	_ = sw.PrepareIncremental()
	_, err1 := store.Append(ctx, eventlog.Topic, msg("refused-1"), msg("refused-2"))
	sw.Cancel()
	_, err2 := store.Append(ctx, eventlog.Topic, msg("refused-3"))
	got = calls.take()
	if len(got) != 2 || got[0].entries != 2 || got[1].entries != 1 ||
		!errors.Is(got[0].err, eventlog.ErrUnavailable) || !errors.Is(got[1].err, eventlog.ErrUnavailable) ||
		got[0].err != err1 || got[1].err != err2 {
		t.Errorf("OnAppend calls on a failed log %+v, want two wrapping eventlog.ErrUnavailable (the callers got %v, %v)", got, err1, err2)
	}

	if err := store.Close(); err != nil {
		t.Logf("Close after the failure: %v", err)
	}
	if _, err := store.Append(ctx, eventlog.Topic, msg("closed")); !errors.Is(err, eventlog.ErrClosed) {
		t.Fatalf("Append on a closed store: %v, want eventlog.ErrClosed", err)
	}
	if got := calls.take(); len(got) != 1 || !errors.Is(got[0].err, eventlog.ErrClosed) {
		t.Errorf("OnAppend calls on a closed log %+v, want one with eventlog.ErrClosed", got)
	}
}
