// Package natslog is the NATS JetStream adapter of eventlog.Log: the log
// for several hookd processes sharing one chain of events. It also offers
// what such processes need to divide the work: eventlog.Claimer (queues
// of claims) and eventlog.Leases (one holder of a role at a time).
//
// # Streams and subjects
//
// One stream (Config.Stream, default HOOKD) holds eventlog.Topic; its
// stream sequence is the log's sequence. Each entry is published on
// <Config.Subject>.<wire name>, e.g. hookd.events.delivery.requested.v1,
// so consumers can filter by event type; the stream's subjects are
// <Config.Subject>.>. Any other topic (Watermill's test suite makes
// random ones) gets a stream of its own on first use, named
// <Stream>_<topic made safe>_<hash of topic>, whose subjects are that
// name followed by the wire name.
//
// Streams are created, or updated to the configuration, with file
// storage, limits retention, DiscardNew (a limit that is reached refuses
// appends, with JetStream's words and what to raise, wrapping
// eventlog.ErrUnavailable; old entries are never dropped to make room),
// DenyDelete, DenyPurge, AllowDirect and AllowAtomicPublish (nats-server
// 2.12 or later; message ids in a batch need 2.15). MaxAge is the
// exception the operator opts into: JetStream removes entries older than
// it whatever the discard policy, and the log then no longer starts at 1
// (reads and Verify report the first removed entry as missing).
//
// # Unique keys
//
// A message with a unique key (eventlog.MetaUnique) is published on its
// key's subject: its usual subject, ".u.", and the first 32 hex digits of
// the SHA-256 of the key (hookd.events.build_event.received.v1.u.<hex>),
// with Nats-Expected-Last-Subject-Sequence 0, so the stream stores it only
// while no message holds that subject, whichever process publishes: the
// stream decides, inside the atomic batch. Two requests of one group with
// the same key never go out together: the later waits for the earlier and
// is refused as its duplicate if it was stored. When the stream refuses a
// batch on a last sequence (the chain's or a key's: the same error
// family), the writer asks the leader for the last message of each keyed
// message's subject: one found holding another UUID makes its request a
// *eventlog.DuplicateError with its sequence (one holding the message's
// own UUID is an earlier attempt of the same append whose answer was lost,
// and counts as stored); none found means the chain moved, handled as
// always. Claims filter on each name's subject and its key subjects
// (<name's subject>.u.*); the tip read, the watcher and reads take every
// subject of the stream; Import publishes a keyed entry on its key's
// subject too. The window is the whole stream.
//
// nats-server keeps state per subject (its last sequence, in the stream's
// subject index), so every keyed entry adds one subject to the stream:
// the servers' memory grows with the number of keyed entries (hookd keys
// each build event).
//
// # Stored form and the hash chain
//
// A message's data is exactly eventlog.MarshalEntry of the entry with the
// stream sequence it is stored at, so Verify, export and import mean the
// same as on Badger. The writer links each entry to the one before it;
// JetStream checks only sequences, so every publish is conditional.
//
// # The append protocol
//
// One goroutine per Log takes the queued appends (a bounded queue), up
// to Config.MaxBatch messages (at most 1,000, JetStream's default batch
// limit) or 8 MiB, links them to the end of the chain as it knows it (the
// tip: a sequence and a hash) and publishes them as one atomic batch
// (github.com/synadia-io/orbit.go/jetstreamext PublishMsgBatch; a round of
// one message is a plain publish with the same headers):
//
//   - every message carries Nats-Msg-Id = its UUID;
//   - the first carries Nats-Expected-Last-Sequence = the tip.
//
// JetStream stores such a batch whole at tip+1 … tip+n, or none of it, so
// the chain holds however processes interleave. One round trip per batch.
// The answers (pinned in batch_test.go and dedup_test.go):
//
//   - Stored: the Appends in it are answered with their sequences.
//   - Wrong last sequence: another process appended. The writer rereads
//     the tip from the stream's leader (a replica's direct get may lag),
//     relinks and publishes again. Append goes on until it wins; AppendAt
//     answers eventlog.ErrConflict once the head it named is not the
//     head where its first message would go (one expecting a head past
//     the tip first has the tip reread, as the tip may be old).
//   - A known message id (10201): some message of the batch was stored
//     before: an earlier attempt whose answer was lost, perhaps by
//     another process. JetStream checks ids before the expected sequence
//     and refuses the whole batch without saying which id or where, so
//     the writer publishes those messages one at a time: a plain publish
//     of a known id is acknowledged as a duplicate with the sequence it
//     was stored at, which Append returns (on a cluster at once; on one
//     server only once the expected sequence holds, since there it is
//     checked first: the writer rereads the tip and publishes again).
//   - No answer (a timeout, a lost connection, 503 during an election):
//     the batch may be stored. The writer rereads the tip and publishes
//     the same messages again, backing off, for up to Config.RetryFor: if
//     the first attempt was stored, the ids make the retry answer with its
//     sequences. Past RetryFor the Appends fail with ErrUnavailable, and
//     the caller may retry with the same UUIDs.
//   - Refused for a limit (10077 and its kin): ErrUnavailable saying which
//     limit to raise; nothing of the batch was stored.
//
// Retries are never stored twice as long as they come within the stream's
// duplicates window (Config.Duplicates, default 2 minutes): Open refuses
// a RetryFor plus PublishTimeout that does not fit in it. Past the window
// a retry is stored again. Entries keep the sequence and time of their
// first attempt.
//
// Earlier versions pipelined single publishes chained with
// Nats-Expected-Last-Msg-Id. On a cluster the leader checks that header
// only when applying (not before proposing, as it does expected
// sequences), and under contention the stream answered 503 and timed out
// for seconds; atomic batches have no such header.
//
// An Append of up to MaxBatch messages (and 8 MiB) is contiguous and all
// or nothing, unless some of its messages were stored before (they keep
// their sequences). A larger one is split into batches, between which
// another process's entries may come; an error wrapping ErrUnavailable
// may then leave part of it stored.
//
// Cost: an atomic batch on an R1 file stream is staged by the server in
// a file store of its own (nats-server newBatchStore), about 3 ms a
// batch; on R3 it is staged in memory. TestThroughput logs the rates.
//
// # Durability
//
// An append returns once the stream has acknowledged it: stored on the
// leader (R1) or on a majority of replicas (Config.Replicas). JetStream
// writes to its files at once but fsyncs them only every sync_interval
// (two minutes by default) unless the servers run with sync_interval:
// always: an R1 acknowledgement is not an fsync. With R3 a crash of one
// machine loses nothing acknowledged (cluster_test.go kills the stream's
// leader under load).
//
// # Heads, reads, offsets
//
// Head is the head read from the stream at first use, moved by this
// process's acks and by a watcher: an ordered consumer on the stream,
// headers only, from the head on, that learns other processes' appends,
// so WaitFor wakes on them. The ordered consumer recreates itself after
// errors (a reconnect, missed heartbeats), and while WaitFor calls are
// blocked the Log also reads the stream's last sequence from its leader
// every Config.HeadPoll (default 1 s): a watcher that is down delays
// WaitFor by at most that, and says so in the log.
//
// ReadBatch reads a range with one batched direct get
// (jetstreamext.GetBatch), never past the known head, and asks the
// stream leader for any entry the answer lacks; one the leader has not
// either, before the head, is an eventlog.CorruptEntry error.
//
// Consumer group offsets (eventlog.GroupOffsets, for eventlog.Subscriber)
// live in the key-value bucket <Stream>_offsets, one key per topic and
// group.
//
// # Claims
//
// Claims(ctx, topic, cfg) creates, or binds to, the durable pull consumer
// queue_<Queue made safe>_<hash> on the topic's stream: filtered to the
// subjects of cfg.Names, explicit acks, AckWait = cfg.Lease, MaxAckPending
// = cfg.MaxPending, MaxDeliver unlimited, replicated as the stream. Every
// process using the same queue name shares it; the last to start sets its
// lease and bounds. Next asks for what is there (a no-wait pull of up to
// max), else waits with a pull of one (heartbeat 1 s, so a dead
// connection shows within seconds) and tops up without waiting: an idle
// process never parks entries another could take. Done is a double ack
// (the server confirms it; then the entry is never handed out again, to
// any process, across reconnects); Extend is an in-progress ack (the lease
// starts again); Delivered is the consumer's delivery count. Close stops
// pulling and leaves the consumer. Next keeps pulling through failures for
// up to 30 s, then returns ErrUnavailable.
//
// A new queue starts at the beginning of the log (DeliverAll): an entry
// appended before any process claimed it is never lost. The price is that
// a queue created on a log with history (a fresh cluster with an old log
// imported, or a renamed queue) hands out every old entry once more with
// Delivered 1. The adapter cannot tell finished work from unfinished, so
// the caller must skip a claim whose work the log already records,
// whatever Delivered says (the dispatcher: a delivery.attempted for the
// request), and only then Done it.
//
// A Next cancelled while it waits may leave one entry with this process
// until its lease ends (the server may hand it to the pull that was
// cancelled); it then goes to another, with Delivered 2.
//
// # Leases
//
// A lease is a key of the bucket <Stream>_leases (created on first
// Acquire, replicated as the stream) with a per-key TTL of ttl rounded up
// to whole seconds (JetStream's TTL unit; ttl must be at least 1 s;
// nats-server 2.11 or later). Acquire creates the key holding a holder id
// (host:pid:random), which fails while another holds it, and tries again
// every ttl/4. The holder rewrites the key every ttl/3 with a fresh TTL,
// on the condition that it is still the revision it last wrote (the KV
// API's Update cannot set a TTL, so this is a publish to $KV.<bucket>.<key>
// with Nats-Expected-Last-Subject-Sequence and Nats-TTL). Lost closes when
// a rewrite is refused (the key was removed or taken), or when none has
// succeeded for 0.9 × ttl since the last successful one was sent: the key
// cannot expire on the server before then, so a holder that is cut off
// has stopped relying on the lease before another process can have it.
// Release (and Log.Close) deletes the key on its last revision, so the
// next Acquire elsewhere succeeds at once. A process that dies leaves its
// key to expire: another takes it after ttl plus up to ttl/4.
//
// Leases exclude only as far as the holder heeds Lost in time: a holder
// that stalls longer than its ttl (a long GC pause, a suspended VM) can
// act after another took over. Fence what it writes with AppendAt where
// that matters.
//
// # Import
//
// Import restores an export into an empty stream, publishing each entry,
// checked first, with its original time and expected last sequence. A
// refused import cannot be undone (the stream denies deletes): remove the
// stream before importing again.
package natslog
