package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/service"
	"github.com/hookd/hookd/projections"
)

// rebuildMemoryLimit is the soft limit on Go's memory during an offline
// rebuild (GOMEMLIMIT overrides it). The rebuild's live heap stays near
// 100-130 MiB whatever the log's length; with the default GOGC the heap
// would grow to twice that between collections. With Badger's mapped
// files paged out as it goes, the whole process stays under 256 MiB
// (216 MiB measured at 1,000,000 entries).
const rebuildMemoryLimit = 200 << 20

// rebuild replays the log into fresh views beside the live ones and swaps
// them in when complete: a failure leaves the old views as they were. The
// server must be stopped: the data directory's lock says so clearly if it
// is not.
func rebuild(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envDefault(getenv, "HOOKD_DATA", "./data"), "data directory of a stopped server (env HOOKD_DATA)")
	server := fs.String("server", getenv("HOOKD_SERVER"), "a running hookd's base URL: rebuild its views online (env HOOKD_SERVER)")
	token := fs.String("token", "", "the API token, if the server requires one (env HOOKD_API_TOKEN)")
	var logCfg service.LogConfig
	if err := addLogFlags(fs, getenv, &logCfg); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if err := logCfg.Validate(); err != nil {
		return err
	}
	if !isFlagSet(fs, "token") {
		*token = getenv("HOOKD_API_TOKEN")
	}
	if *server != "" && !isFlagSet(fs, "data") {
		return rebuildOnline(ctx, *server, *token, stdout)
	}
	// This process does nothing else: a soft limit on Go's memory keeps the
	// garbage of the replay from doubling the heap (see rebuildMemoryLimit).
	if getenv("GOMEMLIMIT") == "" {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(rebuildMemoryLimit))
	}
	var store eventlog.Log
	if logCfg.NATS() {
		// The views of one process on the shared log, which is stopped.
		nl, err := service.OpenNATS(ctx, logCfg, nil)
		if err != nil {
			return err
		}
		store = nl
	} else {
		bl, err := openStoppedLog(*data)
		if err != nil {
			return err
		}
		// Views rebuilt from a log that lost entries would lose them too.
		if err := bl.CompareHeadMark(ctx); err != nil {
			bl.Close()
			return service.RefuseDamaged(err, *data)
		}
		store = bl
	}
	defer store.Close()
	_, viewsDir := service.DataDirs(*data)

	p := newProgress(stdout, "rebuild", "events", isTerminal(stdout), time.Now)
	var applied uint64
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	err := projections.RebuildViewsDir(ctx, viewsDir, store, logger, func(done, total uint64) {
		applied = done
		p.update(done, total)
	})
	p.end()
	if err != nil {
		return err
	}
	elapsed := time.Since(p.start)
	fmt.Fprintf(stdout, "rebuild: done, %d events in %s (%.0f events/s)\n", applied, elapsed.Round(time.Millisecond),
		float64(applied)/max(elapsed.Seconds(), 1e-9))
	return nil
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress reports how far a long job is, with its rate and ETA: on a
// terminal as one bar redrawn in place, otherwise as a plain line every
// half second (and at the end), such as
//
//	rebuild: 40960/100000 events (41%), 81920 events/s, ETA 1s
type progress struct {
	w           io.Writer
	label, unit string
	tty         bool
	now         func() time.Time
	start, last time.Time
	drawn       bool // the bar is on screen, its line not yet ended
}

// Redraw intervals.
const (
	progressLineEvery = 500 * time.Millisecond
	progressBarEvery  = 100 * time.Millisecond
	progressBarWidth  = 30
)

func newProgress(w io.Writer, label, unit string, tty bool, now func() time.Time) *progress {
	t := now()
	return &progress{w: w, label: label, unit: unit, tty: tty, now: now, start: t}
}

// update reports done of total; it prints only when due or at the end.
func (p *progress) update(done, total uint64) {
	t := p.now()
	every := progressLineEvery
	if p.tty {
		every = progressBarEvery
	}
	if done < total && !p.last.IsZero() && t.Sub(p.last) < every {
		return
	}
	p.last = t
	elapsed := t.Sub(p.start)
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	pct := 100 * float64(done) / float64(max(total, 1))
	eta := "?"
	switch {
	case done >= total:
		eta = "0s"
	case rate > 0:
		eta = (time.Duration(float64(total-done) / rate * float64(time.Second))).Round(time.Second).String()
	}
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %d/%d %s (%.0f%%), %.0f %s/s, ETA %s\n", p.label, done, total, p.unit, pct, rate, p.unit, eta)
		return
	}
	filled := int(float64(progressBarWidth) * float64(done) / float64(max(total, 1)))
	filled = min(max(filled, 0), progressBarWidth)
	bar := strings.Repeat("█", filled) + strings.Repeat("░", progressBarWidth-filled)
	// \r returns to the line's start, \x1b[K clears what a longer line left.
	fmt.Fprintf(p.w, "\r%s %s %3.0f%% %d/%d %s  %.0f %s/s  ETA %s\x1b[K", p.label, bar, pct, done, total, p.unit, rate, p.unit, eta)
	p.drawn = true
}

// end finishes the bar's line, so what follows starts on a new one.
func (p *progress) end() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
