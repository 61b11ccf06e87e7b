package eventlog

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// maxBatchBytes bounds the stored bytes one batch holds (at least one
// entry is always returned), so a reader's memory does not grow with the
// size of the events it reads: 1,024 build events of 700 KB would be 700 MB.
const maxBatchBytes = 8 << 20

// readPrefetch is how many values Badger's iterator fetches ahead.
const readPrefetch = 16

// ReadBatch returns up to limit entries of topic with sequence >= from, in
// order, and fewer when they pass 8 MiB together (always at least one). It
// never waits: an empty result means from is past the head.
func (s *Store) ReadBatch(ctx context.Context, topic string, from uint64, limit int) ([]Entry, error) {
	out, _, err := s.readBatch(ctx, topic, from, limit, false)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// readBatch is ReadBatch that, on an entry that does not decode, also
// returns the entries before it, and with withHashes also returns, for
// each entry, the hash its stored bytes call for (for Verify).
func (s *Store) readBatch(ctx context.Context, topic string, from uint64, limit int, withHashes bool) ([]Entry, [][HashSize]byte, error) {
	if err := validTopic(topic); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	// Never read past the committed head: a transaction may be visible in
	// Badger a moment before its fsync finished and its callers were answered.
	head, err := s.head(topic)
	if err != nil {
		return nil, nil, err
	}
	if from > head {
		return nil, nil, nil
	}
	if max := head - from + 1; uint64(limit) > max {
		limit = int(max)
	}
	out := make([]Entry, 0, limit)
	var sums [][HashSize]byte
	if withHashes {
		sums = make([][HashSize]byte, 0, limit)
	}
	err = s.db.View(func(txn *badger.Txn) error {
		prefix := topicPrefix(topic)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: min(limit, readPrefetch)})
		defer it.Close()
		bytes := 0
		for it.Seek(entryKey(topic, from)); it.Valid() && len(out) < limit && bytes < maxBatchBytes; it.Next() {
			item := it.Item()
			k := item.Key()
			seq := binary.BigEndian.Uint64(k[len(k)-8:])
			var e Entry
			err := item.Value(func(v []byte) error {
				var err error
				if e, err = decodeEntry(seq, v); err == nil && withHashes {
					sums = append(sums, entryHash(seq, v))
				}
				return err
			})
			if err != nil {
				return err
			}
			bytes += len(e.Payload)
			out = append(out, e)
		}
		// limit is at most the entries up to the head: an iterator that
		// ends before is missing entries (Badger ends an iteration quietly
		// on a block that fails its checksum).
		if len(out) < limit && bytes < maxBatchBytes {
			next := from
			if len(out) > 0 {
				next = out[len(out)-1].Seq + 1
			}
			return corrupt(next, fmt.Sprintf("it cannot be read, though the head is %d: it is missing or its file is damaged", head))
		}
		return nil
	})
	if err != nil {
		return out, sums, fmt.Errorf("read %s from %d: %w", topic, from, err)
	}
	return out, sums, nil
}

// Reader replays a topic from a sequence up to the head as of each batch.
// It is a plain iterator, not a subscription:
//
//	r := store.NewReader(eventlog.Topic, 1)
//	for r.Next(ctx) {
//		e := r.Entry()
//	}
//	if err := r.Err(); err != nil { ... }
type Reader struct {
	s       *Store
	topic   string
	next    uint64
	batch   []Entry
	cur     Entry
	err     error
	pending error // met after the entries left in batch
	perRead int

	withHashes bool             // set by Verify
	sums       [][HashSize]byte // with withHashes: the hashes batch's bytes call for
	curSum     [HashSize]byte
}

// NewReader returns a Reader of topic starting at sequence from (1 is the first).
func (s *Store) NewReader(topic string, from uint64) *Reader {
	if from == 0 {
		from = 1
	}
	return &Reader{s: s, topic: topic, next: from, perRead: 1024}
}

// Next advances to the next entry; false at the head or on error. An
// entry that does not decode stops the Reader after the entries before it.
func (r *Reader) Next(ctx context.Context) bool {
	if r.err != nil {
		return false
	}
	if len(r.batch) == 0 {
		if r.pending != nil {
			r.err = r.pending
			return false
		}
		r.batch, r.sums, r.pending = r.s.readBatch(ctx, r.topic, r.next, r.perRead, r.withHashes)
		if len(r.batch) == 0 {
			r.err, r.pending = r.pending, nil
			return false
		}
	}
	r.cur, r.batch = r.batch[0], r.batch[1:]
	if r.withHashes {
		r.curSum, r.sums = r.sums[0], r.sums[1:]
	}
	r.next = r.cur.Seq + 1
	return true
}

// Entry is the current entry.
func (r *Reader) Entry() Entry { return r.cur }

// Err is the error that stopped Next, if any.
func (r *Reader) Err() error { return r.err }
