package badgerdb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/hookd/hookd/eventlog"
)

// Badger tuning shared by the log and the views: sized for a service that
// must stay small, not for a database server. Badger allocates each
// memtable's arena up front (about twice MemTableSize), so memtable size
// and count set most of the resident memory; values over ValueThreshold
// (large request or response bodies) go to the value log, which keeps
// memtables and transactions small whatever a body's size.
const (
	memTableSize   = 8 << 20
	numMemtables   = 2
	valueThreshold = 32 << 10
	blockCache     = 16 << 20
	indexCache     = 8 << 20
	// maxTxnBytes keeps a transaction well inside Badger's limit of 15% of
	// a memtable (1.2 MiB here), counting values kept in the LSM tree.
	maxTxnBytes = 768 << 10
	// valueLogFileSize is where Badger starts a new value-log file. Value-log
	// GC (see ValueLogGC) only ever rewrites whole files, and never the
	// newest one, the file being written: with Badger's default of 1 GiB,
	// nothing could be reclaimed before a GiB of large values had been
	// written. At 64 MiB at most that much garbage sits out of GC's reach,
	// at the cost of one file (and one mapping) per 64 MiB of live values.
	// It also caps one value at 64 MiB, far above anything hookd stores
	// (request bodies are limited to 1 MiB). Badger maps the file being
	// written at twice this size, sparsely: the disk holds what is written.
	valueLogFileSize = 64 << 20
)

// Options returns hookd's Badger options for a database in dir,
// logging through logger under the given component name. Writes are not
// synced one by one: callers that need durability call DB.Sync. Every
// block and value read is checked against its checksum, so damage is a
// read error rather than wrong bytes (whole files are checked before
// opening, by CheckFiles: Badger's own check at open panics or skips).
func Options(dir string, logger *slog.Logger, component string) badger.Options {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return badger.DefaultOptions(dir).
		WithChecksumVerificationMode(options.OnBlockRead).
		WithVerifyValueChecksum(true).
		WithLogger(badgerLogger{l: logger.With("component", component)}).
		WithSyncWrites(false).
		WithDetectConflicts(false). // one writer per key space; no optimistic transactions to check
		WithNumVersionsToKeep(1).
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemtables).
		WithValueThreshold(valueThreshold).
		WithValueLogFileSize(valueLogFileSize).
		WithBlockCacheSize(blockCache).
		WithIndexCacheSize(indexCache).
		WithNumCompactors(2).
		WithCompactL0OnClose(false)
}

// ErrInUse means another process has the database open: Badger lets one
// process at a time open a directory.
var ErrInUse = errors.New("the directory is in use by another hookd process")

// Open opens the database in dir with Options; what names it in
// errors ("event log", "views"). A directory another process holds fails at
// once with an error wrapping ErrInUse.
func Open(dir string, logger *slog.Logger, component, what string) (*badger.DB, error) {
	return OpenWith(Options(dir, logger, component), what)
}

// OpenWith is Open with the options given (the log tunes some). It
// checks the files first (CheckFiles): a damaged file is an error wrapping
// ErrDamaged, never a panic or a quietly emptier database.
func OpenWith(o badger.Options, what string) (db *badger.DB, err error) {
	if err := CheckFiles(o.Dir, what); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, &eventlog.DamageError{What: what, Dir: o.Dir, Reason: "Badger could not open it: " + panicLine(r)}
		}
	}()
	db, err = badger.Open(o)
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("open %s in %s: %w: %w", what, o.Dir, ErrInUse, err)
		}
		return nil, fmt.Errorf("open %s in %s: %w", what, o.Dir, err)
	}
	return db, nil
}

// MaxTxnBytes is the most a caller should write in one transaction of a
// database opened with Options, counting keys and values up to the
// value threshold (larger values cost a pointer).
func MaxTxnBytes() int { return maxTxnBytes }

// TxnCost estimates what a key and value add to a transaction.
func TxnCost(keyLen, valueLen int) int {
	if valueLen >= valueThreshold {
		valueLen = 16
	}
	return keyLen + valueLen + 16
}

// LevelInternals is the level of Badger's info and debug chatter (flushes,
// compactions): below slog.LevelDebug, so --log-level debug shows hookd's
// own lines without it. Its warnings and errors keep their levels.
const LevelInternals = slog.LevelDebug - 4

// badgerLogger sends Badger's logs to slog.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Infof(f string, a ...any)    { b.internal(f, a...) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.internal(f, a...) }

func (b badgerLogger) internal(f string, a ...any) {
	if b.l.Enabled(context.Background(), LevelInternals) {
		b.l.Log(context.Background(), LevelInternals, strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
}
