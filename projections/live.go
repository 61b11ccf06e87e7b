package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hookd/hookd/eventlog"
)

// Live is the live views of one directory, replaceable while they serve:
// every read and every Apply holds a read lock on them, and an online
// rebuild (StartRebuild) builds fresh views beside them with the same
// code that repairs damaged views at start (ViewsDir: startBuild,
// closeBuild, markComplete, Swap), catches them up with the log while the
// live ones keep serving and the Runner keeps applying, and then, under
// the write lock only for the last few entries, the close, the renames
// and the reopen, swaps them in. Readers wait for that short section;
// they never see a closed or partial database.
type Live struct {
	dir    ViewsDir
	store  eventlog.Log
	logger *slog.Logger
	opts   viewsOptions

	mu sync.RWMutex
	v  *Views

	rmu     sync.Mutex
	runner  *Runner        // told the new checkpoint at a swap (NewRunner sets it)
	status  *RebuildStatus // the last rebuild's, nil before the first
	cancel  context.CancelFunc
	done    chan struct{} // closed when the running rebuild ends
	started time.Time
}

// RebuildStatus is how an online rebuild goes (GET /v0.1/admin/projections).
type RebuildStatus struct {
	State           string     `json:"state"` // RebuildRunning, RebuildDone or RebuildFailed
	Processed       uint64     `json:"processed"`
	Total           uint64     `json:"total"`
	EventsPerSecond float64    `json:"events_per_second"`
	StartedAt       time.Time  `json:"started_at"`
	FinishedAt      *time.Time `json:"finished_at"`
	Error           *string    `json:"error"`
	// SwapMillis is how long the swap held reads and applies back, once done.
	SwapMillis *float64 `json:"swap_ms,omitempty"`
}

// The states of a RebuildStatus.
const (
	RebuildRunning = "running"
	RebuildDone    = "done"
	RebuildFailed  = "failed"
)

// ErrRebuildRunning: a rebuild was asked for while one runs.
var ErrRebuildRunning = errors.New("a rebuild of the views is already running")

// catchUpLag is how far behind the head the fresh views may still be when
// the swap begins: the entries left are applied while reads wait.
const catchUpLag = 256

// catchUpClose is how far behind the head the fresh views may be when the
// swap takes the lock, after their last close and reopen.
const catchUpClose = 16

// OpenLive opens the live views in dir as OpenViewsDir does (tidying,
// repairing damaged views), for serving.
func OpenLive(ctx context.Context, dir string, store eventlog.Log, logger *slog.Logger, opts ...ViewsOption) (*Live, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var o viewsOptions
	for _, opt := range opts {
		opt(&o)
	}
	v, err := OpenViewsDir(ctx, dir, store, logger, opts...)
	if err != nil {
		return nil, err
	}
	return &Live{dir: NewViewsDir(dir), store: store, logger: logger, opts: o, v: v}, nil
}

func (l *Live) setRunner(r *Runner) {
	l.rmu.Lock()
	l.runner = r
	l.rmu.Unlock()
}

// Apply applies entries to the live views (see Views.Apply).
func (l *Live) Apply(entries []eventlog.Entry) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.Apply(entries)
}

// Checkpoint is the live views' (see Views.Checkpoint).
func (l *Live) Checkpoint() (uint64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.Checkpoint()
}

// Sync syncs the live views' database.
func (l *Live) Sync() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.db.Sync()
}

// Damaged is the live views' (see Views.Damaged).
func (l *Live) Damaged() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.Damaged()
}

// Hook reads the live views (see Views.Hook).
func (l *Live) Hook(appSlug, hookSlug string) (HookView, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.Hook(appSlug, hookSlug)
}

// ListHooks reads the live views (see Views.ListHooks).
func (l *Live) ListHooks(appSlug, anchor string, limit int) (Page[HookView], error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.ListHooks(appSlug, anchor, limit)
}

// DeliveryItem reads the live views (see Views.DeliveryItem).
func (l *Live) DeliveryItem(hookSlug, itemSlug string) (DeliveryItemView, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.DeliveryItem(hookSlug, itemSlug)
}

// ListDeliveryItems reads the live views (see Views.ListDeliveryItems).
func (l *Live) ListDeliveryItems(hookSlug, anchor string, limit int) (Page[DeliveryItemView], error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.ListDeliveryItems(hookSlug, anchor, limit)
}

// ListDeliveryItemsFiltered reads the live views (see Views.ListDeliveryItemsFiltered).
func (l *Live) ListDeliveryItemsFiltered(hookSlug string, f ItemFilter, anchor string, limit int) (Page[DeliveryItemView], error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.ListDeliveryItemsFiltered(hookSlug, f, anchor, limit)
}

