package eventlog

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4"
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
)

// BadgerOptions returns hookd's Badger options for a database in dir,
// logging through logger under the given component name. Writes are not
// synced one by one: callers that need durability call DB.Sync.
func BadgerOptions(dir string, logger *slog.Logger, component string) badger.Options {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return badger.DefaultOptions(dir).
		WithLogger(badgerLogger{l: logger.With("component", component)}).
		WithSyncWrites(false).
		WithDetectConflicts(false). // one writer per key space; no optimistic transactions to check
		WithNumVersionsToKeep(1).
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemtables).
		WithValueThreshold(valueThreshold).
		WithBlockCacheSize(blockCache).
		WithIndexCacheSize(indexCache).
		WithNumCompactors(2).
		WithCompactL0OnClose(false)
}

// ErrInUse means another process has the database open: Badger lets one
// process at a time open a directory.
var ErrInUse = errors.New("the directory is in use by another hookd process")

// OpenBadger opens the database in dir with BadgerOptions; what names it in
// errors ("event log", "views"). A directory another process holds fails at
// once with an error wrapping ErrInUse.
func OpenBadger(dir string, logger *slog.Logger, component, what string) (*badger.DB, error) {
	db, err := badger.Open(BadgerOptions(dir, logger, component))
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("open %s in %s: %w: %w", what, dir, ErrInUse, err)
		}
		return nil, fmt.Errorf("open %s in %s: %w", what, dir, err)
	}
	return db, nil
}

// MaxTxnBytes is the most a caller should write in one transaction of a
// database opened with BadgerOptions, counting keys and values up to the
// value threshold (larger values cost a pointer).
func MaxTxnBytes() int { return maxTxnBytes }

// TxnCost estimates what a key and value add to a transaction.
func TxnCost(keyLen, valueLen int) int {
	if valueLen >= valueThreshold {
		valueLen = 16
	}
	return keyLen + valueLen + 16
}

// badgerLogger sends Badger's logs to slog; its info chatter goes to debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Infof(f string, a ...any)    { b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...))) }
func (b badgerLogger) Debugf(f string, a ...any)   { b.l.Debug(strings.TrimSpace(fmt.Sprintf(f, a...))) }
