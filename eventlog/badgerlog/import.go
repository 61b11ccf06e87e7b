package badgerlog

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"

	"github.com/dgraph-io/badger/v4"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/badgerdb"
)

// importBatchBytes bounds the stored bytes one import transaction holds in
// memory: Badger's transaction limit counts a large value as a pointer,
// but the transaction keeps the whole value until it commits.
const importBatchBytes = 8 << 20

// Import writes entries, in order, into topic, which must be empty: it
// restores an export (hookd log import). Each entry is given with
// everything its hash covers (Seq, UUID, Time, Metadata with MetaName;
// MetaSeq is ignored, as it is never stored) and the PrevHash and Hash an
// export recorded, which Import checks against those fields before writing
// it. Each entry must carry the next
// sequence, starting at 1, link to the previous entry's hash (32 zero
// bytes for the first) and carry the hash its fields encode to, exactly as
// an Append would have stored it; otherwise Import stops with an
// *ImportError (matching ErrImportRefused). An error from the sequence
// itself (a line that does not parse) stops it too, and is returned as is.
//
// An entry with a unique key (eventlog.MetaUnique) has it indexed as an
// Append would, so appends after the import are refused on it; an export
// holding a key twice is refused (an *ImportError naming the second).
//
// Entries are written in transactions bounded like group commits
// (Options.MaxGroupBytes, Options.MaxGroupEntries, and 8 MiB of stored
// bytes), so memory stays flat for any number of entries, and fsynced once
// at the end; then the store's head and last hash move to the last entry,
// as after an Append, and appends continue the chain. On any error, the
// entries already written are removed again, leaving topic empty.
//
// Import must be the store's only writer while it runs (the store is
// meant to be freshly opened on a new directory): it writes beside the
// commit loop, not through it. It returns an error wrapping ErrNotEmpty if
// topic has entries, and one if an append slipped in meanwhile.
func (s *Store) Import(ctx context.Context, topic string, entries iter.Seq2[eventlog.Entry, error]) (eventlog.ImportReport, error) {
	var rep eventlog.ImportReport
	if err := eventlog.ValidTopic(topic); err != nil {
		return rep, err
	}
	if err := s.Err(); err != nil {
		return rep, err
	}
	head, err := s.head(topic)
	if err != nil {
		return rep, fmt.Errorf("import into %s: read its head: %w", topic, err)
	}
	if head != 0 {
		return rep, fmt.Errorf("import into %s: %w (head %d): import into an empty log", topic, eventlog.ErrNotEmpty, head)
	}
	wrote := false
	rep, err = s.importEntries(ctx, topic, entries, &wrote)
	if err != nil {
		if wrote {
			if derr := s.db.DropPrefix(topicPrefix(topic), uniquePrefix(topic)); derr != nil {
				return eventlog.ImportReport{}, fmt.Errorf("%w; removing the entries already imported failed too (%w): discard this log's directory", err, derr)
			}
		}
		return eventlog.ImportReport{}, err
	}
	if rep.Entries == 0 {
		return rep, nil
	}
	if err := s.db.Sync(); err != nil {
		return eventlog.ImportReport{}, fmt.Errorf("import into %s: fsync: %w: discard this log's directory and import again", topic, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if h := s.heads[topic]; h != 0 {
		return eventlog.ImportReport{}, fmt.Errorf("import into %s: an append (head %d) ran beside the import: discard this log's directory and import again with nothing else writing", topic, h)
	}
	s.advance(map[string]uint64{topic: rep.Head}, map[string][eventlog.HashSize]byte{topic: rep.LastHash})
	close(s.changed)
	s.changed = make(chan struct{})
	return rep, nil
}

// importEntries checks and writes entries; *wrote is set once a
// transaction has been committed.
func (s *Store) importEntries(ctx context.Context, topic string, entries iter.Seq2[eventlog.Entry, error], wrote *bool) (eventlog.ImportReport, error) {
	var rep eventlog.ImportReport
	chain := eventlog.NewImportChecker()
	want := uint64(1)

	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	cost, stored, count := 0, 0, 0
	commit := func() error {
		if count == 0 {
			return nil
		}
		if err := txn.Commit(); err != nil {
			return fmt.Errorf("import into %s: commit entries up to %d: %w", topic, want-1, err)
		}
		*wrote = true
		txn = s.db.NewTransaction(true)
		cost, stored, count = 0, 0, 0
		return nil
	}

	for e, err := range entries {
		if err != nil {
			return rep, err
		}
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("import into %s: %w", topic, err)
		}
		val, err := chain.Check(e)
		if err != nil {
			return rep, err
		}
		key := entryKey(topic, e.Seq)
		c := badgerdb.TxnCost(len(key), len(val))
		var uk []byte
		if k := e.Metadata[eventlog.MetaUnique]; k != "" {
			uk = uniqueKey(topic, k)
			s.uniques.add(uk)
			// A log made by appends never holds a key twice. Asked of the
			// index (this transaction's and those committed), not of a
			// map, so memory stays flat.
			if _, err := txn.Get(uk); err == nil {
				return rep, &eventlog.ImportError{Seq: e.Seq, Reason: fmt.Sprintf("its unique key %q is held by an earlier entry", k)}
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return rep, fmt.Errorf("import into %s: entry %d: read the unique key index: %w", topic, e.Seq, err)
			}
			c += badgerdb.TxnCost(len(uk), 8)
		}
		if count > 0 && (cost+c > s.opts.MaxGroupBytes || stored+len(val) > importBatchBytes || count >= s.opts.MaxGroupEntries) {
			if err := commit(); err != nil {
				return rep, err
			}
		}
		set := func() error {
			if err := txn.Set(key, val); err != nil || uk == nil {
				return err
			}
			return txn.Set(uk, binary.BigEndian.AppendUint64(nil, e.Seq))
		}
		err = set()
		if errors.Is(err, badger.ErrTxnTooBig) && count > 0 {
			if err = commit(); err == nil {
				err = set()
			}
		}
		if err != nil {
			return rep, fmt.Errorf("import into %s: write entry %d (%d bytes): %w", topic, e.Seq, len(val), err)
		}
		cost, stored, count = cost+c, stored+len(val), count+1
		rep.Entries++
		rep.Head = e.Seq
		rep.LastHash = e.Hash
		want++
	}
	if err := commit(); err != nil {
		return rep, err
	}
	return rep, nil
}
