package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/hookd/hookd/eventlog"
)

// logTail prints log entries as JSON, one per line: from --from, or the
// last -n, to the head; with --follow it then waits for more.
func logTail(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("log tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := addSourceFlags(fs, getenv)
	from := fs.Uint64("from", 0, "first sequence to print (default: the last -n entries)")
	last := fs.Int("n", 10, "how many of the last entries to print when --from is not given")
	follow := fs.Bool("follow", false, "after the head, wait for new entries and print them until interrupted")
	if err := parseLogFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := src.check(stderr); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["from"] && set["n"] {
		fmt.Fprintln(stderr, "hookd log tail: give --from or -n, not both")
		return errUsage
	}
	if *last < 0 {
		fmt.Fprintln(stderr, "hookd log tail: -n must not be negative")
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
	start := *from
	if !set["from"] {
		start = head - min(head, uint64(*last)) + 1
	}
	var notify func()
	if *follow {
		notify = func() {
			if l, local := log.(*localLog); local && l.data != "" {
				fmt.Fprintf(stderr, "hookd log tail: at the head; following until interrupted (while this runs, hookd serve cannot open %s)\n", log.where())
				return
			}
			fmt.Fprintf(stderr, "hookd log tail: at the head; following %s until interrupted\n", log.where())
		}
	}
	return tailEntries(ctx, log, start, head, *follow, stdout, notify)
}

// tailEntries writes the entries from seq from to head; with follow it
// then goes on with the entries appended later, each as it comes, until
// ctx ends (a clean stop) or the log goes away. atHead, if not nil, is
// called once when it reaches the head.
func tailEntries(ctx context.Context, log logSource, from, head uint64, follow bool, out io.Writer, atHead func()) error {
	w := bufio.NewWriter(out)
	defer w.Flush()
	err := log.entries(ctx, max(from, 1), head, follow, atHead, w.Flush, func(_ eventlog.Entry, line []byte) error {
		_, err := w.Write(line)
		return err
	})
	if err != nil {
		return err
	}
	return w.Flush()
}
