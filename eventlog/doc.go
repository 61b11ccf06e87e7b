// Package eventlog is hookd's append-only, durable, totally ordered event
// log, stored in Badger and exposed as a Watermill Publisher and
// Subscriber, plus a Reader that replays any range for rebuilds and audits.
//
// Key layout in the log's Badger database:
//
//	e <topic> 0x00 <seq: uint64 big-endian>   → entry (see entry.go)
//	g <topic> 0x00 <consumer group>           → last acknowledged seq (uint64 big-endian)
//
// Every topic is its own log with sequences 1, 2, 3, ...; hookd writes all
// its events to one topic (Topic), so its sequence is the global order.
//
// Appends are group-committed: one goroutine takes every append waiting,
// writes them in one Badger transaction and fsyncs once before answering
// all of their callers. An append whose Publish returned nil is on disk.
package eventlog
