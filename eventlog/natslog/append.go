package natslog

import (
	"context"
	"fmt"

	"github.com/hookd/hookd/eventlog"
)

// appendRequest is one Append or AppendAt call handed to the writer.
type appendRequest struct {
	ctx   context.Context // asked before each round: once it ends, the request is answered
	ts    *topicState
	at    *uint64 // AppendAt's expected head; nil for Append
	msgs  []eventlog.AppendMessage
	bytes int
	seqs  []uint64 // the sequences of msgs stored so far
	done  chan appendResult

	// The writer's (batch.go): a publish of some of msgs had no answer,
	// so they may be stored; the tip was read from the leader after the
	// request was taken (an AppendAt past it is a conflict).
	maybeStored bool
	tipFresh    bool

	keyed int   // how many of msgs have a unique key (eventlog.MetaUnique)
	err   error // the answer given, once answered (the writer's)
}

type appendResult struct {
	seqs []uint64
	err  error
}

// Append appends msgs to topic and returns their sequences once the
// stream has acknowledged all of them. A conflict with another process's
// append is retried (relinking the entries to the new end) until ctx
// ends; a publish without an answer is retried with the same UUIDs for up
// to Config.RetryFor.
func (l *Log) Append(ctx context.Context, topic string, msgs ...eventlog.AppendMessage) ([]uint64, error) {
	return l.submit(ctx, topic, nil, msgs)
}

// AppendAt is Append on the condition that topic's head is last when the
// first message is written; otherwise nothing is appended and the error
// wraps eventlog.ErrConflict.
func (l *Log) AppendAt(ctx context.Context, topic string, last uint64, msgs ...eventlog.AppendMessage) ([]uint64, error) {
	return l.submit(ctx, topic, &last, msgs)
}

func (l *Log) submit(ctx context.Context, topic string, at *uint64, msgs []eventlog.AppendMessage) ([]uint64, error) {
	if err := l.Err(); err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	keyed, err := eventlog.CheckUniqueKeys(msgs)
	if err != nil {
		return nil, fmt.Errorf("natslog: append to %s: %w", topic, err)
	}
	for i, m := range msgs {
		if m.UUID == "" {
			// The UUID is the message id JetStream deduplicates by.
			return nil, fmt.Errorf("natslog: append to %s: message %d has no UUID", topic, i)
		}
	}
	ts, err := l.topic(ctx, topic)
	if err != nil {
		return nil, err
	}
	req := &appendRequest{ctx: ctx, ts: ts, at: at, msgs: msgs, keyed: keyed, seqs: make([]uint64, 0, len(msgs)), done: make(chan appendResult, 1)}
	for i, m := range msgs {
		req.bytes += len(m.Payload) + len(m.UUID) + 100
		// The client would refuse it after the batch had begun, leaving an
		// append that can never finish: refuse it here, whole.
		if n := storedSize(m); n > int(l.nc.MaxPayload()) {
			return nil, fmt.Errorf("natslog: append to %s: message %d is %d bytes stored, over the NATS servers' max_payload of %d: %w",
				topic, i, n, l.nc.MaxPayload(), eventlog.ErrTooLarge)
		}
	}
	l.sendMu.RLock()
	if l.closed {
		l.sendMu.RUnlock()
		return nil, eventlog.ErrClosed
	}
	select {
	case l.appends <- req:
		l.sendMu.RUnlock()
	case <-ctx.Done():
		l.sendMu.RUnlock()
		return nil, ctx.Err()
	}
	// Once taken, the request is answered whatever ctx says, so the
	// caller learns its outcome.
	res := <-req.done
	return res.seqs, res.err
}

// maxGroupBytes bounds the payload bytes the writer takes at once.
const maxGroupBytes = 8 << 20

// writeLoop takes the queued requests, as many as fit in one batch, and
// writes them; it ends when the log closes, after answering every
// request handed over before.
func (l *Log) writeLoop() {
	defer close(l.writerDone)
	var carry *appendRequest
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-l.appends:
			case <-l.closing:
				for {
					select {
					case req := <-l.appends:
						l.write([]*appendRequest{req})
					default:
						return
					}
				}
			}
		}
		group := []*appendRequest{first}
		n, bytes := len(first.msgs), first.bytes
	drain:
		for n < l.cfg.MaxBatch && bytes < maxGroupBytes {
			select {
			case req := <-l.appends:
				if n+len(req.msgs) > l.cfg.MaxBatch || bytes+req.bytes > maxGroupBytes {
					carry = req
					break drain
				}
				group = append(group, req)
				n += len(req.msgs)
				bytes += req.bytes
			default:
				break drain
			}
		}
		l.write(group)
	}
}

// write writes a group, one topic after another in the order of their
// first requests.
func (l *Log) write(group []*appendRequest) {
	var order []*topicState
	byTopic := map[*topicState][]*appendRequest{}
	for _, req := range group {
		if _, ok := byTopic[req.ts]; !ok {
			order = append(order, req.ts)
		}
		byTopic[req.ts] = append(byTopic[req.ts], req)
	}
	for _, ts := range order {
		l.writeTopic(ts, byTopic[ts])
	}
}

// storedSize is about what m takes in a NATS message: its stored form
// (eventlog.MarshalEntry: header, time, UUID, metadata, payload) and the
// headers the writer adds.
func storedSize(m eventlog.AppendMessage) int {
	n := 1 + 2*eventlog.HashSize + 8 + len(m.UUID) + len(m.Payload) + 256 // headers: ids, expected sequence, batch
	for k, v := range m.Metadata {
		n += len(k) + len(v) + 4
	}
	return n
}
