package main

import (
	"bufio"
	"context"
	"errors"
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
	data := fs.String("data", envDefault(getenv, "HOOKD_DATA", "./data"), "data directory (env HOOKD_DATA)")
	from := fs.Uint64("from", 0, "first sequence to print (default: the last -n entries)")
	last := fs.Int("n", 10, "how many of the last entries to print when --from is not given")
	follow := fs.Bool("follow", false, "after the head, wait for new entries and print them until interrupted")
	if err := parseLogFlags(fs, args, stderr); err != nil {
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
	store, err := openStoppedLog(*data)
	if err != nil {
		return err
	}
	defer store.Close()
	start := *from
	if !set["from"] {
		head, err := store.Head(eventlog.Topic)
		if err != nil {
			return err
		}
		start = head - min(head, uint64(*last)) + 1
	}
	var notify func()
	if *follow {
		notify = func() {
			fmt.Fprintf(stderr, "hookd log tail: at the head; following until interrupted (while this runs, hookd serve cannot open %s)\n", *data)
		}
	}
	return tailEntries(ctx, store, start, *follow, stdout, notify)
}

// tailEntries writes the entries from seq from to the head; with follow it
// then waits for entries appended to store and writes each as it comes,
// until ctx ends (a clean stop) or the store closes. atHead, if not nil, is
// called once when the first pass reaches the head.
func tailEntries(ctx context.Context, store *eventlog.Store, from uint64, follow bool, out io.Writer, atHead func()) error {
	w := bufio.NewWriter(out)
	defer w.Flush()
	next := max(from, 1)
	for first := true; ; first = false {
		r := store.NewReader(eventlog.Topic, next)
		for r.Next(ctx) {
			e := r.Entry()
			if err := writeEntry(w, e); err != nil {
				return err
			}
			next = e.Seq + 1
		}
		if err := r.Err(); err != nil {
			if follow && errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		if !follow {
			return nil
		}
		if first && atHead != nil {
			atHead()
		}
		if err := store.WaitFor(ctx, eventlog.Topic, next-1); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}
