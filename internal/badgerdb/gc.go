package badgerdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// DefaultValueLogGCInterval is how often a database's value log is
// garbage-collected unless told otherwise.
const DefaultValueLogGCInterval = 5 * time.Minute

// ValueLogGCDiscardRatio is the share of a value-log file that must be
// garbage before GC rewrites it: Badger's recommended half, so rewriting
// a file copies at most as many bytes as it frees.
const ValueLogGCDiscardRatio = 0.5

// ValueLogGCResult is what one round of value-log GC did.
type ValueLogGCResult struct {
	// Rewritten is the number of value-log files rewritten.
	Rewritten int
	// Freed is the size of the value-log files that the round removed from
	// disk. A rewritten file still read by an open iterator is removed when
	// the last one closes, and counts in no round.
	Freed int64
}

// CollectValueLog runs one round of value-log GC on db: it rewrites files
// as long as Badger finds one with at least discardRatio of it garbage,
// checking ctx between files. It returns nil when there is nothing more to
// rewrite, an error wrapping badger.ErrRejected if another GC is running
// or the database is closing, ctx's error if ctx ended, or what went wrong.
// The result is what was done, error or not.
func CollectValueLog(ctx context.Context, db *badger.DB, discardRatio float64) (ValueLogGCResult, error) {
	var res ValueLogGCResult
	dir := db.Opts().ValueDir
	before, err := ValueLogFiles(dir)
	if err != nil {
		return res, err
	}
	err = res.rewrite(ctx, db, discardRatio)
	if res.Rewritten > 0 {
		after, lerr := ValueLogFiles(dir)
		if lerr != nil {
			return res, errors.Join(err, lerr)
		}
		for name, size := range before {
			if _, ok := after[name]; !ok {
				res.Freed += size
			}
		}
	}
	return res, err
}

// rewrite calls RunValueLogGC until it finds nothing to rewrite, fails or
// ctx ends, counting the files rewritten.
func (res *ValueLogGCResult) rewrite(ctx context.Context, db *badger.DB, discardRatio float64) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := db.RunValueLogGC(discardRatio)
		if errors.Is(err, badger.ErrNoRewrite) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("value log GC in %s: %w", db.Opts().ValueDir, err)
		}
		res.Rewritten++
	}
}

// ValueLogFiles returns the sizes of the value-log files in dir by name.
// Only the newest file is preallocated (sparsely), so the sizes of the
// others are what they hold.
func ValueLogFiles(dir string) (map[string]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list value log files: %w", err)
	}
	files := map[string]int64{}
	for _, e := range entries {
		if !e.Type().IsRegular() || filepath.Ext(e.Name()) != ".vlog" {
			continue
		}
		info, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("list value log files: %w", err)
		}
		files[e.Name()] = info.Size()
	}
	return files, nil
}

// ValueLogGC runs CollectValueLog on one database in the background, every
// interval, until Stop. Start it after opening the database and Stop it
// before closing it.
//
// Why: values of at least the value threshold are not kept in Badger's LSM
// tree but appended to its value log, a series of files. Overwriting or
// deleting such a value leaves the old bytes in their file until value-log
// GC rewrites the file (copying its live values to the newest one) and
// deletes it. Badger never does this on its own; the application calls
// DB.RunValueLogGC.
//
// What GC can reclaim, and when (Badger v4, read from its source):
//   - It picks the file with the most discardable bytes, and only if they
//     are at least the discard ratio of the file's size (valueLog.pickLog).
//   - It never rewrites the newest file, the one being written; hence the
//     modest ValueLogFileSize in Options.
//   - Discardable bytes are counted only by compactions, as they drop
//     overwritten or deleted versions (levelsController.subcompact). A
//     version still in a memtable or in an uncompacted level-0 table is not
//     counted. With large values a memtable holds tens of thousands of
//     small value pointers before it is flushed, and level 0 is compacted
//     once it holds NumLevelZeroTables (5) tables, so the space of recently
//     overwritten values comes back late (closing the database flushes the memtable;
//     the counts survive restarts). GC bounds the garbage that accumulates
//     over time; it is no licence to rewrite large values often.
type ValueLogGC struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// StartValueLogGC starts collecting db's value log every interval (the
// first round comes one interval after the start, so short-lived tools
// never rewrite anything); interval <= 0 starts nothing. Rounds are logged
// at debug when they rewrite files, failures at warn (the next round tries
// again). what names the database in logs ("event log", "views").
func StartValueLogGC(db *badger.DB, interval time.Duration, logger *slog.Logger, what string) *ValueLogGC {
	g := &ValueLogGC{cancel: func() {}, done: make(chan struct{})}
	if interval <= 0 {
		close(g.done)
		return g
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("db", what)
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go g.run(ctx, db, interval, logger)
	return g
}

// Stop ends the background GC and returns once it has: a round under way
// finishes the file it is rewriting first. It may be called more than once.
func (g *ValueLogGC) Stop() {
	g.cancel()
	<-g.done
}

// Done is closed once the background GC has stopped (or never started).
func (g *ValueLogGC) Done() <-chan struct{} { return g.done }

func (g *ValueLogGC) run(ctx context.Context, db *badger.DB, interval time.Duration, logger *slog.Logger) {
	defer close(g.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		start := time.Now()
		res, err := CollectValueLog(ctx, db, ValueLogGCDiscardRatio)
		if res.Rewritten > 0 {
			logger.Debug("value log GC rewrote files", "files", res.Rewritten, "freed_bytes", res.Freed,
				"took", time.Since(start).Round(time.Millisecond))
		}
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return
		case errors.Is(err, badger.ErrRejected):
			// Another GC is running, or the database is closing.
			logger.Debug("value log GC skipped", "err", err)
		case strings.Contains(err.Error(), "already marked for deletion"):
			// A rewritten file waits for the iterators reading it; Badger
			// picks it again until they are closed.
			logger.Debug("value log GC waits for iterators to release a rewritten file", "err", err)
		default:
			logger.Warn("value log GC failed; trying again later", "err", err, "retry_in", interval)
		}
	}
}
