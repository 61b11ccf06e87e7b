package eventlog

import (
	"context"
	"errors"
	"fmt"
)

// VerifyReport is what Store.Verify found.
type VerifyReport struct {
	Topic string
	// Head is the topic's head when the walk began; entries appended
	// later are not checked.
	Head uint64
	// Checked counts the entries, from seq 1, found intact and linked.
	Checked uint64
	// LastHash is the Hash of the last intact entry (zero if none). With
	// an intact chain it stands for the whole log: keep it elsewhere and
	// compare, and a log cut short or rewritten from the end is caught too.
	LastHash [HashSize]byte
	// Broken is the first broken link, nil if the chain is intact.
	Broken *BrokenLink
}

// OK reports whether every entry up to Head is present and linked.
func (r VerifyReport) OK() bool { return r.Broken == nil }

// BrokenLink is the first entry where a topic's hash chain does not hold.
type BrokenLink struct {
	Seq    uint64
	Kind   BreakKind
	Reason string // a sentence for people, naming what differs
}

// BreakKind says how a link is broken.
type BreakKind int

const (
	// BreakGap: the entry at Seq is missing.
	BreakGap BreakKind = iota + 1
	// BreakUndecodable: the entry's bytes are not a valid entry.
	BreakUndecodable
	// BreakPrevHash: the entry's PrevHash is not the previous entry's Hash
	// (32 zero bytes for seq 1), so something before it changed.
	BreakPrevHash
	// BreakHash: the entry's Hash does not match its own bytes, so it changed.
	BreakHash
)

func (k BreakKind) String() string {
	switch k {
	case BreakGap:
		return "sequence gap"
	case BreakUndecodable:
		return "entry does not decode"
	case BreakPrevHash:
		return "prev-hash mismatch"
	case BreakHash:
		return "hash mismatch"
	default:
		return fmt.Sprintf("BreakKind(%d)", int(k))
	}
}

// verifyProgressEvery is how many entries pass between progress calls.
const verifyProgressEvery = 4096

// Verify walks topic of l from seq 1 to its head and checks its hash
// chain: every sequence present, every entry decodable, every PrevHash
// equal to the previous entry's Hash, every Hash equal to the hash of the
// entry's own fields (as MarshalEntry stores them). It reports the first
// broken link; the error is only for failures to read (ctx, I/O).
// progress, if not nil, is called now and then and at the end with the
// entries checked and the head. It means the same on every adapter.
//
// Verify can run beside appends, but it is meant for a stopped log
// (hookd log verify). Removing entries from the end of a log leaves an
// intact, shorter chain: compare Head and LastHash with a copy kept
// elsewhere to catch that.
func Verify(ctx context.Context, l Log, topic string, progress func(done, total uint64)) (VerifyReport, error) {
	return VerifyFrom(ctx, l, topic, 1, [HashSize]byte{}, progress)
}

// VerifyFrom is Verify from entry from on, which must link to prev (the
// hash of entry from-1). Checked counts the entries from from on.
func VerifyFrom(ctx context.Context, l Log, topic string, from uint64, prev [HashSize]byte, progress func(done, total uint64)) (VerifyReport, error) {
	rep := VerifyReport{Topic: topic}
	if err := validTopic(topic); err != nil {
		return rep, err
	}
	head, err := l.Head(topic)
	if err != nil {
		return rep, err
	}
	rep.Head = head
	report := func() {
		if progress != nil {
			progress(rep.Checked, head)
		}
	}
	broken := func(seq uint64, kind BreakKind, format string, args ...any) (VerifyReport, error) {
		rep.Broken = &BrokenLink{Seq: seq, Kind: kind, Reason: kind.String() + ": " + fmt.Sprintf(format, args...)}
		report()
		return rep, nil
	}
	// gap reports entries from to to as missing.
	gap := func(from, to uint64, why string) (VerifyReport, error) {
		if from == to {
			return broken(from, BreakGap, "entry %d is missing%s", from, why)
		}
		return broken(from, BreakGap, "entries %d to %d are missing%s", from, to, why)
	}

	r := NewReader(l, topic, from)
	want := from
	var buf []byte
	for want <= head && r.Next(ctx) {
		e := r.Entry()
		switch {
		case e.Seq != want:
			return gap(want, e.Seq-1, fmt.Sprintf(" (the next entry is %d)", e.Seq))
		case e.PrevHash != prev && want == 1:
			return broken(e.Seq, BreakPrevHash, "the first entry links to %x, want 32 zero bytes", e.PrevHash)
		case e.PrevHash != prev:
			return broken(e.Seq, BreakPrevHash, "the entry links to %x, but entry %d's hash is %x", e.PrevHash, e.Seq-1, prev)
		}
		var sum [HashSize]byte
		buf, sum = encodeEntry(buf[:0], e.Seq, e.PrevHash, e.UUID, e.Time, e.Metadata, e.Payload)
		if e.Hash != sum {
			return broken(e.Seq, BreakHash, "the entry's stored hash is %x, its bytes hash to %x", e.Hash, sum)
		}
		prev = e.Hash
		rep.Checked++
		rep.LastHash = e.Hash
		want++
		if rep.Checked%verifyProgressEvery == 0 {
			report()
		}
	}
	if err := r.Err(); err != nil {
		var ce *corruptEntryError
		if !errors.As(err, &ce) {
			return rep, fmt.Errorf("verify %s: %w", topic, err)
		}
		if ce.seq != want {
			return gap(want, ce.seq-1, fmt.Sprintf(" (the next entry is %d)", ce.seq))
		}
		return broken(ce.seq, BreakUndecodable, "%s", ce.reason)
	}
	if want <= head {
		// The reader ran out before the head: the last entries are gone.
		return gap(want, head, fmt.Sprintf(" (the head is %d)", head))
	}
	report()
	return rep, nil
}
