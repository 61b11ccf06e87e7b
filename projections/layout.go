package projections

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/fsutil"
)

// ViewsDir is where the views of one data directory live, and how a
// rebuild replaces them without ever leaving partial views behind:
//
//	<dir>           the live views
//	<dir>.rebuild   a rebuild under way: always partial, removed on sight
//	<dir>.rebuild.bulk  its first pass (see bulk.go): the same
//	<dir>.new       a complete rebuild, waiting to be swapped in
//	<dir>.old       the views a swap replaced, removed once it is done
//
// A rebuild becomes <dir>.new by a single rename, after its database is
// closed and every file fsynced: the name alone says it is complete, so a
// crash at any moment leaves either the old views or the new ones whole.
// A swap renames <dir> to <dir>.old and <dir>.new to <dir>; Tidy finishes
// a swap a crash interrupted. Build touches only the staging names, so the
// live views may keep serving meanwhile; Swap needs them closed.
type ViewsDir struct {
	dir string
}

// Suffixes of the directories beside the live views.
const (
	suffixBuilding = ".rebuild"
	suffixBulk     = ".bulk" // after suffixBuilding, or after any views' dir (Rebuild)
	suffixComplete = ".new"
	suffixRetired  = ".old"
)

// NewViewsDir returns the layout of the views whose live directory is dir.
func NewViewsDir(dir string) ViewsDir { return ViewsDir{dir: filepath.Clean(dir)} }

// Live is the directory of the live views.
func (d ViewsDir) Live() string { return d.dir }

func (d ViewsDir) building() string { return d.dir + suffixBuilding }
func (d ViewsDir) bulk() string     { return d.building() + suffixBulk }
func (d ViewsDir) complete() string { return d.dir + suffixComplete }
func (d ViewsDir) retired() string  { return d.dir + suffixRetired }

// Tidy brings the layout back to live views alone: it removes a partial
// rebuild, finishes a swap that was interrupted, and removes retired views.
func (d ViewsDir) Tidy(logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for _, partial := range []string{d.building(), d.bulk()} {
		if !exists(partial) {
			continue
		}
		logger.Warn("removing a partial rebuild of the views left by an interrupted run", "dir", partial)
		if err := os.RemoveAll(partial); err != nil {
			return fmt.Errorf("remove the partial views rebuild %s: %w; remove it by hand", partial, err)
		}
	}
	if exists(d.complete()) {
		logger.Warn("swapping in a complete rebuild of the views that an interrupted run left", "dir", d.complete(), "live", d.dir)
		return d.Swap()
	}
	if err := os.RemoveAll(d.retired()); err != nil {
		return fmt.Errorf("remove the replaced views %s: %w; remove it by hand", d.retired(), err)
	}
	return nil
}

// Build replays the whole log into fresh views beside the live ones and
// marks them complete (see ViewsDir); it does not touch the live views. It
// returns the sequence the new views reflect. On any failure, a cancelled
// ctx included, it removes what it built.
func (d ViewsDir) Build(ctx context.Context, store eventlog.Log, logger *slog.Logger, progress func(done, total uint64)) (uint64, error) {
	// A complete rebuild not yet swapped in is superseded by this one.
	for _, stale := range []string{d.building(), d.bulk(), d.complete()} {
		if err := os.RemoveAll(stale); err != nil {
			return 0, fmt.Errorf("rebuild views: remove %s: %w; remove it by hand", stale, err)
		}
	}
	cp, err := d.build(ctx, store, logger, progress)
	if err != nil {
		for _, partial := range []string{d.building(), d.bulk()} {
			if rerr := os.RemoveAll(partial); rerr != nil {
				err = errors.Join(err, fmt.Errorf("remove the partial rebuild %s: %w", partial, rerr))
			}
		}
		return 0, err
	}
	if err := d.markComplete(); err != nil {
		return 0, err
	}
	return cp, nil
}

func (d ViewsDir) build(ctx context.Context, store eventlog.Log, logger *slog.Logger, progress func(done, total uint64)) (uint64, error) {
	v, cp, err := d.startBuild(ctx, store, logger, progress, true)
	if err != nil {
		return 0, err
	}
	return cp, d.closeBuild(v)
}

