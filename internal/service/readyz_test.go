package service

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/internal/testkit"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/transport/httpapi"
	"github.com/hookd/hookd/transport/metrics"
	"github.com/hookd/hookd/transport/webhook"
)

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
	scrapeNow := func() testkit.Scrape {
		t.Helper()
		code, body := get("/metrics")
		if code != http.StatusOK {
			t.Fatalf("GET /metrics = %d %s", code, body)
		}
		return testkit.ParseMetrics(t, []byte(body))
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
	m.Expect(t, maxReadyLag+1, "hookd_log_head_sequence")
	m.Expect(t, maxReadyLag+1, "hookd_consumer_lag", "group", projectionsGroup)
	m.Expect(t, maxReadyLag+1, "hookd_consumer_lag", "group", "dispatcher") // no dispatcher runs here
	m.Expect(t, maxReadyLag+1, "hookd_log_appends_total")
	m.Expect(t, 1, "hookd_log_append_duration_seconds")

	runCtx, stopRunner := context.WithCancel(ctx)
	runnerDone := make(chan error, 1)
	go func() { runnerDone <- runner.Run(runCtx) }()
	if err := runner.WaitFor(ctx, maxReadyLag+1); err != nil {
		t.Fatalf("views did not catch up: %v", err)
	}
	expect("/readyz", http.StatusServiceUnavailable, fmt.Sprintf("dispatcher is %d events behind", maxReadyLag+1))
	dispatcherDone := make(chan error, 1)
	go func() { dispatcherDone <- dispatcher.Run(runCtx) }()
	testkit.WaitUntil(t, 10*time.Second, "the dispatcher to catch up", func() bool { return dispatcher.Position() == maxReadyLag+1 })
	expect("/readyz", http.StatusOK)
	m = scrapeNow()
	m.Expect(t, 0, "hookd_consumer_lag", "group", projectionsGroup)
	m.Expect(t, 0, "hookd_consumer_lag", "group", "dispatcher")

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
	m.Expect(t, 2, "hookd_log_append_errors_total")
	m.Expect(t, maxReadyLag+1, "hookd_log_appends_total")
	m.Expect(t, maxReadyLag+1, "hookd_log_head_sequence")

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
	m.Expect(t, 2, "hookd_log_append_errors_total")
	m.Expect(t, 4, "hookd_http_requests_total", "route", "/healthz", "method", "GET", "code", "200")
	m.Expect(t, 5, "hookd_http_requests_total", "route", "/readyz", "method", "GET", "code", "503")
}