// HookIncludingDeleted reads the live views (see Views.HookIncludingDeleted).
func (l *Live) HookIncludingDeleted(appSlug, hookSlug string) (HookView, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.HookIncludingDeleted(appSlug, hookSlug)
}

// ListHooksIncludingDeleted reads the live views (see Views.ListHooksIncludingDeleted).
func (l *Live) ListHooksIncludingDeleted(appSlug, anchor string, limit int) (Page[HookView], error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.ListHooksIncludingDeleted(appSlug, anchor, limit)
}

// ListBuildEvents reads the live views (see Views.ListBuildEvents).
func (l *Live) ListBuildEvents(appSlug, anchor string, limit int) (Page[BuildEventView], error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.ListBuildEvents(appSlug, anchor, limit)
}

// Token reads the live views (see Views.Token).
func (l *Live) Token(id string) (TokenView, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.Token(id)
}

// TokenByHash reads the live views (see Views.TokenByHash).
func (l *Live) TokenByHash(sum string) (TokenView, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.TokenByHash(sum)
}

// ListTokens reads the live views (see Views.ListTokens).
func (l *Live) ListTokens(anchor string, limit int) (Page[TokenView], error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.ListTokens(anchor, limit)
}

// BuildEvent reads the live views (see Views.BuildEvent).
func (l *Live) BuildEvent(appSlug, eventID string) (BuildEventDetail, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.v.BuildEvent(appSlug, eventID)
}

// Projections is what GET /v0.1/admin/projections shows.
type Projections struct {
	Applied uint64         `json:"applied"`
	Head    uint64         `json:"head"`
	Rebuild *RebuildStatus `json:"rebuild"`
}

// Status says how far the views are, and how the last rebuild went.
func (l *Live) Status() (Projections, error) {
	head, err := l.store.Head(eventlog.Topic)
	if err != nil {
		return Projections{}, fmt.Errorf("read the log's head: %w", err)
	}
	l.rmu.Lock()
	r, st := l.runner, l.status
	var out Projections
	if st != nil {
		c := *st
		out.Rebuild = &c
	}
	l.rmu.Unlock()
	if r != nil {
		out.Applied = r.Applied()
	} else if out.Applied, err = l.Checkpoint(); err != nil {
		return Projections{}, err
	}
	out.Head = head
	return out, nil
}

// StartRebuild starts an online rebuild in the background and returns
// its status; ErrRebuildRunning if one runs already.
func (l *Live) StartRebuild() (RebuildStatus, error) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	if l.status != nil && l.status.State == RebuildRunning {
		return *l.status, ErrRebuildRunning
	}
	if l.done != nil {
		<-l.done // the last one has ended (its state is not running): let its goroutine finish
	}
	l.started = time.Now()
	l.status = &RebuildStatus{State: RebuildRunning, StartedAt: l.started.UTC()}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan struct{})
	go l.rebuild(ctx, l.done)
	return *l.status, nil
}

func (l *Live) progress(done, total uint64) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	l.status.Processed, l.status.Total = done, max(total, done)
	if el := time.Since(l.started).Seconds(); el > 0 {
		l.status.EventsPerSecond = float64(done) / el
	}
}

func (l *Live) finish(err error, swap time.Duration) {
	l.rmu.Lock()
	defer l.rmu.Unlock()
	now := time.Now()
	fin := now.UTC()
	l.status.FinishedAt = &fin
	if el := now.Sub(l.started).Seconds(); el > 0 {
		l.status.EventsPerSecond = float64(l.status.Processed) / el
	}
	if err != nil {
		l.status.State = RebuildFailed
		msg := err.Error()
		l.status.Error = &msg
		l.logger.Error("online rebuild of the views failed; the live views are left as they were", "dir", l.dir.Live(), "err", err)
		return
	}
	l.status.State = RebuildDone
	ms := float64(swap.Microseconds()) / 1000
	l.status.SwapMillis = &ms
	l.logger.Info("online rebuild of the views done and swapped in", "dir", l.dir.Live(), "entries", l.status.Processed,
		"took", since(l.started), "swap", swap)
}

func (l *Live) rebuild(ctx context.Context, done chan struct{}) {
	defer close(done)
	l.logger.Info("online rebuild of the views started", "dir", l.dir.Live())
	swap, err := l.rebuildAndSwap(ctx)
	l.finish(err, swap)
}

