package projections

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/hookd/hookd/eventlog"
)

// rebuildBatch is how many entries a rebuild reads at once (ReadBatch also
// stops at 8 MiB of payloads, so memory does not grow with entry sizes).
const rebuildBatch = 8192

// Rebuild replays the whole log into views, which must be empty (fresh
// from OpenViews); to replace existing views, use RebuildViewsDir, which
// builds beside them. progress, if not nil, is called after each batch
// with the entries applied so far and the log's head when it started.
func Rebuild(ctx context.Context, store eventlog.Log, views *Views, progress func(done, total uint64)) error {
	_, err := replay(ctx, store, views, progress)
	return err
}

// replay is Rebuild, returning the sequence the views reflect.
func replay(ctx context.Context, store eventlog.Log, views *Views, progress func(done, total uint64)) (uint64, error) {
	head, err := store.Head(eventlog.Topic)
	if err != nil {
		return 0, fmt.Errorf("rebuild: %w", err)
	}
	if cp, err := views.Checkpoint(); err != nil || cp != 0 {
		return 0, fmt.Errorf("rebuild: the views in %s are not empty (checkpoint %d, %v): rebuild into fresh views", views.dir, cp, err)
	}
	// Badger's mapped files, the log's and the new views', are paged out
	// as the rebuild goes (see pageOut); absolute paths, as /proc lists them.
	mapped := absDirs(views.dir)
	if d, ok := store.(interface{ Dir() string }); ok { // a local log (Badger)
		mapped = absDirs(d.Dir(), views.dir)
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
		pageOut(mapped...)
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
