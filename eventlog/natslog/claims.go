package natslog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/eventlog"
)

const (
	// claimWait bounds one pull that waits for an entry; Next pulls again
	// until its context ends.
	claimWait = 5 * time.Second
	// claimHeartbeat is the idle heartbeat of a waiting pull: two missed
	// ones mean the connection or the consumer's server is gone.
	claimHeartbeat = time.Second
	// claimOutage is how long Next keeps pulling through failures (a
	// reconnect, a leader election) before it reports ErrUnavailable.
	claimOutage = 30 * time.Second
)

// Claims returns this process's end of the queue cfg.Queue on topic: a
// durable pull consumer on the topic's stream, created on first use and
// bound to by every process using the same queue name. See doc.go for
// where a new queue starts and what that asks of the caller.
func (l *Log) Claims(ctx context.Context, topic string, cfg eventlog.ClaimConfig) (eventlog.Claims, error) {
	if err := l.Err(); err != nil {
		return nil, err
	}
	if cfg.Queue == "" {
		return nil, errors.New("natslog: claims: the queue has no name: set ClaimConfig.Queue")
	}
	if len(cfg.Names) == 0 {
		return nil, fmt.Errorf("natslog: claims of queue %q: no entry names: set ClaimConfig.Names", cfg.Queue)
	}
	if cfg.Lease <= 0 {
		return nil, fmt.Errorf("natslog: claims of queue %q: the lease must be positive (longer than the longest work on one claim)", cfg.Queue)
	}
	if cfg.MaxPending < 0 {
		return nil, fmt.Errorf("natslog: claims of queue %q: MaxPending must be 0 (JetStream's default, 1000) or positive", cfg.Queue)
	}
	ts, err := l.topic(ctx, topic)
	if err != nil {
		return nil, err
	}
	var subjects []string
	for _, n := range cfg.Names {
		// An entry with a unique key is on its key's subject, one token
		// pair below its name's (keySubject).
		s := subjectFor(ts.prefix, n)
		for _, s := range []string{s, s + ".u.*"} {
			if !slices.Contains(subjects, s) {
				subjects = append(subjects, s)
			}
		}
	}
	name := consumerName(cfg.Queue)
	cons, err := l.js.CreateOrUpdateConsumer(ctx, ts.stream, jetstream.ConsumerConfig{
		Durable:     name,
		Description: "hookd queue " + cfg.Queue,
		// A new queue hands out every entry of its names from the start
		// of the log: nothing is lost, and the caller skips the ones
		// already done (doc.go, Claims).
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        cfg.Lease,
		MaxDeliver:     -1,
		MaxAckPending:  cfg.MaxPending,
		FilterSubjects: subjects,
		Metadata:       map[string]string{"hookd_queue": cfg.Queue},
	})
	if err != nil {
		return nil, fmt.Errorf("natslog: create or bind the consumer %s of queue %q on %s: %w (a queue's names and start cannot change: remove the consumer to start it anew)",
			name, cfg.Queue, ts.stream, err)
	}
	return &claims{l: l, ts: ts, queue: cfg.Queue, cons: cons, stop: make(chan struct{})}, nil
}

// consumerName is the durable consumer of a queue: the name made safe
// and a hash of it, so two queues never share one.
func consumerName(queue string) string {
	sum := sha256.Sum256([]byte(queue))
	safe := make([]byte, 0, 32)
	for i := 0; i < len(queue) && len(safe) < 32; i++ {
		if c := queue[i]; isNameByte(c) {
			safe = append(safe, c)
		} else {
			safe = append(safe, '_')
		}
	}
	return "queue_" + string(safe) + "_" + hex.EncodeToString(sum[:6])
}

// claims is one process's end of a queue.
type claims struct {
	l     *Log
	ts    *topicState
	queue string
	cons  jetstream.Consumer
	stop  chan struct{}
	once  sync.Once
}

// Close stops claiming; the durable consumer stays for the others.
func (c *claims) Close() error {
	c.once.Do(func() { close(c.stop) })
	return nil
}

func (c *claims) stopped() bool {
	select {
	case <-c.stop:
		return true
	case <-c.l.closing:
		return true
	default:
		return false
	}
}

