package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// procMetrics are the figures of one hookd process's /metrics a delivery
// run reports: what that process sent and what its appends cost.
type procMetrics struct {
	deliveries float64 // hookd_deliveries_total, all outcomes
	appends    float64 // hookd_log_appends_total: entries appended
	calls      float64 // hookd_log_append_duration_seconds_count: append calls
	callSecs   float64 // hookd_log_append_duration_seconds_sum
	buckets    map[float64]float64
}

// scrapeMetrics reads base's /metrics (Prometheus text format).
func scrapeMetrics(ctx context.Context, c *http.Client, base string) (procMetrics, error) {
	m := procMetrics{buckets: map[float64]float64{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return m, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		name, labels, _ := strings.Cut(line[:i], "{")
		switch name {
		case "hookd_deliveries_total":
			m.deliveries += v
		case "hookd_log_appends_total":
			m.appends += v
		case "hookd_log_append_duration_seconds_count":
			m.calls += v
		case "hookd_log_append_duration_seconds_sum":
			m.callSecs += v
		case "hookd_log_append_duration_seconds_bucket":
			if _, le, ok := strings.Cut(labels, `le="`); ok {
				le, _, _ = strings.Cut(le, `"`)
				if b, err := strconv.ParseFloat(le, 64); err == nil {
					m.buckets[b] += v
				}
			}
		}
	}
	return m, sc.Err()
}

// appendQuantile is the upper bound (in ms) of the histogram bucket that
// holds quantile q of the append calls; +Inf beyond the last bucket, 0
// without calls.
func (m procMetrics) appendQuantile(q float64) float64 {
	if m.calls == 0 {
		return 0
	}
	var les []float64
	for le := range m.buckets {
		les = append(les, le)
	}
	slices.Sort(les)
	for _, le := range les {
		if m.buckets[le] >= q*m.calls {
			return le * 1000
		}
	}
	return math.Inf(1)
}

// addAppendFigures puts in r's extras the deliveries each process sent
// and, where hookd reports them (the embedded log), what its appends
// cost: entries and calls, the mean call, the buckets of its p50 and p99
// (of the first process).
func addAppendFigures(r *result, ms []procMetrics) {
	var entries, calls, secs float64
	var sent []float64
	for _, m := range ms {
		entries += m.appends
		calls += m.calls
		secs += m.callSecs
		sent = append(sent, m.deliveries)
	}
	if len(ms) > 0 {
		r.extra("deliveries_sent_by_process", sent)
	}
	if len(ms) == 0 || calls == 0 {
		// hookd on JetStream does not feed its log append metrics.
		return
	}
	r.extra("log_entries_appended", entries)
	r.extra("log_append_calls", calls)
	r.extra("log_append_mean_ms", 1000*secs/calls)
	r.extra("log_append_p50_bucket_ms", finite(ms[0].appendQuantile(0.50)))
	r.extra("log_append_p99_bucket_ms", finite(ms[0].appendQuantile(0.99)))
}

// finite keeps JSON valid: +Inf (beyond the last bucket) becomes -1.
func finite(v float64) float64 {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return -1
	}
	return v
}
