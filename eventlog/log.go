package eventlog

import (
	"context"
	"errors"
	"iter"
)

// Log is the port every part of hookd uses to reach the event log:
// projections, the dispatcher, the API and the log tools depend on it and
// never on an adapter (eventlog/badgerlog, the embedded default;
// eventlog/natslog, NATS JetStream for several processes). Only cmd/ names
// an adapter. The contract suite in eventlog/logtest holds every adapter
// to what is written here.
//
// A log holds topics; hookd appends everything to Topic. Each topic is a
// sequence of entries numbered from 1 without gaps, each linked to the one
// before by its hash (Entry.PrevHash, Entry.Hash; see MarshalEntry), on
// every backend: Verify and the export mean the same everywhere.
//
// Every method is safe for concurrent use, by any number of goroutines
// and, where the adapter says so, processes.
type Log interface {
	// Append appends msgs to the end of topic, in order, and returns their
	// sequences once they are durable (on Badger, fsynced; on JetStream,
	// acknowledged by the stream). Sequences are increasing; they are
	// contiguous when one process appends alone.
	//
	// An error wrapping ErrHeld means nothing was appended (the disk is
	// nearly full: try again later). An error wrapping ErrUnavailable
	// means the outcome is unknown: some of msgs may be in the log.
	// Messages carry their UUID; an adapter that deduplicates by it (see
	// its doc) makes a retry of such an append safe.
	//
	// Unique keys: a message may carry a unique key in its metadata
	// (MetaUnique, 1 to MaxUniqueKey bytes; otherwise the call fails with
	// an error wrapping ErrInvalidUnique and appends nothing). If an entry
	// of topic already holds the key of one of msgs, or a message earlier
	// in the same call carries it, or a call committed before this one
	// (in the same group commit, or by another process) holds it, nothing
	// of this call is appended and the error is a *DuplicateError
	// (matching ErrDuplicate) with the sequence of the entry that holds
	// the key (0 if only the call itself repeats it). The window is the
	// whole log: a key is held for as long as its entry is in the log,
	// across restarts and through an export and import. Messages without
	// a key are never refused as duplicates.
	Append(ctx context.Context, topic string, msgs ...AppendMessage) ([]uint64, error)

	// AppendAt is Append on the condition that topic's head is last when
	// the first message is written: otherwise nothing is appended and the
	// error wraps ErrConflict. Writers that must not interleave (whatever
	// process they run in) coordinate through it, never through a mutex.
	// Unique keys are held as for Append, and a duplicate takes
	// precedence: a call that is both a duplicate and a conflict gets the
	// *DuplicateError.
	AppendAt(ctx context.Context, topic string, last uint64, msgs ...AppendMessage) ([]uint64, error)

	// ReadBatch returns up to limit entries of topic with sequence >= from,
	// in order and without gaps, never past the durable head, and fewer
	// when their payloads pass 8 MiB (always at least one). It never waits:
	// an empty result means from is past the head. An entry that is
	// missing or does not decode before the head is an error (CorruptEntry,
	// naming it), never a shorter answer; the entries before it are
	// returned with the error.
	ReadBatch(ctx context.Context, topic string, from uint64, limit int) ([]Entry, error)

	// ReadEntry returns entry seq of topic, or an error wrapping
	// ErrNotFound if it is past the head.
	ReadEntry(ctx context.Context, topic string, seq uint64) (Entry, error)

	// Head returns the sequence of the last durable entry of topic that
	// this process knows of (0 if empty): at least every sequence its own
	// Appends returned; entries other processes append show up soon after.
	Head(topic string) (uint64, error)

	// WaitFor blocks until Head(topic) is past seq, ctx ends (its error)
	// or the log closes (ErrClosed).
	WaitFor(ctx context.Context, topic string, seq uint64) error

	// Err reports why the log cannot take appends: ErrClosed once closing,
	// a sticky failure (wrapping ErrUnavailable or ErrDamaged), or nil.
	Err() error

	// Writable is Err that also asks the disk-space guard: nil if an
	// append would be taken now. Whoever must record what it does (the
	// dispatcher) asks before doing it.
	Writable() error

	// Refuse stops the log taking appends in this process until it is
	// reopened, answering them with err (which should wrap ErrDamaged):
	// a broken link found while serving.
	Refuse(err error)

	// Closing is closed when the log starts closing.
	Closing() <-chan struct{}

	// Close stops taking appends, answers those in flight and releases
	// the log. Readers get ErrClosed.
	Close() error
}

// AppendMessage is one event to append.
type AppendMessage struct {
	// UUID is the event's id (the Watermill message UUID); on JetStream
	// it is also the message id the stream deduplicates by.
	UUID string
	// Metadata must hold MetaName; MetaSeq is ignored (it is derived).
	Metadata map[string]string
	Payload  []byte
}

// GroupOffsets is what a Log offers Watermill consumer groups (Subscriber):
// a durable offset per (topic, group), the contiguous acknowledged prefix.
type GroupOffsets interface {
	// Offset is the last acknowledged sequence of group in topic (0: none).
	Offset(topic, group string) (uint64, error)
	// CommitOffset durably stores seq as group's offset in topic.
	CommitOffset(topic, group string, seq uint64) error
}

// Importer is a Log that can restore an export: entries written with the
// sequences, ids, times, payloads and hashes they were exported with
// (hookd log import). See CheckImport for what each entry must satisfy.
type Importer interface {
	Import(ctx context.Context, topic string, entries iter.Seq2[Entry, error]) (ImportReport, error)
}

// ErrConflict wraps AppendAt's refusal: the topic's head was not the one
// expected (another writer appended first). Nothing was appended; read
// what the other writer did and decide again.
var ErrConflict = errors.New("eventlog: the log moved on (conditional append refused)")

// ErrClosed is returned by operations on a closed log, Publisher or Subscriber.
var ErrClosed = errors.New("eventlog: closed")

// ErrHeld wraps the refusal of an append because the disk is nearly full:
// nothing of it was written, and the log takes appends again once there
// is room.
var ErrHeld = errors.New("eventlog: appends are held")

// ErrUnavailable wraps failures to make an append durable: the caller's
// events may or may not be in the log, and the log refuses further
// appends until it is reopened (Badger), or until the backend answers
// again (JetStream).
var ErrUnavailable = errors.New("eventlog: log unavailable")

// ErrTooLarge wraps the refusal of an entry larger than the log can hold
// (on JetStream, the servers' max_payload): nothing was appended, and
// trying again will not help.
var ErrTooLarge = errors.New("eventlog: the entry is larger than the log accepts")

// ErrNotFound means an entry asked for is past the head.
var ErrNotFound = errors.New("eventlog: no such entry")

// Topic is the one topic hookd appends all of its events to.
const Topic = "hookd.events"
