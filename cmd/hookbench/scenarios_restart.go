package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hookd/hookd/eventlog/badgerlog"
)

// restart generates a log of --restart-entries entries that a server had
// finished: 50 apps with 4 hooks each (on the local receivers, without
// secrets), then build events, each followed by its delivery.requested
// and its delivery.attempted entries. hookd serve runs on it once until it
// is caught up (/readyz 200, every hookd_consumer_lag 0) and is stopped
// with SIGTERM. Then two restarts are timed from the start of the process
// until /readyz answers 200 and until a build event POSTed right after
// that reaches a receiver: one after that clean stop, one after a SIGKILL
// during a burst of --restart-burst build events. After the second, every
// build event accepted before the kill must be delivered.
func (b *bench) restart(ctx context.Context) ([]*result, error) {
	termReady := &result{Scenario: "restart (SIGTERM) ready", Unit: "ms", PeakRSSOf: "hookd"}
	termSent := &result{Scenario: "restart (SIGTERM) delivered", Unit: "ms", PeakRSSOf: "hookd"}
	killReady := &result{Scenario: "restart (SIGKILL) ready", Unit: "ms", PeakRSSOf: "hookd"}
	killSent := &result{Scenario: "restart (SIGKILL) delivered", Unit: "ms", PeakRSSOf: "hookd"}
	out := []*result{termReady, termSent, killReady, killSent}

	dir, err := b.scenarioDir("restart")
	if err != nil {
		return out, err
	}
	store, err := badgerlog.Open(filepath.Join(dir, "log"), badgerlog.Options{})
	if err != nil {
		return out, err
	}
	urls := b.recv.urls
	spec := genSpec{apps: 50, hooksPerApp: 4, events: b.cfg.restartEntries, requests: true, wholeGroups: true,
		hookURL: func(_ string, j int) string { return urls[j%len(urls)] + "/hook/" + strconv.Itoa(j) }}
	gen, _, err := b.generate(ctx, store, spec)
	if cerr := store.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return out, err
	}
	for _, r := range out {
		r.extra("log_entries", gen.events)
		gen.describe(r)
	}
	client := newClient(b.cfg.senders)
	defer closeClient(client)

	// The first start: the server catches up with the generated log, then
	// stops cleanly and leaves its checkpoints behind.
	b.logf("restart: first start on %d entries, until caught up", gen.events)
	t0 := time.Now()
	p, err := startServe(ctx, b.cfg.hookd, dir, b.hookdEcho())
	if err != nil {
		return out, err
	}
	defer p.kill()
	lags, err := waitCaughtUp(ctx, client, p)
	if err != nil {
		return out, fmt.Errorf("first start: %w", err)
	}
	caughtUp := time.Since(t0)
	closeClient(client)
	stopStart := time.Now()
	if err := p.stop(); err != nil {
		return out, fmt.Errorf("first start: %w", err)
	}
	stopped := time.Since(stopStart)
	termReady.extra("first_start_caught_up_seconds", caughtUp.Seconds())
	termReady.extra("first_stop_seconds", stopped.Seconds())
	b.noteProblems(termReady, "first start", p)
	b.logf("restart: first start caught up in %s (consumer lags %v), stopped in %s", caughtUp.Round(time.Millisecond),
		lags, stopped.Round(time.Millisecond))

	// Restart after SIGTERM.
	probe := newTally(bySlug, 1)
	b.recv.track(probe)
	defer b.recv.track(nil)
	p, err = b.timedRestart(ctx, client, dir, gen.apps[0], "restart-term-"+runID(), probe, termReady, termSent)
	if p != nil {
		defer p.kill()
	}
	if err != nil {
		return out, err
	}

	// A burst, and SIGKILL in the middle of it.
	t := newTally(bySlug, 0)
	b.recv.track(t)
	accepted, err := b.burstAndKill(ctx, client, p, gen.apps, "restart-burst-"+runID(), killReady)
	b.noteProblems(termSent, "after SIGTERM", p)
	if err != nil {
		return out, err
	}

	// Restart after SIGKILL.
	p, err = b.timedRestart(ctx, client, dir, gen.apps[0], "restart-kill-"+runID(), t, killReady, killSent)
	if p != nil {
		defer p.kill()
	}
	if err != nil {
		return out, err
	}
	// At least once: what hookd accepted before it was killed arrives.
	missing := waitSlugs(ctx, t, accepted, b.cfg.stall)
	killSent.extra("burst_accepted_before_kill", len(accepted))
	killSent.extra("burst_missing", missing)
	if missing > 0 {
		killSent.Lost = int64(missing)
		killSent.note("%d of the %d build events accepted before SIGKILL were never delivered", missing, len(accepted))
	}
	closeClient(client)
	if err := p.stop(); err != nil {
		killSent.note("stopping hookd: %v", firstLine(err.Error()))
	}
	b.noteProblems(killSent, "after SIGKILL", p)
	b.logf("restart: %d of %d build events accepted before SIGKILL delivered after the restart",
		len(accepted)-missing, len(accepted))
	return out, ctx.Err()
}

