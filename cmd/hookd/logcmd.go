package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/service"
)

const logUsage = `Usage:
  hookd log verify [SOURCE] [--expect SEQ:HASH]   walk the event log's hash chain and report the first broken link;
                                                  --expect: fail unless the log still holds that entry with that hash
  hookd log tail   [SOURCE] [--from N | -n N] [--follow]
                                                  print entries as JSON, one per line (default: the last 10)
  hookd log export [SOURCE] [--from N] [--to M] [--out FILE]
                                                  write entries N to M as JSON Lines, for audit and backup (default: all)
  hookd log stats  [SOURCE] [--json]              entries by event type, head, first and last time, sizes
  hookd log import --data DIR [--in FILE] < export.jsonl
                                                  restore a whole export into a new, empty data directory,
                                                  checking every hash (the server needs the old secret.key too)

SOURCE is where the log is read:
  --server URL [--token T]   a running hookd, through its API (env HOOKD_SERVER, HOOKD_API_TOKEN)
  --data DIR                 the data directory of a stopped server (env HOOKD_DATA; default ./data,
                             unless HOOKD_SERVER is set); Badger lets one process open it
Exit status: 0 done (verify: intact), 1 broken or not readable, 2 bad usage.
`

// errLogBroken is returned by logVerify when the chain is broken, after
// it has said where.
var errLogBroken = errors.New("the event log's hash chain is broken")

// logCommand runs "hookd log SUBCOMMAND" and returns the exit code.
func logCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, logUsage)
		return 2
	}
	var err error
	switch args[0] {
	case "verify":
		err = logVerify(ctx, args[1:], getenv, stdout, stderr)
	case "tail":
		err = logTail(ctx, args[1:], getenv, stdout, stderr)
	case "export":
		err = logExport(ctx, args[1:], getenv, stdout, stderr)
	case "import":
		err = logImport(ctx, args[1:], getenv, os.Stdin, stdout, stderr)
	case "stats":
		err = logStats(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, logUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "hookd log: unknown command %q\n\n%s", args[0], logUsage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case err == errUsage:
		return 2
	case errors.Is(err, errLogBroken):
		return 1
	default:
		fmt.Fprintf(stderr, "hookd log %s: %v\n", args[0], err)
		return 1
	}
}

// logVerify checks the hash chain of the log: in <data>/log, whose
// server must be stopped (the directory's lock says so clearly if it is
// not), or that a running --server streams, recomputing every hash from
// the entries' fields. With --expect SEQ:HASH, it also fails unless the
// log still holds entry SEQ with that hash.
func logVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("log verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := addSourceFlags(fs, getenv)
	expectFlag := fs.String("expect", "", "SEQ:HASH, the head and last hash a previous verify printed: fail unless the log still holds that entry with that hash")
	if err := parseLogFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := src.check(stderr); err != nil {
		return err
	}
	var expect *expectedEntry
	if *expectFlag != "" {
		e, err := parseExpect(*expectFlag)
		if err != nil {
			fmt.Fprintf(stderr, "hookd log verify: --expect %q: %v\n", *expectFlag, err)
			return errUsage
		}
		expect = &e
	}
	var last time.Time
	progress := func(done, total uint64) {
		if time.Since(last) >= 500*time.Millisecond || done == total {
			last = time.Now()
			fmt.Fprintf(stdout, "log verify: %d/%d entries (%.0f%%)\n", done, total, 100*float64(done)/float64(max(total, 1)))
		}
	}
	remote, err := src.remote()
	if err != nil {
		return err
	}
	var rep eventlog.VerifyReport
	var hashAt func(seq uint64) ([eventlog.HashSize]byte, error)
	if remote != nil {
		defer remote.close()
		var seen [eventlog.HashSize]byte
		if rep, err = verifyRemote(ctx, remote, expect, &seen, progress); err != nil {
			return err
		}
		hashAt = func(uint64) ([eventlog.HashSize]byte, error) { return seen, nil }
	} else if src.log.NATS() {
		// The stream is the log's only copy: no head mark to compare.
		nl, err := service.OpenNATS(ctx, src.log, nil)
		if err != nil {
			return err
		}
		defer nl.Close()
		if rep, err = eventlog.Verify(ctx, nl, eventlog.Topic, progress); err != nil {
			return err
		}
		hashAt = func(seq uint64) ([eventlog.HashSize]byte, error) {
			e, err := nl.ReadEntry(ctx, eventlog.Topic, seq)
			return e.Hash, err
		}
	} else {
		store, err := openStoppedLog(*src.data)
		if err != nil {
			return err
		}
		defer store.Close()
		if rep, err = eventlog.Verify(ctx, store, eventlog.Topic, progress); err != nil {
			return err
		}
		if rep.Broken == nil {
			// An intact chain can still be shorter than the log once was.
			if err := store.CompareHeadMark(ctx); err != nil {
				fmt.Fprintf(stdout, "log verify: BROKEN: %v\n", err)
				return errLogBroken
			}
		}
		hashAt = func(seq uint64) ([eventlog.HashSize]byte, error) {
			e, err := store.ReadEntry(ctx, eventlog.Topic, seq)
			return e.Hash, err
		}
	}
	if b := rep.Broken; b != nil {
		fmt.Fprintf(stdout, "log verify: BROKEN at seq %d: %s\n", b.Seq, b.Reason)
		return errLogBroken
	}
	if expect != nil {
		if expect.seq > rep.Head {
			fmt.Fprintf(stdout, "log verify: BROKEN: --expect %s: the log's head is %d, so it no longer holds entry %d: "+
				"entries were removed from its end (or this is another log)\n", expect, rep.Head, expect.seq)
			return errLogBroken
		}
		got, err := hashAt(expect.seq)
		if err != nil {
			return err
		}
		if got != expect.hash {
			fmt.Fprintf(stdout, "log verify: BROKEN: --expect %s: entry %d's hash is %x: the history up to it was rewritten (or this is another log)\n",
				expect, expect.seq, got)
			return errLogBroken
		}
	}
	fmt.Fprintf(stdout, "log verify: ok, %d entries, head %d, last hash %s\n", rep.Checked, rep.Head, hex.EncodeToString(rep.LastHash[:]))
	if expect != nil {
		fmt.Fprintf(stdout, "log verify: entry %d still has the expected hash\n", expect.seq)
	}
	if rep.Head > 0 {
		fmt.Fprintf(stdout, "log verify: keep this elsewhere, and check it next time: --expect %d:%s\n", rep.Head, hex.EncodeToString(rep.LastHash[:]))
	}
	return nil
}

