package natslog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookd/hookd/eventlog"
)

// Unique keys (eventlog.MetaUnique): a keyed message is published on a
// subject of its own, keySubject, with Nats-Expected-Last-Subject-Sequence
// 0, so the stream stores it only if no message holds that subject yet:
// the key's uniqueness is decided by the stream, whatever process appends.

// keySubject is the subject of a message with wire name name and unique
// key key: its usual subject, ".u.", and the first 32 hex digits of the
// key's SHA-256 (a subject token cannot hold any byte a key may).
func keySubject(prefix, name, key string) string {
	sum := sha256.Sum256([]byte(key))
	return subjectFor(prefix, name) + ".u." + hex.EncodeToString(sum[:16])
}

// messageSubject is the subject a message with metadata md is published on.
func messageSubject(prefix string, md map[string]string) string {
	if k := md[eventlog.MetaUnique]; k != "" {
		return keySubject(prefix, md[eventlog.MetaName], k)
	}
	return subjectFor(prefix, md[eventlog.MetaName])
}

// holderOf returns the entry holding key, as the stream's leader has it
// (the last message on the key's subject), or jetstream.ErrMsgNotFound.
// The entry is durable, so this process's head moves to it at least: the
// caller told of it can read it (ReadEntry) at once.
func (l *Log) holderOf(ctx context.Context, ts *topicState, name, key string) (eventlog.Entry, error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": keySubject(ts.prefix, name, key)})
	e, err := l.leaderMsgGet(ctx, ts, req)
	if err == nil {
		l.advance(ts, e.Seq)
	}
	return e, err
}

// duplicateOf is the answer to req, whose message with key is held by
// entry seq (0: only req itself repeats it). Nothing of req is stored in
// the usual case; if a part of a request larger than one batch was, the
// error says so (still matching eventlog.ErrDuplicate).
func duplicateOf(ts *topicState, req *appendRequest, key string, seq uint64) error {
	dup := &eventlog.DuplicateError{Topic: ts.topic, Key: key, Seq: seq}
	if len(req.seqs) > 0 {
		return fmt.Errorf("natslog: append to %s: %d of its %d messages were appended (in earlier batches) before a later one was refused: %w",
			ts.stream, len(req.seqs), len(req.msgs), dup)
	}
	return dup
}

// splitByKey answers the requests of reqs that repeat a key within
// themselves, and returns those to write now and those to hold back: a
// request with a key that an earlier request of reqs has (the writer
// publishes it once the earlier one is answered: refused as a duplicate
// of it if it was stored). A request repeating a key within itself is
// answered after asking the stream whether an entry holds the key.
func (l *Log) splitByKey(ts *topicState, reqs []*appendRequest) (now, later []*appendRequest) {
	var owner map[string]*appendRequest
	for _, req := range reqs {
		if req.keyed == 0 {
			now = append(now, req)
			continue
		}
		var own map[string]bool
		var repeated string
		held := false
		for _, m := range req.msgs {
			k := m.Metadata[eventlog.MetaUnique]
			if k == "" {
				continue
			}
			if owner[k] != nil {
				held = true
			}
			if own[k] && repeated == "" {
				repeated = k
			}
			if own == nil {
				own = map[string]bool{}
			}
			own[k] = true
		}
		switch {
		case repeated != "":
			l.answerRepeated(ts, req)
		case held:
			later = append(later, req)
		default:
			if owner == nil {
				owner = map[string]*appendRequest{}
			}
			for k := range own {
				owner[k] = req
			}
			now = append(now, req)
		}
	}
	return now, later
}

// answerRepeated answers req, which carries a key twice: with the entry
// holding one of its keys if the stream has one, else as a duplicate
// within itself.
func (l *Log) answerRepeated(ts *topicState, req *appendRequest) {
	seen := map[string]bool{}
	var repeated string
	for _, m := range req.msgs {
		k := m.Metadata[eventlog.MetaUnique]
		if k == "" {
			continue
		}
		if seen[k] {
			if repeated == "" {
				repeated = k
			}
			continue
		}
		seen[k] = true
		ctx, cancel := contextTimeout(l.cfg.PublishTimeout)
		e, err := l.holderOf(ctx, ts, m.Metadata[eventlog.MetaName], k)
		cancel()
		switch {
		case err == nil:
			answer(req, duplicateOf(ts, req, k, e.Seq))
			return
		case !errors.Is(err, jetstream.ErrMsgNotFound):
			answer(req, fmt.Errorf("%w: append to %s: nothing was appended: it holds unique key %q twice, and asking the stream for an entry holding it failed: %w",
				eventlog.ErrUnavailable, ts.stream, k, err))
			return
		}
	}
	answer(req, duplicateOf(ts, req, repeated, 0))
}

