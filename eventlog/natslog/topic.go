package natslog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/eventlog"
)

// topicState is what a Log knows of one topic's stream.
type topicState struct {
	topic  string
	stream string
	prefix string // subject prefix; messages go to prefix.<wire name>
	watch  jetstream.ConsumeContext

	// head and changed are guarded by Log.mu: the highest sequence known
	// to be durable, and a channel closed and replaced when it moves;
	// waiters counts the WaitFor calls blocked on it (the head poll asks
	// the stream only for topics someone waits on).
	head    uint64
	changed chan struct{}
	waiters int

	// The writer's view of the chain's end (the writer goroutine and
	// Import only): the entry it would link the next append to.
	tipKnown bool
	tipSeq   uint64
	tipHash  [eventlog.HashSize]byte
	// The writer's: messages to publish one at a time (a batch held one
	// stored before), and the largest batch the server takes.
	singles  int
	batchCap int
}

// setupTimeout bounds creating a topic's stream when the caller gives no
// context (Head).
const setupTimeout = 10 * time.Second

func validTopic(topic string) error { return eventlog.ValidTopic(topic) }

// topic returns topic's state, creating (or updating) its stream and
// starting its watcher on first use.
func (l *Log) topic(ctx context.Context, topic string) (*topicState, error) {
	if err := validTopic(topic); err != nil {
		return nil, err
	}
	l.mu.Lock()
	ts := l.topics[topic]
	l.mu.Unlock()
	if ts != nil {
		return ts, nil
	}
	l.initMu.Lock()
	defer l.initMu.Unlock()
	l.mu.Lock()
	ts = l.topics[topic]
	l.mu.Unlock()
	if ts != nil {
		return ts, nil
	}
	if l.isClosing() {
		return nil, eventlog.ErrClosed
	}
	ts = &topicState{topic: topic, changed: make(chan struct{}), batchCap: maxAtomicBatch}
	if topic == eventlog.Topic {
		ts.stream, ts.prefix = l.cfg.Stream, l.cfg.Subject
	} else {
		ts.stream, ts.prefix = streamFor(l.cfg.Stream, topic)
	}
	stream, err := l.ensureStream(ctx, l.cfg.streamConfig(ts.stream, ts.prefix))
	if err != nil {
		return nil, fmt.Errorf("natslog: create or update the stream %s of %s: %w", ts.stream, topic, err)
	}
	ts.head = stream.CachedInfo().State.LastSeq
	// The watcher learns of every entry after the head just read, whoever
	// appends it: WaitFor wakes on other processes' appends. Headers only:
	// it needs the sequences, not the entries.
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   ts.head + 1,
		HeadersOnly:   true,
	})
	if err != nil {
		return nil, fmt.Errorf("natslog: watch the stream %s: %w", ts.stream, err)
	}
	ts.watch, err = cons.Consume(func(m jetstream.Msg) {
		if md, err := m.Metadata(); err == nil {
			l.advance(ts, md.Sequence.Stream)
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		// The ordered consumer recreates itself; until it does, the head
		// poll (watch.go) keeps WaitFor waking.
		l.logger.Warn("watching the stream for other processes' appends; polling its head meanwhile", "stream", ts.stream, "err", err)
	}))
	if err != nil {
		return nil, fmt.Errorf("natslog: watch the stream %s: %w", ts.stream, err)
	}
	l.mu.Lock()
	l.topics[topic] = ts
	l.mu.Unlock()
	return ts, nil
}

// advance records that entry seq of ts is durable.
func (l *Log) advance(ts *topicState, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if seq > ts.head {
		ts.head = seq
		close(ts.changed)
		ts.changed = make(chan struct{})
	}
}

func (l *Log) headOf(ts *topicState) (uint64, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return ts.head, ts.changed
}

// Head returns the last sequence of topic this process knows to be
// durable: its own appends' at once, other processes' once the watcher
// has seen them.
func (l *Log) Head(topic string) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	ts, err := l.topic(ctx, topic)
	if err != nil {
		return 0, err
	}
	h, _ := l.headOf(ts)
	return h, nil
}

// WaitFor blocks until Head(topic) is past seq, ctx ends or the log
// closes. Other processes' appends wake it through the watcher, or
// through the head poll (Config.HeadPoll) if the watcher is down.
func (l *Log) WaitFor(ctx context.Context, topic string, seq uint64) error {
	ts, err := l.topic(ctx, topic)
	if err != nil {
		return err
	}
	l.mu.Lock()
	ts.waiters++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		ts.waiters--
		l.mu.Unlock()
	}()
	for {
		h, changed := l.headOf(ts)
		if h > seq {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.closing:
			return eventlog.ErrClosed
		}
	}
}

// streamAttempt bounds one try at creating or updating a stream. A fresh
// cluster answers some of several processes' concurrent creates of one
// stream late or never (seen with three hookd starting at once on a
// three-node cluster); the next try finds the stream made.
const streamAttempt = 5 * time.Second

// ensureStream creates the stream or updates it to cfg, trying again
// while the cluster is not ready or another process is creating it, until
// ctx ends.
func (l *Log) ensureStream(ctx context.Context, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	return setUp(ctx, l, "stream "+cfg.Name, func(ctx context.Context) (jetstream.Stream, error) {
		return l.js.CreateOrUpdateStream(ctx, cfg)
	})
}

// ensureBucket is ensureStream for a key-value bucket.
func (l *Log) ensureBucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return setUp(ctx, l, "bucket "+cfg.Bucket, func(ctx context.Context) (jetstream.KeyValue, error) {
		return l.js.CreateOrUpdateKeyValue(ctx, cfg)
	})
}

// setUp calls create, each try bounded by streamAttempt, until it
// succeeds, fails for good, or ctx ends.
func setUp[T any](ctx context.Context, l *Log, what string, create func(context.Context) (T, error)) (T, error) {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		actx, cancel := context.WithTimeout(ctx, streamAttempt)
		v, err := create(actx)
		cancel()
		if err == nil || !streamSetupRetryable(err) {
			return v, err
		}
		l.logger.Info("JetStream is not ready to set this up yet; trying again", "what", what, "err", err)
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

// streamSetupRetryable reports a failure to set a stream up that says to
// try again: no answer in time, the stream being created by someone else
// meanwhile, or a cluster still electing its leaders or placing replicas.
func streamSetupRetryable(err error) bool {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, jetstream.ErrStreamNameAlreadyInUse), errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return true
	}
	if ae := apiError(err); ae != nil && ae.Code == 503 {
		return true
	}
	return strings.Contains(err.Error(), "no suitable peers") || strings.Contains(err.Error(), "insufficient resources")
}
