package eventlog

import (
	"context"
	"time"
)

// What a log that several processes share offers them beyond Log, so that
// they divide the work instead of each doing all of it. A log that one
// process has to itself (badgerlog) offers neither: that process does
// everything. eventlog/natslog offers both.

// Claimer shares the entries of chosen types among every process that
// claims them from the same queue: each entry is handed to one claimant at
// a time, and to another only if the first neither finishes it (Done) nor
// renews it (Extend) within the lease: at least once, and once in normal
// operation. On JetStream: one durable consumer that every process pulls
// from, acknowledged explicitly, with the lease as its ack wait.
type Claimer interface {
	Claims(ctx context.Context, topic string, cfg ClaimConfig) (Claims, error)
}

// ClaimConfig chooses and bounds a queue of claims.
type ClaimConfig struct {
	// Queue names the queue; every process claiming with the same name
	// shares it. Required.
	Queue string
	// Names are the wire names of the entries the queue hands out.
	Names []string
	// Lease is how long a claim stays with its claimant without a Done or
	// an Extend; then it goes to another. Must exceed the longest work
	// done on one claim.
	Lease time.Duration
	// MaxPending bounds the claims handed out and not yet done, over all
	// processes (on JetStream, the consumer's max ack pending).
	MaxPending int
}

// Claims is one process's end of a queue of claims.
type Claims interface {
	// Next blocks until at least one claim is there (or ctx ends) and
	// returns up to max of them, in log order within one call.
	Next(ctx context.Context, max int) ([]Claim, error)
	// Close stops claiming; claims not done go to other claimants once
	// their lease ends.
	Close() error
}

// Claim is one entry handed to this process.
type Claim struct {
	Entry Entry
	// Delivered counts the times the entry has been handed out, this one
	// included: more than 1 means an earlier claimant may have done part
	// of the work (sent, but not recorded that it did).
	Delivered int
	// Done marks the work finished: the entry is never handed out again.
	Done func() error
	// Extend renews the lease: the claimant still holds it (it waits for
	// its turn, or is at work).
	Extend func() error
}

// Leases elects one holder at a time of a named role among the processes
// sharing a log (the matcher).
type Leases interface {
	// Acquire blocks until this process holds the lease called name, or
	// ctx ends. The lease is renewed in the background until Release or
	// until it cannot be renewed within ttl; then Lost is closed, and
	// another process may acquire it once ttl has passed.
	Acquire(ctx context.Context, name string, ttl time.Duration) (Lease, error)
}

// Lease is a held lease.
type Lease interface {
	// Lost is closed when the lease is no longer held.
	Lost() <-chan struct{}
	// Release gives the lease up at once.
	Release() error
}
