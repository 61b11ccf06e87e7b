package webhook

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
)

// heldRetry is how often a dispatcher whose appends are held (the disk
// reserve reached, a damaged log found) tries again.
const heldRetry = time.Second

// isHeld reports an append the log refuses for now, not for good: the work
// waits in memory (bounded by the workers and one batch of requests) and
// the append is tried again, so nothing is lost and nothing is sent that
// could not be recorded.
func isHeld(err error) bool {
	return errors.Is(err, eventlog.ErrHeld) || errors.Is(err, eventlog.ErrDamaged)
}

// appendOrWait appends msgs, trying again while the log holds appends,
// until it takes them, fails for another reason, or ctx ends.
func (d *Dispatcher) appendOrWait(ctx context.Context, msgs ...*message.Message) error {
	for {
		_, err := d.pub.Append(context.WithoutCancel(ctx), eventlog.Topic, msgs...)
		if err == nil || !isHeld(err) {
			if err == nil {
				d.resumed()
			}
			return err
		}
		d.held(err)
		select {
		case <-time.After(heldRetry):
		case <-ctx.Done():
			return fmt.Errorf("%w (while the log held appends: %v)", ctx.Err(), err)
		}
	}
}

// waitWritable waits while the log holds appends, so that no delivery is
// sent whose attempt could not be recorded. It returns nil once the log
// takes appends, or the error that ends the wait (another failure, ctx).
func (d *Dispatcher) waitWritable(ctx context.Context) error {
	for {
		err := d.store.Writable()
		if err == nil || !isHeld(err) {
			return err
		}
		d.held(err)
		select {
		case <-time.After(heldRetry):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// held says once, per stretch of held appends, that deliveries wait.
func (d *Dispatcher) held(err error) {
	if d.holding.CompareAndSwap(false, true) {
		d.logger.Warn("deliveries wait: the event log takes no appends for now", "err", err)
	}
}

func (d *Dispatcher) resumed() {
	if d.holding.CompareAndSwap(true, false) {
		d.logger.Info("deliveries go on: the event log takes appends again")
	}
}
