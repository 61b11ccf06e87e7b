package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/projections"
)

// rebuild drops the views and replays the log into them. The server must
// be stopped: the data directory's lock says so clearly if it is not.
func rebuild(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envDefault(getenv, "HOOKD_DATA", "./data"), "data directory (env HOOKD_DATA)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	logDir, viewsDir := dataDirs(*data)
	if _, err := os.Stat(logDir); err != nil {
		return fmt.Errorf("no event log in %s: %w", *data, err)
	}
	store, err := eventlog.Open(logDir, eventlog.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	views, err := projections.OpenViews(viewsDir, nil)
	if err != nil {
		return err
	}
	defer views.Close()

	start := time.Now()
	last := time.Time{}
	var applied uint64
	err = projections.Rebuild(ctx, store, views, func(done, total uint64) {
		applied = done
		if time.Since(last) >= 500*time.Millisecond || done == total {
			last = time.Now()
			fmt.Fprintf(stdout, "rebuild: %d/%d events (%.0f%%)\n", done, total, 100*float64(done)/float64(max(total, 1)))
		}
	})
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintf(stdout, "rebuild: done, %d events in %s (%.0f events/s)\n", applied, elapsed.Round(time.Millisecond),
		float64(applied)/max(elapsed.Seconds(), 1e-9))
	return nil
}
