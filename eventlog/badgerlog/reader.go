package badgerlog

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/hookd/hookd/eventlog"
)

// maxBatchBytes bounds the stored bytes one batch holds (at least one
// entry is always returned), so a reader's memory does not grow with the
// size of the events it reads: 1,024 build events of 700 KB would be 700 MB.
const maxBatchBytes = 8 << 20

// readPrefetch is how many values Badger's iterator fetches ahead.
const readPrefetch = 16

// ReadBatch returns up to limit entries of topic with sequence >= from, in
// order, and fewer when they pass 8 MiB together (always at least one). It
// never waits: an empty result means from is past the head. On an entry
// that does not decode, the entries before it come with the error.
func (s *Store) ReadBatch(ctx context.Context, topic string, from uint64, limit int) ([]eventlog.Entry, error) {
	if err := eventlog.ValidTopic(topic); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-s.closing:
		return nil, eventlog.ErrClosed
	default:
	}
	from = max(from, 1) // sequences start at 1
	// Never read past the committed head: a transaction may be visible in
	// Badger a moment before its fsync finished and its callers were answered.
	head, err := s.head(topic)
	if err != nil {
		return nil, err
	}
	if from > head {
		return nil, nil
	}
	if max := head - from + 1; uint64(limit) > max {
		limit = int(max)
	}
	out := make([]eventlog.Entry, 0, limit)
	err = s.db.View(func(txn *badger.Txn) error {
		prefix := topicPrefix(topic)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: min(limit, readPrefetch)})
		defer it.Close()
		bytes := 0
		for it.Seek(entryKey(topic, from)); it.Valid() && len(out) < limit && bytes < maxBatchBytes; it.Next() {
			item := it.Item()
			k := item.Key()
			seq := binary.BigEndian.Uint64(k[len(k)-8:])
			var e eventlog.Entry
			err := item.Value(func(v []byte) error {
				var err error
				e, err = eventlog.UnmarshalEntry(seq, v)
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
			return eventlog.CorruptEntry(next, fmt.Sprintf("it cannot be read, though the head is %d: it is missing or its file is damaged", head))
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("read %s from %d: %w", topic, from, err)
	}
	return out, nil
}
