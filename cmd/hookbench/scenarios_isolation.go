package main

import (
	"context"
	"strings"
	"time"
)

// isolation measures whether a receiver that hangs holds up a fast one:
// one app with two hooks, H to a receiver that never answers and F to a
// fast receiver. --isolation-events build events are sent by --senders
// concurrent senders; the rate is deliveries to F per second from the
// first send to F's last receipt. The baseline is the same run on a fresh
// hookd whose app has only F. hookd runs with --send-timeout
// --isolation-send-timeout in both, so its shutdown at the end waits no
// longer than that for the sends to H still hanging.
func (b *bench) isolation(ctx context.Context) ([]*result, error) {
	r := &result{Scenario: "isolation", Unit: "deliveries/s", PeakRSSOf: "hookd", Concurrency: b.cfg.maxPerHost}
	r.extra("send_timeout_seconds", b.cfg.isolationSendTimeout.Seconds())
	r.extra("max_per_host", b.cfg.maxPerHost)

	base, err := b.isolationRun(ctx, "isolation-baseline", nil)
	if base != nil {
		r.Baseline, r.BaselineName = base.rate, "F alone"
		r.BaseP50, r.BaseP99, r.BaseP999 = percentiles(base.lat)
		r.extra("baseline_received", base.got)
		r.extra("baseline_stop_seconds", base.stop.Seconds())
		r.extra("baseline_peak_rss_bytes", base.peakRSS)
		base.notes(r, "F alone: ")
	}
	if err != nil {
		return []*result{r}, err
	}

	hang, err := startHanging(max(64, 8*b.cfg.maxPerHost))
	if err != nil {
		return []*result{r}, err
	}
	defer hang.close()
	run, err := b.isolationRun(ctx, "isolation", hang)
	if run != nil {
		r.Value, r.Count, r.Seconds = run.rate, run.got, run.seconds
		r.Errors, r.Lost, r.Duplicates = run.errors, run.lost, run.dups
		r.P50, r.P99, r.P999 = percentiles(run.lat)
		r.PeakRSS, r.PeakAnon = run.peakRSS, run.peakAnon
		r.setRatio()
		r.extra("receipt_before_202", run.early)
		r.extra("stop_seconds", run.stop.Seconds())
		r.extra("hanging_warnings_logged", run.expected)
		run.notes(r, "")
	}
	// Read after hookd stopped: every send to H has ended by then.
	requests, peak, refused, acceptErr := hang.stats()
	r.extra("hanging_requests", requests)
	r.extra("hanging_max_concurrent", peak)
	if refused > 0 {
		r.extra("hanging_refused", refused)
		r.note("the hanging receiver closed %d connections over its limit of %d", refused, hang.limit)
	}
	if acceptErr != nil {
		r.note("the hanging receiver stopped accepting: %v", acceptErr)
	}
	if run != nil && requests == 0 {
		r.note("the hanging receiver received no request")
	}
	if peak > b.cfg.maxPerHost {
		r.note("the hanging receiver held %d requests at once, more than --max-per-host %d", peak, b.cfg.maxPerHost)
	}
	b.logf("isolation: F %.0f deliveries/s beside a hanging H, %.0f/s alone (%.0f%%); H got %d requests, at most %d at once",
		r.Value, r.Baseline, 100*r.Ratio, requests, peak)
	return []*result{r}, err
}

// isolationRun is one run of the isolation scenario: F alone, or H and F.
type isolationRun struct {
	rate              float64
	got, lost, dups   int64
	errors, early     int64
	seconds           float64
	lat               []time.Duration // per event: from its 202 to F's receipt
	peakRSS, peakAnon int64
	stop              time.Duration
	stopErr           error
	problems          int
	firstProblem      string
	expected          int // warnings and errors about the sends to H
}

// notes adds what went wrong in the run to r.
func (run *isolationRun) notes(r *result, prefix string) {
	if run.errors > 0 {
		r.note("%s%d build events were not accepted", prefix, run.errors)
	}
	if run.lost > 0 {
		r.note("%s%d deliveries to F never arrived", prefix, run.lost)
	}
	if run.dups > 0 {
		r.note("%s%d deliveries to F arrived more than once", prefix, run.dups)
	}
	if run.stopErr != nil {
		r.note("%sstopping hookd: %v", prefix, firstLine(run.stopErr.Error()))
	}
	if run.problems > 0 {
		r.note("%shookd logged %d warnings/errors, first: %s", prefix, run.problems, run.firstProblem)
	}
}

