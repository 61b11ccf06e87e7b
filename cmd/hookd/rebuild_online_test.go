package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/internal/service"
	"github.com/hookd/hookd/internal/testkit"
)

// adminProjections is the answer of GET /v0.1/admin/projections.
type adminProjections struct {
	Data struct {
		Applied uint64 `json:"applied"`
		Head    uint64 `json:"head"`
		Rebuild *struct {
			State     string  `json:"state"`
			Processed uint64  `json:"processed"`
			Total     uint64  `json:"total"`
			SwapMS    float64 `json:"swap_ms"`
			Error     *string `json:"error"`
		} `json:"rebuild"`
	} `json:"data"`
}

// onlineLoad GETs the hooks and delivery-items lists and POSTs build
// events until stopped, and records any failed request and any list that
// got shorter than it was.
type onlineLoad struct {
	base   string
	hooks  []string
	client *http.Client
	posted atomic.Int64
	reads  atomic.Int64

	mu   sync.Mutex
	errs []string
}

func (l *onlineLoad) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) < 20 {
		l.errs = append(l.errs, fmt.Sprintf(format, args...))
	}
}

func (l *onlineLoad) do(ctx context.Context, method, path, body string) (int, []byte, bool) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.base+path, rd)
	if err != nil {
		l.fail("%s %s: %v", method, path, err)
		return 0, nil, false
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Bitrise-Event-Type", domain.EventBuildFinished)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			l.fail("%s %s: %v", method, path, err)
		}
		return 0, nil, false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		if ctx.Err() == nil {
			l.fail("%s %s: read: %v", method, path, err)
		}
		return 0, nil, false
	}
	return resp.StatusCode, b, true
}

// reader reads the lists over and over; each total must never go down.
func (l *onlineLoad) reader(ctx context.Context) {
	last := map[string]int{}
	for ctx.Err() == nil {
		paths := []string{"/v0.1/apps/" + crashApp + "/outgoing-webhooks?limit=50"}
		for _, h := range l.hooks {
			paths = append(paths, "/v0.1/apps/"+crashApp+"/outgoing-webhooks/"+h+"/delivery-items?limit=20")
		}
		for _, p := range paths {
			status, b, ok := l.do(ctx, http.MethodGet, p, "")
			if !ok {
				return
			}
			if status != http.StatusOK {
				l.fail("GET %s: %d %s", p, status, b)
				return
			}
			var page struct {
				Data   []json.RawMessage `json:"data"`
				Paging struct {
					Total int `json:"total_item_count"`
				} `json:"paging"`
			}
			if err := json.Unmarshal(b, &page); err != nil {
				l.fail("GET %s: %v", p, err)
				return
			}
			n := max(page.Paging.Total, len(page.Data))
			if n < last[p] {
				l.fail("GET %s: %d items, fewer than the %d before: a partial view", p, n, last[p])
			}
			last[p] = n
			l.reads.Add(1)
		}
	}
}

func (l *onlineLoad) poster(ctx context.Context, id int) {
	for i := 0; ctx.Err() == nil; i++ {
		body := fmt.Sprintf(`{"build_slug":"online-%d-%06d","build_number":%d,"build_status":1}`, id, i, i+1)
		status, b, ok := l.do(ctx, http.MethodPost, "/v0.1/apps/"+crashApp+"/build-events", body)
		if !ok {
			return
		}
		if status != http.StatusAccepted {
			l.fail("POST build event: %d %s", status, b)
			return
		}
		l.posted.Add(1)
	}
}

// settledViews waits until the views reflect the whole log and the log
// stops moving (the deliveries are recorded), and reads them.
func settledViews(t *testing.T, s *server, hooks []string) map[string][]any {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		var before, after adminProjections
		s.mustCall(t, http.MethodGet, "/v0.1/admin/projections", "", nil, http.StatusOK, &before)
		views := crashViews(t, s, hooks)
		time.Sleep(300 * time.Millisecond)
		s.mustCall(t, http.MethodGet, "/v0.1/admin/projections", "", nil, http.StatusOK, &after)
		if before.Data.Head == after.Data.Head && after.Data.Applied == after.Data.Head && before.Data.Applied == before.Data.Head {
			return views
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log did not settle: %+v, then %+v", before.Data, after.Data)
		}
	}
}

// offlineViews rebuilds a copy of the stopped server's data with hookd
// rebuild --data and reads its views through a server on the copy.
func offlineViews(t *testing.T, data string, hooks []string) map[string][]any {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", data, cp).CombinedOutput(); err != nil {
		t.Fatalf("copy the data directory: %v: %s", err, out)
	}
	if code, out := runHookd(t, time.Minute, nil, "rebuild", "--data", cp); code != 0 {
		t.Fatalf("hookd rebuild --data exited %d:\n%s", code, out)
	}
	s := startServer(t, "server on the offline rebuild", cp)
	defer s.stop(t)
	return crashViews(t, s, hooks)
}

