// Package badgerlog is the embedded adapter of the eventlog port: the log
// in a local Badger database, for one hookd process (Badger lets one
// process open a directory). It also keeps the dispatcher's derived state
// and Watermill consumer groups' offsets beside the log.
//
// Key layout in the log's Badger database:
//
//	e <topic> 0x00 <seq: uint64 big-endian>   → entry, as eventlog.MarshalEntry stores it:
//	                                            0x02, prev hash (32 bytes), hash (32 bytes), body
//	g <topic> 0x00 <consumer group>           → last acknowledged seq (uint64 big-endian)
//	s <name>                                  → a consumer's saved state (derived, rebuildable)
//	u <topic> 0x00 <unique key>               → seq of the entry holding the key (uint64 big-endian)
//
// A unique key (eventlog.MetaUnique) is checked by the commit loop before
// the request's entries are staged (a read of its u key, and the keys
// staged earlier in the group) and written in the same transaction as
// its entry; Import writes it too. Messages without a key cost no read.
//
// Appends are group-committed: one goroutine takes every append waiting,
// writes them in one Badger transaction and fsyncs once before answering
// all of their callers. An append whose Publish returned nil is on disk.
// The same goroutine links each entry to the one before it, within a group
// and across groups; the last hash of a topic is read from disk on its
// first append and advances only when a group commits. Being the one
// writer, it also decides AppendAt's condition.
//
// Outside Badger the store keeps a head mark (headmark.go): the last
// known head and its hash, so that a log that lost entries is refused at
// start rather than served.
package badgerlog