// startBuild opens fresh views in the staging directory and replays the
// log up to its head into them, leaving them open so that an online
// rebuild can apply what was appended meanwhile (see Live). With twoPass
// the replay takes the two passes of bulk.go, whose memory does not grow
// with the log; an online rebuild replays in one, as before: it shares
// its process with serve, and two passes have not been measured there.
func (d ViewsDir) startBuild(ctx context.Context, store eventlog.Log, logger *slog.Logger, progress func(done, total uint64), twoPass bool) (*Views, uint64, error) {
	v, err := openViews(d.building(), logger, viewsOptions{gcInterval: -1})
	if err != nil {
		return nil, 0, fmt.Errorf("rebuild views: %w", err)
	}
	replayInto := replayPaged
	if twoPass {
		replayInto = rebuildInto
	}
	cp, err := replayInto(ctx, store, v, progress)
	if err != nil {
		_ = v.Close()
		return nil, 0, err
	}
	return v, cp, nil
}

// closeBuild syncs and closes the staging views v, then fsyncs their files.
func (d ViewsDir) closeBuild(v *Views) error {
	err := v.db.Sync()
	if cerr := v.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("rebuild views: close: %w", cerr)
	}
	if err != nil {
		return err
	}
	// Closing flushed everything Badger holds; fsync it all before the
	// rename that declares the rebuild complete.
	if err := syncTree(d.building()); err != nil {
		return fmt.Errorf("rebuild views: %w", err)
	}
	return nil
}

// markComplete renames the closed, fsynced staging views to <dir>.new.
func (d ViewsDir) markComplete() error {
	if err := os.Rename(d.building(), d.complete()); err != nil {
		return fmt.Errorf("rebuild views: mark complete: %w", err)
	}
	if err := fsutil.SyncDir(filepath.Dir(d.dir)); err != nil {
		return fmt.Errorf("rebuild views: %w", err)
	}
	return nil
}

// removeStaging removes a rebuild that failed or was superseded.
func (d ViewsDir) removeStaging() error {
	var errs []error
	for _, stale := range []string{d.building(), d.bulk(), d.complete()} {
		if err := os.RemoveAll(stale); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w; remove it by hand", stale, err))
		}
	}
	return errors.Join(errs...)
}

// Swap replaces the live views (closed) with the complete rebuild.
func (d ViewsDir) Swap() error {
	if !exists(d.complete()) {
		return fmt.Errorf("swap views: no complete rebuild in %s", d.complete())
	}
	parent := filepath.Dir(d.dir)
	if exists(d.dir) {
		if err := os.RemoveAll(d.retired()); err != nil {
			return fmt.Errorf("swap views: remove %s: %w", d.retired(), err)
		}
		if err := os.Rename(d.dir, d.retired()); err != nil {
			return fmt.Errorf("swap views: retire %s: %w", d.dir, err)
		}
		if err := fsutil.SyncDir(parent); err != nil {
			return fmt.Errorf("swap views: %w", err)
		}
	}
	if err := os.Rename(d.complete(), d.dir); err != nil {
		return fmt.Errorf("swap views: put %s in place: %w", d.complete(), err)
	}
	if err := fsutil.SyncDir(parent); err != nil {
		return fmt.Errorf("swap views: %w", err)
	}
	if err := os.RemoveAll(d.retired()); err != nil {
		return fmt.Errorf("swap views: the new views are in place, but removing the old ones in %s failed: %w; remove it by hand", d.retired(), err)
	}
	return nil
}

// RebuildViewsDir rebuilds the views in dir from the log beside the live
// ones and swaps them in when complete. Nothing may have the views open.
// A failure leaves the previous views as they were.
func RebuildViewsDir(ctx context.Context, dir string, store eventlog.Log, logger *slog.Logger, progress func(done, total uint64)) error {
	d := NewViewsDir(dir)
	if err := d.Tidy(logger); err != nil {
		return err
	}
	if _, err := d.Build(ctx, store, logger, progress); err != nil {
		return fmt.Errorf("%w; the views in %s are left as they were", err, dir)
	}
	return d.Swap()
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// syncTree fsyncs every file in dir, then dir itself.
func syncTree(dir string) error {
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("sync %s: %w", path, err)
		}
		defer f.Close()
		if err := f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return fsutil.SyncDir(dir)
}

// since is how long ago start was, rounded for a log line.
func since(start time.Time) time.Duration { return time.Since(start).Round(time.Millisecond) }
