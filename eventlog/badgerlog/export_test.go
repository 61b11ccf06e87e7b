package badgerlog

import (
	"github.com/dgraph-io/badger/v4"
	"github.com/hookd/hookd/eventlog"
)

// Test-only access to the log's raw entries, for tamper tests. These live
// in a _test.go file: production code has no way to rewrite the log.

// Offsets in a stored entry (eventlog.MarshalEntry's layout, see
// eventlog/entry.go): format byte, prev hash, hash, body.
const (
	entryPrevAt = 1
	entryHashAt = entryPrevAt + eventlog.HashSize
	entryBodyAt = entryHashAt + eventlog.HashSize

	EntryPrevAtForTest = entryPrevAt
	EntryHashAtForTest = entryHashAt
	EntryBodyAtForTest = entryBodyAt
)

// RewriteEntryForTest replaces the stored bytes of topic's entry seq with
// mutate's result; mutate gets a copy of the current bytes.
func (s *Store) RewriteEntryForTest(topic string, seq uint64, mutate func([]byte) []byte) error {
	return s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(entryKey(topic, seq))
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		return txn.Set(entryKey(topic, seq), mutate(v))
	})
}

// DeleteEntryForTest removes topic's entry seq.
func (s *Store) DeleteEntryForTest(topic string, seq uint64) error {
	return s.db.Update(func(txn *badger.Txn) error {
		return txn.Delete(entryKey(topic, seq))
	})
}

// RehashEntryForTest sets the hash field of b, the stored bytes of entry
// seq, to what its bytes call for, as a forger would, and returns b.
func RehashEntryForTest(seq uint64, b []byte) []byte {
	sum := eventlog.EntryHash(seq, b)
	copy(b[entryHashAt:entryBodyAt], sum[:])
	return b
}
