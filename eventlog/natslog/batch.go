package natslog

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/hookd/hookd/eventlog"
)

// Retries of a round that failed on the way (no ack, a leader election)
// back off from retryMin to retryMax, for at most Config.RetryFor.
const (
	retryMin = 100 * time.Millisecond
	retryMax = time.Second
)

// outMsg is one message of a round: where the writer linked it.
type outMsg struct {
	req  *appendRequest
	idx  int // its index in req.msgs
	seq  uint64
	hash [eventlog.HashSize]byte
	msg  *nats.Msg
	// Of a message with a unique key (unique.go): its key, wire name and UUID.
	key, name, uuid string
}

// writeTopic writes reqs to ts in rounds until each is answered. A round
// that failed without an answer from the stream is tried again, with the
// same UUIDs, for up to Config.RetryFor: the stream drops what an earlier
// attempt stored (see round).
//
// Requests with unique keys are split first (splitByKey): one sharing a
// key with an earlier request of the group waits until that one is
// answered, and is refused as its duplicate if it was stored.
func (l *Log) writeTopic(ts *topicState, reqs []*appendRequest) {
	if !anyKeyed(reqs) {
		l.writeRounds(ts, reqs)
		return
	}
	for len(reqs) > 0 {
		now, later := l.splitByKey(ts, reqs)
		l.writeRounds(ts, now)
		reqs = resolveHeld(ts, now, later)
	}
}

func anyKeyed(reqs []*appendRequest) bool {
	for _, req := range reqs {
		if req.keyed > 0 {
			return true
		}
	}
	return false
}

// writeRounds is writeTopic for requests that share no unique key.
func (l *Log) writeRounds(ts *topicState, reqs []*appendRequest) {
	pending := reqs
	var failingSince time.Time
	backoff := retryMin
	for len(pending) > 0 {
		if refused := l.refusal(); refused != nil {
			for _, req := range pending {
				answer(req, refused)
			}
			return
		}
		pending = l.dropEnded(ts, pending)
		if len(pending) == 0 {
			return
		}
		var err error
		if !ts.tipKnown {
			err = l.readTip(ts)
		}
		if err == nil {
			pending, err = l.round(ts, pending)
		}
		if err == nil {
			failingSince, backoff = time.Time{}, retryMin
			continue
		}
		if failingSince.IsZero() {
			failingSince = time.Now()
		}
		if time.Since(failingSince) >= l.cfg.RetryFor || !l.pause(backoff) {
			for _, req := range pending {
				answer(req, l.unknown(ts, req, err))
			}
			return
		}
		l.logger.Warn("append failed on the way; retrying it with the same UUIDs", "stream", ts.stream, "err", err, "failing_for", time.Since(failingSince).Round(time.Millisecond))
		backoff = min(2*backoff, retryMax)
	}
}

// dropEnded answers the requests whose context has ended and returns the others.
func (l *Log) dropEnded(ts *topicState, pending []*appendRequest) []*appendRequest {
	keep := pending[:0]
	for _, req := range pending {
		err := req.ctx.Err()
		switch {
		case err == nil:
			keep = append(keep, req)
		case len(req.seqs) == 0 && !req.maybeStored:
			answer(req, err)
		default:
			answer(req, l.unknown(ts, req, err))
		}
	}
	return keep
}

// unknown is the answer to a request the writer gives up on because of err.
func (l *Log) unknown(ts *topicState, req *appendRequest, err error) error {
	if len(req.seqs) == 0 && !req.maybeStored {
		return fmt.Errorf("%w: append to %s: nothing was appended: %w", eventlog.ErrUnavailable, ts.stream, err)
	}
	return fmt.Errorf("%w: append to %s: %d of its %d messages are appended and the outcome of the others is unknown (a retry with the same UUIDs within %v is not stored twice): %w",
		eventlog.ErrUnavailable, ts.stream, len(req.seqs), len(req.msgs), l.cfg.Duplicates, err)
}

// pause waits d, or less if the log closes: it reports whether to go on.
func (l *Log) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.closing:
		return false
	}
}

// answer answers req: with its sequences if err is nil.
func answer(req *appendRequest, err error) {
	req.err = err
	if err != nil {
		req.done <- appendResult{err: err}
		return
	}
	req.done <- appendResult{seqs: req.seqs}
}

