package metrics_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hookd/hookd/transport/metrics"
)

func newMetrics(t *testing.T) (*prometheus.Registry, *metrics.Metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg)
	if err != nil {
		t.Fatalf("metrics.New: %v", err)
	}
	return reg, m
}

// series finds the metric name{labels} in what reg gathers; nil if absent.
func series(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	return find(mfs, name, labels)
}

func find(mfs []*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			if len(got) != len(labels) {
				continue
			}
			for k, v := range labels {
				if got[k] != v {
					continue metrics
				}
			}
			return m
		}
	}
	return nil
}

// value is a counter's or gauge's value, or a histogram's sample count.
func value(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	m := series(t, reg, name, labels)
	switch {
	case m == nil:
		t.Fatalf("no series %s%v", name, labels)
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	t.Fatalf("series %s%v is neither counter, gauge nor histogram", name, labels)
	return 0
}

func TestOutcomeIsTheStatusClassOrError(t *testing.T) {
	for _, tc := range []struct {
		status int
		err    string
		want   string
	}{
		{200, "", "2xx"},
		{204, "", "2xx"},
		{301, "", "3xx"},
		{404, "", "4xx"},
		{503, "", "5xx"},
		{599, "", "5xx"},
		{0, "connection refused", "error"},
		{0, "timeout: no answer within 10s", "error"},
		{0, "", "error"},
		{101, "", "error"},
		{600, "", "error"},
		{200, "refused: 127.0.0.1 is a loopback address", "error"},
		{200, "response body cut off: timeout after 10s (kept 1234 bytes)", "error"},
		{204, "response body cut off: connection closed before the body was complete (kept 3 of 10 bytes)", "error"},
	} {
		if got := metrics.Outcome(tc.status, tc.err); got != tc.want {
			t.Errorf("Outcome(%d, %q) = %q, want %q", tc.status, tc.err, got, tc.want)
		}
	}
}

func TestDeliveriesAreCountedByOutcomeAndEventTypeAndTimed(t *testing.T) {
	reg, m := newMetrics(t)
	for range 3 {
		m.DeliveryStarted()
	}
	if got := value(t, reg, "hookd_deliveries_in_flight", nil); got != 3 {
		t.Fatalf("in flight after 3 starts = %v, want 3", got)
	}
	m.DeliveryFinished("build/finished", 200, "", 20*time.Millisecond)
	m.DeliveryFinished("build/finished", 503, "", 2*time.Second)
	m.DeliveryFinished("build/triggered", 0, "connection refused", time.Millisecond)
	// A response whose body was cut off failed, whatever its status.
	m.DeliveryStarted()
	m.DeliveryFinished("build/triggered", 200, "response body cut off: timeout after 10s (kept 0 bytes)", time.Millisecond)

	for _, c := range []struct {
		outcome, eventType string
		want               float64
	}{
		{"2xx", "build/finished", 1},
		{"5xx", "build/finished", 1},
		{"error", "build/triggered", 2},
	} {
		if got := value(t, reg, "hookd_deliveries_total", map[string]string{"outcome": c.outcome, "event_type": c.eventType}); got != c.want {
			t.Errorf("hookd_deliveries_total{outcome=%q,event_type=%q} = %v, want %v", c.outcome, c.eventType, got, c.want)
		}
	}
	if m := series(t, reg, "hookd_deliveries_total", map[string]string{"outcome": "2xx", "event_type": "build/triggered"}); m != nil {
		t.Errorf("a series for a (outcome, event type) that never happened: %v", m)
	}
	if got := value(t, reg, "hookd_deliveries_in_flight", nil); got != 0 {
		t.Errorf("in flight after every finish = %v, want 0", got)
	}
	h := series(t, reg, "hookd_delivery_duration_seconds", map[string]string{"outcome": "5xx"}).GetHistogram()
	if h.GetSampleCount() != 1 || h.GetSampleSum() != 2 {
		t.Errorf("5xx duration: count %d sum %v, want 1 and 2 s", h.GetSampleCount(), h.GetSampleSum())
	}
	// Every outcome's duration series exists before it happens.
	if got := value(t, reg, "hookd_delivery_duration_seconds", map[string]string{"outcome": "3xx"}); got != 0 {
		t.Errorf("3xx duration count = %v, want 0", got)
	}
}

func TestAppendsCountEntriesAndFailuresSeparately(t *testing.T) {
	reg, m := newMetrics(t)
	m.LogAppended(1, 700*time.Microsecond, nil)
	m.LogAppended(5, 2*time.Millisecond, nil)
	m.LogAppended(2, time.Millisecond, errors.New("eventlog: log unavailable"))

	if got := value(t, reg, "hookd_log_appends_total", nil); got != 6 {
		t.Errorf("hookd_log_appends_total = %v, want 6 entries", got)
	}
	if got := value(t, reg, "hookd_log_append_duration_seconds", nil); got != 2 {
		t.Errorf("append duration count = %v, want 2 successful calls", got)
	}
	if got := value(t, reg, "hookd_log_append_errors_total", nil); got != 1 {
		t.Errorf("hookd_log_append_errors_total = %v, want 1", got)
	}
}

func TestHTTPRequestsAreCountedByRouteMethodAndCode(t *testing.T) {
	reg, m := newMetrics(t)
	const route = "/v0.1/apps/{app-slug}/build-events"
	m.HTTPRequest(route, "POST", 202, time.Millisecond)
	m.HTTPRequest(route, "POST", 202, time.Millisecond)
	m.HTTPRequest(route, "POST", 400, time.Millisecond)

	if got := value(t, reg, "hookd_http_requests_total", map[string]string{"route": route, "method": "POST", "code": "202"}); got != 2 {
		t.Errorf("202s = %v, want 2", got)
	}
	if got := value(t, reg, "hookd_http_requests_total", map[string]string{"route": route, "method": "POST", "code": "400"}); got != 1 {
		t.Errorf("400s = %v, want 1", got)
	}
	if got := value(t, reg, "hookd_http_request_duration_seconds", map[string]string{"route": route, "method": "POST"}); got != 3 {
		t.Errorf("duration count = %v, want 3", got)
	}
}

func TestNilMetricsRecordsNothingAndDoesNotPanic(t *testing.T) {
	var m *metrics.Metrics
	m.DeliveryStarted()
	m.DeliveryFinished("build/finished", 200, "", time.Second)
	m.LogAppended(1, time.Second, nil)
	m.HTTPRequest("/healthz", "GET", 200, time.Second)
}

func TestWatchLogReadsHeadAndLagsWhenScraped(t *testing.T) {
	reg, m := newMetrics(t)
	head, dispatched, applied := uint64(10), uint64(7), uint64(10)
	err := m.WatchLog(
		func() (uint64, error) { return head, nil },
		map[string]metrics.Position{
			"dispatcher":  func() (uint64, error) { return dispatched, nil },
			"projections": func() (uint64, error) { return applied, nil },
		})
	if err != nil {
		t.Fatalf("WatchLog: %v", err)
	}
	check := func(wantHead, wantDispatcher, wantProjections float64) {
		t.Helper()
		if got := value(t, reg, "hookd_log_head_sequence", nil); got != wantHead {
			t.Errorf("hookd_log_head_sequence = %v, want %v", got, wantHead)
		}
		if got := value(t, reg, "hookd_consumer_lag", map[string]string{"group": "dispatcher"}); got != wantDispatcher {
			t.Errorf("dispatcher lag = %v, want %v", got, wantDispatcher)
		}
		if got := value(t, reg, "hookd_consumer_lag", map[string]string{"group": "projections"}); got != wantProjections {
			t.Errorf("projections lag = %v, want %v", got, wantProjections)
		}
	}
	check(10, 3, 0)
	head, dispatched = 25, 25
	check(25, 0, 15)
	// A position past the head (read on either side of an append) is no lag.
	applied = 26
	check(25, 0, 0)
}

func TestAnUnreadablePositionLeavesItsSeriesOutAndServesTheRest(t *testing.T) {
	reg, m := newMetrics(t)
	err := m.WatchLog(
		func() (uint64, error) { return 4, nil },
		map[string]metrics.Position{
			"dispatcher":  func() (uint64, error) { return 0, errors.New("eventlog: closed") },
			"projections": func() (uint64, error) { return 4, nil },
		})
	if err != nil {
		t.Fatalf("WatchLog: %v", err)
	}
	m.LogAppended(4, time.Millisecond, nil)
	mfs, err := reg.Gather()
	if err == nil || !strings.Contains(err.Error(), "eventlog: closed") {
		t.Errorf("Gather error = %v, want the position's", err)
	}
	if find(mfs, "hookd_consumer_lag", map[string]string{"group": "dispatcher"}) != nil {
		t.Error("a dispatcher lag was reported although its position could not be read")
	}
	if find(mfs, "hookd_consumer_lag", map[string]string{"group": "projections"}) == nil ||
		find(mfs, "hookd_log_appends_total", nil) == nil {
		t.Error("the readable series are missing")
	}

	// The handler still answers 200 with what it could read.
	srv := httptest.NewServer(metrics.Handler(reg, nil))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `hookd_consumer_lag{group="projections"} 0`) ||
		!strings.Contains(string(body), "hookd_log_appends_total 4") {
		t.Errorf("GET /metrics: %d\n%s", resp.StatusCode, body)
	}
}

func TestNewRegistryHasGoAndProcessCollectors(t *testing.T) {
	reg := metrics.NewRegistry()
	if _, err := metrics.New(reg); err != nil {
		t.Fatalf("metrics.New: %v", err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"go_goroutines", "hookd_log_appends_total", "hookd_deliveries_in_flight"} {
		if !names[want] {
			t.Errorf("registry has no %s", want)
		}
	}
	// The process collector works where /proc exists.
	if _, err := os.Stat("/proc/self/stat"); err == nil && !names["process_cpu_seconds_total"] {
		t.Error("registry has no process_cpu_seconds_total")
	}
}

func TestRegisteringTwiceOnOneRegistryFails(t *testing.T) {
	reg, _ := newMetrics(t)
	if _, err := metrics.New(reg); err == nil {
		t.Error("a second New on the same registry succeeded; want a duplicate registration error")
	}
}
