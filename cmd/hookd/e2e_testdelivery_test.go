package main

// End-to-end tests of POST .../test: one signed test payload to one hook,
// recorded as a test delivery item, sent once across restarts and again,
// with the same Webhook-Id, after a crash in flight.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/internal/testkit"
)

type testAccepted struct {
	Data struct {
		Slug      string `json:"slug"`
		BuildSlug string `json:"build_slug"`
	} `json:"data"`
}

// testItem is what these tests read of a delivery item.
type testItem struct {
	Slug               string  `json:"slug"`
	Test               bool    `json:"test"`
	BuildEventID       *string `json:"build_event_id"`
	BuildSlug          string  `json:"build_slug"`
	EventType          string  `json:"event_type"`
	ResponseHTTPStatus *int    `json:"response_http_status"`
	RequestPayload     string  `json:"request_payload"`
}

// waitTestItem waits until the hook's item slug is readable and returns it.
func waitTestItem(t *testing.T, srv *server, hookPath, slug string) testItem {
	t.Helper()
	var out struct{ Data testItem }
	testkit.WaitUntil(t, pollTimeout, "the test delivery item "+slug, func() bool {
		status, b := srv.call(t, http.MethodGet, hookPath+"/delivery-items/"+slug, "", nil)
		return status == http.StatusOK && json.Unmarshal(b, &out) == nil
	})
	return out.Data
}

// logCounts counts the server's log entries by type (wire name without
// its version), read through GET /v0.1/log/entries.
func logCounts(t *testing.T, srv *server) map[string]int {
	t.Helper()
	status, b := srv.call(t, http.MethodGet, "/v0.1/log/entries", "", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /v0.1/log/entries: %d %s", status, b)
	}
	counts := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var e struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("log entry %q: %v", sc.Text(), err)
		}
		counts[e.Type]++
	}
	return counts
}

func TestTestDeliveryIsSentOnceSignedAndRecordedAsATestItem(t *testing.T) {
	dataDir := t.TempDir()
	rc, other := newReceiver(t), newReceiver(t)
	srv := startServer(t, "server", dataDir)
	var hook struct{ Data struct{ Slug string } }
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks",
		fmt.Sprintf(`{"url": %q, "events": ["build/finished"], "secret": %q}`, rc.URL()+"/hook", e2eSecret), nil, http.StatusOK, &hook)
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks",
		fmt.Sprintf(`{"url": %q, "events": ["all"]}`, other.URL()+"/other"), nil, http.StatusOK, nil)
	hookPath := "/v0.1/apps/" + e2eApp + "/outgoing-webhooks/" + hook.Data.Slug

	var acc testAccepted
	srv.mustCall(t, http.MethodPost, hookPath+"/test", "", nil, http.StatusAccepted, &acc)
	got := rc.WaitForCount(t, 1, pollTimeout)[0]
	if got.Method != http.MethodPost || got.Path != "/hook" {
		t.Errorf("test request %s %s, want POST /hook", got.Method, got.Path)
	}
	if et := got.Header.Get("Bitrise-Event-Type"); et != "build/finished" {
		t.Errorf("Bitrise-Event-Type %q, want build/finished", et)
	}
	if id := got.Header.Get("Webhook-Id"); id != acc.Data.Slug {
		t.Errorf("Webhook-Id %q, want the test's slug %q", id, acc.Data.Slug)
	}
	if !domain.VerifySignature(e2eSecret, got.Body, got.Header.Get("Bitrise-Hook-Signature")) {
		t.Errorf("Bitrise-Hook-Signature %q does not verify", got.Header.Get("Bitrise-Hook-Signature"))
	}
	if err := verifyStandard(t, e2eSecret, got); err != nil {
		t.Errorf("Webhook-Signature does not verify: %v", err)
	}
	var p struct {
		BuildSlug   string `json:"build_slug"`
		BuildNumber *int64 `json:"build_number"`
		AppSlug     string `json:"app_slug"`
	}
	if err := json.Unmarshal(got.Body, &p); err != nil || !strings.HasPrefix(p.BuildSlug, "hookd-test-") ||
		p.BuildSlug != acc.Data.BuildSlug || p.BuildNumber == nil || *p.BuildNumber != 0 || p.AppSlug != e2eApp {
		t.Errorf("test payload %s (%v), want build_slug %s, build_number 0", got.Body, err, acc.Data.BuildSlug)
	}
	it := waitTestItem(t, srv, hookPath, acc.Data.Slug)
	if !it.Test || it.BuildEventID != nil || it.BuildSlug != acc.Data.BuildSlug || it.EventType != "build/finished" ||
		it.ResponseHTTPStatus == nil || *it.ResponseHTTPStatus != 200 || it.RequestPayload != string(got.Body) {
		t.Errorf("test item %+v", it)
	}
	srv.stop(t)

	// A restart sends nothing again: a build reported after it is the
	// receiver's second request, and nothing else follows.
	srv = startServer(t, "server-2", dataDir)
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events", buildFinishedInput,
		map[string]string{"Bitrise-Event-Type": "build/finished"}, http.StatusAccepted, nil)
	if second := rc.WaitForCount(t, 2, pollTimeout)[1]; string(second.Body) != buildFinishedBody {
		t.Errorf("second request after a restart %s, want the build's", second.Body)
	}
	if o := other.WaitForCount(t, 1, pollTimeout)[0]; string(o.Body) != buildFinishedBody {
		t.Errorf("the other hook got %s, want only the build", o.Body)
	}
	rc.StaysAt(t, 2, 300*time.Millisecond)
	counts := logCounts(t, srv)
	if counts["test_delivery.requested"] != 1 || counts["delivery.requested"] != 2 || counts["delivery.attempted"] != 3 {
		t.Errorf("log entries by type %v, want 1 test request, 2 delivery requests, 3 attempts", counts)
	}
	srv.stop(t)
}

