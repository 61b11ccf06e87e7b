package webhook_test

import (
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/internal/testkit"
	"github.com/hookd/hookd/transport/webhook"
)

// finished is one DeliveryFinished call.
type finished struct {
	eventType string
	status    int
	err       string
	d         time.Duration
}

// observer records what a Dispatcher tells its Observer.
type observer struct {
	mu       sync.Mutex
	started  int
	finished []finished
}

func (o *observer) DeliveryStarted() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.started++
}

func (o *observer) DeliveryFinished(eventType string, status int, err string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finished = append(o.finished, finished{eventType, status, err, d})
}

func (o *observer) counts() (started, done int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.started, len(o.finished)
}

// startObservedDispatcher runs a dispatcher reporting to obs until cleanup.
func (e *logEnv) startObservedDispatcher(obs webhook.Observer) {
	e.t.Helper()
	sender := webhook.NewSender(webhook.SenderConfig{Timeout: 5 * time.Second, AllowPrivateTargets: true})
	startDispatcherWith(e, sender, webhook.DispatcherConfig{Secrets: testSealer(e.t), Workers: 8, Observer: obs})
}

// closedPort is a 127.0.0.1 address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestObserverSeesEveryDeliveryWithItsStatusErrorAndSendTime(t *testing.T) {
	e := newLogEnv(t)
	ok := testkit.NewReceiver(t)
	unavailable := testkit.NewReceiver(t)
	unavailable.SetHandler(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	release := make(chan struct{})
	hanging := testkit.NewReceiver(t)
	hanging.SetHandler(func(w http.ResponseWriter, _ *http.Request) { <-release })
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce) // before the receiver closes, which waits for its handlers
	obs := &observer{}
	e.startObservedDispatcher(obs)

	e.append(
		hookConfigured("app-1", "ok", ok.URL()),
		hookConfigured("app-1", "unavailable", unavailable.URL()),
		hookConfigured("app-1", "down", "http://"+closedPort(t)+"/hook"),
		hookConfigured("app-2", "hanging", hanging.URL()),
	)
	e.append(buildEvent("app-1", "e1"))
	e.append(buildEvent("app-2", "e2"))

	// The hanging delivery is in flight: started, not finished.
	testkit.WaitUntil(t, waitLimit, "the three app-1 deliveries to finish and the hanging one to start", func() bool {
		s, d := obs.counts()
		return s == 4 && d == 3 && hanging.Count() == 1
	})
	releaseOnce()
	e.waitAttempts(4)
	testkit.WaitUntil(t, waitLimit, "the hanging delivery to finish", func() bool { _, d := obs.counts(); return d == 4 })

	// A redelivery to a removed hook is not sent: an error, no send time.
	e.append(hookRemoved("app-1", "ok"))
	e.append(domain.RedeliveryRequested{
		DeliveryID: "redelivery-1", OriginalDeliveryID: webhook.DeliveryID("e1", "ok"), HookSlug: "ok", AppSlug: "app-1",
		BuildEventID: "e1", EventType: domain.EventBuildTriggered, Payload: []byte(`{}`), RequestedAt: base,
	})
	e.waitAttempts(5)
	e.waitCaughtUp()
	testkit.WaitUntil(t, waitLimit, "the redelivery to finish", func() bool { _, d := obs.counts(); return d == 5 })

	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.started != 5 {
		t.Errorf("DeliveryStarted called %d times, want 5", obs.started)
	}
	got := slices.Clone(obs.finished)
	slices.SortFunc(got, func(a, b finished) int { return a.status - b.status })
	// By status: the two without a response (0) first, then 200, 200, 503.
	noResponse, withResponse := got[:2], got[2:]
	if withResponse[0].status != 200 || withResponse[1].status != 200 || withResponse[2].status != 503 {
		t.Fatalf("finished deliveries %+v, want statuses 200 (ok), 200 (hanging, released) and 503", got)
	}
	for _, f := range withResponse {
		if f.err != "" || f.eventType != domain.EventBuildFinished || f.d <= 0 {
			t.Errorf("a delivery with a response reported %+v, want no error, build/finished and a send time", f)
		}
	}
	if withResponse[2].d < 20*time.Millisecond {
		t.Errorf("the 503 delivery took %v, want at least the receiver's 20 ms", withResponse[2].d)
	}
	slices.SortFunc(noResponse, func(a, b finished) int { return int(a.d - b.d) })
	redelivery, refused := noResponse[0], noResponse[1]
	if redelivery.err == "" || redelivery.eventType != domain.EventBuildTriggered || redelivery.d != 0 {
		t.Errorf("the unsent redelivery reported %+v, want an error, build/triggered and no send time", redelivery)
	}
	if refused.err == "" || refused.eventType != domain.EventBuildFinished || refused.d <= 0 {
		t.Errorf("the delivery to a closed port reported %+v, want an error, build/finished and a send time", refused)
	}
}

func TestDispatcherWithoutAnObserverDelivers(t *testing.T) {
	e := newLogEnv(t)
	rc := testkit.NewReceiver(t)
	e.startObservedDispatcher(nil)
	e.append(hookConfigured("app-1", "h1", rc.URL()))
	e.append(buildEvent("app-1", "e1"))
	if a := e.waitAttempts(1)[0]; a.Response == nil || a.Response.Status != http.StatusOK {
		t.Fatalf("attempt %+v, want a 200", a)
	}
}
