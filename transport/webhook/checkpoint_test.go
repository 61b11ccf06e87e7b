package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/hookd/hookd/transport/webhook"
)

// startCheckpointing runs a dispatcher with one worker that saves its
// checkpoint after every entry.
func (e *logEnv) startCheckpointing() *running {
	e.t.Helper()
	d := webhook.NewDispatcher(e.store, e.pub, webhook.NewSender(webhook.SenderConfig{AllowPrivateTargets: true}),
		webhook.DispatcherConfig{Secrets: testSealer(e.t), Workers: 1, CheckpointEvery: time.Nanosecond})
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

// TestRestartFromCheckpointSendsOutstandingAndNewDeliveriesOnce: sends
// still queued when the dispatcher stopped are kept in its checkpoint, and
// the next start sends them and the events logged since, each exactly once,
// without sending again what was already recorded.
func TestRestartFromCheckpointSendsOutstandingAndNewDeliveriesOnce(t *testing.T) {
	env := newLogEnv(t)
	release := make(chan struct{})
	first := make(chan struct{}, 1)
	slow := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case first <- struct{}{}:
			<-release // hold the first send until the dispatcher is stopping
		default:
		}
		w.WriteHeader(http.StatusOK)
	})
	env.append(hookConfigured("app", "h1", slow.URL()))
	env.append(buildEvent("app", "e1"), buildEvent("app", "e2"), buildEvent("app", "e3"))

	d := env.startCheckpointing()
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("the first delivery never arrived")
	}
	// e2 and e3 wait behind e1 for the only worker; stop now.
	go func() { time.Sleep(50 * time.Millisecond); close(release) }()
	d.stop(t)
	if n := len(env.attempts()); n != 1 {
		t.Fatalf("attempts after stop = %d, want 1 (only the one in flight)", n)
	}
	raw, err := env.store.State("dispatcher.checkpoint")
	if err != nil || raw == nil {
		t.Fatalf("no checkpoint saved: %v", err)
	}
	var cp struct {
		Outstanding []json.RawMessage `json:"outstanding"`
	}
	if err := json.Unmarshal(raw, &cp); err != nil || len(cp.Outstanding) != 2 {
		t.Fatalf("checkpoint outstanding = %d (%v), want the 2 queued sends", len(cp.Outstanding), err)
	}

	env.append(buildEvent("app", "e4"))
	env.startCheckpointing()
	env.waitAttempts(4)
	env.waitCaughtUp()
	assertEvents(t, "h1", slow, "e1", "e2", "e3", "e4")
	for p, n := range pairs(env.attempts()) {
		if n != 1 {
			t.Errorf("pair %v attempted %d times, want 1", p, n)
		}
	}
}

// TestUnreadableCheckpointFallsBackToAFullScan: a damaged checkpoint is
// ignored and the log alone decides what to send.
func TestUnreadableCheckpointFallsBackToAFullScan(t *testing.T) {
	env := newLogEnv(t)
	rc := newReceiver(t, nil)
	env.append(hookConfigured("app", "h1", rc.URL()), buildEvent("app", "e1"))
	if err := env.store.PutState("dispatcher.checkpoint", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	env.startDispatcher(webhook.SenderConfig{})
	env.waitAttempts(1)
	env.waitCaughtUp()
	assertEvents(t, "h1", rc, "e1")
}

// TestStopWhileQueueingKeepsEverySendOfTheEvent: when the dispatcher stops
// while it waits to queue the sends of a build event, the sends it had not
// queued yet are kept in the checkpoint and made at the next start.
func TestStopWhileQueueingKeepsEverySendOfTheEvent(t *testing.T) {
	env := newLogEnv(t)
	hanging := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	okB, okC, okD := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	env.append(
		hookConfigured("app", "a", hanging.URL()),
		hookConfigured("app", "b", okB.URL()),
		hookConfigured("app", "c", okC.URL()),
		hookConfigured("app", "d", okD.URL()),
	)
	env.append(buildEvent("app", "e1"))

	// One worker, room for one waiting send: the worker hangs on a, b
	// waits in the queue, queueing c blocks until the stop, and d is not
	// even tried.
	d := webhook.NewDispatcher(env.store, env.pub,
		webhook.NewSender(webhook.SenderConfig{AllowPrivateTargets: true, Timeout: 300 * time.Millisecond}),
		webhook.DispatcherConfig{Secrets: testSealer(t), Workers: 1, PerHost: 1, Queue: 1, CheckpointEvery: time.Nanosecond})
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	waitUntil(t, "the send to the hanging receiver", func() bool { return hanging.count() == 1 })
	time.Sleep(50 * time.Millisecond) // let the ordered stage block on queueing c
	r.stop(t)

	env.startDispatcher(webhook.SenderConfig{})
	waitUntil(t, "b, c and d to get e1", func() bool { return okB.count() == 1 && okC.count() == 1 && okD.count() == 1 })
	env.waitCaughtUp()
	assertEvents(t, "b", okB, "e1")
	assertEvents(t, "c", okC, "e1")
	assertEvents(t, "d", okD, "e1")
}
