// Package eventlog is the port to hookd's append-only, durable, totally
// ordered event log: the contract every backend keeps (Log, in log.go),
// the stored form of an entry and its hash chain (entry.go), the codec
// between domain events and entries (codec.go), the export format and
// chain checks (exportjson.go, verify.go, import.go), the sentinel errors,
// and what is built on the contract alone: Reader, Verify, Verifier, and
// a Watermill Publisher and Subscriber.
//
// The adapters live beside it: eventlog/badgerlog, the embedded default,
// and eventlog/natslog, NATS JetStream for several processes. Only cmd/
// names an adapter; eventlog/logtest is the contract suite both pass.
//
// Every topic is its own log with sequences 1, 2, 3, ...; hookd writes all
// its events to one topic (Topic), so its sequence is the global order.
// Every entry carries its sequence: readers set MetaSeq on its metadata.
//
// Each topic is also a hash chain. Entry n stores the hash of entry n-1
// (32 zero bytes for n = 1) and its own hash,
//
//	hash_n = SHA-256(hash_{n-1} || n as 8 bytes big-endian || format byte || body_n)
//
// so changing, removing, inserting or reordering any entry breaks a link
// at or right after it. Verify (hookd log verify) walks a topic and
// reports the first broken link, the same way on every backend. A chain
// cut short or re-linked from the end is still a valid chain: the head and
// last hash Verify reports, kept elsewhere, catch that.
package eventlog