// expectedEntry is --expect SEQ:HASH.
type expectedEntry struct {
	seq  uint64
	hash [eventlog.HashSize]byte
}

func (e *expectedEntry) String() string { return fmt.Sprintf("%d:%x", e.seq, e.hash) }

func parseExpect(s string) (expectedEntry, error) {
	var e expectedEntry
	seq, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || n == 0 {
		return e, fmt.Errorf("want SEQ:HASH, such as 42:%s (the head and last hash a previous verify printed)", strings.Repeat("ab", eventlog.HashSize))
	}
	raw, err := hex.DecodeString(hash)
	if err != nil || len(raw) != eventlog.HashSize {
		return e, fmt.Errorf("the hash must be %d hex digits", 2*eventlog.HashSize)
	}
	e.seq = n
	copy(e.hash[:], raw)
	return e, nil
}

// verifyRemote walks the log a server streams from entry 1 to the head
// it has when asked, recomputing each entry's hash from its fields and
// checking each link (eventlog.ChainChecker): nothing the server says
// about the chain is trusted. It sets *seen to the hash of entry
// expect.seq, if expect is set and the entry comes.
func verifyRemote(ctx context.Context, r *remoteLog, expect *expectedEntry, seen *[eventlog.HashSize]byte,
	progress func(done, total uint64)) (eventlog.VerifyReport, error) {
	rep := eventlog.VerifyReport{Topic: eventlog.Topic}
	head, err := r.head(ctx)
	if err != nil {
		return rep, err
	}
	rep.Head = head
	chain := eventlog.NewChainChecker(1, [eventlog.HashSize]byte{})
	err = r.entries(ctx, 1, head, false, nil, nil, func(e eventlog.Entry, _ []byte) error {
		if err := chain.Check(e); err != nil {
			return err
		}
		if expect != nil && e.Seq == expect.seq {
			*seen = e.Hash
		}
		rep.Checked++
		rep.LastHash = e.Hash
		if rep.Checked%4096 == 0 {
			progress(rep.Checked, head)
		}
		return nil
	})
	var broken *eventlog.BrokenLink
	switch {
	case errors.As(err, &broken):
		rep.Broken = broken
		return rep, nil
	case err != nil:
		return rep, err
	}
	if next := chain.Next(); next <= head {
		rep.Broken = &eventlog.BrokenLink{Seq: next, Kind: eventlog.BreakGap,
			Reason: fmt.Sprintf("%s: entries %d to %d are missing from the server's stream (the head is %d)", eventlog.BreakGap, next, head, head)}
		return rep, nil
	}
	progress(rep.Checked, head)
	return rep, nil
}

// requireLog fails unless logDir holds a Badger database, so verifying a
// mistyped directory says so instead of creating an empty log there.
func requireLog(data, logDir string) error {
	if _, err := os.Stat(filepath.Join(logDir, "MANIFEST")); err == nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(data, "MANIFEST")); err == nil {
		return fmt.Errorf("no event log in %s: it looks like the log directory itself; pass the data directory above it (--data %s)",
			data, filepath.Dir(filepath.Clean(data)))
	}
	if _, err := os.Stat(data); err != nil {
		return fmt.Errorf("no event log in %s: %w", data, err)
	}
	return fmt.Errorf("no event log in %s: %s holds no log (is --data the directory hookd serve used?)", data, logDir)
}
