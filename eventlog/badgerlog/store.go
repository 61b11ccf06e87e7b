package badgerlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/badgerdb"
)

// Options tune a Store. The zero value is usable.
type Options struct {
	// Logger receives the store's and Badger's logs. Default: discard.
	Logger *slog.Logger
	// MaxGroupBytes caps what one group commit writes, as estimated by
	// badgerdb.TxnCost. Default badgerdb.MaxTxnBytes().
	MaxGroupBytes int
	// MaxGroupEntries caps the entries one group commit writes. Default 4096.
	MaxGroupEntries int
	// OnAppend, if set, is called after every Append call with the number
	// of entries asked for, how long the call took (group commit and fsync
	// included) and its error (nil: all of them are durable). For metrics;
	// it must be quick and safe for concurrent use.
	OnAppend func(entries int, d time.Duration, err error)
	// ValueLogGCInterval is how often the log's value log is
	// garbage-collected (see badgerdb.ValueLogGC). Default
	// badgerdb.DefaultValueLogGCInterval; negative: never.
	ValueLogGCInterval time.Duration
	// Admit, if set, is asked before every append with its estimated
	// bytes; an error refuses the append (wrapped in ErrHeld) before
	// anything is written. The disk-space reserve (internal/diskspace).
	Admit func(bytes int) error
	// HeadFile, if set, is where the store keeps its HeadMark (outside the
	// Badger directory), rewritten as the log grows.
	HeadFile string
	// CheckHead makes Open compare the log with HeadFile and verify the
	// hash chain of the entries appended after the mark, and fail with an
	// error wrapping ErrDamaged if the log is shorter, rewritten or broken.
	// Set for serving; the log tools open without it so they can still
	// read and report on a damaged log.
	CheckHead bool
	// UniqueFilterBytes sizes the in-memory filter of the unique keys the
	// log holds (unique.go), which spares the writer an index read per new
	// key. Default DefaultUniqueFilterBytes.
	UniqueFilterBytes int

	// tuneBadger, if set, adjusts the Badger options (tests only: small
	// value-log files, early compactions).
	tuneBadger func(badger.Options) badger.Options
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxGroupBytes <= 0 {
		o.MaxGroupBytes = badgerdb.MaxTxnBytes()
	}
	if o.MaxGroupEntries <= 0 {
		o.MaxGroupEntries = 4096
	}
	if o.ValueLogGCInterval == 0 {
		o.ValueLogGCInterval = badgerdb.DefaultValueLogGCInterval
	}
	if o.UniqueFilterBytes <= 0 {
		o.UniqueFilterBytes = DefaultUniqueFilterBytes
	}
}

// Store owns the log's Badger database. Publishers and Subscribers share
// one Store; closing them never closes it.
type Store struct {
	db      *badger.DB
	opts    Options
	logger  *slog.Logger
	gc      *badgerdb.ValueLogGC
	uniques *uniqueFilter // which unique keys the index may hold (unique.go)

	appends chan *appendRequest
	closing chan struct{}
	done    chan struct{}
	once    sync.Once
	// sendMu orders Append's hand-over against Close, so every request
	// handed to the commit loop is answered.
	sendMu sync.RWMutex
	closed bool

	mu      sync.Mutex
	heads   map[string]uint64                  // committed head per topic
	hashes  map[string][eventlog.HashSize]byte // hash of the entry at heads[topic], where the chain goes on (commit loop only)
	changed chan struct{}                      // closed and replaced after every commit
	failure error                              // sticky: set when a commit could not be made durable, or by Refuse

	markSignal chan struct{} // a commit happened (nil without a HeadFile)
	markDone   chan struct{} // closed when the head mark's writer has stopped
}

type appendRequest struct {
	topic string
	last  *uint64 // AppendAt's condition: the head it expects, or nil
	msgs  []appendMsg
	bytes int
	keyed int // how many of msgs have a unique key (eventlog.MetaUnique)
	done  chan appendResult
}

type appendMsg struct {
	uuid     string
	metadata map[string]string
	payload  []byte
}

type appendResult struct {
	seqs []uint64
	err  error
}