// TestTestDeliveryInFlightAtACrashIsSentAgainWithTheSameWebhookID: a test
// whose send was cut off by SIGKILL is sent again after the restart, with
// the same Webhook-Id and body, and recorded once attempted.
func TestTestDeliveryInFlightAtACrashIsSentAgainWithTheSameWebhookID(t *testing.T) {
	dataDir := t.TempDir()
	rc := testkit.NewReceiver(t)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var first sync.Once
	rc.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		held := false
		first.Do(func() { held = true })
		if held {
			entered <- struct{}{}
			<-release // hangs until the test is done with the first server
		}
		w.WriteHeader(http.StatusOK)
	})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })

	srv := startServer(t, "server", dataDir)
	var hook struct{ Data struct{ Slug string } }
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks",
		fmt.Sprintf(`{"url": %q, "events": ["all"]}`, rc.URL()+"/hook"), nil, http.StatusOK, &hook)
	hookPath := "/v0.1/apps/" + e2eApp + "/outgoing-webhooks/" + hook.Data.Slug
	var acc testAccepted
	srv.mustCall(t, http.MethodPost, hookPath+"/test", `{"event_type": "build/triggered"}`, nil, http.StatusAccepted, &acc)
	select {
	case <-entered:
	case <-time.After(pollTimeout):
		t.Fatalf("the test delivery did not reach the receiver within %s", pollTimeout)
	}
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-srv.done
	releaseOnce.Do(func() { close(release) })

	srv = startServer(t, "server-2", dataDir)
	it := waitTestItem(t, srv, hookPath, acc.Data.Slug)
	sends := rc.Requests()
	if len(sends) != 2 {
		t.Fatalf("receiver got %d requests, want the cut-off send and its repeat", len(sends))
	}
	for i, r := range sends {
		if r.Header.Get("Webhook-Id") != acc.Data.Slug || r.Header.Get("Bitrise-Event-Type") != "build/triggered" {
			t.Errorf("send %d: Webhook-Id %q, event type %q; want %q, build/triggered", i, r.Header.Get("Webhook-Id"),
				r.Header.Get("Bitrise-Event-Type"), acc.Data.Slug)
		}
	}
	if !bytes.Equal(sends[0].Body, sends[1].Body) {
		t.Errorf("the repeat's body %s differs from the first send's %s", sends[1].Body, sends[0].Body)
	}
	if !it.Test || it.EventType != "build/triggered" || it.BuildSlug != acc.Data.BuildSlug {
		t.Errorf("test item %+v", it)
	}
	srv.stop(t)
}
