package projections

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hookd/hookd/eventlog"
)

// rebuildBatch is how many entries a rebuild reads at once (ReadBatch also
// stops at 8 MiB of payloads, so memory does not grow with entry sizes).
// Larger batches are no faster: most of the time goes into Badger's writes.
const rebuildBatch = 2048

// Rebuild replays the whole log into views, which must be empty (fresh
// from OpenViews); to replace existing views, use RebuildViewsDir, which
// builds beside them. progress, if not nil, is called after each batch
// with the entries applied so far and the log's head when it started.
// The first pass (see bulk.go) uses the directory beside the views' named
// with the suffix ".bulk", and removes it.
func Rebuild(ctx context.Context, store eventlog.Log, views *Views, progress func(done, total uint64)) error {
	_, err := rebuildInto(ctx, store, views, progress)
	return err
}

// rebuildInto is Rebuild, returning the sequence the views reflect: it
// replays the log into bulk views beside v and copies them into v.
func rebuildInto(ctx context.Context, store eventlog.Log, v *Views, progress func(done, total uint64)) (uint64, error) {
	if cp, err := v.Checkpoint(); err != nil || cp != 0 {
		return 0, fmt.Errorf("rebuild: the views in %s are not empty (checkpoint %d, %v): rebuild into fresh views", v.dir, cp, err)
	}
	bulkDir := v.dir + suffixBulk
	if err := os.RemoveAll(bulkDir); err != nil {
		return 0, fmt.Errorf("rebuild: remove %s: %w", bulkDir, err)
	}
	cp, err := replayBulk(ctx, store, bulkDir, v, progress)
	if err == nil {
		err = copyBulk(ctx, bulkDir, v)
	}
	if rerr := os.RemoveAll(bulkDir); err == nil && rerr != nil {
		err = fmt.Errorf("rebuild: remove %s: %w", bulkDir, rerr)
	}
	if err != nil {
		return 0, err
	}
	return cp, nil
}

// replayBulk replays the log into fresh bulk views in dir, and closes them.
func replayBulk(ctx context.Context, store eventlog.Log, dir string, v *Views, progress func(done, total uint64)) (uint64, error) {
	// Badger's mapped files, the log's and the views', are paged out as
	// the rebuild goes (see pageOut); absolute paths, as /proc lists them.
	pg := startPager(absDirs(append(logDirs(store), dir, v.dir)...)...)
	defer pg.stop()
	bulk, err := openViews(dir, v.logger, viewsOptions{gcInterval: -1, bulk: true})
	if err != nil {
		return 0, fmt.Errorf("rebuild: %w", err)
	}
	cp, err := replay(ctx, store, bulk, progress)
	if cerr := bulk.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("rebuild: close %s: %w", dir, cerr)
	}
	return cp, err
}

// copyBulk copies the bulk views in dir into v, reading them read-only.
// Their values are read in key order, not in the order of their value
// log, and each read maps a whole folio of it (up to ~200 KiB): those
// pages are dropped from the RSS but left in the page cache (dropPages)
// every copyDropEvery values, or they would fill the RSS, and paged out
// they would be read from the disk again and again. The tables, read in
// order, are dropped less often.
func copyBulk(ctx context.Context, dir string, v *Views) error {
	bulk, err := openViews(dir, v.logger, viewsOptions{gcInterval: -1, bulk: true, readOnly: true})
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	pg := startPager(absDirs(v.dir)...)
	all := mappedFiles(absDirs(dir))
	var vlogs []mapping
	for _, m := range all {
		if m.vlog {
			vlogs = append(vlogs, m)
		}
	}
	dropPages(all) // what the open read, checking the value log's end
	err = copyViews(ctx, bulk, v, func(n int) {
		if n%(64*copyDropEvery) == 0 {
			dropPages(all)
		} else {
			dropPages(vlogs)
		}
	})
	pg.stop()
	// dropPages is never called after this close.
	if cerr := bulk.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("rebuild: close %s: %w", dir, cerr)
	}
	return err
}

// replayPaged is replay into v in one pass, paging out Badger's files.
func replayPaged(ctx context.Context, store eventlog.Log, v *Views, progress func(done, total uint64)) (uint64, error) {
	pg := startPager(absDirs(append(logDirs(store), v.dir)...)...)
	defer pg.stop()
	return replay(ctx, store, v, progress)
}

// replay applies the whole log to views, which must be empty, and returns
// the sequence they reflect.
func replay(ctx context.Context, store eventlog.Log, views *Views, progress func(done, total uint64)) (uint64, error) {
	head, err := store.Head(eventlog.Topic)
	if err != nil {
		return 0, fmt.Errorf("rebuild: %w", err)
	}
	if cp, err := views.Checkpoint(); err != nil || cp != 0 {
		return 0, fmt.Errorf("rebuild: the views in %s are not empty (checkpoint %d, %v): rebuild into fresh views", views.dir, cp, err)
	}
	var done uint64
	for done < head {
		entries, err := store.ReadBatch(ctx, eventlog.Topic, done+1, rebuildBatch)
		if err != nil {
			return done, fmt.Errorf("rebuild: read from %d: %w", done+1, err)
		}
		if len(entries) == 0 {
			break
		}
		if err := views.Apply(entries); err != nil {
			return done, fmt.Errorf("rebuild: %w", err)
		}
		done = entries[len(entries)-1].Seq
		if progress != nil {
			progress(done, head)
		}
	}
	if done < head {
		return done, fmt.Errorf("rebuild: the log ended at %d before its head %d", done, head)
	}
	return done, nil
}

func absDirs(dirs ...string) []string {
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		if abs, err := filepath.Abs(d); err == nil {
			if real, err := filepath.EvalSymlinks(abs); err == nil {
				abs = real
			}
			out = append(out, abs)
		}
	}
	return out
}

// logDirs is the log's local directory, whose mapped files the rebuild
// pages out too: Badger's; none for a log that is not local (JetStream).
func logDirs(store eventlog.Log) []string {
	if d, ok := store.(interface{ Dir() string }); ok {
		return []string{d.Dir()}
	}
	return nil
}
