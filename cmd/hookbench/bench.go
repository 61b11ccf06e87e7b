package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"
)

// bench runs the scenarios and collects their rows.
type bench struct {
	cfg     config
	log     io.Writer
	start   time.Time
	tmp     string
	recv    *receivers
	results []*result
	failed  []string

	rawFan, rawSingle *result // baselines of fan-out and single

	natsBin string // the nats-server binary, once known
	binDir  string // where hookbench built it, removed at the end
}

func newBench(cfg config, stderr io.Writer) *bench {
	return &bench{cfg: cfg, log: stderr}
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(b.log, "hookbench %6.1fs: %s\n", time.Since(b.start).Seconds(), fmt.Sprintf(format, a...))
}

// hookdEcho is where hookd's log goes with --hookd-verbose, else nil.
func (b *bench) hookdEcho() io.Writer {
	if b.cfg.hookdVerbose {
		return b.log
	}
	return nil
}

// needsNATS reports whether a scenario runs on JetStream.
func (b *bench) needsNATS() bool {
	return slices.Contains(b.cfg.logBackends, "nats") && (b.cfg.wants("fanout") || b.cfg.wants("single"))
}

func (b *bench) needsHookd() bool {
	for _, s := range []string{"fanout", "single", "latency", "isolation", "query", "restart"} {
		if b.cfg.wants(s) {
			return true
		}
	}
	return false
}

// run runs the scenarios, then removes its data; b.results holds the rows,
// also of a run that failed or was interrupted.
func (b *bench) run(ctx context.Context) error {
	b.start = time.Now()
	if b.needsHookd() {
		abs, err := filepath.Abs(b.cfg.hookd)
		if err == nil {
			b.cfg.hookd = abs
		}
		if fi, err := os.Stat(b.cfg.hookd); err != nil || fi.IsDir() {
			return fmt.Errorf("--hookd %s: not a hookd binary (build it with `make build`)", b.cfg.hookd)
		}
	}
	defer func() {
		if b.binDir != "" {
			os.RemoveAll(b.binDir)
		}
	}()
	if b.needsNATS() {
		// Before any scenario, so building it does not count in a timeout.
		if _, err := b.natsServerBin(ctx); err != nil {
			return err
		}
	}
	tmp, err := os.MkdirTemp(b.cfg.tmp, "hookbench-")
	if err != nil {
		return err
	}
	b.tmp = tmp
	if b.cfg.keep {
		defer b.logf("kept the data in %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	b.recv, err = startReceivers(b.cfg.hooks)
	if err != nil {
		return err
	}
	defer b.recv.close()
	b.logf("%d CPUs, GOMAXPROCS %d, data in %s, hookd %s", runtime.NumCPU(), runtime.GOMAXPROCS(0), tmp, b.cfg.hookd)

	// fan-out and single run once per log backend, each run with its own
	// --timeout (deliveryRuns); the step's cap covers them all.
	deliveryRuns := time.Duration(len(b.deliveryTargets("", "")))
	steps := []struct {
		name string
		want bool
		run  func(context.Context) ([]*result, error)
		runs time.Duration // --timeout applies to each
	}{
		{"raw", b.cfg.wants("raw") || b.cfg.wants("fanout") || b.cfg.wants("single"), b.raw, 1},
		{"fanout", b.cfg.wants("fanout"), b.fanout, deliveryRuns},
		{"single", b.cfg.wants("single"), b.single, deliveryRuns},
		{"latency", b.cfg.wants("latency"), b.latency, 1},
		{"isolation", b.cfg.wants("isolation"), b.isolation, 1},
		{"append", b.cfg.wants("append"), b.appendScenario, 1},
		{"rebuild", b.cfg.wants("rebuild"), b.rebuild, 1},
		{"query", b.cfg.wants("query"), b.query, 1},
		{"restart", b.cfg.wants("restart"), b.restart, 1},
	}
	for _, s := range steps {
		if !s.want {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		b.logf("== %s", s.name)
		sctx, cancel := context.WithTimeout(ctx, b.cfg.timeout*s.runs)
		rs, err := s.run(sctx)
		cancel()
		b.dropData()
		var rows []*result
		for _, r := range rs {
			if r != nil {
				rows = append(rows, r)
			}
		}
		if err != nil {
			b.logf("%s FAILED: %v", s.name, err)
			b.failed = append(b.failed, s.name)
			if len(rows) == 0 {
				rows = append(rows, &result{Scenario: s.name})
			}
			if !errors.As(err, new(notedError)) {
				rows[0].note("FAILED: %s", firstLine(err.Error()))
			}
		}
		b.results = append(b.results, rows...)
	}
	b.logf("done in %s", time.Since(b.start).Round(time.Second))
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted: %w", err)
	}
	if len(b.failed) > 0 {
		return fmt.Errorf("scenarios failed: %v", b.failed)
	}
	return nil
}

// scenarioDir makes a fresh directory for one scenario's data; it lasts
// until the scenario's end.
func (b *bench) scenarioDir(name string) (string, error) {
	return os.MkdirTemp(b.tmp, name+"-")
}

// dropData removes the finished scenario's data (its processes have
// exited), unless --keep-data.
func (b *bench) dropData() {
	if b.cfg.keep {
		return
	}
	entries, _ := os.ReadDir(b.tmp)
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(b.tmp, e.Name())); err != nil {
			b.logf("remove %s: %v", e.Name(), err)
		}
	}
}

// checkRun notes what went wrong in a run in r: failed sends, deliveries
// never received, duplicates, warnings and errors in the hookd processes'
// logs (nil ones are skipped).
func (b *bench) checkRun(r *result, procs ...*hookdProc) {
	if r.Errors > 0 {
		r.note("%d requests failed", r.Errors)
	}
	if r.Lost > 0 {
		r.note("%d deliveries never arrived", r.Lost)
	}
	if r.Duplicates > 0 {
		r.note("%d deliveries arrived more than once", r.Duplicates)
	}
	for i, p := range procs {
		if p == nil {
			continue
		}
		who := "hookd"
		if len(procs) > 1 {
			who = fmt.Sprintf("hookd process %d", i+1)
		}
		if n, lines := p.logProblems(); n > 0 {
			r.note("%s logged %d warnings/errors, first: %s", who, n, lines[0])
			for _, l := range lines {
				b.logf("%s: %s", who, l)
			}
		}
	}
}

// dirSize is the disk space the files under dir take.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += allocated(fi)
			}
		}
		return nil
	})
	return n
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
