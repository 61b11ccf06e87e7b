package natslog

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/eventlog"
)

// importWindow is how many imported entries are in flight at once.
const importWindow = 256

// Import writes entries into topic's stream, which must be empty: it
// restores an export. Each entry is checked with an eventlog.ImportChecker
// before it is published, in its stored form (with the Time it was
// exported with, so the hashes are reproduced), on the condition that the
// stream's last sequence is the entry's Seq-1. An entry with a unique key
// (eventlog.MetaUnique) is published on its key's subject, as Append
// publishes it, so appends after the import are refused on the key.
//
// Unlike Badger's, a refused import cannot be undone: the stream denies
// deletes, so the entries before the refused one stay. The error then
// says so; remove the stream (nats stream rm) before importing again.
// Import must be the only writer while it runs.
func (l *Log) Import(ctx context.Context, topic string, entries iter.Seq2[eventlog.Entry, error]) (eventlog.ImportReport, error) {
	var rep eventlog.ImportReport
	if err := l.Err(); err != nil {
		return rep, err
	}
	ts, err := l.topic(ctx, topic)
	if err != nil {
		return rep, err
	}
	last, err := l.lastSeq(ctx, ts)
	if err != nil {
		return rep, fmt.Errorf("natslog: import into %s: read its head: %w", ts.stream, err)
	}
	if last != 0 {
		return rep, fmt.Errorf("natslog: import into %s: %w (head %d): import into an empty stream", ts.stream, eventlog.ErrNotEmpty, last)
	}
	checker := eventlog.NewImportChecker()
	var window []jetstream.PubAckFuture
	var windowSeqs []uint64
	flush := func() error {
		for i, fut := range window {
			ack, err := l.await(fut)
			if err == nil && (ack.Duplicate || ack.Sequence != windowSeqs[i]) {
				err = fmt.Errorf("stored at %d (duplicate %v)", ack.Sequence, ack.Duplicate)
			}
			if err != nil {
				return fmt.Errorf("natslog: import into %s: entry %d: %w", ts.stream, windowSeqs[i], err)
			}
			rep.Entries++
			rep.Head = windowSeqs[i]
			l.advance(ts, windowSeqs[i])
		}
		window, windowSeqs = window[:0], windowSeqs[:0]
		return nil
	}
	fail := func(err error) (eventlog.ImportReport, error) {
		if ferr := flush(); ferr != nil {
			err = fmt.Errorf("%w; and %w", err, ferr)
		}
		if rep.Entries > 0 {
			err = fmt.Errorf("%w: entries 1 to %d were imported and cannot be removed from %s: remove the stream (nats stream rm %s) before importing again",
				err, rep.Head, ts.stream, ts.stream)
		}
		return eventlog.ImportReport{}, err
	}
	for e, err := range entries {
		if err != nil {
			return fail(err)
		}
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("natslog: import into %s: %w", ts.stream, err))
		}
		data, err := checker.Check(e)
		if err != nil {
			return fail(err)
		}
		// A keyed entry goes on its key's subject, as Append puts it, on
		// the condition that no entry holds it yet.
		msg := &nats.Msg{Subject: messageSubject(ts.prefix, e.Metadata), Data: data}
		opts := []jetstream.PublishOpt{jetstream.WithMsgID(e.UUID), jetstream.WithExpectLastSequence(e.Seq - 1)}
		if e.Metadata[eventlog.MetaUnique] != "" {
			opts = append(opts, jetstream.WithExpectLastSequencePerSubject(0))
		}
		fut, err := l.js.PublishMsgAsync(msg, opts...)
		if err != nil {
			return fail(fmt.Errorf("%w: import into %s: entry %d: %w", eventlog.ErrUnavailable, ts.stream, e.Seq, err))
		}
		window, windowSeqs = append(window, fut), append(windowSeqs, e.Seq)
		rep.LastHash = e.Hash
		if len(window) == importWindow {
			if err := flush(); err != nil {
				return fail(err)
			}
		}
	}
	if err := flush(); err != nil {
		return fail(err)
	}
	// The writer's tip, if it had read one, is the empty stream's: its
	// next append is refused on the expected sequence and rereads it.
	return rep, nil
}

// await waits for a publish's acknowledgement. The publish timeout
// (jetstream.WithPublishAsyncTimeout) resolves every future; the timer
// here only guards against a future that is never resolved.
func (l *Log) await(fut jetstream.PubAckFuture) (*jetstream.PubAck, error) {
	t := time.NewTimer(2*l.cfg.PublishTimeout + time.Second)
	defer t.Stop()
	select {
	case ack := <-fut.Ok():
		return ack, nil
	case err := <-fut.Err():
		return nil, err
	case <-t.C:
		return nil, jetstream.ErrAsyncPublishTimeout
	}
}
