package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/internal/sealer"
	"github.com/hookd/hookd/internal/testkit"
	"github.com/hookd/hookd/transport/webhook"
)

// waitLimit bounds every wait for an asynchronous result; reaching it
// means a hang, not a slow machine.
const waitLimit = 15 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

// buildSlug is the build_slug of a request's build payload body, which
// the tests set to the event id.
func buildSlug(r testkit.Request) string {
	var p struct {
		BuildSlug string `json:"build_slug"`
	}
	_ = json.Unmarshal(r.Body, &p)
	return p.BuildSlug
}

// events counts the requests of rc per build slug.
func events(rc *testkit.Receiver) map[string]int {
	out := map[string]int{}
	for _, r := range rc.Requests() {
		out[buildSlug(r)]++
	}
	return out
}

// logEnv is a log with a publisher, for dispatchers to run on.
type logEnv struct {
	t          *testing.T
	store      *badgerlog.Store
	pub        *eventlog.Publisher
	dispatcher *webhook.Dispatcher // the last one started
}

func newLogEnv(t *testing.T) *logEnv {
	t.Helper()
	store, err := badgerlog.Open(filepath.Join(t.TempDir(), "log"), badgerlog.Options{})
	if err != nil {
		t.Fatalf("badgerlog.Open: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return &logEnv{t: t, store: store, pub: eventlog.NewPublisher(store)}
}

var msgCounter atomic.Int64

// append appends evs as one group and returns the last sequence.
func (e *logEnv) append(evs ...domain.Event) uint64 {
	e.t.Helper()
	msgs := make([]*message.Message, 0, len(evs))
	for _, ev := range evs {
		m, err := eventlog.EncodeEvent(fmt.Sprintf("msg-%08d", msgCounter.Add(1)), ev)
		if err != nil {
			e.t.Fatalf("EncodeEvent(%T): %v", ev, err)
		}
		msgs = append(msgs, m)
	}
	seqs, err := e.pub.Append(testContext(e.t), eventlog.Topic, msgs...)
	if err != nil {
		e.t.Fatalf("Append: %v", err)
	}
	return seqs[len(seqs)-1]
}

// attempts returns every DeliveryAttempted in the log, in log order.
func (e *logEnv) attempts() []domain.DeliveryAttempted {
	e.t.Helper()
	var out []domain.DeliveryAttempted
	r := eventlog.NewReader(e.store, eventlog.Topic, 1)
	for r.Next(testContext(e.t)) {
		entry := r.Entry()
		if entry.Name() != domain.NameDeliveryAttempted {
			continue
		}
		ev, err := eventlog.DecodeEntry(entry)
		if err != nil {
			e.t.Fatalf("decode entry %d: %v", entry.Seq, err)
		}
		out = append(out, ev.(domain.DeliveryAttempted))
	}
	if err := r.Err(); err != nil {
		e.t.Fatalf("Reader: %v", err)
	}
	return out
}

// waitAttempts waits until the log holds at least n attempts and returns them.
func (e *logEnv) waitAttempts(n int) []domain.DeliveryAttempted {
	e.t.Helper()
	var got []domain.DeliveryAttempted
	testkit.WaitUntil(e.t, waitLimit, fmt.Sprintf("%d delivery attempts in the log", n), func() bool {
		got = e.attempts()
		return len(got) >= n
	})
	return got
}

// waitCaughtUp waits until the dispatcher's consumer group has handled
// every entry of the log, its own attempts included: after that, with the
// expected attempts recorded, nothing more is on its way.
func (e *logEnv) waitCaughtUp() {
	e.t.Helper()
	testkit.WaitUntil(e.t, waitLimit, "the dispatcher to handle the whole log", func() bool {
		head, err := e.store.Head(eventlog.Topic)
		if err != nil {
			e.t.Fatal(err)
		}
		return e.dispatcher != nil && e.dispatcher.Position() == head
	})
}

// running is a Dispatcher running in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

// startDispatcher runs a dispatcher with 8 workers on the log until stop
// (or cleanup).
func (e *logEnv) startDispatcher(cfg webhook.SenderConfig) *running {
	e.t.Helper()
	cfg.AllowPrivateTargets = true
	return startDispatcherWith(e, webhook.NewSender(cfg), webhook.DispatcherConfig{Secrets: testSealer(e.t), Workers: 8})
}

// startDispatcherWith runs a dispatcher with that sender and config on the
// log until stop (or cleanup).
func startDispatcherWith(e *logEnv, sender *webhook.Sender, cfg webhook.DispatcherConfig) *running {
	e.t.Helper()
	d := webhook.NewDispatcher(e.store, e.store, e.pub, sender, cfg)
	e.dispatcher = d
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

// stop cancels the dispatcher and waits for Run to return; again is a no-op.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.done == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Dispatcher.Run returned %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("Dispatcher.Run did not return after its context was cancelled")
	}
	r.done = nil
}

// testSealer is the sealer of the tests' dispatchers: the all-zero key.
func testSealer(t *testing.T) *sealer.Sealer {
	t.Helper()
	s, err := sealer.New(make([]byte, 32))
	if err != nil {
		t.Fatalf("sealer.New: %v", err)
	}
	return s
}

// sealed seals secret for a HookConfigured of hook slug, as the API does.
func sealed(t *testing.T, slug, secret string) *string {
	t.Helper()
	if secret == "" {
		return &secret
	}
	s, err := testSealer(t).Seal(secret, slug)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return &s
}

var base = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

func hookConfigured(app, slug, url string) domain.HookConfigured {
	return domain.HookConfigured{
		HookSlug: slug, AppSlug: app, URL: url, Events: []string{domain.SelectAll},
		Headers: map[string]string{"X-Hook": slug}, ConfiguredAt: base,
	}
}

func hookRemoved(app, slug string) domain.HookRemoved {
	return domain.HookRemoved{HookSlug: slug, AppSlug: app, RemovedAt: base}
}

// buildEvent is a build/finished event whose build slug is its id.
func buildEvent(app, id string) domain.BuildEventReceived {
	return domain.BuildEventReceived{
		EventID: id, AppSlug: app, EventType: domain.EventBuildFinished, ReceivedAt: base,
		Build: domain.BuildPayload{
			BuildSlug: id, BuildNumber: 7, AppSlug: app, BuildStatus: 1, BuildTriggeredWorkflow: "primary",
			Git: domain.GitInfo{Provider: "github", SrcBranch: "main"},
		},
	}
}

// pair names one delivery of a build event (or redelivery) to a hook.
type pair struct{ event, hook string }

// pairs counts attempts per (build event, hook), redeliveries by their id.
func pairs(attempts []domain.DeliveryAttempted) map[pair]int {
	out := map[pair]int{}
	for _, a := range attempts {
		ev := a.BuildEventID
		if a.RedeliveryOf != "" {
			ev = a.DeliveryID
		}
		out[pair{ev, a.HookSlug}]++
	}
	return out
}
