package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// gcValueSize is well over the value threshold, so values go to the value log.
const gcValueSize = 64 << 10

// smallValueLog makes GC observable in a test: 1 MiB value-log files
// (Badger's minimum), and level 0 compacted as soon as it has a table, so
// that discard stats exist once a flushed memtable has been compacted.
func smallValueLog(o badger.Options) badger.Options {
	return o.WithValueLogFileSize(1 << 20).WithNumLevelZeroTables(1)
}

func openSmallValueLog(t *testing.T, dir string) *badger.DB {
	t.Helper()
	db, err := openBadger(smallValueLog(BadgerOptions(dir, nil, "test")), "test db")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// garbage writes rounds versions of each key's value, then deletes every
// other key, and returns the live values. All but one version of each
// value, and every version of a deleted key, is garbage.
func garbage(t *testing.T, put func(key string, value []byte) error, del func(key string) error, keys, rounds int) map[string][]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	live := map[string][]byte{}
	for r := range rounds {
		for k := range keys {
			v := make([]byte, gcValueSize)
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

func dbPut(db *badger.DB) func(string, []byte) error {
	return func(k string, v []byte) error {
		return db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(k), v) })
	}
}

func dbDelete(db *badger.DB) func(string) error {
	return func(k string) error {
		return db.Update(func(txn *badger.Txn) error { return txn.Delete([]byte(k)) })
	}
}

// valueLogBytes is the size of dir's value-log files. The newest one is
// preallocated sparsely at twice the file size (2 MiB here) and counts
// that much whatever it holds; the others hold what their size says.
func valueLogBytes(t *testing.T, dir string) int64 {
	t.Helper()
	files, err := valueLogFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, size := range files {
		n += size
	}
	return n
}

// waitForLevel0Compaction waits until db has tables and none of them is in
// level 0: the compaction that moved them counted the discarded values.
func waitForLevel0Compaction(t *testing.T, db *badger.DB) {
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

// checkValues fails unless db holds exactly the live values among the keys.
func checkValues(t *testing.T, db *badger.DB, keys int, live map[string][]byte) {
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
	gcKeys   = 8
	gcRounds = 25 // 200 values of 64 KiB: 12.5 MiB, of which 256 KiB live
)

func TestCollectValueLogFreesOverwrittenAndDeletedValues(t *testing.T) {
	dir := t.TempDir()
	db := openSmallValueLog(t, dir)
	live := garbage(t, dbPut(db), dbDelete(db), gcKeys, gcRounds)
	// Closing flushes the memtable to level 0; reopened, Badger compacts
	// it, which counts what each value-log file holds of garbage.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openSmallValueLog(t, dir)
	defer func() { _ = db.Close() }()
	waitForLevel0Compaction(t, db)

	before := valueLogBytes(t, dir)
	res, err := CollectValueLog(t.Context(), db, ValueLogGCDiscardRatio)
	if err != nil {
		t.Fatalf("CollectValueLog: %v", err)
	}
	after := valueLogBytes(t, dir)
	t.Logf("value log %d -> %d bytes; %d files rewritten, %d bytes freed", before, after, res.Rewritten, res.Freed)

	if res.Rewritten == 0 || res.Freed < 8<<20 {
		t.Errorf("GC rewrote %d files and freed %d bytes, want most of the %d bytes of garbage freed", res.Rewritten, res.Freed, gcKeys*gcRounds*gcValueSize)
	}
	if after > before/3 {
		t.Errorf("value-log files take %d bytes after GC, %d before: want at most a third", after, before)
	}
	checkValues(t, db, gcKeys, live)

	// A second round finds nothing left worth rewriting.
	res, err = CollectValueLog(t.Context(), db, ValueLogGCDiscardRatio)
	if err != nil || res.Freed != 0 {
		t.Errorf("second round: %+v, %v; want nothing freed, no error", res, err)
	}

	// And what GC kept survives a restart.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openSmallValueLog(t, dir)
	checkValues(t, db, gcKeys, live)
}

// Badger learns what a value-log file holds of garbage only from
// compactions; until the memtable holding the overwritten versions has
// been flushed and compacted, GC finds nothing to rewrite.
func TestCollectValueLogFindsNothingBeforeCompaction(t *testing.T) {
	dir := t.TempDir()
	db := openSmallValueLog(t, dir)
	defer func() { _ = db.Close() }()
	garbage(t, dbPut(db), dbDelete(db), gcKeys, gcRounds)

	before := valueLogBytes(t, dir)
	res, err := CollectValueLog(t.Context(), db, ValueLogGCDiscardRatio)
	if err != nil {
		t.Fatalf("CollectValueLog: %v", err)
	}
	if after := valueLogBytes(t, dir); res.Rewritten != 0 || after < before {
		t.Errorf("GC before any compaction: %+v, value log %d -> %d bytes; want nothing done", res, before, after)
	}
}

func TestCollectValueLogStopsWhenContextEnds(t *testing.T) {
	dir := t.TempDir()
	db := openSmallValueLog(t, dir)
	defer func() { _ = db.Close() }()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err := CollectValueLog(ctx, db, ValueLogGCDiscardRatio)
	if !errors.Is(err, context.Canceled) || res.Rewritten != 0 {
		t.Errorf("CollectValueLog with an ended context: %+v, %v; want context.Canceled and nothing done", res, err)
	}
}

// The store runs GC in the background every ValueLogGCInterval, and only
// then does the value log shrink; Close waits for the GC to stop.
func TestStoreCollectsValueLogInBackground(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
	}{
		{"gc every 10ms", 10 * time.Millisecond},
		{"gc off", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logs := &syncBuffer{}
			logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			opts := Options{Logger: logger, ValueLogGCInterval: tc.interval, tuneBadger: smallValueLog}
			s, err := Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			// Large states overwritten again and again, as the old
			// dispatcher checkpoint did.
			live := garbage(t, s.PutState, func(k string) error {
				return s.db.Update(func(txn *badger.Txn) error { return txn.Delete(stateKey(k)) })
			}, gcKeys, gcRounds)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			written := valueLogBytes(t, dir)

			s, err = Open(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			waitForLevel0Compaction(t, s.db)
			if tc.interval > 0 {
				deadline := time.Now().Add(20 * time.Second)
				for valueLogBytes(t, dir) > written/3 {
					if time.Now().After(deadline) {
						t.Fatalf("value log still %d bytes (%d written) after 20s of GC every %s", valueLogBytes(t, dir), written, tc.interval)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			for k, v := range live {
				got, err := s.State(k)
				if err != nil || !bytes.Equal(got, v) {
					t.Fatalf("state %s after GC: %d bytes, %v; want the last %d written", k, len(got), err, len(v))
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-s.gc.Done():
			default:
				t.Fatal("the value-log GC goroutine outlived Close")
			}
			after := valueLogBytes(t, dir)
			t.Logf("value log: %d bytes written, %d after compaction and closing", written, after)
			if tc.interval < 0 && after < written*9/10 {
				t.Errorf("without GC the value log shrank from %d to %d bytes; want it kept", written, after)
			}
			out := logs.String()
			if tc.interval > 0 && !strings.Contains(out, `msg="value log GC rewrote files" component=value-log-gc db="event log"`) {
				t.Errorf("no debug record of what GC reclaimed in the logs:\n%s", out)
			}
			if strings.Contains(out, "value log GC failed") {
				t.Errorf("GC failed:\n%s", out)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer that goroutines may log into together.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