// heldBy returns the sequence at which req stored a message with key,
// and whether it did: what the writer answers a request held back behind
// req with.
func heldBy(req *appendRequest, key string) (uint64, bool) {
	if req.err != nil {
		return 0, false
	}
	for i, m := range req.msgs {
		if m.Metadata[eventlog.MetaUnique] == key && i < len(req.seqs) {
			return req.seqs[i], true
		}
	}
	return 0, false
}

// resolveHeld answers the requests held back behind earlier ones of the
// same group (splitByKey): a duplicate of the earlier request that stored
// the key; the others are returned, to be written.
func resolveHeld(ts *topicState, written, later []*appendRequest) []*appendRequest {
	keep := later[:0]
next:
	for _, req := range later {
		for _, m := range req.msgs {
			k := m.Metadata[eventlog.MetaUnique]
			if k == "" {
				continue
			}
			for _, w := range written {
				if seq, ok := heldBy(w, k); ok {
					answer(req, duplicateOf(ts, req, k, seq))
					continue next
				}
			}
		}
		keep = append(keep, req)
	}
	return keep
}

// sortOutKeys is called when the stream refused batch because a last
// sequence was not the one expected: the chain's (another writer
// appended) or a key subject's (a key is held). It asks the leader for
// each keyed message's subject: a request with a key held by another
// entry is answered with a duplicate; a keyed message found stored under
// its own UUID (an earlier attempt of this append whose answer was lost)
// counts as stored. It returns the requests still to write and whether
// any key was found: none means the refusal was the chain's.
func (l *Log) sortOutKeys(ts *topicState, rest []*appendRequest, batch []outMsg) ([]*appendRequest, bool, error) {
	found := false
	refused := map[*appendRequest]error{}
	for _, o := range batch {
		k := o.key
		if k == "" || refused[o.req] != nil {
			continue
		}
		ctx, cancel := contextTimeout(l.cfg.PublishTimeout)
		e, err := l.holderOf(ctx, ts, o.name, k)
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			continue
		case err != nil:
			return rest, found, fmt.Errorf("ask %s for the entry holding a unique key: %w", ts.stream, err)
		}
		found = true
		if e.UUID != o.uuid {
			refused[o.req] = duplicateOf(ts, o.req, k, e.Seq)
			continue
		}
		// This append's own message, stored by an attempt whose answer
		// was lost. If it is the next of its request, record it; else
		// publish one at a time, where message ids sort out the rest.
		if o.idx == len(o.req.seqs) {
			o.req.seqs = append(o.req.seqs, e.Seq)
		} else {
			ts.singles = max(ts.singles, len(batch))
		}
	}
	keep := rest[:0]
	for _, req := range rest {
		if err := refused[req]; err != nil {
			answer(req, err)
		} else {
			keep = append(keep, req)
		}
	}
	return l.finish(keep), found, nil
}

// conflictOrDuplicate is the answer to an AppendAt refused on its
// expected head (conflict): a duplicate takes precedence, so a keyed
// request whose key an entry holds gets the duplicate. If the stream
// cannot be asked, the conflict stands (the caller reads and tries again,
// and learns of the duplicate then).
func (l *Log) conflictOrDuplicate(ts *topicState, req *appendRequest, conflict error) error {
	if req.keyed == 0 || len(req.seqs) > 0 {
		return conflict
	}
	for _, m := range req.msgs {
		k := m.Metadata[eventlog.MetaUnique]
		if k == "" {
			continue
		}
		ctx, cancel := contextTimeout(l.cfg.PublishTimeout)
		e, err := l.holderOf(ctx, ts, m.Metadata[eventlog.MetaName], k)
		cancel()
		if err != nil {
			if !errors.Is(err, jetstream.ErrMsgNotFound) {
				l.logger.Warn("asking the stream whether a unique key is held failed; answering the conditional append's conflict", "stream", ts.stream, "err", err)
			}
			continue
		}
		return duplicateOf(ts, req, k, e.Seq)
	}
	return conflict
}
