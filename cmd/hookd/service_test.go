package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/service"
	"github.com/hookd/hookd/internal/testkit"
)

// busyAddr is a loopback address something already listens on.
func busyAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func TestServeOnABusyPortFailsBeforeCreatingAnything(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(busy string) []string
		want string
	}{
		{"--addr", func(busy string) []string { return []string{"--addr", busy} }, "--addr: listen on"},
		{"--pprof", func(busy string) []string { return []string{"--addr", "127.0.0.1:0", "--pprof", busy} }, "--pprof: listen on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			var stderr bytes.Buffer
			args := append([]string{"serve", "--data", data}, tc.args(busyAddr(t))...)
			code := run(t.Context(), args, func(string) string { return "" }, io.Discard, &stderr)
			if code != 1 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("serve with a busy %s: exit %d, stderr %q; want 1 naming the flag", tc.name, code, stderr.String())
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("serve with a busy %s left %s behind (stat: %v); nothing should be created before every listener is bound", tc.name, data, err)
			}
		})
	}
}

// newService is service.New from serve's flags, as `hookd serve` calls it.
func newService(cfg serveConfig, getenv func(string) string, logger *slog.Logger) (*service.Service, error) {
	return service.New(cfg.serviceConfig(getenv), logger)
}

// startService builds and runs the service in this process.
func startService(t *testing.T, data string, logs io.Writer) (*service.Service, <-chan error) {
	t.Helper()
	cfg, err := parseServe([]string{"--addr", "127.0.0.1:0", "--data", data, "--allow-private-targets"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := newService(cfg, func(string) string { return "" }, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	done := make(chan error, 1)
	go func() { done <- svc.Run(context.Background()) }()
	testkit.WaitUntil(t, pollTimeout, "the service to answer /healthz", func() bool {
		resp, err := http.Get("http://" + svc.Addr() + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	return svc, done
}

func TestAServiceWhoseLogFailsUnderItStopsWithAnError(t *testing.T) {
	var logs testkit.SyncBuffer
	svc, done := startService(t, t.TempDir(), &logs)
	// The log goes away under the running service, as a failed disk or a
	// closed subscription would take it: the dispatcher and the
	// projections cannot read it any more.
	if err := svc.Log().Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil after the log failed: the process would exit 0 or keep answering 202 while nothing delivers")
		}
		if !strings.Contains(err.Error(), "dispatcher") && !strings.Contains(err.Error(), "projections") {
			t.Errorf("Run: %v, want it to name the part that stopped", err)
		}
	case <-time.After(stopTimeout):
		t.Fatal("the service kept running after its log failed")
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("no ERROR was logged for the failure:\n%s", logs.String())
	}
}

func TestARestartAfterACleanStopReadsNoEntryAgain(t *testing.T) {
	data := t.TempDir()
	recv := newReceiver(t)
	srv := startServer(t, "first", data)
	var created struct {
		Data struct{ Slug string } `json:"data"`
	}
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks",
		`{"url": "`+recv.URL()+`/hook", "events": ["all"]}`, nil, http.StatusOK, &created)
	for i := range 20 {
		srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events", fmt.Sprintf(`{"build_slug":"b%d","build_number":1,"build_status":1}`, i),
			map[string]string{"Bitrise-Event-Type": "build/finished"}, http.StatusAccepted, nil)
	}
	recv.WaitForCount(t, 20, pollTimeout)
	testkit.WaitUntil(t, pollTimeout, "every delivery to be recorded", func() bool {
		list, _ := listItems(t, srv, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks/"+created.Data.Slug)
		return len(list.Data) == 20
	})
	srv.stop(t)

	again := startServer(t, "second", data)
	var caughtUp struct {
		Head        uint64 `json:"head"`
		EntriesRead *int   `json:"entries_read"`
		Waiting     *int   `json:"waiting"`
	}
	testkit.WaitUntil(t, pollTimeout, "the dispatcher to say it caught up", func() bool {
		for _, line := range strings.Split(again.logs.String(), "\n") {
			if strings.Contains(line, `"dispatcher caught up with the log"`) {
				return json.Unmarshal([]byte(line), &caughtUp) == nil
			}
		}
		return false
	})
	// 1 hook + 20 build events + 20 requests + 20 attempts.
	if caughtUp.Head != 61 || caughtUp.EntriesRead == nil || *caughtUp.EntriesRead != 0 || caughtUp.Waiting == nil || *caughtUp.Waiting != 0 {
		t.Errorf("after a clean stop the restart read %v entries of a log of %d with %v waiting; want 0 of 61 and 0: start-up must not rescan the log",
			caughtUp.EntriesRead, caughtUp.Head, caughtUp.Waiting)
	}
	again.stop(t)
	if n := recv.Count(); n != 20 {
		t.Errorf("the receiver got %d requests, want 20: the restart sent something again", n)
	}
}

func TestAFailedDeliveryIsLoggedAtWarnWithoutItsBody(t *testing.T) {
	srv := startServer(t, "warn", t.TempDir())
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks",
		`{"url": "http://`+freeAddr(t)+`/down", "events": ["all"], "secret": "s3cret-value"}`, nil, http.StatusOK, nil)
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events", `{"build_slug":"warn-body-marker","build_number":1,"build_status":1}`,
		map[string]string{"Bitrise-Event-Type": "build/finished"}, http.StatusAccepted, nil)
	var line string
	testkit.WaitUntil(t, pollTimeout, "a WARN line for the failed delivery", func() bool {
		for _, l := range strings.Split(srv.logs.String(), "\n") {
			if strings.Contains(l, `"level":"WARN"`) && strings.Contains(l, "delivery failed") {
				line = l
				return true
			}
		}
		return false
	})
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	for _, k := range []string{"app", "hook", "host", "error"} {
		if rec[k] == nil || rec[k] == "" {
			t.Errorf("the WARN line lacks %q: %s", k, line)
		}
	}
	if rec["msg"] == "delivered" || strings.Contains(line, "warn-body-marker") || strings.Contains(line, "s3cret-value") {
		t.Errorf("the WARN line says delivered, or holds the body or the secret: %s", line)
	}
	srv.stop(t)
}