// Open opens (or creates) the log in dir. A directory already open in
// another process gives a clear error instead of waiting.
func Open(dir string, opts Options) (*Store, error) {
	opts.setDefaults()
	// Durability comes from one explicit Sync per group commit.
	bo := badgerdb.Options(dir, opts.Logger, "badger-log")
	if opts.tuneBadger != nil {
		bo = opts.tuneBadger(bo)
	}
	db, err := badgerdb.OpenWith(bo, "event log")
	if err != nil {
		return nil, err
	}
	s := &Store{
		markDone: make(chan struct{}),
		db:       db,
		opts:     opts,
		logger:   opts.Logger,
		appends:  make(chan *appendRequest, 1024),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
		heads:    map[string]uint64{},
		hashes:   map[string][eventlog.HashSize]byte{},
		changed:  make(chan struct{}),
	}
	uniques, n, err := loadUniqueFilter(db, opts.UniqueFilterBytes)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open the event log in %s: %w", dir, err)
	}
	s.uniques = uniques
	if n > 0 {
		opts.Logger.Debug("unique keys loaded", "keys", n, "filter_bytes", opts.UniqueFilterBytes)
	}
	if opts.HeadFile != "" {
		written, err := s.head(eventlog.Topic)
		if err == nil && opts.CheckHead {
			err = s.checkHead(context.Background())
		}
		if err != nil {
			_ = db.Close()
			return nil, err
		}
		s.markSignal = make(chan struct{}, 1)
		go s.markLoop(written)
	} else {
		close(s.markDone)
	}
	s.gc = badgerdb.StartValueLogGC(db, opts.ValueLogGCInterval, opts.Logger.With("component", "value-log-gc"), "event log")
	go s.commitLoop()
	return s, nil
}

// Close stops accepting appends, finishes those already taken, stops the
// value-log GC and closes the database.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		s.sendMu.Lock()
		s.closed = true
		s.sendMu.Unlock()
		close(s.closing)
		<-s.done
		<-s.markDone
		s.gc.Stop()
		err = s.db.Close()
	})
	return err
}

// DB returns the underlying database for packages that keep their own
// keys beside the log (none writes under the log's prefixes).
func (s *Store) DB() *badger.DB { return s.db }

// Append writes msgs to the end of topic as one atomic, durable group and
// returns their sequences. It returns only after the entries are fsynced.
func (s *Store) Append(ctx context.Context, topic string, msgs ...eventlog.AppendMessage) (seqs []uint64, err error) {
	return s.append(ctx, topic, nil, msgs)
}

// AppendAt is Append if topic's head is last when the group is written,
// and otherwise appends nothing and returns an error wrapping
// eventlog.ErrConflict. The commit loop is the one writer, so the check
// and the write cannot interleave with another append of this store.
func (s *Store) AppendAt(ctx context.Context, topic string, last uint64, msgs ...eventlog.AppendMessage) ([]uint64, error) {
	return s.append(ctx, topic, &last, msgs)
}

func (s *Store) append(ctx context.Context, topic string, last *uint64, msgs []eventlog.AppendMessage) (seqs []uint64, err error) {
	if s.opts.OnAppend != nil && len(msgs) > 0 {
		defer func(start time.Time) { s.opts.OnAppend(len(msgs), time.Since(start), err) }(time.Now())
	}
	if err := eventlog.ValidTopic(topic); err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, nil
	}
	keyed, err := eventlog.CheckUniqueKeys(msgs)
	if err != nil {
		return nil, fmt.Errorf("append to %s: %w", topic, err)
	}
	if s.opts.Admit != nil {
		n := 0
		for _, m := range msgs {
			n += len(m.Payload) + len(m.UUID) + hashedHeaderBytes(m.Metadata)
		}
		if err := s.opts.Admit(n); err != nil {
			return nil, fmt.Errorf("%w: %w", eventlog.ErrHeld, err)
		}
	}
	req := &appendRequest{topic: topic, last: last, msgs: make([]appendMsg, len(msgs)), keyed: keyed, done: make(chan appendResult, 1)}
	for i, m := range msgs {
		req.msgs[i] = appendMsg{uuid: m.UUID, metadata: m.Metadata, payload: m.Payload}
		req.bytes += badgerdb.TxnCost(len(topic)+10, len(m.Payload)+len(m.UUID)+hashedHeaderBytes(m.Metadata))
		if keyed > 0 {
			if k := m.Metadata[eventlog.MetaUnique]; k != "" {
				req.bytes += badgerdb.TxnCost(len(topic)+2+len(k), 8)
			}
		}
	}
	s.sendMu.RLock()
	if s.closed {
		s.sendMu.RUnlock()
		return nil, eventlog.ErrClosed
	}
	select {
	case s.appends <- req:
		s.sendMu.RUnlock()
	case <-ctx.Done():
		s.sendMu.RUnlock()
		return nil, ctx.Err()
	}
	// Once taken, the append completes whatever the context says, so the
	// caller learns its outcome.
	res := <-req.done
	return res.seqs, res.err
}

