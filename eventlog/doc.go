// Package eventlog is hookd's append-only, durable, totally ordered event
// log, stored in Badger and exposed as a Watermill Publisher and
// Subscriber, plus a Reader that replays any range for rebuilds and audits.
//
// Key layout in the log's Badger database:
//
//	e <topic> 0x00 <seq: uint64 big-endian>   → entry (format 2, see entry.go):
//	                                            0x02, prev hash (32 bytes), hash (32 bytes), body
//	g <topic> 0x00 <consumer group>           → last acknowledged seq (uint64 big-endian)
//	s <name>                                  → a consumer's saved state (derived, rebuildable)
//
// Every topic is its own log with sequences 1, 2, 3, ...; hookd writes all
// its events to one topic (Topic), so its sequence is the global order.
//
// Each topic is also a hash chain. Entry n stores the hash of entry n-1
// (32 zero bytes for n = 1) and its own hash,
//
//	hash_n = SHA-256(hash_{n-1} || n as 8 bytes big-endian || format byte || body_n)
//
// so changing, removing, inserting or reordering any entry breaks a link
// at or right after it. Store.Verify (hookd log verify) walks a topic and
// reports the first broken link. A chain cut short or re-linked from the
// end is still a valid chain: the head and last hash Verify reports, kept
// elsewhere, catch that.
//
// Appends are group-committed: one goroutine takes every append waiting,
// writes them in one Badger transaction and fsyncs once before answering
// all of their callers. An append whose Publish returned nil is on disk.
// The same goroutine links each entry to the one before it, within a group
// and across groups; the last hash of a topic is read from disk on its
// first append and advances only when a group commits.
package eventlog
