package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/internal/badgerdb"
)

// ErrViewsDamaged marks views that failed to open, failed a checksum or
// returned a read error: OpenViewsDir rebuilds them from the log.
var ErrViewsDamaged = errors.New("the views are damaged")

// damagedMarker is the file a Views writes into its directory when a read
// finds it damaged, so that the next OpenViewsDir rebuilds it even if the
// damage is where its checks at open do not look.
const damagedMarker = "hookd-views-damaged"

// badgerOptions are the views' Badger options: hookd's shared tuning
// (badgerdb.Options, which checks every block and value read against
// its checksum, so a damaged file is an error and never wrong or missing
// data passed on). Tables keep one size at every level: Badger sizes a compaction's table
// builders (up to 8 at once, each twice the table size) by the level's
// table size, which otherwise doubles per level, so memory grew with the
// views.
func badgerOptions(dir string, logger *slog.Logger) badger.Options {
	o := badgerdb.Options(dir, logger, "badger-views")
	o.TableSizeMultiplier = 1
	return o
}

// noPanic runs f, turning a panic of Badger's on a damaged file into an
// error wrapping ErrViewsDamaged that names the directory.
func noPanic(what, dir string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s views in %s: %w: Badger failed on its files: %v", what, dir, ErrViewsDamaged, r)
		}
	}()
	return f()
}

// openBadger opens a views database (see noPanic).
func openBadger(o badger.Options) (db *badger.DB, err error) {
	err = noPanic("open", o.Dir, func() error {
		db, err = badger.Open(o)
		return err
	})
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return nil, fmt.Errorf("open views in %s: %w: %w", o.Dir, badgerdb.ErrInUse, err)
		}
		return nil, fmt.Errorf("open views in %s: %w", o.Dir, err)
	}
	return db, nil
}

// Damaged returns nil, or why a read since the views were opened found
// them damaged (wrapping ErrViewsDamaged): their answers can no longer be
// trusted. It is logged at ERROR once, and the directory is marked so that
// the next OpenViewsDir rebuilds the views from the log.
func (v *Views) Damaged() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.damage
}

// Verify reads every table of the views and checks its checksums, as
// OpenViewsDir does; a failure is recorded as Damaged reports it.
func (v *Views) Verify(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return v.noteRead(noPanic("verify", v.dir, v.db.VerifyChecksum))
}

// noteRead passes err on, first recording it as damage unless it is an
// answer (not found, a bad anchor) or the views being closed.
func (v *Views) noteRead(err error) error {
	if err == nil || errors.Is(err, badger.ErrKeyNotFound) || errors.Is(err, domain.ErrHookNotFound) ||
		errors.Is(err, domain.ErrDeliveryNotFound) || errors.Is(err, ErrBadAnchor) ||
		errors.Is(err, badger.ErrDBClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	v.markDamaged(err)
	return err
}

func (v *Views) markDamaged(cause error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.damage != nil {
		return
	}
	v.damage = fmt.Errorf("%w: views in %s: %w; restart hookd to rebuild them from the log", ErrViewsDamaged, v.dir, cause)
	marker := filepath.Join(v.dir, damagedMarker)
	if err := os.WriteFile(marker, []byte(cause.Error()+"\n"), 0o600); err != nil {
		v.logger.Error("views damaged; could not mark them for a rebuild at the next start", "dir", v.dir, "err", cause, "marker_err", err)
		return
	}
	v.logger.Error("views damaged; they are rebuilt from the log at the next start", "dir", v.dir, "err", cause)
}

// checkOpen reports why the views just opened (their files checked) are
// damaged, or nil, and their checkpoint when it could be read.
func (v *Views) checkOpen() (uint64, error) {
	var cp uint64
	err := v.db.View(func(txn *badger.Txn) error {
		var err error
		cp, err = getU64(txn, []byte{keyCheckpoint})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%w: read the checkpoint: %w", ErrViewsDamaged, err)
	}
	if b, err := os.ReadFile(filepath.Join(v.dir, damagedMarker)); err == nil {
		return cp, fmt.Errorf("%w: a read found them damaged: %s", ErrViewsDamaged, strings.TrimSpace(string(b)))
	}
	return cp, nil
}
