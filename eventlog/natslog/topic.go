package natslog

import (
	"context"
	"fmt"
	"time"

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
	stream, err := l.js.CreateOrUpdateStream(ctx, l.cfg.streamConfig(ts.stream, ts.prefix))
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