func (s *Store) commitLoop() {
	defer close(s.done)
	// carry is a request that did not fit in the previous group: it starts
	// the next one, so a group only exceeds the limits when one request
	// alone does (and then it is alone, and fails alone).
	var carry *appendRequest
	for {
		first := carry
		carry = nil
		if first == nil {
			select {
			case first = <-s.appends:
			case <-s.closing:
				// Answer appends that were handed over before closing.
				for {
					select {
					case req := <-s.appends:
						s.commitGroup([]*appendRequest{req})
					default:
						return
					}
				}
			}
		}
		group := []*appendRequest{first}
		bytes, entries := first.bytes, len(first.msgs)
	drain:
		for bytes < s.opts.MaxGroupBytes && entries < s.opts.MaxGroupEntries {
			select {
			case req := <-s.appends:
				if bytes+req.bytes > s.opts.MaxGroupBytes || entries+len(req.msgs) > s.opts.MaxGroupEntries {
					carry = req
					break drain
				}
				group = append(group, req)
				bytes += req.bytes
				entries += len(req.msgs)
			default:
				break drain
			}
		}
		s.commitGroup(group)
	}
}

// commitGroup writes a group in one transaction, fsyncs, then answers.
func (s *Store) commitGroup(group []*appendRequest) {
	s.mu.Lock()
	failure := s.failure
	s.mu.Unlock()
	if failure != nil {
		for _, req := range group {
			req.done <- appendResult{err: failure}
		}
		return
	}

	// Heads and hashes advance here, on copies, and reach s.heads and
	// s.hashes only once the group is committed.
	heads := map[string]uint64{}
	hashes := map[string][eventlog.HashSize]byte{}
	for _, req := range group {
		if _, ok := heads[req.topic]; !ok {
			h, err := s.head(req.topic)
			if err != nil {
				s.fail(group, fmt.Errorf("%w: read head of %s: %w", eventlog.ErrUnavailable, req.topic, err))
				return
			}
			sum, err := s.lastHash(req.topic, h)
			if err != nil {
				s.fail(group, fmt.Errorf("%w: read the hash of %s's last entry %d: %w", eventlog.ErrUnavailable, req.topic, h, err))
				return
			}
			heads[req.topic] = h
			hashes[req.topic] = sum
		}
	}
	now := time.Now()
	results := make([][]uint64, len(group))
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	var buf []byte
	conflicts := make([]error, len(group))
	// taken holds the unique keys (index keys) staged by earlier requests
	// of this group, with their sequences.
	var taken map[string]uint64
	for i, req := range group {
		if req.keyed > 0 {
			// A duplicate takes precedence over AppendAt's conflict.
			dup, err := s.duplicate(txn, req, taken)
			if err != nil {
				s.fail(group, fmt.Errorf("%w: read the unique keys of %s: %w", eventlog.ErrUnavailable, req.topic, err))
				return
			}
			if dup != nil {
				conflicts[i] = dup
				continue
			}
		}
		if req.last != nil && *req.last != heads[req.topic] {
			conflicts[i] = fmt.Errorf("append to %s at %d: %w: its head is %d", req.topic, *req.last, eventlog.ErrConflict, heads[req.topic])
			continue
		}
		seqs := make([]uint64, len(req.msgs))
		for j, m := range req.msgs {
			seq := heads[req.topic] + 1
			heads[req.topic] = seq
			seqs[j] = seq
			buf, hashes[req.topic] = eventlog.MarshalEntry(buf[:0], seq, hashes[req.topic], m.uuid, now, m.metadata, m.payload)
			val := make([]byte, len(buf))
			copy(val, buf)
			err := txn.Set(entryKey(req.topic, seq), val)
			if k := m.metadata[eventlog.MetaUnique]; err == nil && req.keyed > 0 && k != "" {
				uk := uniqueKey(req.topic, k)
				// Told before the commit, so no later group misses it.
				s.uniques.add(uk)
				err = txn.Set(uk, binary.BigEndian.AppendUint64(nil, seq))
				if taken == nil {
					taken = map[string]uint64{}
				}
				taken[string(uk)] = seq
			}
			if err != nil {
				// Too big for one transaction: refuse this group as a whole.
				s.answerAll(group, fmt.Errorf("eventlog: append %d bytes: %w", req.bytes, err))
				return
			}
		}
		results[i] = seqs
	}
	if err := txn.Commit(); err != nil {
		s.fail(group, fmt.Errorf("%w: commit: %w", eventlog.ErrUnavailable, err))
		return
	}
	if err := s.db.Sync(); err != nil {
		// Committed but maybe not on disk: answer with an error and take
		// no more appends, since heads can no longer be trusted to match disk.
		s.mu.Lock()
		s.advance(heads, hashes)
		s.mu.Unlock()
		s.fail(group, fmt.Errorf("%w: fsync: %w", eventlog.ErrUnavailable, err))
		return
	}
	s.mu.Lock()
	s.advance(heads, hashes)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	for i, req := range group {
		req.done <- appendResult{seqs: results[i], err: conflicts[i]}
	}
}

