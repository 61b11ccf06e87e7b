package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/projections"
)

const pageSize = 50

// query generates a hook with --query-items delivery items (without their
// build events unless --query-builds), builds the views with `hookd rebuild`,
// and times listing 50 items, first page and a deep page reached through
// anchors, over HTTP against `hookd serve` on that data, and in this
// process through projections.Views for comparison.
func (b *bench) query(ctx context.Context) ([]*result, error) {
	items := b.cfg.queryItems
	pages := (items + pageSize - 1) / pageSize
	page := max(1, min(b.cfg.queryPage, pages/2))
	first := &result{Scenario: "query first page", Unit: "ms", PeakRSSOf: "hookd", Count: int64(b.cfg.querySamples)}
	deep := &result{Scenario: fmt.Sprintf("query page %d", page), Unit: "ms", PeakRSSOf: "hookd", Count: int64(b.cfg.querySamples)}
	out := []*result{first, deep}

	dir, err := b.scenarioDir("query")
	if err != nil {
		return out, err
	}
	store, err := badgerlog.Open(filepath.Join(dir, "log"), badgerlog.Options{})
	if err != nil {
		return out, err
	}
	spec := genSpec{apps: 1, hooksPerApp: 1, events: 1 + items, noBuilds: true}
	if b.cfg.queryBuilds {
		spec.events, spec.noBuilds, spec.requests = 1+2*items, false, b.cfg.logRequests
		if spec.requests {
			spec.events += items
		}
	}
	gen, _, err := b.generate(ctx, store, spec)
	if cerr := store.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return out, err
	}
	app, hook := gen.apps[0], gen.hooks[0][0].hook.Slug

	b.logf("query: hookd rebuild of %d events", gen.events)
	start := time.Now()
	stdout, rss, rssAnon, err := runHookd(ctx, b.cfg.hookd, "rebuild", "--data", dir)
	if err != nil {
		return out, err
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	b.logf("query: %s (peak RSS %.0f MiB, anon %.0f MiB)", lines[len(lines)-1], float64(rss)/(1<<20), float64(rssAnon)/(1<<20))
	for _, r := range out {
		r.extra("log_events", gen.events)
		gen.describe(r)
		r.extra("hookd_rebuild_seconds", time.Since(start).Seconds())
		r.extra("hookd_rebuild_peak_rss_bytes", rss)
		r.extra("hookd_rebuild_peak_rss_anon_bytes", rssAnon)
	}

	// In this process: find the deep page's anchor, then time both pages.
	mem := selfPeak()
	views, err := projections.OpenViews(filepath.Join(dir, "views"), nil)
	if err != nil {
		mem.finish()
		return out, err
	}
	anchor, err := anchorAt(views, hook, (page-1)*pageSize)
	if err == nil {
		first.BaseP50, first.BaseP99, first.BaseP999, err = timeViews(views, hook, "", items, b.cfg.querySamples)
	}
	if err == nil {
		deep.BaseP50, deep.BaseP99, deep.BaseP999, err = timeViews(views, hook, anchor, items, b.cfg.querySamples)
	}
	if cerr := views.Close(); err == nil && cerr != nil {
		err = cerr
	}
	inRSS, inAnon := mem.selfPeaks()
	if err != nil {
		return out, err
	}
	for _, r := range out {
		r.Baseline, r.BaselineName = r.BaseP99, "p99 in-process Views"
		r.extra("in_process_peak_rss_bytes", inRSS)
		r.extra("in_process_peak_rss_anon_bytes", inAnon)
	}
	b.logf("query: in-process p99 first %.2f ms, page %d %.2f ms", first.BaseP99, page, deep.BaseP99)

	p, err := startServe(ctx, b.cfg.hookd, dir, b.hookdEcho())
	if err != nil {
		return out, err
	}
	defer p.kill()
	// Let its start-up (the dispatcher's recovery scan of the log) finish.
	quietStart := time.Now()
	waitQuiet(ctx, p.pid(), min(2*time.Minute, b.cfg.timeout/2))
	b.logf("query: hookd serve (pid %d) settled in %s", p.pid(), time.Since(quietStart).Round(time.Millisecond))
	client := newClient(1)
	defer closeClient(client)
	list := "/v0.1/apps/" + app + "/outgoing-webhooks/" + hook + "/delivery-items?limit=" + fmt.Sprint(pageSize)
	var qerr error
	for _, q := range []struct {
		r    *result
		path string
		want int
	}{
		{first, list, items},
		{deep, list + "&next=" + url.QueryEscape(anchor), items},
	} {
		var ds []time.Duration
		ds, qerr = timeHTTP(ctx, client, p.base+q.path, q.want, b.cfg.querySamples)
		if qerr != nil {
			break
		}
		q.r.P50, q.r.P99, q.r.P999 = percentiles(ds)
		q.r.Value = q.r.P99
		q.r.Seconds = sum(ds).Seconds()
		q.r.setRatio()
	}
	rssServe, anonServe := p.peaks()
	closeClient(client)
	if err := p.stop(); err != nil {
		first.note("stopping hookd: %v", firstLine(err.Error()))
	}
	for _, r := range out {
		r.PeakRSS, r.PeakAnon = rssServe, anonServe
	}
	first.note("%d items of one hook, %d events in the log", items, gen.events)
	if spec.noBuilds {
		first.note("the log holds the hook and its delivery attempts, not their build events (--query-builds adds them)")
	}
	b.checkRun(first, p)
	b.logf("query: HTTP p99 first %.2f ms, page %d %.2f ms; hookd serve peak RSS %.0f MiB", first.P99, page, deep.P99, float64(rssServe)/(1<<20))
	return out, qerr
}

