package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
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

	steps := []struct {
		name string
		want bool
		run  func(context.Context) ([]*result, error)
	}{
		{"raw", b.cfg.wants("raw") || b.cfg.wants("fanout") || b.cfg.wants("single"), b.raw},
		{"fanout", b.cfg.wants("fanout"), b.fanout},
		{"single", b.cfg.wants("single"), b.single},
		{"latency", b.cfg.wants("latency"), b.latency},
		{"isolation", b.cfg.wants("isolation"), b.isolation},
		{"append", b.cfg.wants("append"), b.appendScenario},
		{"rebuild", b.cfg.wants("rebuild"), b.rebuild},
		{"query", b.cfg.wants("query"), b.query},
		{"restart", b.cfg.wants("restart"), b.restart},
	}
	for _, s := range steps {
		if !s.want {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		b.logf("== %s", s.name)
		sctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
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
			rows[0].note("FAILED: %s", firstLine(err.Error()))
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
// never received, duplicates, warnings and errors in hookd's log.
func (b *bench) checkRun(r *result, p *hookdProc) {
	if r.Errors > 0 {
		r.note("%d requests failed", r.Errors)
	}
	if r.Lost > 0 {
		r.note("%d deliveries never arrived", r.Lost)
	}
	if r.Duplicates > 0 {
		r.note("%d deliveries arrived more than once", r.Duplicates)
	}
	if p != nil {
		if n, lines := p.logProblems(); n > 0 {
			r.note("hookd logged %d warnings/errors, first: %s", n, lines[0])
			for _, l := range lines {
				b.logf("hookd: %s", l)
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
