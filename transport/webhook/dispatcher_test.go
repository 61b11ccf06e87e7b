package webhook_test

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/internal/testkit"
	"github.com/hookd/hookd/transport/webhook"
)

// assertEvents fails unless rc received exactly the build events want, once each.
func assertEvents(t *testing.T, name string, rc *testkit.Receiver, want ...string) {
	t.Helper()
	wantSet := map[string]int{}
	for _, ev := range want {
		wantSet[ev] = 1
	}
	if got := events(rc); !maps.Equal(got, wantSet) {
		t.Errorf("%s received %v, want %v (each once)", name, got, wantSet)
	}
}

func TestDispatcherMatchesHooksByLogOrder(t *testing.T) {
	e := newLogEnv(t)
	r1, r2, r3 := testkit.NewReceiver(t), testkit.NewReceiver(t), testkit.NewReceiver(t)
	e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})

	triggeredOnly := hookConfigured("app-1", "h3", r3.URL())
	triggeredOnly.Events = []string{domain.EventBuildTriggered}
	e.append(hookConfigured("app-1", "h1", r1.URL()+"/one"), triggeredOnly)
	e.append(buildEvent("app-1", "e1"))
	e.append(hookConfigured("app-1", "h2", r2.URL()+"/two"))
	e.append(buildEvent("app-1", "e2"), buildEvent("app-2", "e-other-app"))
	// Sent before h1 goes: a removal cancels only sends still waiting.
	e.waitAttempts(3)
	e.append(hookRemoved("app-1", "h1"))
	e.append(buildEvent("app-1", "e3"))

	e.waitAttempts(4)
	e.waitCaughtUp()
	attempts := e.attempts()

	want := map[pair]int{{"e1", "h1"}: 1, {"e2", "h1"}: 1, {"e2", "h2"}: 1, {"e3", "h2"}: 1}
	if got := pairs(attempts); !maps.Equal(got, want) {
		t.Fatalf("attempts per (event, hook) %v, want %v", got, want)
	}
	assertEvents(t, "h1", r1, "e1", "e2")
	assertEvents(t, "h2", r2, "e2", "e3")
	assertEvents(t, "h3 (build/triggered only)", r3)

	for _, a := range attempts {
		if want := webhook.DeliveryID(a.BuildEventID, a.HookSlug); a.DeliveryID != want {
			t.Errorf("attempt of %s to %s has delivery id %s, want %s", a.BuildEventID, a.HookSlug, a.DeliveryID, want)
		}
		if a.Error != "" || a.Response == nil || a.Response.Status != http.StatusOK || a.Response.Body != "ok" {
			t.Errorf("attempt %s: error %q response %+v, want 200 ok", a.DeliveryID, a.Error, a.Response)
		}
		if a.AppSlug != "app-1" || a.EventType != domain.EventBuildFinished || a.RedeliveryOf != "" || a.AttemptedAt.IsZero() {
			t.Errorf("attempt %s: app %q type %q redelivery of %q at %v", a.DeliveryID, a.AppSlug, a.EventType, a.RedeliveryOf, a.AttemptedAt)
		}
		// What the log says was sent is what the receiver got.
		rc := map[string]*testkit.Receiver{"h1": r1, "h2": r2}[a.HookSlug]
		for _, got := range rc.Requests() {
			if buildSlug(got) != a.BuildEventID {
				continue
			}
			if !bytes.Equal(got.Body, a.Request.Body) {
				t.Errorf("attempt %s records body %q, the receiver got %q", a.DeliveryID, a.Request.Body, got.Body)
			}
			for k, v := range a.Request.Headers {
				if got.Header.Get(k) != v {
					t.Errorf("attempt %s records header %s: %q, the receiver got %q", a.DeliveryID, k, v, got.Header.Get(k))
				}
			}
			if got.Header.Get("X-Hook") != a.HookSlug || got.Header.Get("Bitrise-App-Id") != "app-1" {
				t.Errorf("receiver of %s got X-Hook %q, Bitrise-App-Id %q", a.HookSlug, got.Header.Get("X-Hook"), got.Header.Get("Bitrise-App-Id"))
			}
		}
	}
}

