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
	"time"

	"github.com/hookd/hookd/eventlog"
)

const logUsage = `Usage:
  hookd log verify --data DIR                     walk the event log's hash chain and report the first broken link
  hookd log tail   --data DIR [--from N | -n N] [--follow]
                                                  print entries as JSON, one per line (default: the last 10)
  hookd log export --data DIR [--from N] [--to M] [--out FILE]
                                                  write entries N to M as JSON Lines, for audit and backup (default: all)
  hookd log import --data DIR [--in FILE] < export.jsonl
                                                  restore a whole export into a new, empty data directory,
                                                  checking every hash (the server needs the old secret.key too)
  hookd log stats  --data DIR [--json]            entries by event type, head, first and last time, sizes

They read the log of a stopped server (Badger lets one process open it).
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

// logVerify checks the hash chain of the log in <data>/log. The server
// must be stopped: the directory's lock says so clearly if it is not.
func logVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("log verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envDefault(getenv, "HOOKD_DATA", "./data"), "data directory (env HOOKD_DATA)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hookd log verify: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	store, err := openStoppedLog(*data)
	if err != nil {
		return err
	}
	defer store.Close()

	var last time.Time
	rep, err := store.Verify(ctx, eventlog.Topic, func(done, total uint64) {
		if time.Since(last) >= 500*time.Millisecond || done == total {
			last = time.Now()
			fmt.Fprintf(stdout, "log verify: %d/%d entries (%.0f%%)\n", done, total, 100*float64(done)/float64(max(total, 1)))
		}
	})
	if err != nil {
		return err
	}
	if b := rep.Broken; b != nil {
		fmt.Fprintf(stdout, "log verify: BROKEN at seq %d: %s\n", b.Seq, b.Reason)
		return errLogBroken
	}
	// An intact chain can still be shorter than the log once was.
	if err := store.CompareHeadMark(ctx); err != nil {
		fmt.Fprintf(stdout, "log verify: BROKEN: %v\n", err)
		return errLogBroken
	}
	fmt.Fprintf(stdout, "log verify: ok, %d entries, head %d, last hash %s\n", rep.Checked, rep.Head, hex.EncodeToString(rep.LastHash[:]))
	return nil
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