func assertNoStagedViews(t *testing.T, data string) {
	t.Helper()
	for _, suffix := range []string{".rebuild", ".new", ".old"} {
		if _, err := os.Stat(filepath.Join(data, "views"+suffix)); err == nil {
			t.Errorf("views%s is left in the data directory", suffix)
		}
	}
}

func compareViews(t *testing.T, live, rebuilt map[string][]any) {
	t.Helper()
	if reflect.DeepEqual(live, rebuilt) {
		return
	}
	for k := range live {
		if !reflect.DeepEqual(live[k], rebuilt[k]) {
			w, _ := json.Marshal(live[k])
			g, _ := json.Marshal(rebuilt[k])
			t.Errorf("views of %s differ from an offline rebuild's:\nonline:  %.2000s\noffline: %.2000s", k, w, g)
		}
	}
}

// makeHooks creates n hooks of crashApp, delivering to a closed port
// (each delivery fails at once and is recorded).
func makeHooks(t *testing.T, s *server, n int) []string {
	t.Helper()
	var slugs []string
	for i := range n {
		var created struct {
			Data struct {
				Slug string `json:"slug"`
			} `json:"data"`
		}
		body := fmt.Sprintf(`{"url":"http://127.0.0.1:1/online-%d","events":["all"]}`, i)
		s.mustCall(t, http.MethodPost, "/v0.1/apps/"+crashApp+"/outgoing-webhooks", body, nil, http.StatusOK, &created)
		slugs = append(slugs, created.Data.Slug)
	}
	return slugs
}

func TestOnlineRebuildUnderLoadFailsNoRequestAndEqualsAnOfflineRebuild(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, "server", data, "HOOKD_LOG_LEVEL=debug")
	hooks := makeHooks(t, srv, 3)
	for i := range 300 {
		body := fmt.Sprintf(`{"build_slug":"before-%04d","build_number":%d,"build_status":1}`, i, i+1)
		srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+crashApp+"/build-events", body,
			map[string]string{"Bitrise-Event-Type": domain.EventBuildFinished}, http.StatusAccepted, nil)
	}

	load := &onlineLoad{base: srv.base, hooks: hooks, client: &http.Client{Timeout: 10 * time.Second}}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { load.reader(ctx) })
	}
	for i := range 2 {
		wg.Go(func() { load.poster(ctx, i) })
	}
	// Some reads before the rebuild, so that a shorter list would show.
	testkit.WaitUntil(t, 10*time.Second, "the load to start", func() bool { return load.reads.Load() > 20 && load.posted.Load() > 5 })
	readsBefore := load.reads.Load()
	code, out := runHookd(t, time.Minute, nil, "rebuild", "--server", srv.base)
	readsDuring := load.reads.Load() - readsBefore
	// Keep the load on a little after the swap.
	reads := load.reads.Load()
	testkit.WaitUntil(t, 10*time.Second, "reads after the rebuild", func() bool { return load.reads.Load() > reads+20 })
	stop()
	wg.Wait()
	load.client.CloseIdleConnections()
	if code != 0 {
		t.Fatalf("hookd rebuild --server exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "rebuild: done") || !strings.Contains(out, " events (") {
		t.Errorf("hookd rebuild --server printed no progress line and done line:\n%s", out)
	}
	if len(load.errs) > 0 {
		t.Fatalf("during the online rebuild:\n%s", strings.Join(load.errs, "\n"))
	}
	var st adminProjections
	srv.mustCall(t, http.MethodGet, "/v0.1/admin/projections", "", nil, http.StatusOK, &st)
	if st.Data.Rebuild == nil || st.Data.Rebuild.State != "done" {
		t.Fatalf("after the rebuild: %+v", st.Data)
	}
	t.Logf("hookd rebuild --server printed:\n%s", out)
	if readsDuring == 0 {
		t.Errorf("no list was read while hookd rebuild --server ran")
	}
	for _, l := range strings.Split(srv.logs.String(), "\n") {
		if strings.Contains(l, "online rebuild: the swap") {
			t.Logf("server: %s", l)
		}
	}
	t.Logf("%d list reads while hookd rebuild --server ran", readsDuring)
	t.Logf("%d events posted and %d list reads under load; rebuild of %d events; the swap held requests %.1f ms",
		load.posted.Load(), load.reads.Load(), st.Data.Rebuild.Processed, st.Data.Rebuild.SwapMS)

	live := settledViews(t, srv, hooks)
	srv.stop(t)
	assertNoStagedViews(t, data)
	compareViews(t, live, offlineViews(t, data, hooks))
}

func TestOnlineRebuildCommandSendsTheTokenAndNeverPrintsIt(t *testing.T) {
	const token = "online-rebuild-token-9f3a"
	srv := startServer(t, "server", t.TempDir(), "HOOKD_API_TOKEN="+token)
	code, out := runHookd(t, time.Minute, nil, "rebuild", "--server", srv.base)
	if code != 1 || !strings.Contains(out, "401") {
		t.Errorf("without the token: exit %d, want 1 and the 401:\n%s", code, out)
	}
	code, out = runHookd(t, time.Minute, []string{"HOOKD_API_TOKEN=" + token}, "rebuild", "--server", srv.base)
	if code != 0 || !strings.Contains(out, "rebuild: done") {
		t.Errorf("with HOOKD_API_TOKEN: exit %d, want 0:\n%s", code, out)
	}
	code, out = runHookd(t, time.Minute, []string{"HOOKD_SERVER=" + srv.base}, "rebuild", "--token", token)
	if code != 0 {
		t.Errorf("with HOOKD_SERVER and --token: exit %d, want 0:\n%s", code, out)
	}
	if strings.Contains(out, token) {
		t.Errorf("hookd rebuild --server printed the token:\n%s", out)
	}
	srv.stop(t)
}

func TestSIGKILLDuringAnOnlineRebuildLeavesCompleteViewsAndNoPartialOnes(t *testing.T) {
	data := t.TempDir()
	appendBuildEvents(t, data, 30000)
	srv := startServer(t, "server", data)
	var st adminProjections
	testkit.WaitUntil(t, time.Minute, "the views to catch up at start", func() bool {
		srv.mustCall(t, http.MethodGet, "/v0.1/admin/projections", "", nil, http.StatusOK, &st)
		return st.Data.Head > 0 && st.Data.Applied == st.Data.Head
	})
	before := buildEventViews(t, srv)
	srv.mustCall(t, http.MethodPost, "/v0.1/admin/projections/rebuild", "", nil, http.StatusAccepted, nil)
	// Kill it once the rebuild has applied something, and before it ends.
	deadline := time.Now().Add(time.Minute)
	for {
		srv.mustCall(t, http.MethodGet, "/v0.1/admin/projections", "", nil, http.StatusOK, &st)
		rb := st.Data.Rebuild
		if rb == nil || rb.State != "running" {
			t.Fatalf("the rebuild is not running: %+v (make the log longer)", rb)
		}
		if rb.Processed > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the rebuild processed nothing within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(data, "views.rebuild")); err != nil {
		t.Errorf("no views.rebuild while the rebuild runs: %v", err)
	}
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	srv = startServer(t, "server after the kill", data)
	after := buildEventViews(t, srv)
	assertNoStagedViews(t, data)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("after the kill the views differ: %d pages before, %d after", len(before), len(after))
	}
	srv.stop(t)
}

