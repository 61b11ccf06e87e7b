package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sendConcurrency is how many deliveries hookd may send at once to hooks
// spread over n receivers: --max-in-flight, but no more than --max-per-host
// for each receiver. The raw baseline gets the same.
func (b *bench) sendConcurrency(n int) int {
	return min(b.cfg.maxInFlight, n*b.cfg.maxPerHost)
}

// raw measures the machine's limit: a plain client POSTs the bodies hookd
// would send straight to the receivers, with hookd's send concurrency.
func (b *bench) raw(ctx context.Context) ([]*result, error) {
	var out []*result
	if b.cfg.wants("raw") || b.cfg.wants("fanout") {
		r, err := b.rawRun(ctx, fmt.Sprintf("raw ×%d receivers", b.cfg.hooks), b.recv.urls[:b.cfg.hooks])
		out = append(out, r)
		if err != nil {
			return out, err
		}
		b.rawFan = r
	}
	if b.cfg.wants("raw") || b.cfg.wants("single") {
		r, err := b.rawRun(ctx, "raw ×1 receiver", b.recv.urls[:1])
		out = append(out, r)
		if err != nil {
			return out, err
		}
		b.rawSingle = r
	}
	return out, nil
}

func (b *bench) rawRun(ctx context.Context, name string, targets []string) (*result, error) {
	n, h := b.cfg.events, len(targets)
	conc := b.sendConcurrency(h)
	total := n * h
	b.logf("%s: %d POSTs (%d bodies × %d receivers), concurrency %d", name, total, n, h, conc)
	mem := selfPeak()
	client := newClient(conc)
	defer closeClient(client)
	prefix := "raw-" + runID()
	t := newTally(byWebhookID, total)
	b.recv.track(t)
	defer b.recv.track(nil)

	var errs errorCount
	lat := make([][]time.Duration, conc)
	bufs := make([][]byte, conc)
	start := time.Now()
	parallel(ctx, total, conc, func(k, w int) {
		i, j := k/h, k%h
		bufs[w] = buildBody(bufs[w][:0], "bench-raw", slugOf(prefix, i), i)
		t0 := time.Now()
		err := postDelivery(ctx, client, targets[j]+"/hook/"+strconv.Itoa(j), "bench-raw", prefix+"-"+strconv.Itoa(k), bufs[w])
		lat[w] = append(lat[w], time.Since(t0))
		if err != nil {
			errs.add(err)
		}
	})
	complete := t.wait(ctx, b.cfg.stall)
	elapsed := t.lastAt().Sub(start)
	r := &result{Scenario: name, Unit: "POST/s", Concurrency: conc, Count: t.got.Load(), Seconds: elapsed.Seconds(),
		Errors: errs.n.Load(), Lost: int64(total) - t.got.Load(), Duplicates: t.dups.Load(),
		PeakRSSOf: "hookbench"}
	r.PeakRSS, r.PeakAnon = mem.selfPeaks()
	r.Baseline = rate(r.Count, elapsed)
	r.BaselineName = "plain client"
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	r.P50, r.P99, r.P999 = percentiles(all)
	b.checkRun(r, nil)
	b.logf("%s: %.0f POST/s", name, r.Baseline)
	if !complete && ctx.Err() != nil {
		return r, ctx.Err()
	}
	if err := errs.firstErr(); err != nil {
		b.logf("%s: first error: %v", name, err)
	}
	return r, nil
}

func (b *bench) fanout(ctx context.Context) ([]*result, error) {
	return b.deliveryRuns(ctx, "fan-out", "fanout", b.cfg.hooks, b.rawFan)
}

func (b *bench) single(ctx context.Context) ([]*result, error) {
	return b.deliveryRuns(ctx, "single", "single", 1, b.rawSingle)
}

// deliveryRuns runs a delivery scenario on each log backend asked for
// (--log-backends, --nats-processes), one row each, each run with its own
// --timeout; a run that fails is noted in its row and the next one runs.
func (b *bench) deliveryRuns(ctx context.Context, name, dirName string, hooks int, raw *result) ([]*result, error) {
	var out []*result
	var errs []error
	for _, tg := range b.deliveryTargets(name, dirName) {
		if ctx.Err() != nil {
			break
		}
		rctx, cancel := context.WithTimeout(ctx, b.cfg.timeout)
		r, err := b.deliveryRun(rctx, tg, hooks, raw)
		cancel()
		b.dropData()
		out = append(out, r)
		if err != nil {
			b.logf("%s FAILED: %v", tg.name, err)
			r.note("FAILED: %s", firstLine(err.Error()))
			errs = append(errs, fmt.Errorf("%s: %w", tg.name, err))
		}
	}
	if len(errs) > 0 {
		return out, notedError{errors.Join(errs...)}
	}
	return out, nil
}

