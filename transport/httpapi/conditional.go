package httpapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
)

// Writes that decide from what the views show (a hook's update or
// removal, a bulk redelivery) must not interleave with another such write
// of the same hook, in this process or any other sharing the log. They
// are conditional appends: read the views' position, read the views,
// decide, and append only if the log has not moved on since (AppendAt).
// Entries that land in between and have nothing to do with the decision
// (build events, attempts, other hooks) do not make it stale: the append
// is tried again at the new head after checking them. One that does (a
// change of the same hook) makes the caller read and decide again.

// maxConditionalTries bounds the tries of one conditional append while
// unrelated entries keep landing between its check and its append.
const maxConditionalTries = 64

// maxRereads bounds how often a write reads and decides again because
// another write of the same hook came first.
const maxRereads = 16

// staleError says which entry made a decision stale.
type staleError struct{ seq uint64 }

func (e *staleError) Error() string {
	return fmt.Sprintf("entry %d changed what the write decided on", e.seq)
}

// appendIfUntouched appends msgs if no entry after at (the views' position
// when the caller read them) touches what it decided on: touches is asked
// about every entry whose wire name is in names. It returns the appended
// sequences, a *staleError, or another error.
func (a *api) appendIfUntouched(ctx context.Context, at uint64, names map[string]bool, touches func(domain.Event) bool, msgs []*message.Message) ([]uint64, error) {
	last := at
	for range maxConditionalTries {
		seqs, err := a.Log.AppendAt(ctx, eventlog.Topic, last, msgs...)
		if !errors.Is(err, eventlog.ErrConflict) {
			return seqs, err
		}
		head, err := a.LogReader.Head(eventlog.Topic)
		if err != nil {
			return nil, err
		}
		for from := last + 1; from <= head; {
			batch, err := a.LogReader.ReadBatch(ctx, eventlog.Topic, from, 256)
			if err != nil {
				return nil, err
			}
			if len(batch) == 0 {
				break
			}
			for _, e := range batch {
				if e.Seq > head {
					break
				}
				if !names[e.Name()] {
					continue
				}
				ev, err := eventlog.DecodeEntry(e)
				if err != nil {
					return nil, err
				}
				if touches(ev) {
					return nil, &staleError{seq: e.Seq}
				}
			}
			from = batch[len(batch)-1].Seq + 1
		}
		last = head
	}
	return nil, errBusy
}

// decideAndAppend runs decide on fresh views and appends what it returns
// on the condition above, deciding again (after the views show the entry
// that made it stale) when another write of the same hook came first.
// decide returns the messages to append (none: nothing to do).
func (a *api) decideAndAppend(ctx context.Context, names map[string]bool, touches func(domain.Event) bool, decide func() ([]*message.Message, error)) ([]uint64, error) {
	for range maxRereads {
		at := a.Waiter.Applied()
		msgs, err := decide()
		if err != nil || len(msgs) == 0 {
			return nil, err
		}
		seqs, err := a.appendIfUntouched(ctx, at, names, touches, msgs)
		var stale *staleError
		if !errors.As(err, &stale) {
			return seqs, err
		}
		_ = a.waitForViews(ctx, stale.seq)
	}
	return nil, errBusy
}

// hookEventNames are the entries that change a hook.
var hookEventNames = map[string]bool{domain.NameHookConfigured: true, domain.NameHookRemoved: true}

// changesHook reports whether ev changes the hook app/slug.
func changesHook(app, slug string) func(domain.Event) bool {
	return func(ev domain.Event) bool {
		switch ev := ev.(type) {
		case domain.HookConfigured:
			return ev.AppSlug == app && ev.HookSlug == slug
		case domain.HookRemoved:
			return ev.AppSlug == app && ev.HookSlug == slug
		}
		return false
	}
}
