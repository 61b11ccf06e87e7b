package eventlog

import (
	"context"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
)

var _ message.Publisher = (*Publisher)(nil)

// Publisher appends Watermill messages to the log. Closing it does not
// close the log.
type Publisher struct {
	log    Log
	closed atomic.Bool
}

// NewPublisher returns a Publisher over l.
func NewPublisher(l Log) *Publisher {
	return &Publisher{log: l}
}

// Publish appends msgs to topic atomically and durably, in order. The
// messages' UUIDs, metadata and payloads are stored as given.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	_, err := p.Append(context.Background(), topic, msgs...)
	return err
}

// Append is Publish that also returns the sequences given to msgs.
func (p *Publisher) Append(ctx context.Context, topic string, msgs ...*message.Message) ([]uint64, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	in := make([]AppendMessage, len(msgs))
	for i, m := range msgs {
		in[i] = AppendMessage{UUID: m.UUID, Metadata: m.Metadata, Payload: m.Payload}
	}
	return p.log.Append(ctx, topic, in...)
}

// Close stops the publisher; appends already returned are on disk.
func (p *Publisher) Close() error {
	p.closed.Store(true)
	return nil
}

// AppendAt is Append on the condition that topic's head is last (see
// Log.AppendAt): otherwise nothing is appended and the error wraps
// ErrConflict.
func (p *Publisher) AppendAt(ctx context.Context, topic string, last uint64, msgs ...*message.Message) ([]uint64, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	in := make([]AppendMessage, len(msgs))
	for i, m := range msgs {
		in[i] = AppendMessage{UUID: m.UUID, Metadata: m.Metadata, Payload: m.Payload}
	}
	return p.log.AppendAt(ctx, topic, last, in...)
}
