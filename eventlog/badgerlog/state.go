package badgerlog

import (
	"context"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/hookd/hookd/eventlog"
)

// SaveState puts values by name and deletes names in one transaction, so a consumer's
// position and the state it describes never disagree. Like PutState it is
// not fsynced on its own: the next group commit's fsync makes it durable,
// and a consumer must cope with finding an older state after a crash.
func (s *Store) SaveState(put map[string][]byte, del []string) error {
	if len(put) == 0 && len(del) == 0 {
		return nil
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		for name, v := range put {
			if err := txn.Set(stateKey(name), v); err != nil {
				return err
			}
		}
		for _, name := range del {
			if err := txn.Delete(stateKey(name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save state (%d values, %d deletions): %w", len(put), len(del), err)
	}
	return nil
}

// StatesWithPrefix calls fn for every state saved under a name starting
// with prefix, in name order, with the name and a value fn may keep.
func (s *Store) StatesWithPrefix(prefix string, fn func(name string, value []byte) error) error {
	err := s.db.View(func(txn *badger.Txn) error {
		p := stateKey(prefix)
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Seek(p); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := fn(string(it.Item().Key()[1:]), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read states %q: %w", prefix, err)
	}
	return nil
}

// ReadEntry returns the entry of topic at seq, or an error wrapping
// ErrNotFound when seq is 0 or past the committed head.
func (s *Store) ReadEntry(ctx context.Context, topic string, seq uint64) (eventlog.Entry, error) {
	if err := ctx.Err(); err != nil {
		return eventlog.Entry{}, err
	}
	select {
	case <-s.closing:
		return eventlog.Entry{}, eventlog.ErrClosed
	default:
	}
	head, err := s.Head(topic)
	if err != nil {
		return eventlog.Entry{}, err
	}
	if seq == 0 || seq > head {
		return eventlog.Entry{}, fmt.Errorf("read %s entry %d (head %d): %w", topic, seq, head, eventlog.ErrNotFound)
	}
	var e eventlog.Entry
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(entryKey(topic, seq))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			e, err = eventlog.UnmarshalEntry(seq, v)
			return err
		})
	})
	if err != nil {
		return eventlog.Entry{}, fmt.Errorf("read %s entry %d: %w", topic, seq, err)
	}
	return e, nil
}
