package webhook

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"time"

	"github.com/google/uuid"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
)

func (d *Dispatcher) work() {
	defer d.workers.Done()
	for {
		// Once stopping, sends not yet started stay in the log for the
		// next start.
		t, ok := d.queue.take()
		if !ok {
			return
		}
		d.deliver(t)
	}
}

// delivery is what a send needs, read back from the log.
type delivery struct {
	deliveryID, redeliveryOf, buildEventID, eventType, appSlug string
	body                                                       []byte
	test                                                       bool // a test delivery: no build event
}

// load reads the body and ids of a queued send from the entry that holds them.
func (d *Dispatcher) load(t *ticket) (delivery, error) {
	first := !t.redelivery && !t.test // its payload is its build event's
	if first {
		if p, ok := d.payloads.get(t.payloadSeq); ok {
			return p.delivery(t.hookSlug), nil
		}
	}
	e, err := d.store.ReadEntry(context.Background(), eventlog.Topic, t.payloadSeq)
	if err != nil {
		return delivery{}, err
	}
	ev, err := eventlog.DecodeEntry(e)
	if err != nil {
		return delivery{}, err
	}
	switch ev := ev.(type) {
	case domain.BuildEventReceived:
		if first {
			return payloadOf(ev).delivery(t.hookSlug), nil
		}
	case domain.RedeliveryRequested:
		if t.redelivery {
			return delivery{
				deliveryID: ev.DeliveryID, redeliveryOf: ev.OriginalDeliveryID, buildEventID: ev.BuildEventID,
				eventType: ev.EventType, appSlug: ev.AppSlug, body: ev.Payload,
			}, nil
		}
	case domain.TestDeliveryRequested:
		if t.test {
			return delivery{deliveryID: ev.DeliveryID, eventType: ev.EventType, appSlug: ev.AppSlug, body: ev.Payload, test: true}, nil
		}
	}
	return delivery{}, fmt.Errorf("entry %d (%s) does not hold the payload that request %d names", e.Seq, e.Name(), t.reqSeq)
}

// deliver sends one queued request with the hook's configuration as it is
// now, and records the attempt. It runs to completion even during
// shutdown, bounded by the sender's timeout. The receiver's slot is freed
// as soon as the send is over, so the next send to that address does not
// wait for this attempt's fsync; the worker still holds the total bound.
func (d *Dispatcher) deliver(t *ticket) {
	if t.claim != nil {
		// Whatever happens, this process stops renewing the claim when it
		// is done with it; unfinished, it goes to another once it lapses.
		defer d.claimed.drop(t.reqSeq)
	}
	// Send nothing whose attempt the log could not record now.
	if err := d.waitWritable(d.runCtx); err != nil {
		d.queue.done(t)
		if !errors.Is(err, context.Canceled) && !errors.Is(err, eventlog.ErrClosed) {
			d.fail(fmt.Errorf("wait for the log to take appends: %w", err))
		}
		return // stopping: it stays in the log for the next start
	}
	job, err := d.load(t)
	if err != nil {
		d.queue.done(t)
		d.fail(fmt.Errorf("read the delivery that request %d asks for: %w", t.reqSeq, err))
		return
	}
	ev := domain.DeliveryAttempted{
		DeliveryID: job.deliveryID, HookSlug: t.hookSlug, AppSlug: job.appSlug, BuildEventID: job.buildEventID,
		EventType: job.eventType, RedeliveryOf: job.redeliveryOf, Test: job.test, Actor: domain.ServiceActor(),
	}
	d.cfg.Observer.DeliveryStarted()
	var sendTime time.Duration
	defer func() { d.cfg.Observer.DeliveryFinished(job.eventType, statusOf(ev.Response), ev.Error, sendTime) }()
	d.regMu.RLock()
	hook, found := d.registry.Get(t.hookSlug)
	d.regMu.RUnlock()
	if !found {
		ev.Error = "not sent: the webhook was deleted before the delivery was sent"
		ev.Request = domain.OutgoingRequest{Headers: map[string]string{}, Body: job.body}
	} else {
		at := time.Now().UTC()
		secrets, err := d.signingSecrets(hook, at)
		// The message id is the first delivery's id, so a redelivery of the
		// same event to the same hook can be recognised by the receiver; a
		// test's is its own id, the same if it is sent again after a crash.
		msgID := domain.DeliveryID(job.buildEventID, t.hookSlug)
		if job.test {
			msgID = job.deliveryID
		}
		if err != nil {
			ev.Error = "not sent: " + err.Error()
			ev.Request = domain.BuildRequest(hook, job.eventType, job.body, msgID, at, domain.SigningSecrets{})
		} else {
			ev.Request = domain.BuildRequest(hook, job.eventType, job.body, msgID, at, secrets)
			// Count the send under the address its connection really goes
			// to, however the host was spelled or named.
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				GotConn: func(info httptrace.GotConnInfo) {
					if a := info.Conn.RemoteAddr(); a != nil {
						d.queue.dialled(t, a.String())
					}
				},
			})
			out := d.sender.Send(ctx, ev.Request)
			ev.Response, ev.Error, ev.DurationMS = out.Response, out.Error, out.Duration.Milliseconds()
			sendTime = out.Duration
		}
	}
	ev.AttemptedAt = time.Now().UTC()
	d.queue.done(t)
	msg, err := eventlog.EncodeEvent(uuid.NewString(), ev)
	if err == nil {
		err = d.appendOrWait(d.runCtx, msg)
	}
	if err != nil {
		if errors.Is(err, eventlog.ErrClosed) || errors.Is(err, context.Canceled) {
			return // shutting down: the next start sends it again
		}
		d.fail(fmt.Errorf("record the attempt of delivery %s: %w", ev.DeliveryID, err))
		return
	}
	d.finish(t, ev.DeliveryID)
	d.logDelivery(ev)
}