// rebuildAndSwap builds fresh views beside the live ones, catches them up
// with the log and swaps them in; it returns how long the swap held the
// write lock.
func (l *Live) rebuildAndSwap(ctx context.Context) (time.Duration, error) {
	if err := l.dir.removeStaging(); err != nil {
		return 0, fmt.Errorf("rebuild views: %w", err)
	}
	v, cp, err := l.dir.startBuild(ctx, l.store, l.logger, l.progress, false)
	if err != nil {
		return 0, l.abandon(nil, err)
	}
	// Catch up with what was appended meanwhile, live views still serving.
	for {
		head, err := l.store.Head(eventlog.Topic)
		if err != nil {
			return 0, l.abandon(v, err)
		}
		if head-min(head, cp) <= catchUpLag {
			break
		}
		if cp, err = applyFrom(ctx, l.store, v, cp); err != nil {
			return 0, l.abandon(v, err)
		}
		l.progress(cp, head)
	}
	// Close and fsync the fresh views once before the swap, and reopen
	// them: the close under the lock then has little left to flush.
	if err := l.dir.closeBuild(v); err != nil {
		return 0, l.abandon(nil, err)
	}
	if v, err = openViews(l.dir.building(), l.logger, viewsOptions{gcInterval: -1}); err != nil {
		return 0, l.abandon(nil, err)
	}
	// As close to the head as a few more batches get, so that little is
	// left to apply under the lock.
	for range 8 {
		head, err := l.store.Head(eventlog.Topic)
		if err != nil {
			return 0, l.abandon(v, err)
		}
		if head-min(head, cp) <= catchUpClose {
			break
		}
		if cp, err = applyFrom(ctx, l.store, v, cp); err != nil {
			return 0, l.abandon(v, err)
		}
	}
	// Flush the live views' memtable too, so that their close is short.
	_ = l.Sync()
	l.mu.Lock()
	defer l.mu.Unlock()
	start := time.Now()
	// The last entries: the runner applies through l.mu, so the live views
	// stay where they are until the swap.
	for {
		head, err := l.store.Head(eventlog.Topic)
		if err != nil {
			return 0, l.abandon(v, err)
		}
		if cp >= head {
			l.progress(cp, head)
			break
		}
		if cp, err = applyFrom(ctx, l.store, v, cp); err != nil {
			return 0, l.abandon(v, err)
		}
	}
	steps := []any{"catch_up", time.Since(start)}
	if err := l.dir.closeBuild(v); err != nil {
		return 0, l.abandon(nil, err)
	}
	steps = append(steps, "close_new", time.Since(start))
	if err := l.dir.markComplete(); err != nil {
		return 0, l.abandon(nil, err)
	}
	l.v.gc.Stop()
	steps = append(steps, "gc_stop", time.Since(start))
	if err := l.v.Close(); err != nil {
		l.logger.Warn("closing the replaced views", "dir", l.dir.Live(), "err", err)
	}
	steps = append(steps, "close_old", time.Since(start))
	swapErr := l.dir.Swap()
	steps = append(steps, "swap", time.Since(start))
	if swapErr != nil {
		// Finish what the renames left, whichever views that leaves live.
		swapErr = errors.Join(swapErr, l.dir.Tidy(l.logger))
	}
	// Just built and fsynced: no need for the file checks of a start.
	nv, err := openViews(l.dir.Live(), l.logger, l.opts)
	if err != nil {
		return 0, fmt.Errorf("reopen the views after the swap: %w (restart hookd)", errors.Join(swapErr, err))
	}
	l.v = nv
	steps = append(steps, "reopen", time.Since(start))
	l.logger.Debug("online rebuild: the swap", steps...)
	if swapErr != nil {
		return 0, swapErr
	}
	newCp, err := nv.Checkpoint()
	if err != nil {
		return 0, err
	}
	l.rmu.Lock()
	r := l.runner
	l.rmu.Unlock()
	if r != nil {
		r.advance(newCp)
	}
	return time.Since(start), nil
}

// applyFrom applies the batch after cp to v and returns the new checkpoint.
func applyFrom(ctx context.Context, store eventlog.Log, v *Views, cp uint64) (uint64, error) {
	entries, err := store.ReadBatch(ctx, eventlog.Topic, cp+1, rebuildBatch)
	if err != nil {
		return cp, fmt.Errorf("rebuild: read from %d: %w", cp+1, err)
	}
	if len(entries) == 0 {
		return cp, nil
	}
	if err := v.Apply(entries); err != nil {
		return cp, fmt.Errorf("rebuild: %w", err)
	}
	return entries[len(entries)-1].Seq, nil
}

// abandon closes the staging views v (if open), removes them and returns err.
func (l *Live) abandon(v *Views, err error) error {
	if v != nil {
		_ = v.Close()
	}
	return errors.Join(err, l.dir.removeStaging())
}

// Close stops a running rebuild (removing what it built) and closes the views.
func (l *Live) Close() error {
	l.rmu.Lock()
	cancel, done := l.cancel, l.done
	l.rmu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.v.Close()
}
