package badgerdb_test

import (
	"context"
	"errors"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/hookd/hookd/internal/badgerdb"
	"github.com/hookd/hookd/internal/badgerdb/badgertest"
)

func openSmallValueLog(t *testing.T, dir string) *badger.DB {
	t.Helper()
	db, err := badgerdb.OpenWith(badgertest.SmallValueLog(badgerdb.Options(dir, nil, "test")), "test db")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestCollectValueLogFreesOverwrittenAndDeletedValues(t *testing.T) {
	dir := t.TempDir()
	db := openSmallValueLog(t, dir)
	live := badgertest.Garbage(t, badgertest.DBPut(db), badgertest.DBDelete(db), badgertest.GCKeys, badgertest.GCRounds)
	// Closing flushes the memtable to level 0; reopened, Badger compacts
	// it, which counts what each value-log file holds of badgertest.Garbage.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openSmallValueLog(t, dir)
	defer func() { _ = db.Close() }()
	badgertest.WaitForLevel0Compaction(t, db)

	before := badgertest.ValueLogBytes(t, dir)
	res, err := badgerdb.CollectValueLog(t.Context(), db, badgerdb.ValueLogGCDiscardRatio)
	if err != nil {
		t.Fatalf("CollectValueLog: %v", err)
	}
	after := badgertest.ValueLogBytes(t, dir)
	t.Logf("value log %d -> %d bytes; %d files rewritten, %d bytes freed", before, after, res.Rewritten, res.Freed)

	if res.Rewritten == 0 || res.Freed < 8<<20 {
		t.Errorf("GC rewrote %d files and freed %d bytes, want most of the %d bytes of badgertest.Garbage freed", res.Rewritten, res.Freed, badgertest.GCKeys*badgertest.GCRounds*badgertest.GCValueSize)
	}
	if after > before/3 {
		t.Errorf("value-log files take %d bytes after GC, %d before: want at most a third", after, before)
	}
	badgertest.CheckValues(t, db, badgertest.GCKeys, live)

	// A second round finds nothing left worth rewriting.
	res, err = badgerdb.CollectValueLog(t.Context(), db, badgerdb.ValueLogGCDiscardRatio)
	if err != nil || res.Freed != 0 {
		t.Errorf("second round: %+v, %v; want nothing freed, no error", res, err)
	}

	// And what GC kept survives a restart.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openSmallValueLog(t, dir)
	badgertest.CheckValues(t, db, badgertest.GCKeys, live)
}

// Badger learns what a value-log file holds of badgertest.Garbage only from
// compactions; until the memtable holding the overwritten versions has
// been flushed and compacted, GC finds nothing to rewrite.
func TestCollectValueLogFindsNothingBeforeCompaction(t *testing.T) {
	dir := t.TempDir()
	db := openSmallValueLog(t, dir)
	defer func() { _ = db.Close() }()
	badgertest.Garbage(t, badgertest.DBPut(db), badgertest.DBDelete(db), badgertest.GCKeys, badgertest.GCRounds)

	before := badgertest.ValueLogBytes(t, dir)
	res, err := badgerdb.CollectValueLog(t.Context(), db, badgerdb.ValueLogGCDiscardRatio)
	if err != nil {
		t.Fatalf("CollectValueLog: %v", err)
	}
	if after := badgertest.ValueLogBytes(t, dir); res.Rewritten != 0 || after < before {
		t.Errorf("GC before any compaction: %+v, value log %d -> %d bytes; want nothing done", res, before, after)
	}
}

func TestCollectValueLogStopsWhenContextEnds(t *testing.T) {
	dir := t.TempDir()
	db := openSmallValueLog(t, dir)
	defer func() { _ = db.Close() }()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	res, err := badgerdb.CollectValueLog(ctx, db, badgerdb.ValueLogGCDiscardRatio)
	if !errors.Is(err, context.Canceled) || res.Rewritten != 0 {
		t.Errorf("CollectValueLog with an ended context: %+v, %v; want context.Canceled and nothing done", res, err)
	}
}