// Next returns up to max claims, waiting for the first. It asks for what
// is there at once (a no-wait pull of max); if nothing is, it waits for
// one with a pull of one, which the server ends as soon as one comes,
// then tops up without waiting. A waiting pull never holds more than the
// one entry it asked for, so entries are not parked in an idle process.
func (c *claims) Next(ctx context.Context, limit int) ([]eventlog.Claim, error) {
	limit = min(max(limit, 1), 1000)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.stop:
		case <-c.l.closing:
		case <-ctx.Done():
		}
		cancel()
	}()
	var failingSince time.Time
	for {
		if c.stopped() {
			return nil, eventlog.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		msgs, err := c.fetch(ctx, limit, false)
		if err == nil && len(msgs) == 0 {
			msgs, err = c.fetch(ctx, 1, true)
			if err == nil && len(msgs) == 1 && limit > 1 {
				more, err := c.fetch(ctx, limit-1, false)
				if err != nil {
					c.l.logger.Warn("topping up claims", "queue", c.queue, "err", err)
				}
				msgs = append(msgs, more...)
			}
		}
		if len(msgs) > 0 {
			return c.decode(msgs)
		}
		switch {
		case c.stopped():
			return nil, eventlog.ErrClosed
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err == nil:
			failingSince = time.Time{}
			continue
		case errors.Is(err, jetstream.ErrConsumerDeleted), errors.Is(err, jetstream.ErrConsumerNotFound),
			errors.Is(err, jetstream.ErrStreamNotFound):
			return nil, fmt.Errorf("natslog: claims of queue %q: %w (someone removed it: restart to create it again)", c.queue, err)
		}
		if failingSince.IsZero() {
			failingSince = time.Now()
		}
		if time.Since(failingSince) > claimOutage {
			return nil, fmt.Errorf("%w: claims of queue %q on %s: no pull has worked for %v: %w", eventlog.ErrUnavailable, c.queue, c.ts.stream, claimOutage, err)
		}
		c.l.logger.Warn("pulling claims failed; trying again", "queue", c.queue, "err", err)
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done(): // the checks at the top answer
		}
		t.Stop()
	}
}

// fetch pulls up to n messages: at once, or waiting up to claimWait for
// them with a heartbeat, so a dead connection is noticed in seconds.
func (c *claims) fetch(ctx context.Context, n int, wait bool) ([]jetstream.Msg, error) {
	var batch jetstream.MessageBatch
	var err error
	if !wait {
		batch, err = c.cons.FetchNoWait(n)
	} else {
		wctx, cancel := context.WithTimeout(ctx, claimWait)
		defer cancel()
		opts := []jetstream.FetchOpt{jetstream.FetchContext(wctx)}
		if d, _ := wctx.Deadline(); time.Until(d) >= 4*claimHeartbeat {
			opts = append(opts, jetstream.FetchHeartbeat(claimHeartbeat))
		}
		batch, err = c.cons.Fetch(n, opts...)
	}
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	err = batch.Error()
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		err = nil // the pull's own bound; the caller's context is asked apart
	}
	if errors.Is(err, nats.ErrConnectionClosed) && c.stopped() {
		err = nil
	}
	return msgs, err
}

// decode turns messages into claims. An entry that does not decode is an
// error naming it; the messages with it go back at once (Nak) so other
// claimants are not held up, and the broken one comes back after its lease.
func (c *claims) decode(msgs []jetstream.Msg) ([]eventlog.Claim, error) {
	out := make([]eventlog.Claim, 0, len(msgs))
	for i, m := range msgs {
		md, err := m.Metadata()
		var e eventlog.Entry
		if err == nil {
			e, err = eventlog.UnmarshalEntry(md.Sequence.Stream, m.Data())
		}
		if err != nil {
			for _, other := range slices.Delete(slices.Clone(msgs), i, i+1) {
				_ = other.Nak()
			}
			return nil, fmt.Errorf("natslog: claims of queue %q: %w", c.queue, err)
		}
		out = append(out, eventlog.Claim{
			Entry:     e,
			Delivered: int(md.NumDelivered),
			Done:      c.done(m, e.Seq),
			Extend:    c.extend(m, e.Seq),
		})
	}
	return out, nil
}

// done acknowledges m and waits for the server to confirm it: once it
// returns nil, the entry is never handed out again.
func (c *claims) done(m jetstream.Msg, seq uint64) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), c.l.cfg.PublishTimeout)
		defer cancel()
		if err := m.DoubleAck(ctx); err != nil {
			return fmt.Errorf("%w: mark entry %d of queue %q done: %w (it may be handed out again: check whether the work was done before redoing it)",
				eventlog.ErrUnavailable, seq, c.queue, err)
		}
		return nil
	}
}

// extend renews m's lease (JetStream's in-progress ack: the ack wait
// starts again). It does not wait for the server.
func (c *claims) extend(m jetstream.Msg, seq uint64) func() error {
	return func() error {
		if err := m.InProgress(); err != nil {
			return fmt.Errorf("%w: extend the lease of entry %d of queue %q: %w", eventlog.ErrUnavailable, seq, c.queue, err)
		}
		return nil
	}
}
