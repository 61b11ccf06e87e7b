package natslog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/hookd/hookd/eventlog"
)

// maxBatchBytes bounds the payload bytes one ReadBatch returns (at least
// one entry is always returned), as on Badger.
const maxBatchBytes = 8 << 20

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

// ReadBatch returns up to limit entries of topic from from on, up to the
// head this process knows. It reads them with batched direct gets (one
// request, the entries streamed back), asking the stream's leader for any
// entry a lagging replica did not have.
func (l *Log) ReadBatch(ctx context.Context, topic string, from uint64, limit int) ([]eventlog.Entry, error) {
	if l.isClosing() {
		return nil, eventlog.ErrClosed
	}
	ts, err := l.topic(ctx, topic)
	if err != nil {
		return nil, err
	}
	from = max(from, 1)
	head, _ := l.headOf(ts)
	if from > head || limit <= 0 {
		return nil, nil
	}
	n := int(min(uint64(limit), head-from+1))
	out := make([]eventlog.Entry, 0, n)
	next, bytes := from, 0
	for len(out) < n && bytes < maxBatchBytes {
		got, err := l.getBatch(ctx, ts, next, n-len(out), &out, &bytes)
		if errors.Is(err, nats.ErrNoResponders) {
			// No server answers direct gets of the stream yet (it was
			// just created, or a replica is catching up): the leader does.
			err = nil
		}
		if err != nil {
			return nil, fmt.Errorf("natslog: read %s from %d: %w", topic, from, err)
		}
		next += uint64(got)
		if got > 0 || len(out) == n || bytes >= maxBatchBytes {
			continue
		}
		// Nothing at next, though it is not past the head.
		e, err := l.leaderGetSettled(ctx, ts, next)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, fmt.Errorf("natslog: read %s: %w", topic,
				eventlog.CorruptEntry(next, fmt.Sprintf("the stream %s has no message %d, though its head is %d: it was removed", ts.stream, next, head)))
		}
		if err != nil {
			return nil, fmt.Errorf("natslog: read %s entry %d: %w", topic, next, err)
		}
		out = append(out, e)
		bytes += len(e.Payload)
		next++
	}
	return out, nil
}

// getBatch appends to out the entries from next on, as long as they come
// without a gap, up to n, and returns how many it appended.
func (l *Log) getBatch(ctx context.Context, ts *topicState, next uint64, n int, out *[]eventlog.Entry, bytes *int) (int, error) {
	msgs, err := jetstreamext.GetBatch(ctx, l.js, ts.stream, n,
		jetstreamext.GetBatchSeq(next), jetstreamext.GetBatchMaxBytes(maxBatchBytes))
	if err != nil {
		return 0, err
	}
	got := 0
	for m, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			break
		}
		if err != nil {
			return got, err
		}
		if m.Sequence != next+uint64(got) {
			break // a gap: the caller asks the leader
		}
		e, err := eventlog.UnmarshalEntry(m.Sequence, m.Data)
		if err != nil {
			return got, err
		}
		*out = append(*out, e)
		*bytes += len(e.Payload)
		got++
		if got == n || *bytes >= maxBatchBytes {
			break
		}
	}
	return got, nil
}

// ReadEntry returns entry seq of topic, or an error wrapping
// eventlog.ErrNotFound past the head.
func (l *Log) ReadEntry(ctx context.Context, topic string, seq uint64) (eventlog.Entry, error) {
	es, err := l.ReadBatch(ctx, topic, seq, 1)
	if err != nil {
		return eventlog.Entry{}, err
	}
	if seq == 0 || len(es) == 0 {
		return eventlog.Entry{}, fmt.Errorf("natslog: entry %d of %s: %w", seq, topic, eventlog.ErrNotFound)
	}
	return es[0], nil
}

// lastSeq asks the stream's leader for its last sequence.
func (l *Log) lastSeq(ctx context.Context, ts *topicState) (uint64, error) {
	s, err := l.js.Stream(ctx, ts.stream)
	if err != nil {
		return 0, err
	}
	return s.CachedInfo().State.LastSeq, nil
}

// msgGetResponse is the answer to $JS.API.STREAM.MSG.GET.
type msgGetResponse struct {
	Error   *jetstream.APIError `json:"error,omitempty"`
	Message *struct {
		Seq  uint64 `json:"seq"`
		Data []byte `json:"data"`
	} `json:"message,omitempty"`
}

// leaderGet reads entry seq through the stream's leader (the JetStream
// API, not a direct get, which any replica may answer from behind).
// leaderGet's answer "not found" for an entry at or below the head is
// asked again for up to leaderSettle: a stream leader elected a moment
// ago may not have applied every acknowledged entry yet (seen on a fresh
// three-node cluster), and an entry hookd cannot find is taken for
// damage, which stops the process.
const leaderSettle = 2 * time.Second

func (l *Log) leaderGetSettled(ctx context.Context, ts *topicState, seq uint64) (eventlog.Entry, error) {
	deadline := time.Now().Add(leaderSettle)
	for {
		e, err := l.leaderGet(ctx, ts, seq)
		if !errors.Is(err, jetstream.ErrMsgNotFound) || time.Now().After(deadline) {
			return e, err
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return e, err
		case <-t.C:
		}
	}
}

func (l *Log) leaderGet(ctx context.Context, ts *topicState, seq uint64) (eventlog.Entry, error) {
	req, _ := json.Marshal(map[string]uint64{"seq": seq})
	e, err := l.leaderMsgGet(ctx, ts, req)
	if err == nil && e.Seq != seq {
		return eventlog.Entry{}, fmt.Errorf("the stream %s answered for entry %d with entry %d", ts.stream, seq, e.Seq)
	}
	return e, err
}

// leaderLast reads the stream's last entry through its leader, in one
// round trip (the last message of any of the topic's subjects), or
// jetstream.ErrMsgNotFound if the stream is empty. Cheaper than asking
// for the stream's info, which the server computes in full: the writer
// asks after every conflict with another process's append.
func (l *Log) leaderLast(ctx context.Context, ts *topicState) (eventlog.Entry, error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": ts.prefix + ".>"})
	return l.leaderMsgGet(ctx, ts, req)
}

// leaderMsgGet asks $JS.API.STREAM.MSG.GET with req and decodes the entry.
func (l *Log) leaderMsgGet(ctx context.Context, ts *topicState, req []byte) (eventlog.Entry, error) {
	prefix := l.js.Options().APIPrefix
	if prefix == "" {
		prefix = "$JS.API."
	}
	msg, err := l.nc.RequestWithContext(ctx, prefix+"STREAM.MSG.GET."+ts.stream, req)
	if err != nil {
		return eventlog.Entry{}, err
	}
	var resp msgGetResponse
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return eventlog.Entry{}, fmt.Errorf("decode the answer of the stream %s: %w", ts.stream, err)
	}
	if resp.Error != nil {
		if resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return eventlog.Entry{}, jetstream.ErrMsgNotFound
		}
		return eventlog.Entry{}, resp.Error
	}
	if resp.Message == nil {
		return eventlog.Entry{}, fmt.Errorf("the stream %s answered %s without an entry", ts.stream, req)
	}
	return eventlog.UnmarshalEntry(resp.Message.Seq, resp.Message.Data)
}
