package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hookd/hookd/internal/diskspace"
	"github.com/hookd/hookd/internal/service"
	"github.com/hookd/hookd/internal/testkit"
)

// fakeDisk is a free-space probe the test sets: a 10 GiB filesystem with
// free bytes free.
type fakeDisk struct{ free atomic.Uint64 }

func (d *fakeDisk) probe(string) (diskspace.Usage, error) {
	return diskspace.Usage{Free: d.free.Load(), Total: 10 << 30}, nil
}

// call makes one request to the in-process service.
func callService(t *testing.T, svc *service.Service, method, path, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+svc.Addr()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// With the free space below the reserve, hookd refuses writes with a 503
// that says the disk is full, /readyz and the metrics say so, one ERROR is
// logged, and a delivery whose attempt could not be recorded waits; once
// space is freed everything goes on without a restart and nothing is lost.
func TestAFullDiskIsA503AndRecoversWithoutARestart(t *testing.T) {
	disk := &fakeDisk{}
	disk.free.Store(5 << 30)
	var logs testkit.SyncBuffer
	cfg, err := parseServe([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--allow-private-targets"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.diskProbe = disk.probe
	svc, err := newService(cfg, func(string) string { return "" }, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	// The receiver holds the second request until released, so its
	// attempt is recorded only after the disk has filled.
	release := make(chan struct{})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce) // before the receiver closes, should the test stop early
	var got atomic.Int64
	arrived := make(chan struct{}, 8)
	recv := newHoldingReceiver(t, &got, arrived, release)
	testkit.WaitUntil(t, pollTimeout, "the service to answer /readyz", func() bool {
		code, _ := callService(t, svc, http.MethodGet, "/readyz", "", nil)
		return code == http.StatusOK
	})
	hooks := "/v0.1/apps/" + e2eApp + "/outgoing-webhooks"
	code, body := callService(t, svc, http.MethodPost, hooks, `{"url": "`+recv+`", "events": ["all"]}`, nil)
	if code != http.StatusOK {
		t.Fatalf("create hook: %d %s", code, body)
	}
	var hook struct {
		Data struct{ Slug string } `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &hook); err != nil {
		t.Fatal(err)
	}
	buildEvent := func(slug string) (int, string) {
		return callService(t, svc, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events",
			`{"build_slug":"`+slug+`","build_number":1,"build_status":1}`, map[string]string{"Bitrise-Event-Type": "build/finished"})
	}
	items := func() int {
		_, b := callService(t, svc, http.MethodGet, hooks+"/"+hook.Data.Slug+"/delivery-items?limit=50", "", nil)
		var page struct {
			Data []struct {
				Status *int `json:"response_status"`
			} `json:"data"`
		}
		_ = json.Unmarshal([]byte(b), &page)
		return len(page.Data)
	}
	if code, body := buildEvent("before"); code != http.StatusAccepted {
		t.Fatalf("build event with space: %d %s", code, body)
	}
	<-arrived
	testkit.WaitUntil(t, pollTimeout, "the first delivery to be recorded", func() bool { return items() == 1 })
	if code, body := buildEvent("held"); code != http.StatusAccepted {
		t.Fatalf("second build event with space: %d %s", code, body)
	}
	<-arrived // its send is under way, held by the receiver

	disk.free.Store(100 << 20) // below the default reserve of 256 MiB
	// The guard measures at most every 100 ms before an append and every
	// second in the background; /readyz shows its last measure.
	testkit.WaitUntil(t, pollTimeout, "/readyz to say the disk is full", func() bool {
		code, body := callService(t, svc, http.MethodGet, "/readyz", "", nil)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "the disk is full")
	})
	for _, c := range []struct{ method, path, body string }{
		{http.MethodPost, "/v0.1/apps/" + e2eApp + "/build-events", `{"build_slug":"refused","build_number":2,"build_status":1}`},
		{http.MethodPost, hooks, `{"url": "` + recv + `", "events": ["all"]}`},
		{http.MethodDelete, hooks + "/" + hook.Data.Slug, ""},
	} {
		code, body := callService(t, svc, c.method, c.path, c.body, map[string]string{"Bitrise-Event-Type": "build/finished"})
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "the disk is full") || !strings.Contains(body, "nothing of this request was recorded") {
			t.Errorf("%s %s on a full disk: %d %s; want 503 saying the disk is full", c.method, c.path, code, body)
		}
	}
	_, m := callService(t, svc, http.MethodGet, "/metrics", "", nil)
	if !strings.Contains(m, "hookd_appends_held 1") || !strings.Contains(m, "hookd_disk_free_bytes 1.048576e+08") {
		t.Errorf("metrics on a full disk lack hookd_appends_held 1 or the free bytes:\n%s", grepLines(m, "hookd_appends_held", "hookd_disk_"))
	}
	// Reads still work, and the held delivery's attempt waits.
	releaseOnce()
	testkit.WaitUntil(t, pollTimeout, "the dispatcher to say deliveries wait", func() bool {
		return strings.Contains(logs.String(), "deliveries wait")
	})
	if n := items(); n != 1 {
		t.Fatalf("delivery items while the disk is full: %d, want 1 (the second attempt cannot be recorded yet)", n)
	}
	if n := strings.Count(logs.String(), "disk full: refusing appends"); n != 1 {
		t.Errorf("the full disk was logged %d times at ERROR, want once", n)
	}

	disk.free.Store(5 << 30)
	testkit.WaitUntil(t, pollTimeout, "the held attempt to be recorded once space is back", func() bool { return items() == 2 })
	if code, body := buildEvent("after"); code != http.StatusAccepted {
		t.Fatalf("build event after space is freed: %d %s", code, body)
	}
	testkit.WaitUntil(t, pollTimeout, "the build event after the disk full to be delivered", func() bool { return items() == 3 })
	if code, body := callService(t, svc, http.MethodGet, "/readyz", "", nil); code != http.StatusOK {
		t.Errorf("/readyz after space is freed: %d %s", code, body)
	}
	if g := got.Load(); g != 3 {
		t.Errorf("the receiver got %d requests, want 3 (none lost, none repeated)", g)
	}
	if !strings.Contains(logs.String(), "disk space available again") {
		t.Errorf("no INFO line says appends resumed")
	}
}

// newHoldingReceiver answers 200 at once to its first request and holds
// the later ones until release is closed; each request is signalled on
// arrived as it comes in.
func newHoldingReceiver(t *testing.T, got *atomic.Int64, arrived chan<- struct{}, release <-chan struct{}) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n := got.Add(1)
		arrived <- struct{}{}
		if n > 1 {
			<-release
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hook"
}

func grepLines(s string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n")
}
