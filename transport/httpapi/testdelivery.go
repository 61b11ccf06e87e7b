package httpapi

import (
	"bytes"
	"net/http"

	"github.com/hookd/hookd/domain"
)

// testDeliveryInput is the optional body of POST .../test.
type testDeliveryInput struct {
	EventType *string `json:"event_type"`
}

type testDeliveryRequested struct {
	Slug            string `json:"slug"`
	EventType       string `json:"event_type"`
	BuildSlug       string `json:"build_slug"`
	RequestSequence uint64 `json:"request_sequence"`
}

// testDelivery asks for one test payload to be sent to the hook, and to
// that hook only: it appends a test_delivery.requested, which the sender
// sends like any request and the matcher never matches. The answer is 202
// once the request is durably logged; the delivery item (slug = the
// answer's slug, test: true) appears when its attempt is recorded. The
// body is optional: {"event_type": "build/triggered"|"build/finished"},
// build/finished by default. The hook's own event selection does not
// apply: a test sends what it is asked to.
func (a *api) testDelivery(w http.ResponseWriter, r *http.Request) error {
	_, h, err := a.hookFromPath(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in testDeliveryInput
	if len(bytes.TrimSpace(body)) > 0 {
		if err := domain.DecodeJSON(body, &in); err != nil {
			return err
		}
	}
	eventType := domain.DefaultTestEventType
	if in.EventType != nil {
		eventType = *in.EventType
	}
	ev, err := domain.NewTestDelivery(h.AppSlug, h.Slug, eventType, a.NewID(), a.Now())
	if err == nil {
		ev.Actor = actorOf(r)
	}
	if err != nil {
		return err
	}
	seq, err := a.append(r.Context(), a.NewID(), ev)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, struct {
		Message string                `json:"message"`
		Data    testDeliveryRequested `json:"data"`
	}{"test delivery requested", testDeliveryRequested{
		Slug: ev.DeliveryID, EventType: ev.EventType, BuildSlug: ev.BuildSlug(), RequestSequence: seq,
	}})
	return nil
}
