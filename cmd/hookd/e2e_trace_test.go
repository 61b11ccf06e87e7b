package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testkit"
)

// TestEndToEndBuildEventIsTraceableToItsLogEntries runs the real binary:
// a build event posted to two hooks is followed through GET
// build-events/{id} to its delivery items, and each sequence the API
// gives is found in `hookd log export` as the entry it names.
func TestEndToEndBuildEventIsTraceableToItsLogEntries(t *testing.T) {
	data := t.TempDir()
	recv := newReceiver(t)
	srv := startServer(t, "server", data)
	var hooks []string
	for _, path := range []string{"/a", "/b"} {
		var created struct{ Data struct{ Slug string } }
		srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks",
			fmt.Sprintf(`{"url":%q,"events":["all"]}`, recv.URL()+path), nil, http.StatusOK, &created)
		hooks = append(hooks, created.Data.Slug)
	}
	var accepted struct {
		Data struct {
			EventID  string `json:"event_id"`
			Sequence uint64 `json:"sequence"`
		}
	}
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events", buildFinishedInput,
		map[string]string{"Bitrise-Event-Type": "build/finished"}, http.StatusAccepted, &accepted)
	recv.WaitForCount(t, 2, pollTimeout)

	type item struct {
		Slug            string `json:"slug"`
		RequestSequence uint64 `json:"request_sequence"`
		AttemptSequence uint64 `json:"attempt_sequence"`
	}
	var event struct {
		Data struct {
			EventID    string `json:"event_id"`
			Sequence   uint64 `json:"sequence"`
			Deliveries []struct {
				HookSlug        string `json:"hook_slug"`
				DeliveryID      string `json:"delivery_id"`
				RequestSequence uint64 `json:"request_sequence"`
				Items           []item `json:"items"`
			} `json:"deliveries"`
		}
	}
	eventPath := "/v0.1/apps/" + e2eApp + "/build-events/" + accepted.Data.EventID
	testkit.WaitUntil(t, 10*time.Second, "both deliveries attempted in the views", func() bool {
		srv.mustCall(t, http.MethodGet, eventPath, "", nil, http.StatusOK, &event)
		n := 0
		for _, d := range event.Data.Deliveries {
			n += len(d.Items)
		}
		return n == 2
	})
	if event.Data.Sequence != accepted.Data.Sequence || len(event.Data.Deliveries) != 2 {
		t.Fatalf("build event: %+v, want sequence %d and two deliveries", event.Data, accepted.Data.Sequence)
	}
	// The item as its own list shows it carries the same sequences.
	type want struct{ typ, hook, delivery string }
	wants := map[uint64]want{accepted.Data.Sequence: {"build_event.received", "", ""}}
	for i, d := range event.Data.Deliveries {
		if d.HookSlug != hooks[i] {
			t.Errorf("delivery %d is to %s, want %s (request order)", i, d.HookSlug, hooks[i])
		}
		it := d.Items[0]
		var list struct {
			Data []struct {
				item
				BuildEventSequence uint64 `json:"build_event_sequence"`
			}
		}
		srv.mustCall(t, http.MethodGet, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks/"+d.HookSlug+"/delivery-items", "", nil, http.StatusOK, &list)
		if len(list.Data) != 1 || list.Data[0].item != it || list.Data[0].BuildEventSequence != accepted.Data.Sequence {
			t.Errorf("delivery items of %s: %+v, want %+v of build event %d", d.HookSlug, list.Data, it, accepted.Data.Sequence)
		}
		wants[d.RequestSequence] = want{"delivery.requested", d.HookSlug, d.DeliveryID}
		wants[it.AttemptSequence] = want{"delivery.attempted", d.HookSlug, it.Slug}
	}
	srv.stop(t)

	code, stdout, stderr := runHookdSplit(t, time.Minute, nil, "log", "export", "--data", data)
	if code != 0 {
		t.Fatalf("log export: exit %d: %s", code, stderr)
	}
	found := 0
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e struct {
			Seq     uint64 `json:"seq"`
			Type    string `json:"type"`
			Payload struct {
				EventID      string `json:"event_id"`
				HookSlug     string `json:"hook_slug"`
				DeliveryID   string `json:"delivery_id"`
				BuildEventID string `json:"build_event_id"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		w, ok := wants[e.Seq]
		if !ok {
			continue
		}
		found++
		if e.Type != w.typ || e.Payload.HookSlug != w.hook || e.Payload.DeliveryID != w.delivery {
			t.Errorf("entry %d is %s %+v, want %s of hook %q delivery %q", e.Seq, e.Type, e.Payload, w.typ, w.hook, w.delivery)
		}
		if w.typ == "build_event.received" && e.Payload.EventID != accepted.Data.EventID ||
			w.typ != "build_event.received" && e.Payload.BuildEventID != accepted.Data.EventID {
			t.Errorf("entry %d (%s) is not of build event %s: %+v", e.Seq, e.Type, accepted.Data.EventID, e.Payload)
		}
	}
	if found != len(wants) {
		t.Errorf("found %d of the %d sequences the API gave in the export", found, len(wants))
	}
}
