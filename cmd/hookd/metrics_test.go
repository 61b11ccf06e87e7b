package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/transport/httpapi"
	"github.com/hookd/hookd/transport/metrics"
	"github.com/hookd/hookd/transport/webhook"
)

// scrape is one parsed answer of /metrics.
type scrape map[string]*dto.MetricFamily

func parseMetrics(t *testing.T, body []byte) scrape {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return mfs
}

// get is the value of name{labels} (labels given as name, value pairs): a
// counter's or gauge's value, a histogram's sample count; ok false if the
// series is absent.
func (s scrape) get(name string, labels ...string) (float64, bool) {
	mf := s[name]
	if mf == nil {
		return 0, false
	}
series:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(labels)/2 {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// sum adds up every series of name (histograms: their sample counts).
func (s scrape) sum(name string) float64 {
	var total float64
	for _, m := range s[name].GetMetric() {
		total += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return total
}

// expect fails the test unless name{labels} is present and equals want.
func (s scrape) expect(t *testing.T, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := s.get(name, labels...)
	if !ok {
		t.Errorf("/metrics has no %s%v", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v = %v, want %v", name, labels, got, want)
	}
}

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
	unavailable := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(unavailable.Close)
	data := t.TempDir()
	s := startServer(t, "metrics", data)

	s.mustCall(t, http.MethodGet, "/healthz", "", nil, http.StatusOK, nil)
	s.mustCall(t, http.MethodGet, "/readyz", "", nil, http.StatusOK, nil)
	before := s.scrape(t)
	before.expect(t, 0, "hookd_log_head_sequence")
	before.expect(t, 0, "hookd_log_appends_total")
	before.expect(t, 0, "hookd_deliveries_in_flight")
	if n := before.sum("hookd_deliveries_total"); n != 0 {
		t.Errorf("deliveries before any traffic: %v", n)
	}

	const app = "app-metrics"
	hooks := "/v0.1/apps/" + app + "/outgoing-webhooks"
	for _, url := range []string{ok.srv.URL + "/ok", unavailable.URL + "/unavailable", "http://" + freeAddr(t) + "/down"} {
		s.mustCall(t, http.MethodPost, hooks, fmt.Sprintf(`{"url": %q, "events": ["all"]}`, url), nil, http.StatusOK, nil)
	}
	for i := range 3 {
		body := fmt.Sprintf(`{"build_slug": "metrics-%d", "build_number": %d, "build_status": 1}`, i, i+1)
		s.mustCall(t, http.MethodPost, "/v0.1/apps/"+app+"/build-events", body,
			map[string]string{"Bitrise-Event-Type": domain.EventBuildFinished}, http.StatusAccepted, nil)
	}

	// 3 hooks + 3 build events + 9 requests (one Append per build event)
	// + 9 attempts, one Append each.
	const entries, appends = 3 + 3 + 9 + 9, 3 + 3 + 3 + 9
	var m scrape
	eventually(t, pollTimeout, "9 deliveries recorded and every consumer caught up", func() bool {
		m = s.scrape(t)
		n, _ := m.get("hookd_log_appends_total")
		d, _ := m.get("hookd_consumer_lag", "group", "dispatcher")
		p, _ := m.get("hookd_consumer_lag", "group", "projections")
		return m.sum("hookd_delivery_duration_seconds") == 9 && n == entries && d == 0 && p == 0
	})
	ok.waitFor(t, 3)

	for _, outcome := range []string{"2xx", "5xx", "error"} {
		m.expect(t, 3, "hookd_deliveries_total", "outcome", outcome, "event_type", domain.EventBuildFinished)
		m.expect(t, 3, "hookd_delivery_duration_seconds", "outcome", outcome)
	}
	if n := m.sum("hookd_deliveries_total"); n != 9 {
		t.Errorf("hookd_deliveries_total adds up to %v, want 9", n)
	}
	m.expect(t, 0, "hookd_delivery_duration_seconds", "outcome", "4xx")
	m.expect(t, 0, "hookd_deliveries_in_flight")
	m.expect(t, entries, "hookd_log_appends_total")
	m.expect(t, appends, "hookd_log_append_duration_seconds") // one per Append call
	m.expect(t, 0, "hookd_log_append_errors_total")
	m.expect(t, entries, "hookd_log_head_sequence")
	m.expect(t, 0, "hookd_consumer_lag", "group", "dispatcher")
	m.expect(t, 0, "hookd_consumer_lag", "group", "projections")
	m.expect(t, 3, "hookd_http_requests_total", "route", "/v0.1/apps/{app-slug}/outgoing-webhooks", "method", "POST", "code", "200")
	m.expect(t, 3, "hookd_http_requests_total", "route", "/v0.1/apps/{app-slug}/build-events", "method", "POST", "code", "202")
	m.expect(t, 1, "hookd_http_requests_total", "route", "/readyz", "method", "GET", "code", "200")
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

// TestReadyzAndMetricsFollowTheLogAndTheViews wires the real log, views,
// readiness and metrics in-process: /readyz answers 200 when healthy,
// 503 while the views trail the log by more than maxReadyLag, 503 once the
// log refuses appends (its failure is sticky) and 503 once it is closed,
// while /healthz stays 200 and /metrics keeps answering.
func TestReadyzAndMetricsFollowTheLogAndTheViews(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	reg, obs, err := newMetrics()
	if err != nil {
		t.Fatal(err)
	}
	store, err := badgerlog.Open(filepath.Join(t.TempDir(), "log"), badgerlog.Options{OnAppend: obs.LogAppended})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	views, err := projections.OpenViews(filepath.Join(t.TempDir(), "views"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer views.Close()
	runner, err := projections.NewRunner(store, views, nil)
	if err != nil {
		t.Fatal(err)
	}
	dispatcher := webhook.NewDispatcher(store, store, eventlog.NewPublisher(store), webhook.NewSender(webhook.SenderConfig{}), webhook.DispatcherConfig{})
	if err := watchLog(obs, store, runner, dispatcher); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.NewRouter(httpapi.Config{
		Ready: readiness(store, nil, nil, runner, dispatcher), Metrics: metrics.Handler(reg, nil), ObserveRequest: obs.HTTPRequest,
	}))
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	expect := func(path string, want int, words ...string) {
		t.Helper()
		code, body := get(path)
		if code != want {
			t.Fatalf("GET %s = %d %s, want %d", path, code, body, want)
		}
		for _, w := range words {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s = %s, want it to mention %q", path, body, w)
			}
		}
	}
	scrapeNow := func() scrape {
		t.Helper()
		code, body := get("/metrics")
		if code != http.StatusOK {
			t.Fatalf("GET /metrics = %d %s", code, body)
		}
		return parseMetrics(t, []byte(body))
	}
	events := func(n int) []eventlog.AppendMessage {
		msgs := make([]eventlog.AppendMessage, n)
		for i := range msgs {
			ev := domain.BuildEventReceived{EventID: uuid.NewString(), AppSlug: "app-ready", EventType: domain.EventBuildFinished,
				ReceivedAt: time.Now().UTC(), Build: domain.BuildPayload{BuildSlug: fmt.Sprint(i), BuildNumber: int64(i), AppSlug: "app-ready"}}
			m, err := eventlog.EncodeEvent(ev.EventID, ev)
			if err != nil {
				t.Fatal(err)
			}
			msgs[i] = eventlog.AppendMessage{UUID: m.UUID, Metadata: m.Metadata, Payload: m.Payload}
		}
		return msgs
	}

	expect("/healthz", http.StatusOK)
	expect("/readyz", http.StatusOK, "ready")

	// The views and the dispatcher trail by more than the bound: not ready, until they catch up.
	if _, err := store.Append(ctx, eventlog.Topic, events(maxReadyLag+1)...); err != nil {
		t.Fatal(err)
	}
	expect("/readyz", http.StatusServiceUnavailable, fmt.Sprintf("%d events behind", maxReadyLag+1))
	expect("/healthz", http.StatusOK)
	m := scrapeNow()
	m.expect(t, maxReadyLag+1, "hookd_log_head_sequence")
	m.expect(t, maxReadyLag+1, "hookd_consumer_lag", "group", projectionsGroup)
	m.expect(t, maxReadyLag+1, "hookd_consumer_lag", "group", "dispatcher") // no dispatcher runs here
	m.expect(t, maxReadyLag+1, "hookd_log_appends_total")
	m.expect(t, 1, "hookd_log_append_duration_seconds")

	runCtx, stopRunner := context.WithCancel(ctx)
	runnerDone := make(chan error, 1)
	go func() { runnerDone <- runner.Run(runCtx) }()
	if err := runner.WaitFor(ctx, maxReadyLag+1); err != nil {
		t.Fatalf("views did not catch up: %v", err)
	}
	expect("/readyz", http.StatusServiceUnavailable, fmt.Sprintf("dispatcher is %d events behind", maxReadyLag+1))
	dispatcherDone := make(chan error, 1)
	go func() { dispatcherDone <- dispatcher.Run(runCtx) }()
	eventually(t, 10*time.Second, "the dispatcher to catch up", func() bool { return dispatcher.Position() == maxReadyLag+1 })
	expect("/readyz", http.StatusOK)
	m = scrapeNow()
	m.expect(t, 0, "hookd_consumer_lag", "group", projectionsGroup)
	m.expect(t, 0, "hookd_consumer_lag", "group", "dispatcher")

	// The log refuses a commit (as a failing disk does): not ready, and stays so.
	sw := store.DB().NewStreamWriter()
	_ = sw.PrepareIncremental()
	_, err = store.Append(ctx, eventlog.Topic, events(2)...)
	sw.Cancel()
	if err == nil {
		t.Fatal("Append while Badger refuses writes succeeded")
	}
	expect("/readyz", http.StatusServiceUnavailable, "event log", "unavailable")
	if _, err := store.Append(ctx, eventlog.Topic, events(1)...); err == nil {
		t.Fatal("Append after a failed commit succeeded; the failure should be sticky")
	}
	expect("/readyz", http.StatusServiceUnavailable, "unavailable")
	expect("/healthz", http.StatusOK)
	m = scrapeNow()
	m.expect(t, 2, "hookd_log_append_errors_total")
	m.expect(t, maxReadyLag+1, "hookd_log_appends_total")
	m.expect(t, maxReadyLag+1, "hookd_log_head_sequence")

	// Closed: not ready; /metrics still answers with what it can read.
	stopRunner()
	if err := <-runnerDone; err != nil {
		t.Fatalf("runner: %v", err)
	}
	if err := <-dispatcherDone; err != nil {
		t.Fatalf("dispatcher: %v", err)
	}
	_ = store.Close()
	expect("/readyz", http.StatusServiceUnavailable, "closed")
	expect("/healthz", http.StatusOK)
	m = scrapeNow()
	m.expect(t, 2, "hookd_log_append_errors_total")
	m.expect(t, 4, "hookd_http_requests_total", "route", "/healthz", "method", "GET", "code", "200")
	m.expect(t, 5, "hookd_http_requests_total", "route", "/readyz", "method", "GET", "code", "503")
}