// timedRestart starts hookd serve on dir and fills ready and sent: the
// time from the start of the process until /readyz answered 200, and
// until a build event for app POSTed then reached a receiver. The
// receipt is looked up in t by build slug.
func (b *bench) timedRestart(ctx context.Context, c *http.Client, dir, app, slug string, t *tally, ready, sent *result) (*hookdProc, error) {
	start := time.Now()
	p, err := startServe(ctx, b.cfg.hookd, dir, b.hookdEcho())
	if err != nil {
		return nil, err
	}
	listening := time.Since(start)
	readyAt, err := waitReady(ctx, c, p)
	if err != nil {
		return p, err
	}
	var buf []byte
	if err := postBuildEvent(ctx, c, p.base, app, slug, 0, &buf); err != nil {
		return p, fmt.Errorf("build event after /readyz: %w", err)
	}
	ackAt := time.Now()
	at, ok := waitArrival(ctx, t, slug, b.cfg.stall)
	ready.PeakRSS, ready.PeakAnon = p.peaks()
	sent.PeakRSS, sent.PeakAnon = ready.PeakRSS, ready.PeakAnon
	if !ok {
		return p, fmt.Errorf("the build event POSTed after /readyz did not arrive within %s", b.cfg.stall)
	}
	ready.Value, ready.Count, ready.Seconds = ms(readyAt.Sub(start)), 1, readyAt.Sub(start).Seconds()
	sent.Value, sent.Count, sent.Seconds = ms(at.Sub(start)), 1, at.Sub(start).Seconds()
	ready.extra("listening_ms", ms(listening))
	sent.extra("after_ready_ms", ms(at.Sub(readyAt)))
	// The receipt may come before the client has read the 202.
	sent.extra("after_202_ms", ms(max(0, at.Sub(ackAt))))
	b.logf("%s: listening after %s, /readyz 200 after %s, new build event received after %s (%s after its 202)",
		ready.Scenario, listening.Round(time.Millisecond), readyAt.Sub(start).Round(time.Millisecond),
		at.Sub(start).Round(time.Millisecond), max(0, at.Sub(ackAt)).Round(time.Millisecond))
	return p, nil
}

// burstAndKill sends --restart-burst build events round robin over apps
// with --senders concurrent senders and kills hookd with SIGKILL once half
// of them were accepted. It returns the build slugs of those accepted.
func (b *bench) burstAndKill(ctx context.Context, c *http.Client, p *hookdProc, apps []string, prefix string, r *result) ([]string, error) {
	n := b.cfg.restartBurst
	killAt := int64(max(1, n/2))
	b.logf("restart: a burst of %d build events, SIGKILL after %d were accepted", n, killAt)
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	accepted := make([]bool, n)
	var nAccepted atomic.Int64
	var killed atomic.Bool
	var errs errorCount
	var cut atomic.Int64
	bufs := make([][]byte, b.cfg.senders)
	start := time.Now()
	var killedAfter time.Duration
	parallel(bctx, n, b.cfg.senders, func(i, w int) {
		if err := postBuildEvent(bctx, c, p.base, apps[i%len(apps)], slugOf(prefix, i), i, &bufs[w]); err != nil {
			if killed.Load() {
				cut.Add(1)
			} else {
				errs.add(err)
			}
			return
		}
		accepted[i] = true
		if nAccepted.Add(1) == killAt {
			killed.Store(true)
			killedAfter = time.Since(start)
			_ = p.cmd.Process.Kill()
			cancel()
		}
	})
	wasKilled := killed.Load()
	p.kill() // waits for the exit
	if !wasKilled {
		r.note("only %d build events of the burst were accepted; hookd was killed after the burst", nAccepted.Load())
	}
	if err := errs.firstErr(); err != nil {
		r.note("%d build events of the burst failed before the kill, first: %v", errs.n.Load(), err)
	}
	var slugs []string
	for i, ok := range accepted {
		if ok {
			slugs = append(slugs, slugOf(prefix, i))
		}
	}
	r.extra("burst_killed_after_ms", ms(killedAfter))
	r.extra("burst_cut_by_kill", cut.Load())
	b.logf("restart: killed after %s: %d build events accepted, %d cut off", killedAfter.Round(time.Millisecond), len(slugs), cut.Load())
	return slugs, ctx.Err()
}