func (b *bench) isolationRun(ctx context.Context, name string, hang *hangingReceiver) (*isolationRun, error) {
	n := b.cfg.isolationEvents
	p, err := b.hookdServe(ctx, name, "--send-timeout", b.cfg.isolationSendTimeout.String())
	if err != nil {
		return nil, err
	}
	defer p.kill()
	client := newClient(b.cfg.senders)
	defer closeClient(client)
	app := "bench-isolation"
	if hang != nil {
		// H first: hookd sees the hanging hook before the fast one.
		h, err := createHook(ctx, client, p.base, app, hang.url+"/hook/hanging")
		if err != nil {
			return nil, err
		}
		// Its sends time out on purpose; hookd may warn about each.
		p.expect(func(line string) bool { return strings.Contains(line, h) })
	}
	if _, err := createHook(ctx, client, p.base, app, b.recv.urls[0]+"/hook/0"); err != nil {
		return nil, err
	}
	what := "F alone"
	if hang != nil {
		what = "H (hanging) and F"
	}
	b.logf("%s: %d build events to %s, %d senders, hookd pid %d", name, n, what, b.cfg.senders, p.pid())
	// F is the only receiver counted, so a build slug names one delivery.
	prefix := name + "-" + runID()
	t := newTally(bySlug, n)
	b.recv.track(t)
	defer b.recv.track(nil)

	var errs errorCount
	ackAt := make([]time.Time, n)
	bufs := make([][]byte, b.cfg.senders)
	start := time.Now()
	parallel(ctx, n, b.cfg.senders, func(i, w int) {
		if err := postBuildEvent(ctx, client, p.base, app, slugOf(prefix, i), i, &bufs[w]); err != nil {
			errs.add(err)
			return
		}
		ackAt[i] = time.Now()
	})
	sent := time.Since(start)
	b.logf("%s: %d build events accepted in %s, %d failed; waiting for F's deliveries", name, int64(n)-errs.n.Load(),
		sent.Round(time.Millisecond), errs.n.Load())
	complete := t.wait(ctx, b.cfg.stall)
	elapsed := t.lastAt().Sub(start)

	run := &isolationRun{got: t.got.Load(), dups: t.dups.Load(), errors: errs.n.Load(), seconds: elapsed.Seconds()}
	run.lost = int64(n) - run.got
	run.rate = rate(run.got, elapsed)
	for i := range n {
		if ackAt[i].IsZero() {
			continue
		}
		at, ok := t.arrival(slugOf(prefix, i))
		if !ok {
			continue
		}
		d := at.Sub(ackAt[i])
		if d < 0 {
			run.early++
			d = 0
		}
		run.lat = append(run.lat, d)
	}
	if err := errs.firstErr(); err != nil {
		b.logf("%s: first error: %v", name, err)
	}
	run.peakRSS, run.peakAnon = p.peaks()
	closeClient(client)
	// Sends to H are still hanging: hookd's shutdown waits for them at
	// most --send-timeout, then it must exit.
	stopStart := time.Now()
	run.stopErr = p.stop()
	run.stop = time.Since(stopStart)
	run.problems, run.firstProblem = b.hookdProblems(p)
	run.expected = p.expectedProblems()
	b.logf("%s: F %.0f deliveries/s (%d of %d received); hookd stopped in %s", name, run.rate, run.got, n,
		run.stop.Round(time.Millisecond))
	if !complete && ctx.Err() != nil {
		return run, ctx.Err()
	}
	return run, nil
}

// hookdProblems copies hookd's warnings and errors to the progress log
// and returns how many there were and the first.
func (b *bench) hookdProblems(p *hookdProc) (int, string) {
	n, lines := p.logProblems()
	for _, l := range lines {
		b.logf("hookd: %s", l)
	}
	if n == 0 {
		return 0, ""
	}
	return n, lines[0]
}