func TestHangingReceiverDoesNotHoldUpOtherHooks(t *testing.T) {
	e := newLogEnv(t)
	release := make(chan struct{})
	hanging := testkit.NewReceiver(t)
	hanging.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	released := false
	releaseAll := func() {
		if !released {
			released = true
			close(release)
		}
	}
	t.Cleanup(releaseAll)
	fast := testkit.NewReceiver(t)

	e.append(hookConfigured("app-1", "h-a", hanging.URL()), hookConfigured("app-1", "h-b", fast.URL()))
	e.startDispatcher(webhook.SenderConfig{Timeout: 2 * time.Second})
	const n = 20
	var want []string
	for i := range n {
		id := fmt.Sprintf("e%02d", i)
		want = append(want, id)
		e.append(buildEvent("app-1", id))
	}

	testkit.WaitUntil(t, waitLimit, fmt.Sprintf("hook B's receiver to get all %d events", n), func() bool { return fast.Count() >= n })
	// A blocks for its 2 s timeout, so no attempt to A can be recorded yet.
	for _, a := range e.attempts() {
		if a.HookSlug == "h-a" {
			t.Fatalf("an attempt to the hanging hook A (%s, error %q) was recorded before B had all %d events: A held up B",
				a.BuildEventID, a.Error, n)
		}
	}
	if hanging.Count() == 0 {
		t.Error("the hanging receiver got no request while B was served")
	}

	releaseAll()
	e.waitAttempts(2 * n)
	e.waitCaughtUp()
	wantPairs := map[pair]int{}
	for _, id := range want {
		wantPairs[pair{id, "h-a"}], wantPairs[pair{id, "h-b"}] = 1, 1
	}
	if got := pairs(e.attempts()); !maps.Equal(got, wantPairs) {
		t.Errorf("attempts per (event, hook) %v, want one for each of %d events to both hooks", got, n)
	}
	assertEvents(t, "hook B", fast, want...)
	assertEvents(t, "hook A", hanging, want...)
}

