package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testkit"
)

// idleHooks is how many hooks the idle test configures: enough that
// anything rewriting the hook registry shows at once.
const idleHooks = 1000

// maxIdleGrowth is what the data directory may grow by in a measurement
// window.
const maxIdleGrowth = 1 << 20

// A server with nothing to do writes nothing: its data directory stays the
// size it was, however many hooks it holds. Nor does a build event that no
// hook wants make it write more than the event itself. (The dispatcher's
// old checkpoint rewrote the whole hook registry, about 0.5 MiB for 1,000
// hooks, every 2 s while entries came in, and Badger never got the space
// back.)
func TestServerWithManyHooksDoesNotGrowWhileIdle(t *testing.T) {
	idle, busy := 60*time.Second, 30*time.Second
	if testing.Short() {
		idle, busy = 15*time.Second, 10*time.Second
	}
	data := t.TempDir()
	recv := newReceiver(t)
	srv := startServer(t, "idle server", data)

	configureHooks(t, srv, recv.URL(), idleHooks)
	const listPath = "/v0.1/apps/" + e2eApp + "/outgoing-webhooks?limit=1"
	testkit.WaitUntil(t, pollTimeout, fmt.Sprintf("the views to list %d hooks", idleHooks), func() bool {
		var list struct {
			Paging struct {
				TotalItemCount int `json:"total_item_count"`
			} `json:"paging"`
		}
		srv.mustCall(t, http.MethodGet, listPath, "", nil, http.StatusOK, &list)
		return list.Paging.TotalItemCount == idleHooks
	})

	t.Run("idle", func(t *testing.T) {
		// Nothing is sent to the server during the window.
		measureGrowth(t, data, idle, func() {})
	})
	t.Run("build events of an app without hooks", func(t *testing.T) {
		// Two small events a second, each for the dispatcher to look at
		// and find no hook for: what they add to the log and the views is
		// a few KiB in all.
		body := strings.ReplaceAll(buildFinishedInput, e2eApp, "app-without-hooks")
		events := 0
		measureGrowth(t, data, busy, func() {
			// One body, new events: each its own Idempotency-Key (the
			// build slug alone would make every one after the first a repeat).
			srv.mustCall(t, http.MethodPost, "/v0.1/apps/app-without-hooks/build-events", body,
				map[string]string{"Bitrise-Event-Type": "build/finished", "Idempotency-Key": fmt.Sprint("idle-", events)}, http.StatusAccepted, nil)
			events++
		})
		t.Logf("%d build events sent", events)
	})
	if got := len(recv.Requests()); got != 0 {
		t.Errorf("the receiver got %d requests, want none: no build event was for its hooks", got)
	}
	srv.stop(t)
}

// measureGrowth samples the disk usage of data every 500 ms for d, calling
// each before each sample, and fails if it ever exceeded its size at the
// start by more than maxIdleGrowth. This waiting is the measurement
// window, not synchronisation.
func measureGrowth(t *testing.T, data string, d time.Duration, each func()) {
	t.Helper()
	start, err := diskUsage(data)
	if err != nil {
		t.Fatal(err)
	}
	worst := start
	var last int64
	for end := time.Now().Add(d); time.Now().Before(end); {
		each()
		time.Sleep(500 * time.Millisecond)
		if last, err = diskUsage(data); err != nil {
			t.Fatal(err)
		}
		worst = max(worst, last)
	}
	t.Logf("data directory over %s: %s at the start, %s at the end (%s), at most %s (%s)", d,
		humanBytes(start), humanBytes(last), signedBytes(last-start), humanBytes(worst), signedBytes(worst-start))
	if worst-start > maxIdleGrowth {
		t.Errorf("the data directory grew by up to %s in %s (from %s), want at most %s",
			signedBytes(worst-start), d, humanBytes(start), humanBytes(maxIdleGrowth))
	}
}

// configureHooks creates n hooks of app e2eApp pointing at base, each with
// a secret and two custom headers, a few at a time.
func configureHooks(t *testing.T, srv *server, base string, n int) {
	t.Helper()
	const workers = 8
	idx := make(chan int)
	errs := make(chan error, workers) // one per worker at most
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range idx {
				if failed.Load() {
					continue
				}
				if err := createHook(srv, base, i); err != nil {
					failed.Store(true)
					errs <- err
				}
			}
		})
	}
	for i := range n {
		idx <- i
	}
	close(idx)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func createHook(srv *server, base string, i int) error {
	body, err := json.Marshal(map[string]any{
		"url":     fmt.Sprintf("%s/hooks/%d", base, i),
		"events":  []string{"build/triggered", "build/finished"},
		"headers": map[string]string{"X-Team": fmt.Sprintf("team-%d", i%17), "X-Hook-Number": fmt.Sprint(i)},
		"secret":  fmt.Sprintf("idle-secret-%04d-%s", i, strings.Repeat("s", 24)),
	})
	if err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPost, srv.base+"/v0.1/apps/"+e2eApp+"/outgoing-webhooks", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("create hook %d: %w", i, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("create hook %d: status %d: %s", i, resp.StatusCode, b)
	}
	return nil
}

// signedBytes is humanBytes with a sign.
func signedBytes(n int64) string {
	if n < 0 {
		return "-" + humanBytes(-n)
	}
	return "+" + humanBytes(n)
}
