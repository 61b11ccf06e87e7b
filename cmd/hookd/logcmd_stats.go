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
	LogBytes   int64 `json:"log_bytes"`
	ViewsBytes int64 `json:"views_bytes"`
	// ViewsCheckpoint is the last entry applied to the views; nil when
	// there are no views.
	ViewsCheckpoint *uint64 `json:"views_checkpoint,omitempty"`
}

// logStats counts the log's entries by event type, with its head, first
// and last times and the sizes of log/ and views/.
func logStats(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("log stats", flag.ContinueOnError)
	flags.SetOutput(stderr)
	data := flags.String("data", envDefault(getenv, "HOOKD_DATA", "./data"), "data directory (env HOOKD_DATA)")
	asJSON := flags.Bool("json", false, "print the report as JSON")
	if err := parseLogFlags(flags, args, stderr); err != nil {
		return err
	}
	store, err := openStoppedLog(*data)
	if err != nil {
		return err
	}
	defer store.Close()
	rep := logStatsReport{ByType: map[string]uint64{}}
	if rep.Head, err = store.Head(eventlog.Topic); err != nil {
		return err
	}
	r := store.NewReader(eventlog.Topic, 1)
	for r.Next(ctx) {
		e := r.Entry()
		if e.Seq > rep.Head {
			break
		}
		rep.Entries++
		rep.ByType[e.Name()]++
		t := e.Time.UTC()
		if rep.First == nil {
			rep.First = &t
		}
		rep.Last = &t
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("read the log after %d entries: %w", rep.Entries, err)
	}
	logDir, viewsDir := dataDirs(*data)
	if rep.LogBytes, err = diskUsage(logDir); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(viewsDir, "MANIFEST")); err == nil {
		if rep.ViewsBytes, err = diskUsage(viewsDir); err != nil {
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
	}

	if *asJSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	return printStats(stdout, *data, rep)
}

func printStats(w io.Writer, data string, rep logStatsReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "event log in %s\n", data)
	fmt.Fprintf(tw, "entries:\t%d\n", rep.Entries)
	fmt.Fprintf(tw, "head sequence:\t%d\n", rep.Head)
	if rep.First != nil {
		fmt.Fprintf(tw, "first entry:\t%s\n", rep.First.Format(time.RFC3339))
		fmt.Fprintf(tw, "last entry:\t%s (%s later)\n", rep.Last.Format(time.RFC3339), rep.Last.Sub(*rep.First).Round(time.Second))
	}
	fmt.Fprintf(tw, "log/ on disk:\t%s\n", humanBytes(rep.LogBytes))
	if rep.ViewsCheckpoint != nil {
		behind := ""
		if lag := rep.Head - min(rep.Head, *rep.ViewsCheckpoint); lag > 0 {
			behind = fmt.Sprintf(", %d entries behind the log (a server catches up at start)", lag)
		}
		fmt.Fprintf(tw, "views/ on disk:\t%s (applied up to %d%s)\n", humanBytes(rep.ViewsBytes), *rep.ViewsCheckpoint, behind)
	} else {
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
