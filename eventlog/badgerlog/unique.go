package badgerlog

import (
	"fmt"
	"sync"

	"github.com/bits-and-blooms/bloom/v3"
	"github.com/dgraph-io/badger/v4"
)

// DefaultUniqueFilterBytes is Options.UniqueFilterBytes' default: about
// 1 % false positives up to 3.5 million unique keys.
const DefaultUniqueFilterBytes = 4 << 20

// uniqueFilter tells, approximately, which unique keys (eventlog.MetaUnique)
// the log holds, so that the commit loop, the log's one writer, reads the
// index only for a key the filter may hold. Nearly every key appended is
// new, and an index read per key took 40 % of the writer's time
// (BenchmarkAppend). The filter is told of every key before the commit
// that writes it can be seen, so "absent" is certain; "present" may be a
// false positive, settled by the index. Its size is fixed: with far more
// keys than it was sized for, more new keys are read from the index, as
// without it, and nothing else changes.
type uniqueFilter struct {
	mu sync.Mutex
	f  *bloom.BloomFilter
}

// loadUniqueFilter sizes a filter to bytes and fills it with every unique
// key in db (a keys-only scan of the index).
func loadUniqueFilter(db *badger.DB, bytes int) (*uniqueFilter, int, error) {
	bits := uint(max(bytes, 1<<10)) * 8
	u := &uniqueFilter{f: bloom.New(bits, 7)}
	n := 0
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{'u'}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			u.f.Add(it.Item().Key())
			n++
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read the unique key index: %w", err)
	}
	return u, n, nil
}

// mayHold reports whether the index may hold uk: false is certain.
func (u *uniqueFilter) mayHold(uk []byte) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.f.Test(uk)
}

// add notes index keys about to be written.
func (u *uniqueFilter) add(uks ...[]byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, uk := range uks {
		u.f.Add(uk)
	}
}
