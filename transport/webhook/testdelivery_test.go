package webhook_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/internal/testkit"
	"github.com/hookd/hookd/transport/webhook"
)

func testRequest(t *testing.T, hook, id string) domain.TestDeliveryRequested {
	t.Helper()
	ev, err := domain.NewTestDelivery("app-1", hook, domain.EventBuildFinished, id, base)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestTestDeliveryGoesToItsHookOnlySignedWithItsOwnWebhookID(t *testing.T) {
	e := newLogEnv(t)
	tested, other := testkit.NewReceiver(t), testkit.NewReceiver(t)
	cfg := hookConfigured("app-1", "h1", tested.URL())
	cfg.SealedSecret = sealed(t, "h1", "s3cret")
	e.append(cfg, hookConfigured("app-1", "h2", other.URL()))
	e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	ev := testRequest(t, "h1", "test-1")
	e.append(ev)
	e.append(buildEvent("app-1", "e1")) // after the test: h2's first and only request
	attempts := e.waitAttempts(3)
	e.waitCaughtUp()

	var test domain.DeliveryAttempted
	n := 0
	for _, a := range attempts {
		if a.Test {
			test, n = a, n+1
		}
	}
	if n != 1 || test.DeliveryID != "test-1" || test.HookSlug != "h1" || test.BuildEventID != "" || test.RedeliveryOf != "" ||
		test.EventType != domain.EventBuildFinished || !bytes.Equal(test.Request.Body, ev.Payload) {
		t.Fatalf("test attempts %d, %+v", n, test)
	}
	got := tested.Requests()
	if len(got) != 2 || !bytes.Equal(got[0].Body, ev.Payload) {
		t.Fatalf("tested hook got %d requests, the first %q; want the test, then e1", len(got), got[0].Body)
	}
	h := got[0].Header
	if h.Get("Webhook-Id") != "test-1" || h.Get("Bitrise-Event-Type") != domain.EventBuildFinished ||
		!domain.VerifySignature("s3cret", got[0].Body, h.Get("Bitrise-Hook-Signature")) || h.Get("Webhook-Signature") == "" {
		t.Errorf("test request headers %v", h)
	}
	assertEvents(t, "h2", other, "e1")
}

func TestTestDeliveryWithoutAttemptIsSentAfterARestartAndOneWithIsNot(t *testing.T) {
	e := newLogEnv(t)
	rc := testkit.NewReceiver(t)
	e.append(hookConfigured("app-1", "h1", rc.URL()))
	sent, unsent := testRequest(t, "h1", "test-sent"), testRequest(t, "h1", "test-unsent")
	e.append(sent, unsent)
	// The process died after recording test-sent's attempt only.
	e.append(domain.DeliveryAttempted{
		DeliveryID: "test-sent", HookSlug: "h1", AppSlug: "app-1", EventType: domain.EventBuildFinished, Test: true,
		Request: domain.OutgoingRequest{URL: rc.URL(), Body: sent.Payload}, Response: &domain.Response{Status: 200, Body: "ok"}, AttemptedAt: base,
	})
	d := e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	e.waitAttempts(2)
	e.waitCaughtUp()
	d.stop(t)
	got := rc.Requests()
	if len(got) != 1 || !bytes.Equal(got[0].Body, unsent.Payload) || got[0].Header.Get("Webhook-Id") != "test-unsent" {
		t.Fatalf("after recovery the receiver got %d requests (%v), want test-unsent once", len(got), got)
	}
	// A clean restart sends nothing again.
	e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	e.waitCaughtUp()
	if a := e.attempts(); len(a) != 2 || !a[1].Test || a[1].DeliveryID != "test-unsent" {
		t.Errorf("attempts after a restart: %+v", a)
	}
	if n := rc.Count(); n != 1 {
		t.Errorf("receiver got %d requests after a restart, want still 1", n)
	}
}

func TestTestDeliveryToARemovedHookRecordsAnErrorAndSendsNothing(t *testing.T) {
	e := newLogEnv(t)
	rc := testkit.NewReceiver(t)
	e.append(hookConfigured("app-1", "h1", rc.URL()))
	e.append(testRequest(t, "h1", "test-1"), hookRemoved("app-1", "h1"))
	// Started after the removal: the queued test finds no hook.
	e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	a := e.waitAttempts(1)[0]
	e.waitCaughtUp()
	if !a.Test || a.Error == "" || a.Response != nil {
		t.Errorf("attempt %+v, want a test not sent, with an error", a)
	}
	if n := rc.Count(); n != 0 {
		t.Errorf("receiver got %d requests, want none", n)
	}
}
