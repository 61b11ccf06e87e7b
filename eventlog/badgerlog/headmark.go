package badgerlog

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/fsutil"
)

// HeadMark is what the log last knew of its end: the sequence and hash of
// Topic's head. The Store keeps it in a small file outside the Badger
// directory (Options.HeadFile), rewritten and fsynced as the log grows, so
// that a log that comes back shorter, or rewritten at its end (a MANIFEST
// or a write-ahead file lost or cut short, a restored older copy), is
// noticed on open instead of served as if nothing happened.
type HeadMark struct {
	Seq  uint64
	Hash [eventlog.HashSize]byte
	// Written is when the mark was written.
	Written time.Time
}

type headMarkFile struct {
	Format   int       `json:"format"`
	Topic    string    `json:"topic"`
	Sequence uint64    `json:"sequence"`
	Hash     string    `json:"hash"`
	Written  time.Time `json:"written_at"`
}

// ReadHeadMark reads the mark at path; ok is false if there is none.
func ReadHeadMark(path string) (m HeadMark, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("read the log's head mark: %w", err)
	}
	var f headMarkFile
	if err := json.Unmarshal(b, &f); err != nil || f.Format != 1 {
		return m, false, fmt.Errorf("the log's head mark %s does not decode (%d bytes): %w", path, len(b), eventlog.ErrDamaged)
	}
	h, err := hex.DecodeString(f.Hash)
	if err != nil || len(h) != eventlog.HashSize {
		return m, false, fmt.Errorf("the log's head mark %s has a bad hash %q: %w", path, f.Hash, eventlog.ErrDamaged)
	}
	m.Seq, m.Written = f.Sequence, f.Written
	copy(m.Hash[:], h)
	return m, true, nil
}

// WriteHeadMark replaces the mark at path, durably: a temporary file,
// fsynced, renamed over the old one, and the directory fsynced.
func WriteHeadMark(path string, m HeadMark) error {
	b, err := json.Marshal(headMarkFile{Format: 1, Topic: eventlog.Topic, Sequence: m.Seq, Hash: hex.EncodeToString(m.Hash[:]), Written: m.Written.UTC()})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("write the log's head mark: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = fsutil.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write the log's head mark %s: %w", path, err)
	}
	return nil
}

// markEvery paces the head mark's rewrites: at most this often while
// appends go on, and once more on Close. The mark may trail the log by
// that much, never lead it (it is written after the fsync of what it
// names), so the check on open verifies the entries after it.
const markEvery = 250 * time.Millisecond

// markLoop rewrites the head mark after commits until the store closes.
func (s *Store) markLoop(written uint64) {
	defer close(s.markDone)
	write := func() {
		s.mu.Lock()
		seq, sum, failed := s.heads[eventlog.Topic], s.hashes[eventlog.Topic], s.failure != nil
		s.mu.Unlock()
		if failed || seq <= written {
			return // a failed store's head may not be on disk: keep the last mark
		}
		if err := WriteHeadMark(s.opts.HeadFile, HeadMark{Seq: seq, Hash: sum, Written: time.Now()}); err != nil {
			s.logger.Error("cannot write the log's head mark; a log that comes back shorter would not be noticed", "err", err)
			return
		}
		written = seq
	}
	for {
		select {
		case <-s.markSignal:
		case <-s.done:
			write()
			return
		}
		write()
		select {
		case <-time.After(markEvery):
		case <-s.done:
			write()
			return
		}
	}
}

// noteCommitted tells the head mark's writer that the log grew.
func (s *Store) noteCommitted() {
	if s.markSignal == nil {
		return
	}
	select {
	case s.markSignal <- struct{}{}:
	default:
	}
}

// CompareHeadMark compares the log with its head mark without changing
// anything: nil if it still holds the marked entry with the marked hash
// (or there is no mark, or no HeadFile), else an error wrapping ErrDamaged
// that says how it differs. The log tools use it; Open with CheckHead does
// this and more.
func (s *Store) CompareHeadMark(ctx context.Context) error {
	if s.opts.HeadFile == "" {
		return nil
	}
	_, _, err := s.compareMark(ctx)
	return err
}

// compareMark is CompareHeadMark that also returns the mark (ok false if
// there is none) for checkHead.
func (s *Store) compareMark(ctx context.Context) (mark HeadMark, ok bool, err error) {
	dir := s.db.Opts().Dir
	damaged := func(format string, args ...any) error {
		return &eventlog.DamageError{What: "event log", Dir: dir, Reason: fmt.Sprintf(format, args...)}
	}
	mark, ok, err = ReadHeadMark(s.opts.HeadFile)
	if err != nil || !ok {
		return mark, ok, err
	}
	head, err := s.head(eventlog.Topic)
	if err != nil {
		return mark, ok, fmt.Errorf("read the log's head: %w", err)
	}
	if head < mark.Seq {
		return mark, ok, damaged("it ends at entry %d, but it held %d entries on %s (head mark %s): %d entries were lost",
			head, mark.Seq, mark.Written.UTC().Format(time.RFC3339), s.opts.HeadFile, mark.Seq-head)
	}
	if mark.Seq > 0 {
		e, err := s.ReadEntry(ctx, eventlog.Topic, mark.Seq)
		if err != nil {
			return mark, ok, damaged("entry %d, its head on %s, cannot be read: %v", mark.Seq, mark.Written.UTC().Format(time.RFC3339), err)
		}
		if e.Hash != mark.Hash {
			return mark, ok, damaged("entry %d's hash is %x, but it was %x when the log last wrote down its head (%s): the log was rewritten",
				mark.Seq, e.Hash, mark.Hash, s.opts.HeadFile)
		}
	}
	return mark, ok, nil
}

// checkHead compares the log with its head mark and verifies the entries
// appended after the mark: the log must still hold the marked entry with
// the marked hash, and the chain must go on from it to the head. Then it
// writes the mark at the head, now verified.
func (s *Store) checkHead(ctx context.Context) error {
	mark, ok, err := s.compareMark(ctx)
	if err != nil {
		return err
	}
	head, err := s.head(eventlog.Topic)
	if err != nil {
		return fmt.Errorf("read the log's head: %w", err)
	}
	if !ok {
		// A new log, or one from before head marks: nothing to compare yet.
		if head > 0 {
			s.logger.Info("the event log has no head mark yet; writing one", "head", head, "mark", s.opts.HeadFile)
		}
		return s.writeMarkAt(head)
	}
	if head > mark.Seq {
		rep, err := eventlog.VerifyFrom(ctx, s, eventlog.Topic, mark.Seq+1, mark.Hash, nil)
		if err != nil {
			return fmt.Errorf("verify the entries after the head mark (%d to %d): %w", mark.Seq+1, head, err)
		}
		if b := rep.Broken; b != nil {
			return &eventlog.DamageError{What: "event log", Dir: s.db.Opts().Dir, Reason: fmt.Sprintf("its hash chain breaks at entry %d: %s", b.Seq, b.Reason)}
		}
	}
	return s.writeMarkAt(head)
}

// writeMarkAt writes the mark for the committed head seq.
func (s *Store) writeMarkAt(seq uint64) error {
	var sum [eventlog.HashSize]byte
	if seq > 0 {
		var err error
		if sum, err = s.lastHash(eventlog.Topic, seq); err != nil {
			return fmt.Errorf("read the hash of entry %d: %w", seq, err)
		}
	}
	return WriteHeadMark(s.opts.HeadFile, HeadMark{Seq: seq, Hash: sum, Written: time.Now()})
}