func TestDispatcherRecoversUnsentDeliveriesAfterACrash(t *testing.T) {
	e := newLogEnv(t)
	r1, r2, r3 := testkit.NewReceiver(t), testkit.NewReceiver(t), testkit.NewReceiver(t)

	// The process died before sending: the log asks for deliveries that
	// have no DeliveryAttempted, except (e1, h1), which was recorded.
	e.append(hookConfigured("app-1", "h1", r1.URL()), hookConfigured("app-1", "h2", r2.URL()))
	e.append(buildEvent("app-1", "e1"), buildEvent("app-1", "e2"))
	e.append(domain.DeliveryAttempted{
		DeliveryID: webhook.DeliveryID("e1", "h1"), HookSlug: "h1", AppSlug: "app-1", BuildEventID: "e1",
		EventType: domain.EventBuildFinished, Request: domain.OutgoingRequest{URL: r1.URL(), Body: buildEvent("app-1", "e1").Build.Body()},
		Response: &domain.Response{Status: 200, Body: "ok"}, AttemptedAt: base,
	})
	e.append(buildEvent("app-1", "e3"), buildEvent("app-1", "e4"))
	redeliver := func(id, original string) domain.RedeliveryRequested {
		return domain.RedeliveryRequested{
			DeliveryID: id, OriginalDeliveryID: original, HookSlug: "h1", AppSlug: "app-1", BuildEventID: "e2",
			EventType: domain.EventBuildFinished, Payload: []byte(fmt.Sprintf(`{"build_slug":%q}`, id)), RequestedAt: base,
		}
	}
	e.append(redeliver("r-unsent", webhook.DeliveryID("e2", "h1")), redeliver("r-sent", webhook.DeliveryID("e2", "h1")))
	e.append(domain.DeliveryAttempted{
		DeliveryID: "r-sent", RedeliveryOf: webhook.DeliveryID("e2", "h1"), HookSlug: "h1", AppSlug: "app-1", BuildEventID: "e2",
		EventType: domain.EventBuildFinished, Request: domain.OutgoingRequest{URL: r1.URL(), Body: []byte(`{"build_slug":"r-sent"}`)},
		Response: &domain.Response{Status: 200, Body: "ok"}, AttemptedAt: base,
	})
	e.append(hookConfigured("app-1", "h3", r3.URL())) // after every event so far: gets none of them

	d := e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	// 2 recorded before + 7 pairs without an attempt + 1 unsent redelivery.
	e.waitAttempts(2 + 7 + 1)
	e.waitCaughtUp()
	d.stop(t)
	want := map[pair]int{
		{"e1", "h1"}: 1, {"e2", "h1"}: 1, {"e3", "h1"}: 1, {"e4", "h1"}: 1,
		{"e1", "h2"}: 1, {"e2", "h2"}: 1, {"e3", "h2"}: 1, {"e4", "h2"}: 1,
		{"r-unsent", "h1"}: 1, {"r-sent", "h1"}: 1,
	}
	if got := pairs(e.attempts()); !maps.Equal(got, want) {
		t.Fatalf("after recovery, attempts per (event, hook) %v, want %v", got, want)
	}
	assertEvents(t, "h1", r1, "e2", "e3", "e4", "r-unsent")
	assertEvents(t, "h2", r2, "e1", "e2", "e3", "e4")
	assertEvents(t, "h3", r3)

	// A clean stop and a new start: only events appended since are sent.
	e.append(buildEvent("app-1", "e5"), buildEvent("app-1", "e6"))
	e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	e.waitAttempts(10 + 6)
	e.waitCaughtUp()
	for _, ev := range []string{"e5", "e6"} {
		for _, h := range []string{"h1", "h2", "h3"} {
			want[pair{ev, h}] = 1
		}
	}
	if got := pairs(e.attempts()); !maps.Equal(got, want) {
		t.Fatalf("after a restart, attempts per (event, hook) %v, want %v", got, want)
	}
	assertEvents(t, "h1", r1, "e2", "e3", "e4", "r-unsent", "e5", "e6")
	assertEvents(t, "h2", r2, "e1", "e2", "e3", "e4", "e5", "e6")
	assertEvents(t, "h3", r3, "e5", "e6")
}

func TestRedeliverySendsOriginalPayloadToCurrentURLAndHeaders(t *testing.T) {
	e := newLogEnv(t)
	before, after := testkit.NewReceiver(t), testkit.NewReceiver(t)
	after.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})

	cfg := hookConfigured("app-1", "h1", before.URL()+"/old")
	cfg.Headers = map[string]string{"X-Env": "old", "X-Only-Old": "1"}
	e.append(cfg)
	e.append(buildEvent("app-1", "e1"))
	original := e.waitAttempts(1)[0]

	secret := "new-secret"
	cfg.URL, cfg.Headers, cfg.SealedSecret = after.URL()+"/new", map[string]string{"X-Env": "new"}, sealed(t, "h1", secret)
	e.append(cfg)
	e.append(domain.RedeliveryRequested{
		DeliveryID: "redelivery-1", OriginalDeliveryID: original.DeliveryID, HookSlug: "h1", AppSlug: "app-1",
		BuildEventID: "e1", EventType: original.EventType, Payload: original.Request.Body, RequestedAt: base,
	})
	attempts := e.waitAttempts(2)
	e.waitCaughtUp()
	if len(attempts) != 2 {
		t.Fatalf("%d attempts, want the original and the redelivery", len(attempts))
	}
	re := attempts[1]
	if re.DeliveryID != "redelivery-1" || re.RedeliveryOf != original.DeliveryID || re.HookSlug != "h1" || re.BuildEventID != "e1" {
		t.Errorf("redelivery attempt id %q redelivery of %q hook %q event %q", re.DeliveryID, re.RedeliveryOf, re.HookSlug, re.BuildEventID)
	}
	if re.Request.URL != after.URL()+"/new" || !bytes.Equal(re.Request.Body, original.Request.Body) {
		t.Errorf("redelivery recorded %s with body %q, want the current URL and the original body", re.Request.URL, re.Request.Body)
	}
	if re.Response == nil || re.Response.Status != http.StatusCreated || re.Error != "" {
		t.Errorf("redelivery outcome %+v error %q, want 201", re.Response, re.Error)
	}

	if n := before.Count(); n != 1 {
		t.Errorf("the old URL got %d requests, want only the original", n)
	}
	reqs := after.Requests()
	if len(reqs) != 1 {
		t.Fatalf("the current URL got %d requests, want 1", len(reqs))
	}
	got := reqs[0]
	if got.RequestURI != "/new" || !bytes.Equal(got.Body, original.Request.Body) {
		t.Errorf("redelivery arrived at %s with body %q, want /new with the original body %q", got.RequestURI, got.Body, original.Request.Body)
	}
	if got.Header.Get("X-Env") != "new" || got.Header.Get("X-Only-Old") != "" {
		t.Errorf("redelivery headers X-Env %q X-Only-Old %q, want the current headers only", got.Header.Get("X-Env"), got.Header.Get("X-Only-Old"))
	}
	if sig := got.Header.Get("Bitrise-Hook-Signature"); !domain.VerifySignature(secret, got.Body, sig) {
		t.Errorf("redelivery signature %q does not verify with the current secret", sig)
	}
	if got.Header.Get("Bitrise-Event-Type") != domain.EventBuildFinished || got.Header.Get("Bitrise-App-Id") != "app-1" {
		t.Errorf("redelivery event type %q app %q", got.Header.Get("Bitrise-Event-Type"), got.Header.Get("Bitrise-App-Id"))
	}
}