// duplicate returns the *eventlog.DuplicateError for req if one of its
// unique keys is held: by an entry (its index key, read in txn), by a
// request staged earlier in the group (taken), or by an earlier message of
// req itself. It stages nothing.
func (s *Store) duplicate(txn *badger.Txn, req *appendRequest, taken map[string]uint64) (*eventlog.DuplicateError, error) {
	var own map[string]bool
	for _, m := range req.msgs {
		k := m.metadata[eventlog.MetaUnique]
		if k == "" {
			continue
		}
		uk := uniqueKey(req.topic, k)
		if seq, ok := taken[string(uk)]; ok {
			return &eventlog.DuplicateError{Topic: req.topic, Key: k, Seq: seq}, nil
		}
		item, err := (*badger.Item)(nil), badger.ErrKeyNotFound
		if s.uniques.mayHold(uk) {
			item, err = txn.Get(uk)
		}
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
		case err != nil:
			return nil, err
		default:
			var seq uint64
			err := item.Value(func(v []byte) error {
				if len(v) != 8 {
					return fmt.Errorf("corrupt unique key index of %q: %d bytes", k, len(v))
				}
				seq = binary.BigEndian.Uint64(v)
				return nil
			})
			if err != nil {
				return nil, err
			}
			return &eventlog.DuplicateError{Topic: req.topic, Key: k, Seq: seq}, nil
		}
		if own[k] {
			return &eventlog.DuplicateError{Topic: req.topic, Key: k}, nil
		}
		if own == nil {
			own = map[string]bool{}
		}
		own[k] = true
	}
	return nil, nil
}

// advance records a committed group's heads and last hashes; s.mu is held.
func (s *Store) advance(heads map[string]uint64, hashes map[string][eventlog.HashSize]byte) {
	for t, h := range heads {
		s.heads[t] = h
		s.hashes[t] = hashes[t]
	}
	s.noteCommitted()
}

func (s *Store) answerAll(group []*appendRequest, err error) {
	for _, req := range group {
		req.done <- appendResult{err: err}
	}
}

func (s *Store) fail(group []*appendRequest, err error) {
	s.logger.Error("event log append failed; refusing further appends", "err", err)
	s.mu.Lock()
	s.failure = err
	s.mu.Unlock()
	s.answerAll(group, err)
}

// head returns the last sequence of topic, reading it from disk on first use.
func (s *Store) head(topic string) (uint64, error) {
	s.mu.Lock()
	h, ok := s.heads[topic]
	s.mu.Unlock()
	if ok {
		return h, nil
	}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Reverse: true, Prefix: topicPrefix(topic)})
		defer it.Close()
		it.Seek(entryKey(topic, ^uint64(0)))
		if it.Valid() {
			k := it.Item().Key()
			h = binary.BigEndian.Uint64(k[len(k)-8:])
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	if cur, ok := s.heads[topic]; ok {
		h = cur
	} else {
		s.heads[topic] = h
	}
	s.mu.Unlock()
	return h, nil
}

// lastHash returns the hash of topic's entry at head (its committed head),
// reading it from disk on first use; 32 zero bytes for an empty topic. Only
// the commit loop calls it, after head.
func (s *Store) lastHash(topic string, head uint64) ([eventlog.HashSize]byte, error) {
	s.mu.Lock()
	sum, ok := s.hashes[topic]
	s.mu.Unlock()
	if ok || head == 0 {
		return sum, nil
	}
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(entryKey(topic, head))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			sum, err = eventlog.StoredHash(head, v)
			return err
		})
	})
	if err != nil {
		return sum, err
	}
	s.mu.Lock()
	s.hashes[topic] = sum
	s.mu.Unlock()
	return sum, nil
}

// Head returns the sequence of the last durable entry of topic (0 if empty).
func (s *Store) Head(topic string) (uint64, error) {
	if err := eventlog.ValidTopic(topic); err != nil {
		return 0, err
	}
	return s.head(topic)
}