// notedError is a scenario's error already noted in the rows it concerns.
type notedError struct{ error }

func (e notedError) Unwrap() error { return e.error }

// hookdServe starts hookd serve on a fresh data directory with the
// configured send limits and the extra flags.
func (b *bench) hookdServe(ctx context.Context, name string, extra ...string) (*hookdProc, error) {
	dir, err := b.scenarioDir(name)
	if err != nil {
		return nil, err
	}
	return startServe(ctx, b.cfg.hookd, dir, b.hookdEcho(), append([]string{
		"--max-in-flight", strconv.Itoa(b.cfg.maxInFlight), "--max-per-host", strconv.Itoa(b.cfg.maxPerHost)}, extra...)...)
}

// deliveryRun starts tg's hookd processes (and nats-server), sends
// --events build events for an app with the given number of hooks, each
// on its own receiver, spread round-robin over the processes' APIs, and
// measures deliveries per second from the first send to the last receipt.
// Hooks are made through the first process; the run starts once every
// process serves them. Receipts are counted once per Webhook-Id, so a
// delivery received twice is a duplicate.
func (b *bench) deliveryRun(ctx context.Context, tg deliveryTarget, hooks int, raw *result) (*result, error) {
	name := tg.name
	n := b.cfg.events
	total := n * hooks
	r := &result{Scenario: name, Unit: "deliveries/s", Concurrency: tg.procs * b.sendConcurrency(hooks), PeakRSSOf: "hookd", once: true}
	f, err := tg.start(ctx)
	if err != nil {
		return r, err
	}
	defer f.kill()
	client := newClient(b.cfg.senders)
	defer closeClient(client)
	app := "bench-" + dirNameOf(strings.ToLower(name)) // "bench-fan-out", as before, on the embedded log
	first := f.procs[0]
	slugs := make([]string, hooks)
	for j := range hooks {
		if slugs[j], err = createHook(ctx, client, first.base, app, b.recv.urls[j]+"/hook/"+strconv.Itoa(j)); err != nil {
			return r, err
		}
	}
	if len(f.procs) > 1 {
		if err := f.waitHooksServed(ctx, client, app, slugs, b.cfg.stall); err != nil {
			return r, err
		}
	}
	b.logf("%s: %d build events × %d hooks = %d deliveries, %d senders, %s", name, n, hooks, total, b.cfg.senders, f.pids())
	prefix := dirNameOf(name) + "-" + runID()
	t := newTally(byWebhookID, total)
	b.recv.track(t)
	defer b.recv.track(nil)

	var errs errorCount
	acks := make([][]time.Duration, b.cfg.senders)
	bufs := make([][]byte, b.cfg.senders)
	start := time.Now()
	parallel(ctx, n, b.cfg.senders, func(i, w int) {
		t0 := time.Now()
		if err := postBuildEvent(ctx, client, f.procs[i%len(f.procs)].base, app, slugOf(prefix, i), i, &bufs[w]); err != nil {
			errs.add(err)
			return
		}
		acks[w] = append(acks[w], time.Since(t0))
	})
	sent := time.Since(start)
	b.logf("%s: %d build events accepted in %s (%.0f/s), %d failed; waiting for deliveries", name, int64(n)-errs.n.Load(),
		sent.Round(time.Millisecond), rate(int64(n)-errs.n.Load(), sent), errs.n.Load())
	if err := errs.firstErr(); err != nil {
		b.logf("%s: first failed build event: %v", name, err)
	}
	complete := t.wait(ctx, b.cfg.stall)
	elapsed := t.lastAt().Sub(start)

	r.Count, r.Seconds, r.Errors = t.got.Load(), elapsed.Seconds(), errs.n.Load()
	r.Lost, r.Duplicates = int64(total)-t.got.Load(), t.dups.Load()
	r.Value = rate(r.Count, elapsed)
	if raw != nil {
		r.Baseline, r.BaselineName = raw.Baseline, raw.Scenario
		r.setRatio()
	}
	var all []time.Duration
	for _, a := range acks {
		all = append(all, a...)
	}
	r.P50, r.P99, r.P999 = percentiles(all)
	r.extra("build_events_per_s", rate(int64(n)-r.Errors, sent))
	r.extra("build_events_seconds", sent.Seconds())
	r.extra("webhook_id_duplicates", r.Duplicates)
	if f.nats != nil {
		r.extra("hookd_processes", len(f.procs))
		r.extra("per_process_send_concurrency", b.sendConcurrency(hooks))
		if f.probeErr != nil {
			r.note("JetStream publish probe: %v", f.probeErr)
		} else {
			r.extra("jetstream_publish_p50_ms", f.probeP50)
			r.extra("jetstream_publish_p99_ms", f.probeP99)
		}
	}
	// Every hook's delivery items must show in every process's API: its
	// projections caught up with the attempts, none lost, none counted
	// twice. A build event that got no answer may or may not be logged.
	for i, p := range f.procs {
		for j, slug := range slugs {
			if _, err := waitViews(ctx, client, p.base, app, slug, n-int(r.Errors), n, b.cfg.stall); err != nil {
				r.note("%sdelivery items of hook %d: %v", procLabel(f, i), j, err)
			}
		}
	}
	viewsLag := time.Since(t.lastAt())
	r.extra("views_caught_up_seconds", viewsLag.Seconds())
	var ms []procMetrics
	for i, p := range f.procs {
		m, err := scrapeMetrics(ctx, client, p.base)
		if err != nil {
			r.note("%smetrics: %v", procLabel(f, i), err)
			continue
		}
		ms = append(ms, m)
	}
	addAppendFigures(r, ms)
	for _, p := range f.procs {
		hwm, anon := p.peaks()
		r.PeakRSS, r.PeakAnon = max(r.PeakRSS, hwm), max(r.PeakAnon, anon)
		if f.nats != nil {
			r.PeakRSSEach = append(r.PeakRSSEach, hwm)
		}
	}
	if f.nats != nil {
		r.NATSPeakRSS, r.NATSPeakAnon = f.nats.peaks()
	}
	// Close our idle connections first: http.Server.Shutdown waits up to
	// 5 s for a connection that never carried a request.
	closeClient(client)
	stopStart := time.Now()
	if err := f.stop(); err != nil {
		r.note("stopping: %v", firstLine(err.Error()))
	}
	stopped := time.Since(stopStart)
	r.extra("stop_seconds", stopped.Seconds())
	b.logf("%s: every hook's items listed %s after the last receipt; stopped in %s", name,
		viewsLag.Round(time.Millisecond), stopped.Round(time.Millisecond))
	b.checkRun(r, f.procs...)
	if f.nats != nil {
		if k, lines := f.nats.logProblems(); k > 0 {
			r.note("nats-server logged %d warnings/errors, first: %s", k, lines[0])
			for _, l := range lines {
				b.logf("nats-server: %s", l)
			}
		}
	}
	b.logf("%s: %.0f deliveries/s (%d of %d received, %d duplicates), peak RSS %.0f MiB", name, r.Value, r.Count, total,
		r.Duplicates, float64(r.PeakRSS)/(1<<20))
	if !complete && ctx.Err() != nil {
		return r, ctx.Err()
	}
	return r, nil
}