// logDelivery says what happened to one delivery: a failure at WARN, a
// success at DEBUG. Never secrets or bodies.
func (d *Dispatcher) logDelivery(ev domain.DeliveryAttempted) {
	attrs := []any{"app", ev.AppSlug, "hook", ev.HookSlug, "host", domain.HookHost(ev.Request.URL),
		"event_type", ev.EventType, "delivery_id", ev.DeliveryID, "ms", ev.DurationMS}
	if ev.RedeliveryOf != "" {
		attrs = append(attrs, "redelivery_of", ev.RedeliveryOf)
	}
	if ev.Test {
		attrs = append(attrs, "test", true)
	}
	switch {
	case ev.Response == nil:
		d.logger.Warn("delivery failed: no response", append(attrs, "error", ev.Error)...)
	case ev.Error != "":
		d.logger.Warn("delivery failed: response incomplete", append(attrs, "status", ev.Response.Status, "error", ev.Error)...)
	case ev.Response.Status < 200 || ev.Response.Status > 299:
		d.logger.Warn("delivery failed: receiver answered "+fmt.Sprint(ev.Response.Status), append(attrs, "status", ev.Response.Status)...)
	default:
		d.logger.Debug("delivered", append(attrs, "status", ev.Response.Status)...)
	}
}

// signingSecrets opens the hook's secrets that sign a delivery made at.
func (d *Dispatcher) signingSecrets(h domain.Hook, at time.Time) (domain.SigningSecrets, error) {
	current, previous := h.SealedSigningSecrets(at)
	var s domain.SigningSecrets
	if current == "" {
		return s, nil
	}
	if d.cfg.Secrets == nil {
		return s, errors.New("the webhook has a secret but hookd has no secret key to open it")
	}
	var err error
	if s.Current, err = d.cfg.Secrets.Open(current, h.Slug); err != nil {
		return domain.SigningSecrets{}, err
	}
	if previous != "" {
		if s.Previous, err = d.cfg.Secrets.Open(previous, h.Slug); err != nil {
			return domain.SigningSecrets{}, err
		}
	}
	return s, nil
}

// warnRefusedTargets warns once, with a count, when hooks point at
// addresses this server will refuse to dial.
func (d *Dispatcher) warnRefusedTargets() {
	if d.sender.cfg.AllowPrivateTargets {
		return
	}
	d.regMu.RLock()
	hooks := d.registry.Hooks()
	d.regMu.RUnlock()
	n := 0
	for _, h := range hooks {
		host := domain.HookHost(h.URL)
		if domain.IsLocalhostName(host) {
			n++
		} else if a, ok := domain.ParseHostAddr(host); ok && domain.CheckTarget(a) != nil {
			n++
		}
	}
	if n > 0 {
		d.logger.Warn("some hooks point at loopback, private or link-local addresses, which this server refuses to deliver to; start it with --allow-private-targets to allow them",
			"hooks", n)
	}
}

func statusOf(r *domain.Response) int {
	if r == nil {
		return 0
	}
	return r.Status
}
