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

// Runner keeps the views caught up with the log.
type Runner struct {
	store  eventlog.Log
	views  Target
	logger *slog.Logger
	batch  int

	mu      sync.Mutex
	applied uint64
	changed chan struct{} // closed and replaced whenever applied moves
}

// Target is what a Runner applies to: *Views, or *Live, whose online
// rebuild moves the Runner's position to the new views' checkpoint.
type Target interface {
	Apply(entries []eventlog.Entry) error
	Checkpoint() (uint64, error)
}

// NewRunner returns a Runner applying store's log to views.
func NewRunner(store eventlog.Log, views Target, logger *slog.Logger) (*Runner, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cp, err := views.Checkpoint()
	if err != nil {
		return nil, fmt.Errorf("read views checkpoint: %w", err)
	}
	r := &Runner{store: store, views: views, logger: logger, batch: 1024, applied: cp, changed: make(chan struct{})}
	if l, ok := views.(*Live); ok {
		l.setRunner(r)
	}
	return r, nil
}

// Run applies new entries as they are appended until ctx ends. A failed
// apply is retried after a pause; it is logged, never skipped.
func (r *Runner) Run(ctx context.Context) error {
	for {
		cp := r.Applied()
		entries, err := r.store.ReadBatch(ctx, eventlog.Topic, cp+1, r.batch)
		if err == nil && len(entries) > 0 {
			err = r.views.Apply(entries)
			if err == nil {
				r.advance(entries[len(entries)-1].Seq)
				continue
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.logger.Error("projection apply failed; retrying", "checkpoint", cp, "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return nil
			}
			continue
		}
		if err := r.store.WaitFor(ctx, eventlog.Topic, cp); err != nil {
			if ctx.Err() != nil || errors.Is(err, eventlog.ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// advance moves the position to seq, never back: after an online rebuild
// swapped in views ahead of it, a batch it read before is at or below.
func (r *Runner) advance(seq uint64) {
	r.mu.Lock()
	if seq <= r.applied {
		r.mu.Unlock()
		return
	}
	r.applied = seq
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// Applied is the sequence of the last entry reflected in the views.
func (r *Runner) Applied() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied
}

// WaitFor blocks until the views reflect the entry at seq, or ctx ends.
func (r *Runner) WaitFor(ctx context.Context, seq uint64) error {
	for {
		r.mu.Lock()
		applied, changed := r.applied, r.changed
		r.mu.Unlock()
		if applied >= seq {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
