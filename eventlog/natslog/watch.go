package natslog

import (
	"context"
	"time"
)

// pollHeads reads, every Config.HeadPoll, the last sequence of each topic
// that a WaitFor is blocked on, from the stream's leader. The watcher
// (an ordered consumer, see topic) usually wakes WaitFor first; the poll
// bounds how long a watcher that is down, or recreating itself after a
// reconnect, can keep other processes' appends from WaitFor. It ends
// when the log closes.
func (l *Log) pollHeads() {
	t := time.NewTicker(l.cfg.HeadPoll)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-t.C:
		case <-l.bgCtx.Done():
			return
		}
		l.mu.Lock()
		var waited []*topicState
		for _, ts := range l.topics {
			if ts.waiters > 0 {
				waited = append(waited, ts)
			}
		}
		l.mu.Unlock()
		for _, ts := range waited {
			ctx, cancel := context.WithTimeout(l.bgCtx, l.cfg.PublishTimeout)
			last, err := l.lastSeq(ctx, ts)
			cancel()
			switch {
			case err != nil && l.bgCtx.Err() != nil:
				return
			case err != nil:
				if !failing {
					l.logger.Warn("polling the stream's head failed; WaitFor learns of other processes' appends only through the watcher until it works again", "stream", ts.stream, "err", err)
				}
				failing = true
			default:
				if failing {
					l.logger.Info("polling the stream's head works again", "stream", ts.stream)
				}
				failing = false
				l.advance(ts, last)
			}
		}
	}
}