// noteProblems notes in r the warnings and errors hookd logged.
func (b *bench) noteProblems(r *result, what string, p *hookdProc) {
	if n, first := b.hookdProblems(p); n > 0 {
		r.note("%s: hookd logged %d warnings/errors, first: %s", what, n, first)
	}
}

// waitReady polls /readyz until it answers 200 and returns when it did.
func waitReady(ctx context.Context, c *http.Client, p *hookdProc) (time.Time, error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	last := "no answer"
	for {
		status, body, err := httpGet(ctx, c, p.base+"/readyz")
		if err == nil && status == http.StatusOK {
			return time.Now(), nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d %s", status, bytes.TrimSpace(body))
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("/readyz did not answer 200 (last: %s): %w", last, ctx.Err())
		case <-p.done:
			return time.Time{}, fmt.Errorf("hookd exited before /readyz answered 200; last output:\n%s", p.lastLines())
		case <-tick.C:
		}
	}
}

// waitCaughtUp polls until /readyz answers 200 and every
// hookd_consumer_lag in /metrics is 0, and returns the lags by group.
func waitCaughtUp(ctx context.Context, c *http.Client, p *hookdProc) (map[string]float64, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := "no answer"
	for {
		lags, err := consumerLags(ctx, c, p.base)
		if err == nil {
			last = fmt.Sprintf("lags %v", lags)
			if len(lags) == 0 {
				last = "no hookd_consumer_lag in /metrics"
			}
			if len(lags) > 0 && allZero(lags) {
				status, body, rerr := httpGet(ctx, c, p.base+"/readyz")
				if rerr == nil && status == http.StatusOK {
					return lags, nil
				}
				last = fmt.Sprintf("lags 0, /readyz %d %s %v", status, bytes.TrimSpace(body), rerr)
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("not caught up (last: %s): %w", last, ctx.Err())
		case <-p.done:
			return nil, fmt.Errorf("hookd exited before it caught up; last output:\n%s", p.lastLines())
		case <-tick.C:
		}
	}
}

// consumerLags reads the hookd_consumer_lag gauges from /metrics, by group.
func consumerLags(ctx context.Context, c *http.Client, base string) (map[string]float64, error) {
	status, body, err := httpGet(ctx, c, base+"/metrics")
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %d", status)
	}
	lags := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		labels, ok := strings.CutPrefix(sc.Text(), "hookd_consumer_lag{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(labels, "} ")
		if !ok {
			return nil, fmt.Errorf("/metrics: cannot read %q", sc.Text())
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("/metrics: %q: %w", sc.Text(), err)
		}
		group := labels
		if _, g, ok := strings.Cut(labels, `group="`); ok {
			group, _, _ = strings.Cut(g, `"`)
		}
		lags[group] = v
	}
	return lags, sc.Err()
}

// httpGet GETs u and returns its status and body.
func httpGet(ctx context.Context, c *http.Client, u string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// waitArrival waits until t holds a receipt of the build slug, or at most
// limit, and returns when it arrived.
func waitArrival(ctx context.Context, t *tally, slug string, limit time.Duration) (time.Time, bool) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(limit)
	for {
		if at, ok := t.arrival(slug); ok {
			return at, true
		}
		if time.Now().After(deadline) {
			return time.Time{}, false
		}
		select {
		case <-ctx.Done():
			return time.Time{}, false
		case <-tick.C:
		}
	}
}

// waitSlugs waits until t holds a receipt of every build slug, or none
// more arrived for stall, and returns how many are missing.
func waitSlugs(ctx context.Context, t *tally, slugs []string, stall time.Duration) int {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	i, progress := 0, time.Now()
	for {
		for i < len(slugs) {
			if _, ok := t.arrival(slugs[i]); !ok {
				break
			}
			i++
			progress = time.Now()
		}
		if i == len(slugs) {
			return 0
		}
		if time.Since(progress) > stall || ctx.Err() != nil {
			missing := 0
			for _, s := range slugs[i:] {
				if _, ok := t.arrival(s); !ok {
					missing++
				}
			}
			return missing
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

func allZero(m map[string]float64) bool {
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

// ms is d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
