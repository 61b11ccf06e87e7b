package eventlog

import "context"

// Reader replays a topic of a Log from a sequence up to the head as of
// each batch. It is a plain iterator, not a subscription:
//
//	r := eventlog.NewReader(log, eventlog.Topic, 1)
//	for r.Next(ctx) {
//		e := r.Entry()
//	}
//	if err := r.Err(); err != nil { ... }
type Reader struct {
	l       Log
	topic   string
	next    uint64
	batch   []Entry
	cur     Entry
	err     error
	pending error // met after the entries left in batch
	perRead int
}

// NewReader returns a Reader of topic starting at sequence from (1 is the first).
func NewReader(l Log, topic string, from uint64) *Reader {
	if from == 0 {
		from = 1
	}
	return &Reader{l: l, topic: topic, next: from, perRead: 1024}
}

// Next advances to the next entry; false at the head or on error. An
// entry that does not decode stops the Reader after the entries before
// it (Err says which).
func (r *Reader) Next(ctx context.Context) bool {
	if r.err != nil {
		return false
	}
	if len(r.batch) == 0 {
		if r.pending != nil {
			r.err = r.pending
			return false
		}
		r.batch, r.pending = r.l.ReadBatch(ctx, r.topic, r.next, r.perRead)
		if len(r.batch) == 0 {
			r.err, r.pending = r.pending, nil
			return false
		}
	}
	r.cur, r.batch = r.batch[0], r.batch[1:]
	r.next = r.cur.Seq + 1
	return true
}

// Entry is the current entry.
func (r *Reader) Entry() Entry { return r.cur }

// Err is the error that stopped Next, if any.
func (r *Reader) Err() error { return r.err }