// round links the pending messages to the chain's end as the writer knows
// it (ts.tip) and publishes as many as a batch takes, as one atomic batch:
// the first message expects the stream's last sequence to be the tip,
// every message carries its UUID as Nats-Msg-Id. JetStream stores such a
// batch whole, at tip+1 … tip+n, or not at all, so the chain holds
// whatever other writers do. A batch of one is a plain publish with the
// same headers.
//
// It answers the requests it finished or that failed for good and returns
// the others. An error means the round failed on the way (no answer from
// the stream, or one saying to try again): writeTopic tries again later.
//
// Outcomes:
//   - wrong last sequence: another writer appended; reread the tip, relink.
//   - a known message id (10201): some message was stored before (a retry
//     after an unknown outcome, maybe by another process). The batch
//     answer does not say which or where, so the writer publishes those
//     messages one at a time (ts.singles): a plain publish of a known id
//     is acknowledged as a duplicate with the first one's sequence.
//   - no answer: the batch may be stored whole; the retry sorts it out.
func (l *Log) round(ts *topicState, pending []*appendRequest) ([]*appendRequest, error) {
	limit := min(l.cfg.MaxBatch, ts.batchCap)
	if ts.singles > 0 {
		limit = 1
	}
	tip := ts.tipSeq
	head, prev := ts.tipSeq, ts.tipHash
	now := time.Now().UTC()
	var batch []outMsg
	rest := pending[:0:0]
	for i, req := range pending {
		if len(batch) == limit {
			rest = append(rest, pending[i:]...)
			break
		}
		if len(req.seqs) == 0 && req.at != nil && *req.at != head {
			switch {
			case *req.at < head || req.tipFresh:
				answer(req, l.conflictOrDuplicate(ts, req, fmt.Errorf("natslog: append to %s at %d, but its head is %d: %w", ts.topic, *req.at, head, eventlog.ErrConflict)))
				continue
			case len(batch) > 0:
				// It cannot follow this batch: it goes first in a later round.
				rest = append(rest, pending[i:]...)
			default:
				// Expecting a head past the writer's tip: the tip may be
				// behind other writers' appends. Read it, then decide.
				req.tipFresh, ts.tipKnown = true, false
				rest = append(rest, pending[i:]...)
			}
			break
		}
		rest = append(rest, req)
		for j := len(req.seqs); j < len(req.msgs); j++ {
			if len(batch) == limit {
				break
			}
			m := req.msgs[j]
			seq := head + 1
			data, sum := eventlog.MarshalEntry(nil, seq, prev, m.UUID, now, m.Metadata, m.Payload)
			o := outMsg{req: req, idx: j, seq: seq, hash: sum}
			subject := ""
			if req.keyed > 0 {
				o.key = m.Metadata[eventlog.MetaUnique]
			}
			if o.key != "" {
				// Stored only if no entry holds the key's subject yet.
				o.name, o.uuid = m.Metadata[eventlog.MetaName], m.UUID
				subject = keySubject(ts.prefix, o.name, o.key)
			} else {
				subject = subjectFor(ts.prefix, m.Metadata[eventlog.MetaName])
			}
			o.msg = &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
			o.msg.Header.Set(jetstream.MsgIDHeader, m.UUID)
			if len(batch) == 0 {
				o.msg.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(tip, 10))
			}
			if o.key != "" {
				o.msg.Header.Set(jetstream.ExpectedLastSubjSeqHeader, "0")
			}
			batch = append(batch, o)
			head, prev = seq, sum
		}
	}
	if len(batch) == 0 {
		return rest, nil
	}
	if len(batch) == 1 {
		return l.publishOne(ts, rest, batch[0])
	}
	return l.publishBatch(ts, rest, batch)
}

