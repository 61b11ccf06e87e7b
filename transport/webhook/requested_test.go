package webhook_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/testkit"
	"github.com/hookd/hookd/transport/webhook"
)

// requests returns every delivery.requested in the log with its sequence.
func (e *logEnv) requests() map[uint64]domain.DeliveryRequested {
	e.t.Helper()
	out := map[uint64]domain.DeliveryRequested{}
	r := eventlog.NewReader(e.store, eventlog.Topic, 1)
	for r.Next(testContext(e.t)) {
		entry := r.Entry()
		if entry.Name() != domain.NameDeliveryRequested {
			continue
		}
		ev, err := eventlog.DecodeEntry(entry)
		if err != nil {
			e.t.Fatalf("decode entry %d: %v", entry.Seq, err)
		}
		out[entry.Seq] = ev.(domain.DeliveryRequested)
	}
	if err := r.Err(); err != nil {
		e.t.Fatalf("Reader: %v", err)
	}
	return out
}

func requestedPairs(reqs map[uint64]domain.DeliveryRequested) map[pair]int {
	out := map[pair]int{}
	for _, r := range reqs {
		out[pair{r.BuildEventID, r.HookSlug}]++
	}
	return out
}

func TestEachMatchIsLoggedAsOneDeliveryRequestedAfterItsBuildEvent(t *testing.T) {
	e := newLogEnv(t)
	r1, r2 := testkit.NewReceiver(t), testkit.NewReceiver(t)
	e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	triggeredOnly := hookConfigured("app-1", "h-trig", r2.URL())
	triggeredOnly.Events = []string{domain.EventBuildTriggered}
	e.append(hookConfigured("app-1", "h1", r1.URL()), triggeredOnly)
	s1 := e.append(buildEvent("app-1", "e1"))
	e.append(hookConfigured("app-1", "h2", r2.URL()))
	s2 := e.append(buildEvent("app-1", "e2"))
	e.append(buildEvent("app-2", "e-other-app"))
	e.waitAttempts(3)
	e.waitCaughtUp()

	reqs := e.requests()
	want := map[pair]int{{"e1", "h1"}: 1, {"e2", "h1"}: 1, {"e2", "h2"}: 1}
	if got := requestedPairs(reqs); !maps.Equal(got, want) {
		t.Fatalf("delivery.requested per (event, hook) %v, want %v: the log must say which hooks each build went to", got, want)
	}
	buildSeq := map[string]uint64{"e1": s1, "e2": s2}
	for seq, r := range reqs {
		if r.BuildEventSeq != buildSeq[r.BuildEventID] || seq <= r.BuildEventSeq {
			t.Errorf("request %d for %s names build event seq %d, want %d, before the request", seq, r.BuildEventID, r.BuildEventSeq, buildSeq[r.BuildEventID])
		}
		if r.DeliveryID != webhook.DeliveryID(r.BuildEventID, r.HookSlug) || r.AppSlug != "app-1" || r.RequestedAt.IsZero() {
			t.Errorf("request %d: %+v, want the deterministic delivery id, app-1 and a time", seq, r)
		}
	}
	// Every attempt answers a request with the same delivery id.
	ids := map[string]bool{}
	for _, r := range reqs {
		ids[r.DeliveryID] = true
	}
	for _, a := range e.attempts() {
		if !ids[a.DeliveryID] {
			t.Errorf("attempt %s (%s to %s) answers no delivery.requested", a.DeliveryID, a.BuildEventID, a.HookSlug)
		}
	}
}

