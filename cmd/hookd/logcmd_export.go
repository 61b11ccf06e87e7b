package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
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
	src := addSourceFlags(fs, getenv)
	from := fs.Uint64("from", 1, "first sequence to export")
	to := fs.Uint64("to", 0, "last sequence to export (default: the head)")
	outPath := fs.String("out", "", "write to this file (created 0600, replaced only once complete) instead of stdout")
	if err := parseLogFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := src.check(stderr); err != nil {
		return err
	}
	if *from == 0 {
		*from = 1
	}
	if *to != 0 && *to < *from {
		fmt.Fprintf(stderr, "hookd log export: --to %d is before --from %d\n", *to, *from)
		return errUsage
	}
	log, err := src.open(ctx)
	if err != nil {
		return err
	}
	defer log.close()
	head, err := log.head(ctx)
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
	var done func(keep bool) error
	var partial string
	if *outPath != "" {
		removeStalePartials(*outPath, stderr)
		var f *os.File
		f, done, err = createAtomically(*outPath)
		if err != nil {
			return err
		}
		defer func() { _ = done(false) }()
		out, partial = f, f.Name()
	}
	w := bufio.NewWriterSize(out, 256<<10)
	n, lastHash, err := exportRange(ctx, log, *from, *to, w)
	if err == nil {
		err = w.Flush()
	}
	if err == nil && done != nil {
		err = done(true)
	}
	if err != nil {
		if done != nil {
			if rerr := done(false); rerr != nil {
				return fmt.Errorf("%w; and the partial file %s could not be removed (%w): delete it", err, partial, rerr)
			}
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted after %d entries: removed the partial file %s; %s was not written", n, partial, *outPath)
			}
			return fmt.Errorf("%w (removed the partial file %s; %s was not written)", err, partial, *outPath)
		}
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after %d entries: the output is incomplete", n)
		}
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
func exportRange(ctx context.Context, log logSource, from, to uint64, w io.Writer) (uint64, string, error) {
	if from > to {
		return 0, "", nil
	}
	want := from
	var prev [eventlog.HashSize]byte
	err := log.entries(ctx, from, to, false, nil, nil, func(e eventlog.Entry, line []byte) error {
		if e.Seq != want {
			return errExport{fmt.Errorf("entry %d is missing (the next is %d): run hookd log verify", want, e.Seq)}
		}
		if want > from && e.PrevHash != prev {
			return errExport{fmt.Errorf("entry %d does not link to entry %d: run hookd log verify", e.Seq, e.Seq-1)}
		}
		if _, err := w.Write(line); err != nil {
			return errExport{err}
		}
		prev = e.Hash
		want++
		return nil
	})
	if err != nil {
		var ee errExport
		switch {
		case errors.As(err, &ee):
			return want - from, "", ee.error
		case ctx.Err() != nil:
			return want - from, "", ctx.Err()
		}
		return want - from, "", fmt.Errorf("read entry %d: %w (hookd log verify says more)", want, err)
	}
	if want <= to {
		return want - from, "", fmt.Errorf("entries %d to %d are missing: run hookd log verify", want, to)
	}
	return want - from, hex.EncodeToString(prev[:]), nil
}

// errExport is an error of exportRange's own, not of reading.
type errExport struct{ error }

// partialPattern is the name of export's temporary files beside path,
// for os.CreateTemp and filepath.Glob.
func partialPattern(path string) string { return "." + filepath.Base(path) + ".partial-*" }

// removeStalePartials removes the temporary files that exports to path
// killed before they could clean up (SIGKILL, a crash) left beside it,
// and says so on stderr. A running export holds a lock on its file
// (where the platform has flock), and its file is left alone.
func removeStalePartials(path string, stderr io.Writer) {
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(path), partialPattern(path)))
	for _, p := range stale {
		if partialInUse(p) {
			fmt.Fprintf(stderr, "log export: %s belongs to an export of %s still running; left it\n", p, path)
			continue
		}
		if err := os.Remove(p); err != nil {
			fmt.Fprintf(stderr, "log export: %s is a partial file left by an export that did not finish, and could not be removed (%v): delete it\n", p, err)
			continue
		}
		fmt.Fprintf(stderr, "log export: removed %s, a partial file left by an export that did not finish\n", p)
	}
}

// createAtomically creates a temporary file beside path, locked against
// removeStalePartials; done(true) syncs it and renames it to path,
// done(false) removes it (after either, a no-op).
func createAtomically(path string) (*os.File, func(keep bool) error, error) {
	f, err := os.CreateTemp(filepath.Dir(path), partialPattern(path))
	if err != nil {
		return nil, nil, fmt.Errorf("create %s: %w", path, err)
	}
	if err := lockPartial(f); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return nil, nil, fmt.Errorf("lock %s: %w", f.Name(), err)
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
