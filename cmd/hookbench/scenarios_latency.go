package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// latency sends a steady --latency-rate build events per second for
// --latency-duration to one hook and measures, per event, the time from
// its 202 to its receipt. The baseline is a plain client POSTing the same
// bodies straight to the receiver at the same rate (send to receipt).
func (b *bench) latency(ctx context.Context) ([]*result, error) {
	n := int(float64(b.cfg.latencyRate) * b.cfg.latencyDuration.Seconds())
	n = max(n, 1)
	name := "latency"
	r := &result{Scenario: name, Unit: "ms", Count: int64(n), Concurrency: b.cfg.senders}

	// The baseline first, while nothing else runs.
	b.logf("%s: baseline, %d POSTs at %d/s straight to the receiver", name, n, b.cfg.latencyRate)
	base, err := b.steady(ctx, n, func(ctx context.Context, c *http.Client, slug string, i int, buf *[]byte) error {
		*buf = buildBody((*buf)[:0], "bench-latency-raw", slug, i)
		return postDelivery(ctx, c, b.recv.urls[0]+"/hook/0", "bench-latency-raw", slug, *buf)
	}, true)
	if err != nil {
		return []*result{r}, err
	}
	r.BaseP50, r.BaseP99, r.BaseP999 = percentiles(base.lat)
	r.Baseline, r.BaselineName = r.BaseP99, "p99 of a plain POST"

	p, err := b.hookdServe(ctx, name)
	if err != nil {
		return []*result{r}, err
	}
	defer p.kill()
	c := newClient(4)
	app := "bench-latency"
	_, err = createHook(ctx, c, p.base, app, b.recv.urls[0]+"/hook/0")
	closeClient(c)
	if err != nil {
		return []*result{r}, err
	}
	b.logf("%s: %d build events at %d/s to hookd (pid %d), 1 hook", name, n, b.cfg.latencyRate, p.pid())
	run, err := b.steady(ctx, n, func(ctx context.Context, c *http.Client, slug string, i int, buf *[]byte) error {
		return postBuildEvent(ctx, c, p.base, app, slug, i, buf)
	}, false)
	r.PeakRSS, r.PeakAnon = p.peaks()
	r.PeakRSSOf = "hookd"
	if stopErr := p.stop(); stopErr != nil {
		r.note("stopping hookd: %v", firstLine(stopErr.Error()))
	}
	if run != nil {
		r.P50, r.P99, r.P999 = percentiles(run.lat)
		r.Value = r.P99
		r.setRatio()
		r.Errors, r.Lost, r.Duplicates, r.Seconds = run.errors, run.lost, run.dups, run.seconds
		fs50, fs99, _ := percentiles(run.fromSend)
		r.extra("from_send_p50_ms", fs50)
		r.extra("from_send_p99_ms", fs99)
		r.extra("receipt_before_202", run.early)
		r.extra("histogram_ms", histogram(run.lat))
		if len(run.slowAt) > 0 {
			r.extra("over_100ms_at_s", run.slowAt)
		}
		r.extra("late_sends", run.late)
		if run.late > 0 {
			r.note("%d sends started over 5 ms late (the senders could not keep the rate)", run.late)
		}
	}
	b.checkRun(r, p)
	b.logf("%s: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms (baseline p99 %.2f ms)", name, r.P50, r.P99, r.P999, r.BaseP99)
	return []*result{r}, err
}

type steadyRun struct {
	lat      []time.Duration // per event: from the 202 (or, raw, the send) to the receipt
	fromSend []time.Duration // per event: from the send to the receipt
	errors   int64
	lost     int64
	dups     int64
	early    int64     // receipts seen before the client had the 202
	late     int64     // sends started more than 5 ms after their slot
	slowAt   []float64 // when (s after the start) the first events over 100 ms were sent
	seconds  float64
}

// steady sends n events at the configured rate with up to --senders in
// flight, each with send(slug), and pairs them with their receipts.
func (b *bench) steady(ctx context.Context, n int, send func(context.Context, *http.Client, string, int, *[]byte) error, raw bool) (*steadyRun, error) {
	prefix := "lat-" + runID()
	t := newTally(bySlug, n)
	b.recv.track(t)
	defer b.recv.track(nil)
	client := newClient(b.cfg.senders)
	defer closeClient(client)

	sentAt := make([]time.Time, n)
	ackAt := make([]time.Time, n)
	ok := make([]bool, n)
	var errs errorCount
	var late int64
	jobs := make(chan int, n)
	done := make(chan struct{})
	for range b.cfg.senders {
		go func() {
			defer func() { done <- struct{}{} }()
			var buf []byte
			for i := range jobs {
				sentAt[i] = time.Now()
				err := send(ctx, client, slugOf(prefix, i), i, &buf)
				ackAt[i] = time.Now()
				if err != nil {
					errs.add(err)
					continue
				}
				ok[i] = true
			}
		}()
	}
	interval := time.Second / time.Duration(b.cfg.latencyRate)
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		} else if d < -5*time.Millisecond {
			late++
		}
		jobs <- i
	}
	close(jobs)
	for range b.cfg.senders {
		<-done
	}
	t.wait(ctx, b.cfg.stall)
	run := &steadyRun{errors: errs.n.Load(), dups: t.dups.Load(), late: late, seconds: time.Since(start).Seconds()}
	for i := range n {
		if !ok[i] {
			continue
		}
		at, got := t.arrival(slugOf(prefix, i))
		if !got {
			run.lost++
			continue
		}
		from := ackAt[i]
		if raw {
			from = sentAt[i]
		}
		d := at.Sub(from)
		if d < 0 {
			run.early++
			d = 0
		}
		run.lat = append(run.lat, d)
		if d > 100*time.Millisecond && len(run.slowAt) < 20 {
			run.slowAt = append(run.slowAt, sentAt[i].Sub(start).Round(time.Millisecond).Seconds())
		}
		run.fromSend = append(run.fromSend, at.Sub(sentAt[i]))
	}
	if err := errs.firstErr(); err != nil {
		b.logf("first error: %v", err)
	}
	if len(run.lat) == 0 {
		return run, fmt.Errorf("no deliveries arrived (%d errors, first: %v)", run.errors, errs.firstErr())
	}
	return run, ctx.Err()
}

// histogram counts ds in buckets by upper bound in ms ("≤1", ..., ">1000").
func histogram(ds []time.Duration) map[string]int {
	bounds := []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}
	h := map[string]int{}
	for _, d := range ds {
		ms := float64(d) / float64(time.Millisecond)
		k := ">1000"
		for _, b := range bounds {
			if ms <= b {
				k = fmt.Sprintf("≤%g", b)
				break
			}
		}
		h[k]++
	}
	return h
}