func TestARestartThatLostItsSavedPositionRequestsAndSendsNothingTwice(t *testing.T) {
	e := newLogEnv(t)
	rc := testkit.NewReceiver(t)
	e.append(hookConfigured("app-1", "h1", rc.URL()), hookConfigured("app-1", "h2", rc.URL()))
	for i := range 10 {
		e.append(buildEvent("app-1", fmt.Sprintf("e%d", i)))
	}
	d := e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	e.waitAttempts(20)
	e.waitCaughtUp()
	d.stop(t)

	// As if the process died right after appending its requests and
	// attempts, before saving where it was: the saved state is gone.
	var names []string
	if err := e.store.StatesWithPrefix("dispatcher", func(name string, _ []byte) error {
		names = append(names, name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("the dispatcher saved no state")
	}
	if err := e.store.SaveState(nil, names); err != nil {
		t.Fatal(err)
	}
	e.append(buildEvent("app-1", "e-after"))
	e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	e.waitAttempts(22)
	e.waitCaughtUp()

	want := map[pair]int{{"e-after", "h1"}: 1, {"e-after", "h2"}: 1}
	for i := range 10 {
		want[pair{fmt.Sprintf("e%d", i), "h1"}], want[pair{fmt.Sprintf("e%d", i), "h2"}] = 1, 1
	}
	if got := requestedPairs(e.requests()); !maps.Equal(got, want) {
		t.Errorf("delivery.requested per pair after the restart %v, want exactly one each", got)
	}
	if got := pairs(e.attempts()); !maps.Equal(got, want) {
		t.Errorf("attempts per pair after the restart %v, want exactly one each", got)
	}
	if n := rc.Count(); n != 22 {
		t.Errorf("the receiver got %d requests, want 22 (nothing twice)", n)
	}
}

func TestRemovingAHookCancelsItsDeliveriesStillWaiting(t *testing.T) {
	e := newLogEnv(t)
	release := make(chan struct{})
	var once sync.Once
	releaseAll := func() { once.Do(func() { close(release) }) }
	t.Cleanup(releaseAll)
	slow := testkit.NewReceiver(t)
	slow.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	e.append(hookConfigured("app-1", "h", slow.URL()))
	sender := webhook.NewSender(webhook.SenderConfig{Timeout: 10 * time.Second, AllowPrivateTargets: true})
	startDispatcherWith(e, sender, webhook.DispatcherConfig{Workers: 4, PerHost: 1})
	for i := range 3 {
		e.append(buildEvent("app-1", fmt.Sprintf("e%d", i)))
	}
	testkit.WaitUntil(t, waitLimit, "the first delivery to reach the receiver", func() bool { return slow.Count() == 1 })
	testkit.WaitUntil(t, waitLimit, "the other two to be requested", func() bool { return len(e.requests()) == 3 })
	e.append(hookRemoved("app-1", "h"))
	e.waitCaughtUp()
	releaseAll()
	attempts := e.waitAttempts(3)

	notSent := 0
	for _, a := range attempts {
		if a.Response == nil && strings.Contains(a.Error, "deleted") {
			notSent++
		}
	}
	if notSent != 2 || slow.Count() != 1 {
		t.Errorf("%d attempts recorded as not sent because the hook was deleted, receiver got %d; want the 2 waiting ones not sent and only the one in flight received",
			notSent, slow.Count())
	}
}

func TestDispatcherReturnsAnErrorWhenTheLogClosesUnderIt(t *testing.T) {
	e := newLogEnv(t)
	d := webhook.NewDispatcher(e.store, e.store, e.pub, webhook.NewSender(webhook.SenderConfig{}), webhook.DispatcherConfig{})
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	e.append(buildEvent("app-1", "e1"))
	testkit.WaitUntil(t, waitLimit, "the dispatcher to read the log", func() bool { return d.Position() > 0 })
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Dispatcher.Run returned nil after the log closed under it: a stopped dispatcher must never be silent")
		}
		t.Logf("Run: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("Dispatcher.Run kept running after the log closed")
	}
}

// hangingListener accepts connections and never answers; it counts them.
type hangingListener struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	most  int
}

func newHangingListener(t *testing.T) *hangingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &hangingListener{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.most = max(h.most, len(h.conns))
			h.mu.Unlock()
		}
	}()
	t.Cleanup(h.close)
	return h
}

// close stops accepting and closes every connection, ending the sends
// that hang on them.
func (h *hangingListener) close() {
	h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
}

func (h *hangingListener) URL() string { return "http://" + h.ln.Addr().String() }

func (h *hangingListener) accepted() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

func TestAThousandDeliveriesWaitingForAHangingReceiverDoNotDelayAnother(t *testing.T) {
	const n, perHost = 1000, 2
	e := newLogEnv(t)
	hang := newHangingListener(t)
	fast := testkit.NewReceiver(t)
	// The hanging receiver is reached under several spellings of its
	// address: they share one limit.
	port := hang.ln.Addr().(*net.TCPAddr).Port
	e.append(
		hookConfigured("app-1", "h-hang-1", hang.URL()),
		hookConfigured("app-1", "h-hang-2", fmt.Sprintf("http://0x7f000001:%d/", port)),
		hookConfigured("app-1", "h-hang-3", fmt.Sprintf("http://127.1:%d/", port)),
		hookConfigured("app-1", "h-fast", fast.URL()),
	)
	sender := webhook.NewSender(webhook.SenderConfig{Timeout: time.Minute, AllowPrivateTargets: true})
	startDispatcherWith(e, sender, webhook.DispatcherConfig{Workers: 8, PerHost: perHost})
	t.Cleanup(hang.close) // before the dispatcher stops, so its hanging sends end
	for i := range n / 100 {
		evs := make([]domain.Event, 100)
		for j := range evs {
			evs[j] = buildEvent("app-1", fmt.Sprintf("e%04d", i*100+j))
		}
		e.append(evs...)
	}
	testkit.WaitUntil(t, waitLimit, fmt.Sprintf("the fast receiver to get all %d events", n), func() bool { return fast.Count() >= n })
	if got := hang.accepted(); got > perHost {
		t.Errorf("the hanging receiver holds %d connections, want at most %d (its per-host limit, whatever the spelling)", got, perHost)
	}
	if w := e.dispatcher.Waiting(); w < 3*n-perHost {
		t.Errorf("%d deliveries waiting, want the hanging receiver's %d minus those in flight", w, 3*n)
	}
}