// publishBatch publishes batch atomically and sorts out the answer.
func (l *Log) publishBatch(ts *topicState, rest []*appendRequest, batch []outMsg) ([]*appendRequest, error) {
	msgs := make([]*nats.Msg, len(batch))
	for i, o := range batch {
		msgs[i] = o.msg
	}
	ctx, cancel := contextTimeout(l.cfg.PublishTimeout)
	// No flow control: the messages go out back to back, and the commit's
	// answer is the only round trip.
	ack, err := jetstreamext.PublishMsgBatch(ctx, l.js, msgs, jetstreamext.BatchFlowControl{AckTimeout: l.cfg.PublishTimeout})
	cancel()
	first, n := batch[0].seq, uint64(len(batch))
	switch code := errCode(err); {
	case err == nil && ack.Sequence == first+n-1 && ack.BatchSize == n:
		for _, o := range batch {
			o.req.seqs = append(o.req.seqs, o.seq)
		}
		last := batch[len(batch)-1]
		ts.tipSeq, ts.tipHash = last.seq, last.hash
		l.advance(ts, last.seq)
		return l.finish(rest), nil
	case err == nil:
		return l.damaged(ts, rest, batch, fmt.Sprintf("batch %d to %d was stored as %d messages ending at %d", first, first+n-1, ack.BatchSize, ack.Sequence))
	case code == jetstreamext.JSErrCodeBatchPublishDuplicateMsgID:
		ts.singles = len(batch)
		l.logger.Info("a batch holds messages stored before (a retried append); publishing them one at a time", "stream", ts.stream, "messages", len(batch))
		return rest, nil
	case isWrongLast(err):
		ts.tipKnown = false
		return l.wrongLast(ts, rest, batch)
	case code == jetstreamext.JSErrCodeBatchPublishExceedsLimit:
		ts.batchCap = max(1, len(batch)/2)
		l.logger.Warn("the server takes smaller atomic batches than natslog's MaxBatch; halving it (set Config.MaxBatch to the server's max_batch_size)", "stream", ts.stream, "batch", ts.batchCap)
		return rest, nil
	case code == errCodeDuplicateInProcess,
		code == jetstreamext.JSErrCodeBatchPublishIncomplete,
		code == jetstreamext.JSErrCodeAtomicPublishTooManyInflight,
		code == jetstreamext.JSErrCodeBatchPublishTooManyInflight:
		// Refused for now, nothing stored: try again shortly.
		return rest, fmt.Errorf("publish %d messages to %s: %w", n, ts.stream, err)
	case code != 0 && !isTemporary(err):
		return l.refusedBatch(ts, rest, batch, err)
	default:
		return l.lost(ts, rest, batch, err)
	}
}

// publishOne publishes one message, conditional on the tip, and sorts
// out the answer. A known message id is acknowledged as a duplicate with
// the sequence it was stored at: on a cluster at once, on one server once
// the expected sequence holds (the sequence is checked first).
func (l *Log) publishOne(ts *topicState, rest []*appendRequest, o outMsg) ([]*appendRequest, error) {
	ctx, cancel := contextTimeout(l.cfg.PublishTimeout)
	ack, err := l.js.PublishMsg(ctx, o.msg)
	cancel()
	switch code := errCode(err); {
	case err == nil && ack.Duplicate:
		o.req.seqs = append(o.req.seqs, ack.Sequence)
		ts.singles = max(0, ts.singles-1)
		return l.finish(rest), nil
	case err == nil && ack.Sequence == o.seq:
		o.req.seqs = append(o.req.seqs, o.seq)
		ts.tipSeq, ts.tipHash = o.seq, o.hash
		ts.singles = max(0, ts.singles-1)
		l.advance(ts, o.seq)
		return l.finish(rest), nil
	case err == nil:
		return l.damaged(ts, rest, []outMsg{o}, fmt.Sprintf("entry %d was stored at %d", o.seq, ack.Sequence))
	case isWrongLast(err):
		ts.tipKnown = false
		return l.wrongLast(ts, rest, []outMsg{o})
	case code == errCodeDuplicateInProcess:
		return rest, fmt.Errorf("publish to %s: %w", ts.stream, err)
	case code != 0 && !isTemporary(err):
		return l.refusedBatch(ts, rest, []outMsg{o}, err)
	default:
		return l.lost(ts, rest, []outMsg{o}, err)
	}
}

