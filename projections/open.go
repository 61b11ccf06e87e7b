package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/badgerdb"
)

// ErrViewsAheadOfLog means the views reflect more entries than the log
// holds: the log has lost entries. The views are then neither used nor
// rebuilt from the shorter log.
var ErrViewsAheadOfLog = errors.New("the views are ahead of the log")

// OpenViewsDir opens the live views in dir (creating empty ones if there
// are none), first tidying what an interrupted rebuild left (see
// ViewsDir). Views whose files fail badgerdb.CheckFiles, that fail to
// open, or cannot read their checkpoint are rebuilt from store beside the damaged ones and
// swapped in when complete, logged at ERROR and WARN; if that rebuild
// fails, the damaged views stay in place and the error says why. Views
// of a format older than ViewsFormat are rebuilt the same way. Views
// ahead of the log give an error wrapping ErrViewsAheadOfLog.
func OpenViewsDir(ctx context.Context, dir string, store eventlog.Log, logger *slog.Logger, opts ...ViewsOption) (*Views, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var o viewsOptions
	for _, opt := range opts {
		opt(&o)
	}
	d := NewViewsDir(dir)
	if err := d.Tidy(logger); err != nil {
		return nil, err
	}
	head, err := store.Head(eventlog.Topic)
	if err != nil {
		return nil, fmt.Errorf("open views: read the log's head: %w", err)
	}
	v, cp, damage := openChecked(d.Live(), logger, o)
	if damage == nil {
		if cp > head {
			_ = v.Close()
			return nil, aheadOfLog(d.Live(), cp, head)
		}
		// Views of an older format are rebuilt the way damaged ones are.
		if damage = v.outdated(); damage == nil {
			return v, nil
		}
		_ = v.Close()
	}
	if !errors.Is(damage, ErrViewsDamaged) && !errors.Is(damage, ErrViewsOutdated) {
		return nil, damage // not the files: in use, say, or not readable
	}
	if cp > head {
		return nil, aheadOfLog(d.Live(), cp, head)
	}
	if errors.Is(damage, ErrViewsOutdated) {
		logger.Warn("views of an older format; rebuilding them from the log beside the old ones", "dir", d.Live(), "reason", damage)
	} else {
		logger.Error("views damaged; rebuilding them from the log beside the damaged ones", "dir", d.Live(), "reason", damage)
	}
	start := time.Now()
	built, err := d.Build(ctx, store, logger, nil)
	if err != nil {
		logger.Error("rebuilding the damaged views failed; they are left in place", "dir", d.Live(), "err", err)
		return nil, fmt.Errorf("views in %s are damaged (%w) and rebuilding them from the log failed: %w; the damaged views are left in place: fix the cause and start again, or run hookd rebuild",
			d.Live(), damage, err)
	}
	if err := d.Swap(); err != nil {
		return nil, err
	}
	logger.Warn("damaged views rebuilt from the log and swapped in", "dir", d.Live(), "reason", damage, "entries", built, "took", since(start))
	v, _, damage = openChecked(d.Live(), logger, o)
	if damage != nil {
		return nil, fmt.Errorf("views rebuilt in %s still fail their checks: %w; check the disk", d.Live(), damage)
	}
	return v, nil
}

// openChecked opens the views in dir and checks them (see checkOpen). On
// damage it returns no views, the error, and the checkpoint if known.
func openChecked(dir string, logger *slog.Logger, o viewsOptions) (*Views, uint64, error) {
	// Badger does not fail cleanly on damaged files (see CheckFiles).
	if err := badgerdb.CheckFiles(dir, "views"); err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrViewsDamaged, err)
	}
	v, err := openViews(dir, logger, o)
	if err != nil {
		if errors.Is(err, badgerdb.ErrInUse) || errors.Is(err, os.ErrPermission) {
			return nil, 0, err
		}
		if !errors.Is(err, ErrViewsDamaged) {
			err = fmt.Errorf("%w: %w", ErrViewsDamaged, err)
		}
		return nil, 0, err
	}
	cp, err := v.checkOpen()
	if err != nil {
		_ = v.Close()
		return nil, cp, err
	}
	return v, cp, nil
}

func aheadOfLog(dir string, cp, head uint64) error {
	return fmt.Errorf("%w: the views in %s reflect %d entries but the log has only %d: the log has lost entries; restore the data directory from a backup (hookd log verify --data DIR says more)",
		ErrViewsAheadOfLog, dir, cp, head)
}
