package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/service"
	"github.com/hookd/hookd/projections"
)

// logStatsReport is what `hookd log stats` finds; --json prints it as is.
type logStatsReport struct {
	Entries uint64            `json:"entries"`
	Head    uint64            `json:"head"`
	ByType  map[string]uint64 `json:"by_type"` // by wire name, e.g. "delivery.attempted.v1"
	First   *time.Time        `json:"first_time,omitempty"`
	Last    *time.Time        `json:"last_time,omitempty"`
	// Bytes the directories take on disk (allocated blocks where the
	// system says, so Badger's sparse files count for what they hold).
	// Not known over --server: left out.
	LogBytes   *int64 `json:"log_bytes,omitempty"`
	ViewsBytes *int64 `json:"views_bytes,omitempty"`
	// ViewsCheckpoint is the last entry applied to the views; nil when
	// there are no views.
	ViewsCheckpoint *uint64 `json:"views_checkpoint,omitempty"`
}

// logStats counts the log's entries by event type, with its head, first
// and last times and the sizes of log/ and views/.
func logStats(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("log stats", flag.ContinueOnError)
	flags.SetOutput(stderr)
	src := addSourceFlags(flags, getenv)
	asJSON := flags.Bool("json", false, "print the report as JSON")
	if err := parseLogFlags(flags, args, stderr); err != nil {
		return err
	}
	if err := src.check(stderr); err != nil {
		return err
	}
	log, err := src.open(ctx)
	if err != nil {
		return err
	}
	defer log.close()
	rep := logStatsReport{ByType: map[string]uint64{}}
	if rep.Head, err = log.head(ctx); err != nil {
		return err
	}
	err = log.entries(ctx, 1, rep.Head, false, nil, nil, func(e eventlog.Entry, _ []byte) error {
		rep.Entries++
		rep.ByType[e.Name()]++
		t := e.Time.UTC()
		if rep.First == nil {
			rep.First = &t
		}
		rep.Last = &t
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the log after %d entries: %w", rep.Entries, err)
	}
	if l, local := log.(*localLog); local && l.data != "" {
		if err := localSizes(l.data, &rep); err != nil {
			return err
		}
	}

	if *asJSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	return printStats(stdout, log.where(), rep)
}

// localSizes sets the sizes of log/ and views/ and the views' checkpoint.
func localSizes(data string, rep *logStatsReport) error {
	logDir, viewsDir := service.DataDirs(data)
	logBytes, err := diskUsage(logDir)
	if err != nil {
		return err
	}
	var viewsBytes int64
	rep.LogBytes, rep.ViewsBytes = &logBytes, &viewsBytes
	if _, err := os.Stat(filepath.Join(viewsDir, "MANIFEST")); err != nil {
		return nil
	}
	if viewsBytes, err = diskUsage(viewsDir); err != nil {
		return err
	}
	views, err := projections.OpenViews(viewsDir, nil)
	if err != nil {
		return err
	}
	cp, err := views.Checkpoint()
	if cerr := views.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	rep.ViewsCheckpoint = &cp
	return nil
}

func printStats(w io.Writer, where string, rep logStatsReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if rep.LogBytes == nil {
		fmt.Fprintf(tw, "event log of %s\n", where)
	} else {
		fmt.Fprintf(tw, "event log in %s\n", where)
	}
	fmt.Fprintf(tw, "entries:\t%d\n", rep.Entries)
	fmt.Fprintf(tw, "head sequence:\t%d\n", rep.Head)
	if rep.First != nil {
		fmt.Fprintf(tw, "first entry:\t%s\n", rep.First.Format(time.RFC3339))
		fmt.Fprintf(tw, "last entry:\t%s (%s later)\n", rep.Last.Format(time.RFC3339), rep.Last.Sub(*rep.First).Round(time.Second))
	}
	switch {
	case rep.LogBytes == nil:
		fmt.Fprintf(tw, "on disk:\tnot known over --server (hookd log stats --data DIR on the server's machine says)\n")
	case rep.ViewsCheckpoint != nil:
		fmt.Fprintf(tw, "log/ on disk:\t%s\n", humanBytes(*rep.LogBytes))
		behind := ""
		if lag := rep.Head - min(rep.Head, *rep.ViewsCheckpoint); lag > 0 {
			behind = fmt.Sprintf(", %d entries behind the log (a server catches up at start)", lag)
		}
		fmt.Fprintf(tw, "views/ on disk:\t%s (applied up to %d%s)\n", humanBytes(*rep.ViewsBytes), *rep.ViewsCheckpoint, behind)
	default:
		fmt.Fprintf(tw, "log/ on disk:\t%s\n", humanBytes(*rep.LogBytes))
		fmt.Fprintf(tw, "views/:\tnone (hookd serve or hookd rebuild makes them)\n")
	}
	if len(rep.ByType) > 0 {
		fmt.Fprintf(tw, "by event type:\n")
		names := make([]string, 0, len(rep.ByType))
		for n := range rep.ByType {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			fmt.Fprintf(tw, "  %s\t%d\t(%.1f%%)\n", n, rep.ByType[n], 100*float64(rep.ByType[n])/float64(rep.Entries))
		}
	}
	return tw.Flush()
}

// diskUsage sums the bytes the regular files under dir take on disk.
func diskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += allocatedBytes(info)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", dir, err)
	}
	return total, nil
}

// humanBytes prints n in B, KiB, MiB or GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), -1
	for v >= unit && i < 3 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, []string{"KiB", "MiB", "GiB", "TiB"}[i])
}