// wrongLast handles a refusal on an expected last sequence: the chain's
// (another writer appended: the tip is read again and the messages
// relinked) or, for a batch with keyed messages, maybe a key's
// (sortOutKeys answers the requests whose key is held).
func (l *Log) wrongLast(ts *topicState, rest []*appendRequest, batch []outMsg) ([]*appendRequest, error) {
	for _, o := range batch {
		if o.key != "" {
			rest, _, err := l.sortOutKeys(ts, rest, batch)
			return rest, err
		}
	}
	return rest, nil
}

// finish answers the requests whose messages are all stored and returns the others.
func (l *Log) finish(rest []*appendRequest) []*appendRequest {
	keep := rest[:0]
	for _, req := range rest {
		if len(req.seqs) == len(req.msgs) {
			answer(req, nil)
		} else {
			keep = append(keep, req)
		}
	}
	return keep
}

// lost handles a batch with no answer: it may be stored.
func (l *Log) lost(ts *topicState, rest []*appendRequest, batch []outMsg, err error) ([]*appendRequest, error) {
	for _, o := range batch {
		o.req.maybeStored = true
	}
	ts.tipKnown = false
	return rest, fmt.Errorf("publish %d messages to %s, no acknowledgement: %w", len(batch), ts.stream, err)
}

// refusedBatch answers the requests in batch with the stream's refusal:
// nothing of the batch was stored.
func (l *Log) refusedBatch(ts *topicState, rest []*appendRequest, batch []outMsg, err error) ([]*appendRequest, error) {
	var why error
	if isLimit(err) {
		why = l.limitError(ts, err)
	} else {
		what := "see the NATS server's log"
		if errCode(err) == jetstreamext.JSErrCodeBatchPublishNotEnabled {
			what = "the stream no longer allows atomic publish: reopen the log, which updates the stream's configuration"
		}
		why = fmt.Errorf("%w: the stream %s refused the append: %w; %s (nothing of it was appended)", eventlog.ErrUnavailable, ts.stream, err, what)
	}
	return l.failBatch(rest, batch, why), nil
}

// damaged handles a batch stored other than linked: the chain is broken
// there. The expected sequence makes this impossible; if it happens
// anyway, stop appending and say where.
func (l *Log) damaged(ts *topicState, rest []*appendRequest, batch []outMsg, what string) ([]*appendRequest, error) {
	err := fmt.Errorf("natslog: %s of %s, out of the writer's chain: verify the log (hookd log verify): %w", what, ts.stream, eventlog.ErrUnavailable)
	l.logger.Error("appends refused", "err", err)
	l.Refuse(err)
	ts.tipKnown = false
	return l.failBatch(rest, batch, err), nil
}

// failBatch answers the requests with messages in batch with err and
// returns the others of rest.
func (l *Log) failBatch(rest []*appendRequest, batch []outMsg, err error) []*appendRequest {
	failed := map[*appendRequest]bool{}
	for _, o := range batch {
		failed[o.req] = true
	}
	keep := rest[:0]
	for _, req := range rest {
		if failed[req] {
			answer(req, err)
		} else {
			keep = append(keep, req)
		}
	}
	return keep
}

func (l *Log) refusal() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused
}

// readTip learns the sequence and hash of ts's last entry from the
// stream's leader (a replica answering a direct get may lag behind).
func (l *Log) readTip(ts *topicState) error {
	ctx, cancel := contextTimeout(l.cfg.PublishTimeout)
	defer cancel()
	var last uint64
	var sum [eventlog.HashSize]byte
	e, err := l.leaderLast(ctx, ts)
	switch {
	case err == nil:
		last, sum = e.Seq, e.Hash
	case errors.Is(err, jetstream.ErrMsgNotFound):
		// Empty, or (MaxAge) every entry expired: the stream's last
		// sequence says which.
		if last, err = l.lastSeq(ctx, ts); err != nil {
			return fmt.Errorf("read the head of %s: %w", ts.stream, err)
		}
		if last > 0 {
			return fmt.Errorf("the stream %s holds no entry but its last sequence is %d: its entries expired (MaxAge): %w", ts.stream, last, eventlog.ErrUnavailable)
		}
	default:
		return fmt.Errorf("read the last entry of %s: %w", ts.stream, err)
	}
	ts.tipKnown, ts.tipSeq, ts.tipHash = true, last, sum
	l.advance(ts, last)
	return nil
}