// buildEventViews reads every page of crashApp's build events.
func buildEventViews(t *testing.T, s *server) []any {
	t.Helper()
	var out []any
	next := ""
	for page := 0; page < 10000; page++ {
		path := "/v0.1/apps/" + crashApp + "/build-events?limit=50"
		if next != "" {
			path += "&next=" + url.QueryEscape(next)
		}
		var p map[string]any
		s.mustCall(t, http.MethodGet, path, "", nil, http.StatusOK, &p)
		out = append(out, p["data"])
		paging, _ := p["paging"].(map[string]any)
		if next, _ = paging["next"].(string); next == "" {
			return out
		}
	}
	t.Fatal("more than 10000 pages of build events")
	return nil
}

// appendBuildEvents appends n build events of crashApp to the log in
// data, in-process (no server running), in groups of 1000.
func appendBuildEvents(t *testing.T, data string, n int) {
	t.Helper()
	logDir, _ := service.DataDirs(data)
	store, err := badgerlog.Open(logDir, badgerlog.Options{HeadFile: service.HeadFile(data)})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	pub := eventlog.NewPublisher(store)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for done := 0; done < n; {
		batch := min(1000, n-done)
		msgs := make([]*message.Message, 0, batch)
		for i := done; i < done+batch; i++ {
			m, err := eventlog.EncodeEvent(fmt.Sprintf("kill-msg-%06d", i), domain.BuildEventReceived{
				EventID: fmt.Sprintf("kill-event-%06d", i), AppSlug: crashApp, EventType: domain.EventBuildFinished,
				Build:      domain.BuildPayload{BuildSlug: fmt.Sprintf("kill-%06d", i), BuildNumber: int64(i + 1), AppSlug: crashApp, BuildStatus: 1},
				ReceivedAt: at.Add(time.Duration(i) * time.Millisecond),
			})
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, m)
		}
		if _, err := pub.Append(context.Background(), eventlog.Topic, msgs...); err != nil {
			t.Fatal(err)
		}
		done += batch
	}
}
