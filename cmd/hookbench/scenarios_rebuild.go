package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/projections"
)

// rebuild generates a log of --rebuild-events events and times
// projections.Rebuild into fresh views, against a raw iteration of the same
// log that decodes every entry (store.NewReader and eventlog.DecodeEntry);
// then `hookd rebuild` on the same data, with its peak RSS.
func (b *bench) rebuild(ctx context.Context) ([]*result, error) {
	r := &result{Scenario: "rebuild", Unit: "events/s", PeakRSSOf: "hookbench"}
	dir, err := b.scenarioDir("rebuild")
	if err != nil {
		return []*result{r}, err
	}
	logDir := filepath.Join(dir, "log")
	store, err := badgerlog.Open(logDir, badgerlog.Options{})
	if err != nil {
		return []*result{r}, err
	}
	defer store.Close()
	spec := genSpec{apps: 50, hooksPerApp: 4, events: b.cfg.rebuildEvents, secretEvery: 2, requests: b.cfg.logRequests}
	gen, took, err := b.generate(ctx, store, spec)
	if err != nil {
		return []*result{r}, err
	}
	gen.describe(r)
	r.extra("generate_seconds", took.Seconds())
	r.extra("log_bytes", dirSize(logDir))

	b.logf("rebuild: baseline, raw iteration decoding %d entries", gen.events)
	mem := selfPeak()
	start := time.Now()
	var n int64
	rd := eventlog.NewReader(store, eventlog.Topic, 1)
	for rd.Next(ctx) {
		if _, err := eventlog.DecodeEntry(rd.Entry()); err != nil {
			mem.finish()
			return []*result{r}, fmt.Errorf("raw iteration: %w", err)
		}
		n++
	}
	baseHWM, baseAnon := mem.selfPeaks()
	if err := rd.Err(); err != nil {
		return []*result{r}, fmt.Errorf("raw iteration: %w", err)
	}
	r.Baseline, r.BaselineName = rate(n, time.Since(start)), "Reader + DecodeEntry"
	r.extra("baseline_peak_rss_bytes", baseHWM)
	r.extra("baseline_peak_rss_anon_bytes", baseAnon)
	b.logf("rebuild: raw iteration %.0f events/s", r.Baseline)

	mem = selfPeak()
	views, err := projections.OpenViews(filepath.Join(dir, "views"), nil)
	if err != nil {
		mem.finish()
		return []*result{r}, err
	}
	start = time.Now()
	err = projections.Rebuild(ctx, store, views, nil)
	elapsed := time.Since(start)
	r.PeakRSS, r.PeakAnon = mem.selfPeaks()
	if cerr := views.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return []*result{r}, err
	}
	r.Count, r.Seconds = int64(gen.events), elapsed.Seconds()
	r.Value = rate(r.Count, elapsed)
	r.setRatio()
	r.extra("views_bytes", dirSize(filepath.Join(dir, "views")))
	b.logf("rebuild: %.0f events/s (%d events in %s); ratio %.0f%%", r.Value, r.Count, elapsed.Round(time.Millisecond), 100*r.Ratio)
	if err := store.Close(); err != nil {
		return []*result{r}, err
	}
	return []*result{r}, b.hookdRebuild(ctx, r, dir, gen.events)
}

// hookdRebuild times `hookd rebuild` on the scenario's data directory (its
// log, and the views just built, which it rebuilds beside and replaces),
// with the process's peak RSS: the bound the command promises.
func (b *bench) hookdRebuild(ctx context.Context, r *result, dir string, events int) error {
	b.logf("rebuild: hookd rebuild of %d events", events)
	start := time.Now()
	_, rss, anon, err := runHookd(ctx, b.cfg.hookd, "rebuild", "--data", dir)
	if err != nil {
		return err
	}
	took := time.Since(start)
	r.extra("hookd_rebuild_events_per_s", rate(int64(events), took))
	r.extra("hookd_rebuild_peak_rss_bytes", rss)
	r.extra("hookd_rebuild_peak_rss_anon_bytes", anon)
	b.logf("rebuild: hookd rebuild %.0f events/s, peak RSS %.0f MiB (anon %.0f MiB)", rate(int64(events), took), float64(rss)/(1<<20), float64(anon)/(1<<20))
	return nil
}

// generate writes spec's history to store, logging progress.
func (b *bench) generate(ctx context.Context, store *badgerlog.Store, spec genSpec) (genLog, time.Duration, error) {
	b.logf("generating %d events (%d apps × %d hooks)", spec.events, spec.apps, spec.hooksPerApp)
	start := time.Now()
	last := start
	gen, err := generateLog(ctx, store, spec, func(done int) {
		if time.Since(last) >= 5*time.Second {
			last = time.Now()
			b.logf("generated %d/%d events", done, spec.events)
		}
	})
	took := time.Since(start)
	if err == nil {
		b.logf("generated %d events in %s (%.0f/s)", gen.events, took.Round(time.Millisecond), rate(int64(gen.events), took))
	}
	return gen, took, err
}