func TestRedeliveryToARemovedHookRecordsAnErrorAndSendsNothing(t *testing.T) {
	e := newLogEnv(t)
	rc := testkit.NewReceiver(t)
	e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	e.append(hookConfigured("app-1", "h1", rc.URL()))
	e.append(buildEvent("app-1", "e1"))
	original := e.waitAttempts(1)[0]
	e.append(hookRemoved("app-1", "h1"))
	e.append(domain.RedeliveryRequested{
		DeliveryID: "redelivery-1", OriginalDeliveryID: original.DeliveryID, HookSlug: "h1", AppSlug: "app-1",
		BuildEventID: "e1", EventType: original.EventType, Payload: original.Request.Body, RequestedAt: base,
	})
	attempts := e.waitAttempts(2)
	e.waitCaughtUp()
	re := attempts[len(attempts)-1]
	if len(attempts) != 2 || re.DeliveryID != "redelivery-1" || re.RedeliveryOf != original.DeliveryID {
		t.Fatalf("attempts %+v, want the original and the redelivery", attempts)
	}
	if re.Error == "" || re.Response != nil {
		t.Errorf("redelivery to a removed hook: error %q response %+v, want an error and no response", re.Error, re.Response)
	}
	if !bytes.Equal(re.Request.Body, original.Request.Body) {
		t.Errorf("redelivery records body %q, want the original %q", re.Request.Body, original.Request.Body)
	}
	if n := rc.Count(); n != 1 {
		t.Errorf("the removed hook's receiver got %d requests, want only the original", n)
	}
}

func TestStoppingWaitsForInFlightDeliveryToBeRecorded(t *testing.T) {
	e := newLogEnv(t)
	entered := make(chan struct{}, 1)
	slow := testkit.NewReceiver(t)
	slow.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		time.Sleep(500 * time.Millisecond)
		_, _ = w.Write([]byte("slow ok"))
	})
	d := e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	e.append(hookConfigured("app-1", "h1", slow.URL()))
	e.append(buildEvent("app-1", "e1"))
	select {
	case <-entered:
	case <-time.After(waitLimit):
		t.Fatal("the receiver got no request")
	}

	d.stop(t) // Run has returned
	attempts := e.attempts()
	if len(attempts) != 1 {
		t.Fatalf("%d attempts recorded when Run returned, want the in-flight one", len(attempts))
	}
	a := attempts[0]
	if a.BuildEventID != "e1" || a.Error != "" || a.Response == nil || a.Response.Status != http.StatusOK || a.Response.Body != "slow ok" {
		t.Errorf("attempt %+v, want e1 answered 200 \"slow ok\"", a)
	}
}
