package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
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
	r, err := b.deliveryRun(ctx, "fan-out", b.cfg.hooks, b.rawFan)
	return []*result{r}, err
}

func (b *bench) single(ctx context.Context) ([]*result, error) {
	r, err := b.deliveryRun(ctx, "single", 1, b.rawSingle)
	return []*result{r}, err
}

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

// deliveryRun sends --events build events to hookd for an app with the
// given number of hooks, each on its own receiver, and measures deliveries
// per second from the first send to the last receipt.
func (b *bench) deliveryRun(ctx context.Context, name string, hooks int, raw *result) (*result, error) {
	n := b.cfg.events
	total := n * hooks
	r := &result{Scenario: name, Unit: "deliveries/s", Concurrency: b.sendConcurrency(hooks), PeakRSSOf: "hookd"}
	p, err := b.hookdServe(ctx, name)
	if err != nil {
		return r, err
	}
	defer p.kill()
	client := newClient(b.cfg.senders)
	defer closeClient(client)
	app := "bench-" + name
	slugs := make([]string, hooks)
	for j := range hooks {
		if slugs[j], err = createHook(ctx, client, p.base, app, b.recv.urls[j]+"/hook/"+strconv.Itoa(j)); err != nil {
			return r, err
		}
	}
	b.logf("%s: %d build events × %d hooks = %d deliveries, %d senders, hookd pid %d", name, n, hooks, total, b.cfg.senders, p.pid())
	prefix := name + "-" + runID()
	t := newTally(byWebhookID, total)
	b.recv.track(t)
	defer b.recv.track(nil)

	var errs errorCount
	acks := make([][]time.Duration, b.cfg.senders)
	bufs := make([][]byte, b.cfg.senders)
	start := time.Now()
	parallel(ctx, n, b.cfg.senders, func(i, w int) {
		t0 := time.Now()
		if err := postBuildEvent(ctx, client, p.base, app, slugOf(prefix, i), i, &bufs[w]); err != nil {
			errs.add(err)
			return
		}
		acks[w] = append(acks[w], time.Since(t0))
	})
	sent := time.Since(start)
	b.logf("%s: %d build events accepted in %s (%.0f/s), %d failed; waiting for deliveries", name, int64(n)-errs.n.Load(),
		sent.Round(time.Millisecond), rate(int64(n)-errs.n.Load(), sent), errs.n.Load())
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
	// Every hook's delivery items must show in the API: the projections
	// caught up with the attempts, none lost, none counted twice.
	for j, slug := range slugs {
		if _, err := waitViews(ctx, client, p.base, app, slug, n, b.cfg.stall); err != nil {
			r.note("delivery items of hook %d: %v", j, err)
		}
	}
	viewsLag := time.Since(t.lastAt())
	r.extra("views_caught_up_seconds", viewsLag.Seconds())
	r.PeakRSS, r.PeakAnon = p.peaks()
	// Close our idle connections first: http.Server.Shutdown waits up to
	// 5 s for a connection that never carried a request.
	closeClient(client)
	stopStart := time.Now()
	if err := p.stop(); err != nil {
		r.note("stopping hookd: %v", firstLine(err.Error()))
	}
	stopped := time.Since(stopStart)
	r.extra("stop_seconds", stopped.Seconds())
	b.logf("%s: every hook's items listed %s after the last receipt; hookd stopped in %s", name,
		viewsLag.Round(time.Millisecond), stopped.Round(time.Millisecond))
	b.checkRun(r, p)
	b.logf("%s: %.0f deliveries/s (%d of %d received), peak RSS %.0f MiB", name, r.Value, r.Count, total, float64(r.PeakRSS)/(1<<20))
	if !complete && ctx.Err() != nil {
		return r, ctx.Err()
	}
	return r, nil
}

// waitViews waits until hookd's API lists want delivery items for the hook
// (the projections caught up with the attempts), or no progress for stall.
func waitViews(ctx context.Context, c *http.Client, base, app, hook string, want int, stall time.Duration) (int, error) {
	last, progress := -1, time.Now()
	for {
		n, err := itemCount(ctx, c, base, app, hook)
		if err != nil {
			return 0, err
		}
		if n >= want {
			if n > want {
				return n, fmt.Errorf("the API lists %d delivery items, %d were sent", n, want)
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
