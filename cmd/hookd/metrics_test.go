package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/internal/testkit"
)

// scrape is one parsed answer of /metrics.
type scrape = testkit.Scrape

func parseMetrics(t *testing.T, body []byte) scrape { return testkit.ParseMetrics(t, body) }

func (s *server) scrape(t *testing.T) scrape {
	t.Helper()
	resp, err := httpClient.Get(s.base + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return parseMetrics(t, body)
}

// freeAddr is a 127.0.0.1 address nothing listens on: connecting is refused.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestMetricsCountDeliveriesAppendsAndLagAfterTraffic runs the real
// binary with three hooks, to a receiver answering 200, one answering
// 503 and a closed port, sends three build events, and checks that
// /metrics moved by exactly what happened.
func TestMetricsCountDeliveriesAppendsAndLagAfterTraffic(t *testing.T) {
	ok := newReceiver(t)
	unavailable := testkit.NewReceiver(t)
	unavailable.SetStatus(http.StatusServiceUnavailable)
	data := t.TempDir()
	s := startServer(t, "metrics", data)

	s.mustCall(t, http.MethodGet, "/healthz", "", nil, http.StatusOK, nil)
	s.mustCall(t, http.MethodGet, "/readyz", "", nil, http.StatusOK, nil)
	before := s.scrape(t)
	before.Expect(t, 0, "hookd_log_head_sequence")
	before.Expect(t, 0, "hookd_log_appends_total")
	before.Expect(t, 0, "hookd_deliveries_in_flight")
	if n := before.Sum("hookd_deliveries_total"); n != 0 {
		t.Errorf("deliveries before any traffic: %v", n)
	}

	const app = "app-metrics"
	hooks := "/v0.1/apps/" + app + "/outgoing-webhooks"
	for _, url := range []string{ok.URL() + "/ok", unavailable.URL() + "/unavailable", "http://" + freeAddr(t) + "/down"} {
		s.mustCall(t, http.MethodPost, hooks, fmt.Sprintf(`{"url": %q, "events": ["all"]}`, url), nil, http.StatusOK, nil)
	}
	for i := range 3 {
		body := fmt.Sprintf(`{"build_slug": "metrics-%d", "build_number": %d, "build_status": 1}`, i, i+1)
		s.mustCall(t, http.MethodPost, "/v0.1/apps/"+app+"/build-events", body,
			map[string]string{"Bitrise-Event-Type": domain.EventBuildFinished}, http.StatusAccepted, nil)
	}

	// 3 hooks + 3 build events + 9 requests + 9 attempts. One Append each
	// for the hooks, build events and attempts; the matcher appends the
	// requests of the build events it reads at once in one Append: one to
	// three, as the dispatcher keeps up (under load, CI saw two).
	const entries, appends = 3 + 3 + 9 + 9, 3 + 3 + 9
	var m scrape
	testkit.WaitUntil(t, pollTimeout, "9 deliveries recorded and every consumer caught up", func() bool {
		m = s.scrape(t)
		n, _ := m.Get("hookd_log_appends_total")
		d, _ := m.Get("hookd_consumer_lag", "group", "dispatcher")
		p, _ := m.Get("hookd_consumer_lag", "group", "projections")
		return m.Sum("hookd_delivery_duration_seconds") == 9 && n == entries && d == 0 && p == 0
	})
	ok.WaitForCount(t, 3, pollTimeout)

	for _, outcome := range []string{"2xx", "5xx", "error"} {
		m.Expect(t, 3, "hookd_deliveries_total", "outcome", outcome, "event_type", domain.EventBuildFinished)
		m.Expect(t, 3, "hookd_delivery_duration_seconds", "outcome", outcome)
	}
	if n := m.Sum("hookd_deliveries_total"); n != 9 {
		t.Errorf("hookd_deliveries_total adds up to %v, want 9", n)
	}
	m.Expect(t, 0, "hookd_delivery_duration_seconds", "outcome", "4xx")
	m.Expect(t, 0, "hookd_deliveries_in_flight")
	m.Expect(t, entries, "hookd_log_appends_total")
	if n := m.Sum("hookd_log_append_duration_seconds"); n < appends+1 || n > appends+3 { // one per Append call
		t.Errorf("hookd_log_append_duration_seconds counts %v Append calls, want %d to %d", n, appends+1, appends+3)
	}
	m.Expect(t, 0, "hookd_log_append_errors_total")
	m.Expect(t, entries, "hookd_log_head_sequence")
	m.Expect(t, 0, "hookd_consumer_lag", "group", "dispatcher")
	m.Expect(t, 0, "hookd_consumer_lag", "group", "projections")
	m.Expect(t, 3, "hookd_http_requests_total", "route", "/v0.1/apps/{app-slug}/outgoing-webhooks", "method", "POST", "code", "200")
	m.Expect(t, 3, "hookd_http_requests_total", "route", "/v0.1/apps/{app-slug}/build-events", "method", "POST", "code", "202")
	m.Expect(t, 1, "hookd_http_requests_total", "route", "/readyz", "method", "GET", "code", "200")
	for name := range m {
		if strings.HasPrefix(name, "hookd_http") {
			for _, series := range m[name].GetMetric() {
				for _, lp := range series.GetLabel() {
					if lp.GetName() == "route" && strings.Contains(lp.GetValue(), app) {
						t.Errorf("%s has a raw path as its route: %q", name, lp.GetValue())
					}
				}
			}
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if _, found := m[name]; !found {
			t.Errorf("/metrics has no %s", name)
		}
	}
	s.mustCall(t, http.MethodGet, "/readyz", "", nil, http.StatusOK, nil)
	s.stop(t)

	// The head the server reported is the log's.
	store, err := badgerlog.Open(filepath.Join(data, "log"), badgerlog.Options{})
	if err != nil {
		t.Fatalf("open the stopped server's log: %v", err)
	}
	defer store.Close()
	if head, err := store.Head(eventlog.Topic); err != nil || head != entries {
		t.Errorf("log head = %d, %v; /metrics said %d", head, err, entries)
	}
}