// WaitFor blocks until topic's head is past seq, ctx ends or the store closes.
func (s *Store) WaitFor(ctx context.Context, topic string, seq uint64) error {
	for {
		h, err := s.head(topic)
		if err != nil {
			return err
		}
		if h > seq {
			return nil
		}
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		// Re-check: a commit may have landed between head and changed.
		if h2, _ := s.head(topic); h2 > seq {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closing:
			return eventlog.ErrClosed
		}
	}
}

// Err reports why the store cannot take appends: ErrClosed once closing,
// the sticky failure (wrapping ErrUnavailable) after an append could not be
// made durable, or nil.
func (s *Store) Err() error {
	select {
	case <-s.closing:
		return eventlog.ErrClosed
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failure
}

// Writable says whether an append would be taken now: nil, or why not
// (ErrClosed, the sticky failure, or Admit's refusal wrapped in ErrHeld).
// A consumer that must record what it does (the dispatcher) asks before
// doing it.
func (s *Store) Writable() error {
	if err := s.Err(); err != nil {
		return err
	}
	if s.opts.Admit != nil {
		if err := s.opts.Admit(0); err != nil {
			return fmt.Errorf("%w: %w", eventlog.ErrHeld, err)
		}
	}
	return nil
}

// Refuse stops the store taking appends for good (until it is reopened),
// answering them with err, which should say why and wrap ErrDamaged: a
// broken link found in the hash chain while serving.
func (s *Store) Refuse(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure == nil {
		s.failure = err
	}
}

// Closing is closed when the store starts closing.
func (s *Store) Closing() <-chan struct{} { return s.closing }

func topicPrefix(topic string) []byte {
	k := make([]byte, 0, len(topic)+2)
	k = append(k, 'e')
	k = append(k, topic...)
	return append(k, 0)
}

func entryKey(topic string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(topicPrefix(topic), seq)
}

// uniquePrefix is where topic's unique keys are indexed: 'u', the topic,
// a NUL byte (a topic holds none), then the key; the value is the 8-byte
// big-endian sequence of the entry that holds it.
func uniquePrefix(topic string) []byte {
	k := make([]byte, 0, len(topic)+2)
	k = append(k, 'u')
	k = append(k, topic...)
	return append(k, 0)
}

func uniqueKey(topic, key string) []byte {
	k := make([]byte, 0, len(topic)+2+len(key))
	k = append(k, 'u')
	k = append(k, topic...)
	k = append(k, 0)
	return append(k, key...)
}

func groupKey(topic, group string) []byte {
	k := make([]byte, 0, len(topic)+len(group)+2)
	k = append(k, 'g')
	k = append(k, topic...)
	k = append(k, 0)
	return append(k, group...)
}

// Offset returns the last acknowledged sequence of a consumer group (0 if none).
func (s *Store) Offset(topic, group string) (uint64, error) {
	var off uint64
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(groupKey(topic, group))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("eventlog: corrupt offset of group %q", group)
			}
			off = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("read offset of group %q on %s: %w", group, topic, err)
	}
	return off, nil
}

// CommitOffset records seq as a group's last acknowledged entry. It is not
// fsynced on its own: after a crash a group may see an entry again, never
// miss one (the next group commit's fsync makes it durable).
func (s *Store) CommitOffset(topic, group string, seq uint64) error {
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(groupKey(topic, group), binary.BigEndian.AppendUint64(nil, seq))
	})
	if err != nil {
		return fmt.Errorf("commit offset %d of group %q on %s: %w", seq, group, topic, err)
	}
	return nil
}

// hashedHeaderBytes estimates an entry's bytes besides UUID and payload:
// format, hashes, time and metadata.
func hashedHeaderBytes(md map[string]string) int {
	n := 1 + 2*eventlog.HashSize + 8 + 2
	for k, v := range md {
		n += len(k) + len(v) + 4
	}
	return n
}

func stateKey(name string) []byte { return append([]byte{'s'}, name...) }

// PutState saves a consumer's derived state under name (like an offset, it
// is a checkpoint that can always be rebuilt from the log). It is not
// fsynced on its own; the next group commit's fsync makes it durable, and
// a consumer must cope with finding an older one after a crash.
func (s *Store) PutState(name string, value []byte) error {
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(stateKey(name), value)
	})
	if err != nil {
		return fmt.Errorf("save state %q: %w", name, err)
	}
	return nil
}

// State returns the state saved under name, or nil if there is none.
func (s *Store) State(name string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(stateKey(name))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read state %q: %w", name, err)
	}
	return out, nil
}

// Dir is the log's directory (what errors about its damage name).
func (s *Store) Dir() string { return s.db.Opts().Dir }
