package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
)

var _ message.Subscriber = (*Subscriber)(nil)

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	// ConsumerGroup names a durable position in each topic. Acknowledging a
	// message moves the group past it, so a new subscription of the group
	// (in this process or after a restart) resumes after the last
	// acknowledged entry. Run one subscription per group and topic at a time.
	// Empty: every subscription reads the topic from its first entry.
	ConsumerGroup string
	// NackResendDelay is the pause before a nacked message is sent again.
	// Default 100 ms.
	NackResendDelay time.Duration
	// ReadBatch is how many entries are read from the log at a time. Default 256.
	ReadBatch int
	// CommitEvery is how many acknowledgements are batched into one offset
	// write while entries keep coming. Default 64.
	CommitEvery int
	// Logger for subscription errors. Default: discard.
	Logger *slog.Logger
}

// Subscriber delivers a topic's entries in log order, one at a time: the
// next message is sent only after the previous one was acknowledged.
type Subscriber struct {
	log     Log
	offsets GroupOffsets // nil: the log keeps no group offsets
	cfg     SubscriberConfig
	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

// NewSubscriber returns a Subscriber over l. Consumer groups need a log
// that keeps their offsets (it implements GroupOffsets).
func NewSubscriber(l Log, cfg SubscriberConfig) (*Subscriber, error) {
	offsets, _ := l.(GroupOffsets)
	if cfg.ConsumerGroup != "" && offsets == nil {
		return nil, fmt.Errorf("eventlog: consumer group %q: this log (%T) keeps no group offsets", cfg.ConsumerGroup, l)
	}
	if cfg.NackResendDelay <= 0 {
		cfg.NackResendDelay = 100 * time.Millisecond
	}
	if cfg.ReadBatch <= 0 {
		cfg.ReadBatch = 256
	}
	if cfg.CommitEvery <= 0 {
		cfg.CommitEvery = 64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Subscriber{log: l, offsets: offsets, cfg: cfg, closing: make(chan struct{})}, nil
}

// Subscribe streams topic from the group's position (or the start). The
// channel closes when ctx ends or the subscriber closes.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	if err := validTopic(topic); err != nil {
		return nil, err
	}
	select {
	case <-s.closing:
		return nil, ErrClosed
	default:
	}
	var from uint64 = 1
	if s.cfg.ConsumerGroup != "" {
		off, err := s.offsets.Offset(topic, s.cfg.ConsumerGroup)
		if err != nil {
			return nil, err
		}
		from = off + 1
	}
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-s.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		if err := s.run(ctx, topic, from, out); !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
			s.cfg.Logger.Error("subscription stopped", "topic", topic, "group", s.cfg.ConsumerGroup, "err", err)
		}
	}()
	return out, nil
}

// run streams entries until ctx ends or reading fails; it always returns
// the reason it stopped. Acknowledgements move the group's offset in
// batches (CommitEvery) and whenever the subscription goes idle or stops,
// so a crash can replay at most CommitEvery acknowledged entries.
func (s *Subscriber) run(ctx context.Context, topic string, next uint64, out chan<- *message.Message) (err error) {
	acked, committed := next-1, next-1
	flush := func() error {
		if s.cfg.ConsumerGroup == "" || acked == committed {
			return nil
		}
		if err := s.offsets.CommitOffset(topic, s.cfg.ConsumerGroup, acked); err != nil {
			return err
		}
		committed = acked
		return nil
	}
	defer func() {
		if ferr := flush(); ferr != nil && err == nil {
			err = ferr
		}
	}()
	for {
		batch, err := s.log.ReadBatch(ctx, topic, next, s.cfg.ReadBatch)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			if err := flush(); err != nil {
				return err
			}
			if err := s.log.WaitFor(ctx, topic, next-1); err != nil {
				return err
			}
			continue
		}
		for _, e := range batch {
			ok, err := s.deliver(ctx, e, out)
			if ok {
				acked = e.Seq
				if acked-committed >= uint64(s.cfg.CommitEvery) {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if err != nil {
				return err
			}
			next = e.Seq + 1
		}
	}
}

// deliver sends one entry until it is acknowledged, resending it after a
// Nack. It reports whether the entry was acknowledged, even when ctx ended
// right after the Ack.
func (s *Subscriber) deliver(ctx context.Context, e Entry, out chan<- *message.Message) (bool, error) {
	for {
		msg := message.NewMessage(e.UUID, e.Payload)
		for k, v := range e.Metadata {
			msg.Metadata.Set(k, v)
		}
		msgCtx, cancel := context.WithCancel(ctx)
		msg.SetContext(msgCtx)
		select {
		case out <- msg:
		case <-ctx.Done():
			cancel()
			return false, ctx.Err()
		}
		select {
		case <-msg.Acked():
			cancel()
			return true, nil
		case <-msg.Nacked():
			cancel()
			select {
			case <-time.After(s.cfg.NackResendDelay):
			case <-ctx.Done():
				return false, ctx.Err()
			}
		case <-ctx.Done():
			cancel()
			// select picks at random among ready cases: an Ack made before
			// the close or cancellation still counts.
			select {
			case <-msg.Acked():
				return true, ctx.Err()
			default:
			}
			return false, ctx.Err()
		}
	}
}

// Close ends every subscription and waits for their channels to close.
func (s *Subscriber) Close() error {
	s.once.Do(func() { close(s.closing) })
	s.wg.Wait()
	return nil
}

// String helps logs.
func (s *Subscriber) String() string {
	return fmt.Sprintf("eventlog.Subscriber(group=%q)", s.cfg.ConsumerGroup)
}