// procLabel names process i in notes when a run has several.
func procLabel(f *fleet, i int) string {
	if len(f.procs) == 1 {
		return ""
	}
	return fmt.Sprintf("hookd process %d: ", i+1)
}

// dirNameOf makes a row name usable in build slugs.
func dirNameOf(name string) string {
	return strings.NewReplacer(" ", "-", "(", "", ")", "", ",", "").Replace(name)
}

// waitViews waits until hookd's API lists at least want delivery items for
// the hook (the projections caught up with the attempts), or no progress
// for stall; more than most is an error.
func waitViews(ctx context.Context, c *http.Client, base, app, hook string, want, most int, stall time.Duration) (int, error) {
	last, progress := -1, time.Now()
	for {
		n, err := itemCount(ctx, c, base, app, hook)
		if err != nil {
			return 0, err
		}
		if n >= want {
			if n > most {
				return n, fmt.Errorf("the API lists %d delivery items, %d were sent", n, most)
			}
			return n, nil
		}
		if n != last {
			last, progress = n, time.Now()
		} else if time.Since(progress) > stall {
			return n, fmt.Errorf("the API lists %d delivery items after waiting, want %d", n, want)
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func itemCount(ctx context.Context, c *http.Client, base, app, hook string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v0.1/apps/"+app+"/outgoing-webhooks/"+hook+"/delivery-items?limit=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("list delivery items: %s: %s", resp.Status, body)
	}
	var page struct {
		Paging struct {
			Total int `json:"total_item_count"`
		} `json:"paging"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return 0, fmt.Errorf("list delivery items: %w", err)
	}
	return page.Paging.Total, nil
}
