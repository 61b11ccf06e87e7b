package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hookd/hookd/eventlog"
)

// logExport writes entries --from to --to as JSON Lines to stdout or
// --out, streaming them from the log a batch at a time. It checks that
// each entry follows the one before (sequence and hash link) as it goes;
// `hookd log verify` checks the hashes themselves.
func logExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("log export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envDefault(getenv, "HOOKD_DATA", "./data"), "data directory (env HOOKD_DATA)")
	from := fs.Uint64("from", 1, "first sequence to export")
	to := fs.Uint64("to", 0, "last sequence to export (default: the head)")
	outPath := fs.String("out", "", "write to this file (created 0600, replaced only once complete) instead of stdout")
	if err := parseLogFlags(fs, args, stderr); err != nil {
		return err
	}
	if *from == 0 {
		*from = 1
	}
	if *to != 0 && *to < *from {
		fmt.Fprintf(stderr, "hookd log export: --to %d is before --from %d\n", *to, *from)
		return errUsage
	}
	store, err := openStoppedLog(*data)
	if err != nil {
		return err
	}
	defer store.Close()
	head, err := store.Head(eventlog.Topic)
	if err != nil {
		return err
	}
	if *to == 0 {
		*to = head
	}
	if *to > head {
		return fmt.Errorf("--to %d is past the log's head, %d", *to, head)
	}

	var out io.Writer = stdout
	var commit func() error
	if *outPath != "" {
		f, done, err := createAtomically(*outPath)
		if err != nil {
			return err
		}
		defer func() { _ = done(false) }()
		out, commit = f, func() error { return done(true) }
	}
	w := bufio.NewWriterSize(out, 256<<10)
	n, lastHash, err := exportRange(ctx, store, *from, *to, w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil && commit != nil {
		err = commit()
	}
	if err != nil {
		return err
	}
	where := "stdout"
	if *outPath != "" {
		where = *outPath
	}
	if n == 0 {
		fmt.Fprintf(stderr, "log export: 0 entries (the log's head is %d) to %s\n", head, where)
		return nil
	}
	fmt.Fprintf(stderr, "log export: %d entries, seq %d to %d, last hash %s, to %s\n", n, *from, *to, lastHash, where)
	return nil
}

// exportRange writes entries from to to, checking that each follows the
// one before it, and returns how many it wrote and the last one's hash.
func exportRange(ctx context.Context, store *eventlog.Store, from, to uint64, w io.Writer) (uint64, string, error) {
	if from > to {
		return 0, "", nil
	}
	r := store.NewReader(eventlog.Topic, from)
	want := from
	var prev [eventlog.HashSize]byte
	for want <= to && r.Next(ctx) {
		e := r.Entry()
		if e.Seq != want {
			return want - from, "", fmt.Errorf("entry %d is missing (the next is %d): run hookd log verify", want, e.Seq)
		}
		if want > from && e.PrevHash != prev {
			return want - from, "", fmt.Errorf("entry %d does not link to entry %d: run hookd log verify", e.Seq, e.Seq-1)
		}
		if err := writeEntry(w, e); err != nil {
			return want - from, "", err
		}
		prev = e.Hash
		want++
	}
	if err := r.Err(); err != nil {
		return want - from, "", fmt.Errorf("read entry %d: %w (hookd log verify says more)", want, err)
	}
	if want <= to {
		return want - from, "", fmt.Errorf("entries %d to %d are missing: run hookd log verify", want, to)
	}
	return want - from, hex.EncodeToString(prev[:]), nil
}

// createAtomically creates a temporary file beside path; done(true) syncs
// it and renames it to path, done(false) removes it (after done(true), a
// no-op).
func createAtomically(path string) (io.Writer, func(keep bool) error, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", path, err)
	}
	finished := false
	done := func(keep bool) error {
		if finished {
			return nil
		}
		finished = true
		if !keep {
			_ = f.Close()
			return os.Remove(f.Name())
		}
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), path)
		}
		if err != nil {
			_ = os.Remove(f.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	return f, done, nil
}
