package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/projections"
)

// buildEventJSON is a build event as it was received.
type buildEventJSON struct {
	EventID    string          `json:"event_id"`
	Sequence   uint64          `json:"sequence"`
	EventType  string          `json:"event_type"`
	ReceivedAt time.Time       `json:"received_at"`
	Payload    json.RawMessage `json:"payload"`
	// ReportedBy (an extension): the token that reported it.
	ReportedBy *domain.Actor `json:"reported_by,omitempty"`
}

// buildEventDetailJSON is a build event with the hooks it was requested
// for, each with its delivery items.
type buildEventDetailJSON struct {
	buildEventJSON
	Deliveries []eventDeliveryJSON `json:"deliveries"`
}

type eventDeliveryJSON struct {
	HookSlug string `json:"hook_slug"`
	// DeliveryID, RequestSequence and RequestedAt come from the
	// delivery.requested entry; absent for deliveries logged before
	// requests were.
	DeliveryID      string             `json:"delivery_id,omitempty"`
	RequestSequence uint64             `json:"request_sequence,omitempty"`
	RequestedAt     *time.Time         `json:"requested_at,omitempty"`
	Items           []eventItemSummary `json:"items"`
}

// eventItemSummary is a delivery item in short; its full record is at
// the delivery item's own path.
type eventItemSummary struct {
	Slug               string    `json:"slug"`
	ResponseHTTPStatus *int      `json:"response_http_status"`
	Error              *string   `json:"error"`
	CreatedAt          time.Time `json:"created_at"`
	RedeliveryOf       *string   `json:"redelivery_of"`
	Status             string    `json:"status"`
	RequestSequence    uint64    `json:"request_sequence,omitempty"`
	AttemptSequence    uint64    `json:"attempt_sequence"`
}

func toBuildEventJSON(b projections.BuildEventView) buildEventJSON {
	return buildEventJSON{EventID: b.EventID, Sequence: b.Seq, EventType: b.EventType, ReceivedAt: b.ReceivedAt.UTC(), Payload: b.Payload, ReportedBy: b.ReportedBy}
}

func (a *api) listBuildEvents(w http.ResponseWriter, r *http.Request) error {
	app, err := appSlug(r)
	if err != nil {
		return err
	}
	anchor, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	page, err := a.Views.ListBuildEvents(app, anchor, limit)
	if err != nil {
		return err
	}
	writePage(w, page, limit, toBuildEventJSON)
	return nil
}

func (a *api) getBuildEvent(w http.ResponseWriter, r *http.Request) error {
	app, err := appSlug(r)
	if err != nil {
		return err
	}
	id, err := pathSlug(r, "event-id", domain.ErrBuildEventNotFound)
	if err != nil {
		return err
	}
	b, err := a.Views.BuildEvent(app, id)
	if errors.Is(err, domain.ErrBuildEventNotFound) && a.LogReader != nil && a.Waiter != nil {
		// The 202 of its POST may be a moment ahead of the views: catch up
		// with the log as it is now, then look once more, so an event
		// just reported is never a 404.
		if head, herr := a.LogReader.Head(eventlog.Topic); herr == nil {
			_ = a.waitForViews(r.Context(), head)
			b, err = a.Views.BuildEvent(app, id)
		}
	}
	if err != nil {
		return err
	}
	out := buildEventDetailJSON{buildEventJSON: toBuildEventJSON(b.Event), Deliveries: make([]eventDeliveryJSON, len(b.Deliveries))}
	for i, d := range b.Deliveries {
		ed := eventDeliveryJSON{HookSlug: d.HookSlug, DeliveryID: d.DeliveryID, RequestSequence: d.RequestSeq, Items: make([]eventItemSummary, len(d.Items))}
		if !d.RequestedAt.IsZero() {
			at := d.RequestedAt.UTC()
			ed.RequestedAt = &at
		}
		for j, it := range d.Items {
			full := toDeliveryItemJSON(it)
			ed.Items[j] = eventItemSummary{Slug: it.Slug, ResponseHTTPStatus: it.ResponseStatus, Error: full.Error,
				CreatedAt: full.CreatedAt, RedeliveryOf: full.RedeliveryOf, Status: it.Status(),
				RequestSequence: it.RequestSeq, AttemptSequence: it.Seq}
		}
		out.Deliveries[i] = ed
	}
	writeJSON(w, http.StatusOK, dataResponse{Data: out})
	return nil
}

// itemFilter reads the delivery-item list's filters: status, build_slug,
// since and until. A value it cannot use is a 400, never ignored; other
// query parameters are ignored, as everywhere in the API.
func itemFilter(r *http.Request) (projections.ItemFilter, error) {
	q := r.URL.Query()
	var f projections.ItemFilter
	if q.Has("status") {
		f.Status = q.Get("status")
		if f.Status != projections.StatusFailed && f.Status != projections.StatusSucceeded {
			return f, &domain.FieldError{Field: "status", Message: "must be failed (no response, not 2xx, or an error) or succeeded"}
		}
	}
	if q.Has("build_slug") {
		if f.BuildSlug = q.Get("build_slug"); f.BuildSlug == "" {
			return f, &domain.FieldError{Field: "build_slug", Message: "must not be empty"}
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if !q.Has(p.name) {
			continue
		}
		t, err := time.Parse(time.RFC3339, q.Get(p.name))
		if err != nil {
			return f, &domain.FieldError{Field: p.name, Message: "must be an RFC 3339 time, such as 2026-03-01T10:00:00Z"}
		}
		*p.dst = t
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return f, &domain.FieldError{Field: "until", Message: "must not be before since"}
	}
	return f, nil
}