// anchorAt walks the hook's items through anchors and returns the anchor
// of the page that starts offset items in.
func anchorAt(v *projections.Views, hook string, offset int) (string, error) {
	anchor := ""
	for offset > 0 {
		p, err := v.ListDeliveryItems(hook, anchor, min(offset, 1000))
		if err != nil {
			return "", err
		}
		if p.Next == "" {
			return "", fmt.Errorf("the list ended %d items before the deep page", offset)
		}
		anchor = p.Next
		offset -= len(p.Items)
	}
	return anchor, nil
}

// timeViews lists one page in this process n times and returns p50, p99
// and p99.9 in ms; the first answer is checked.
func timeViews(v *projections.Views, hook, anchor string, total, n int) (p50, p99, p999 float64, err error) {
	p, err := v.ListDeliveryItems(hook, anchor, pageSize)
	if err != nil {
		return 0, 0, 0, err
	}
	if len(p.Items) != pageSize || p.Total != uint64(total) {
		return 0, 0, 0, fmt.Errorf("views list %d items of %d, want %d of %d", len(p.Items), p.Total, pageSize, total)
	}
	ds := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := v.ListDeliveryItems(hook, anchor, pageSize); err != nil {
			return 0, 0, 0, err
		}
		ds = append(ds, time.Since(t0))
	}
	p50, p99, p999 = percentiles(ds)
	return p50, p99, p999, nil
}

// timeHTTP GETs one page n times, after a short warm-up, reading every
// answer to its end; the first answer is checked.
func timeHTTP(ctx context.Context, c *http.Client, u string, total, n int) ([]time.Duration, error) {
	get := func() ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s: %s", u, resp.Status, body)
		}
		return body, err
	}
	body, err := get()
	if err != nil {
		return nil, err
	}
	var page struct {
		Data   []json.RawMessage `json:"data"`
		Paging struct {
			Total int `json:"total_item_count"`
		} `json:"paging"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(page.Data) != pageSize || page.Paging.Total != total {
		return nil, fmt.Errorf("GET %s: %d items of %d, want %d of %d", u, len(page.Data), page.Paging.Total, pageSize, total)
	}
	for range min(20, n) {
		if _, err := get(); err != nil {
			return nil, err
		}
	}
	ds := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if _, err := get(); err != nil {
			return nil, err
		}
		ds = append(ds, time.Since(t0))
	}
	return ds, nil
}

func sum(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s
}
