// Package badgertest holds helpers for tests of Badger databases: value-log
// garbage to collect, and ways to watch it go. Only tests import it.
package badgertest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hookd/hookd/internal/badgerdb"
)

// GCValueSize is well over the value threshold, so values go to the value log.
const GCValueSize = 64 << 10

// SmallValueLog makes GC observable in a test: 1 MiB value-log files
// (Badger's minimum), and level 0 compacted as soon as it has a table, so
// that discard stats exist once a flushed memtable has been compacted.
func SmallValueLog(o badger.Options) badger.Options {
	return o.WithValueLogFileSize(1 << 20).WithNumLevelZeroTables(1)
}

// Garbage writes rounds versions of each key's value, then deletes every
// other key, and returns the live values. All but one version of each
// value, and every version of a deleted key, is Garbage.
func Garbage(t *testing.T, put func(key string, value []byte) error, del func(key string) error, keys, rounds int) map[string][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	live := map[string][]byte{}
	for r := range rounds {
		for k := range keys {
			v := make([]byte, GCValueSize)
			for i := range v {
				v[i] = byte(rng.Uint32())
			}
			key := fmt.Sprintf("gc-test-%d", k)
			if err := put(key, v); err != nil {
				t.Fatalf("round %d: put %s: %v", r, key, err)
			}
			live[key] = v
		}
	}
	for k := 0; k < keys; k += 2 {
		key := fmt.Sprintf("gc-test-%d", k)
		if err := del(key); err != nil {
			t.Fatalf("delete %s: %v", key, err)
		}
		delete(live, key)
	}
	return live
}

func DBPut(db *badger.DB) func(string, []byte) error {
	return func(k string, v []byte) error {
		return db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(k), v) })
	}
}

func DBDelete(db *badger.DB) func(string) error {
	return func(k string) error {
		return db.Update(func(txn *badger.Txn) error { return txn.Delete([]byte(k)) })
	}
}

// ValueLogBytes is the size of dir's value-log files. The newest one is
// preallocated sparsely at twice the file size (2 MiB here) and counts
// that much whatever it holds; the others hold what their size says.
func ValueLogBytes(t *testing.T, dir string) int64 {
	t.Helper()
	files, err := badgerdb.ValueLogFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, size := range files {
		n += size
	}
	return n
}

// WaitForLevel0Compaction waits until db has tables and none of them is in
// level 0: the compaction that moved them counted the discarded values.
func WaitForLevel0Compaction(t *testing.T, db *badger.DB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		tables := db.Tables()
		inL0 := 0
		for _, ti := range tables {
			if ti.Level == 0 {
				inL0++
			}
		}
		if len(tables) > 0 && inL0 == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("level 0 still has %d of %d tables after 20s", inL0, len(tables))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// CheckValues fails unless db holds exactly the live values among the keys.
func CheckValues(t *testing.T, db *badger.DB, keys int, live map[string][]byte) {
	t.Helper()
	err := db.View(func(txn *badger.Txn) error {
		for k := range keys {
			key := fmt.Sprintf("gc-test-%d", k)
			item, err := txn.Get([]byte(key))
			want, ok := live[key]
			if !ok {
				if !errors.Is(err, badger.ErrKeyNotFound) {
					return fmt.Errorf("deleted %s: got err %v, want ErrKeyNotFound", key, err)
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("get %s: %w", key, err)
			}
			got, err := item.ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("value of %s: %w", key, err)
			}
			if !bytes.Equal(got, want) {
				return fmt.Errorf("%s: value differs from the last one written", key)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

const (
	GCKeys   = 8
	GCRounds = 25 // 200 values of 64 KiB: 12.5 MiB, of which 256 KiB live
)
