package eventlog

import (
	"context"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// StateChange is one batch of changes to consumers' derived state, written
// together: Put values by name, Delete names.
type StateChange struct {
	Put    map[string][]byte
	Delete []string
}

// SaveState applies a StateChange in one transaction, so a consumer's
// position and the state it describes never disagree. Like PutState it is
// not fsynced on its own: the next group commit's fsync makes it durable,
// and a consumer must cope with finding an older state after a crash.
func (s *Store) SaveState(c StateChange) error {
	if len(c.Put) == 0 && len(c.Delete) == 0 {
		return nil
	}
	err := s.db.Update(func(txn *badger.Txn) error {
		for name, v := range c.Put {
			if err := txn.Set(stateKey(name), v); err != nil {
				return err
			}
		}
		for _, name := range c.Delete {
			if err := txn.Delete(stateKey(name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save state (%d values, %d deletions): %w", len(c.Put), len(c.Delete), err)
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

// ErrNotFound: no entry has that sequence (it is past the head).
var ErrNotFound = errors.New("eventlog: no such entry")

// ReadEntry returns the entry of topic at seq, or an error wrapping
// ErrNotFound when seq is 0 or past the committed head.
func (s *Store) ReadEntry(ctx context.Context, topic string, seq uint64) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	head, err := s.Head(topic)
	if err != nil {
		return Entry{}, err
	}
	if seq == 0 || seq > head {
		return Entry{}, fmt.Errorf("read %s entry %d (head %d): %w", topic, seq, head, ErrNotFound)
	}
	var e Entry
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(entryKey(topic, seq))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			e, err = decodeEntry(seq, v)
			return err
		})
	})
	if err != nil {
		return Entry{}, fmt.Errorf("read %s entry %d: %w", topic, seq, err)
	}
	return e, nil
}
