package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/projections"
)

// redeliverFailedInput is the body of POST .../redeliver-failed.
type redeliverFailedInput struct {
	Since *string `json:"since"`
}

type redeliverFailedData struct {
	Requested int      `json:"requested"`
	Slugs     []string `json:"slugs"`
}

// Bounds of one Append of a bulk redelivery, well inside one Badger
// transaction; a bigger selection is appended in several.
const (
	bulkAppendMessages = 500
	bulkAppendBytes    = 1 << 20
)

// attemptClockSlack is how far out of log order delivery items' created_at
// may be (attempts are timed when they finish and logged in groups); the
// scan for items since a time reads this much further back.
const attemptClockSlack = time.Minute

// redeliverFailed requests a redelivery of each of the hook's failed
// delivery items created at or after "since", once each (the rule is
// domain.SelectFailedForRedelivery), and says how many and which.
func (a *api) redeliverFailed(w http.ResponseWriter, r *http.Request) error {
	_, h, err := a.hookFromPath(r)
	if err != nil {
		return err
	}
	var in redeliverFailedInput
	if err := decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.Since == nil {
		return &domain.FieldError{Field: "since", Message: "is required: an RFC 3339 time, such as 2026-03-01T10:00:00Z"}
	}
	since, err := time.Parse(time.RFC3339, *in.Since)
	if err != nil {
		return &domain.FieldError{Field: "since", Message: "must be an RFC 3339 time, such as 2026-03-01T10:00:00Z"}
	}

	// Decided from the items as the views show them, and appended only if
	// no other redelivery of this hook lands in between (conditional.go):
	// whichever process serves it, each item is redelivered once.
	var out redeliverFailedData
	var rest []*message.Message
	seqs, err := a.decideAndAppend(r.Context(), redeliveryNames, redeliversHook(h.Slug), func() ([]*message.Message, error) {
		msgs, slugs, err := a.failedRedeliveries(h, since, actorOf(r))
		if err != nil {
			return nil, err
		}
		out = redeliverFailedData{Slugs: slugs}
		n := bulkChunk(msgs)
		rest = msgs[n:]
		return msgs[:n], nil
	})
	if err != nil {
		return fmt.Errorf("append %s: %w", domain.NameRedeliveryRequested, err)
	}
	// A selection too big for one append goes on in more, each on the
	// same condition; if another redelivery of the hook gets in between,
	// this one stops there and says so rather than redeliver twice.
	last := uint64(0)
	if len(seqs) > 0 {
		last = seqs[len(seqs)-1]
	}
	for len(rest) > 0 {
		n := bulkChunk(rest)
		seqs, err := a.appendIfUntouched(r.Context(), last, redeliveryNames, redeliversHook(h.Slug), rest[:n])
		var stale *staleError
		if errors.As(err, &stale) {
			out.Slugs = out.Slugs[:len(out.Slugs)-len(rest)]
			break
		}
		if err != nil {
			return fmt.Errorf("append %s: %w", domain.NameRedeliveryRequested, err)
		}
		last, rest = seqs[len(seqs)-1], rest[n:]
	}
	if last != 0 {
		_ = a.waitForViews(r.Context(), last)
	}
	out.Requested = len(out.Slugs)
	msg := fmt.Sprintf("redelivery requested for %d failed delivery items since %s", out.Requested, since.UTC().Format(time.RFC3339))
	if out.Requested == 0 {
		msg = fmt.Sprintf("no failed delivery items to redeliver since %s (each is redelivered once)", since.UTC().Format(time.RFC3339))
	}
	writeJSON(w, http.StatusOK, struct {
		Message string              `json:"message"`
		Data    redeliverFailedData `json:"data"`
	}{msg, out})
	return nil
}

// itemsSince reads the hook's delivery items, newest first, back to those
// created before since (with attemptClockSlack to spare).
func (a *api) itemsSince(hookSlug string, since time.Time) ([]projections.DeliveryItemView, error) {
	stop := since.Add(-attemptClockSlack)
	var items []projections.DeliveryItemView
	anchor := ""
	for {
		page, err := a.Views.ListDeliveryItems(hookSlug, anchor, MaxLimit)
		if err != nil {
			return nil, err
		}
		for _, d := range page.Items {
			if d.CreatedAt.Before(stop) {
				return items, nil
			}
			items = append(items, d)
		}
		if page.Next == "" {
			return items, nil
		}
		anchor = page.Next
	}
}

// failedRedeliveries reads the hook's items since the time and returns
// a redelivery request for each failed one not redelivered yet, with the
// new items' slugs.
func (a *api) failedRedeliveries(h projections.HookView, since time.Time, actor *domain.Actor) ([]*message.Message, []string, error) {
	items, err := a.itemsSince(h.Slug, since)
	if err != nil {
		return nil, nil, err
	}
	records := make([]domain.DeliveryRecord, 0, len(items))
	bySlug := make(map[string]projections.DeliveryItemView, len(items))
	for _, d := range items {
		if d.Test {
			continue // a test is a probe, not a build event the receiver missed
		}
		bySlug[d.Slug] = d
		records = append(records, domain.DeliveryRecord{
			Slug: d.Slug, BuildEventID: d.BuildEventID, CreatedAt: d.CreatedAt, Status: d.ResponseStatus, Error: d.Error,
			RedeliveredBy: d.RedeliveredBy,
		})
	}
	slugs := []string{}
	var msgs []*message.Message
	for _, rec := range domain.SelectFailedForRedelivery(records, since) {
		d := bySlug[rec.Slug]
		if len(d.RequestPayload) == 0 {
			continue // nothing to send again, as the single redeliver says
		}
		ev := domain.RedeliveryRequested{
			DeliveryID: a.NewID(), OriginalDeliveryID: d.Slug, HookSlug: h.Slug, AppSlug: h.AppSlug,
			BuildEventID: d.BuildEventID, EventType: d.EventType, Payload: d.RequestPayload, RequestedAt: a.Now(),
			Actor: actor,
		}
		msg, err := eventlog.EncodeEvent(a.NewID(), ev)
		if err != nil {
			return nil, nil, err
		}
		msgs = append(msgs, msg)
		slugs = append(slugs, ev.DeliveryID)
	}
	return msgs, slugs, nil
}

// bulkChunk is how many of msgs fit in one append of a bulk redelivery.
func bulkChunk(msgs []*message.Message) int {
	n, size := 0, 0
	for n < len(msgs) && n < bulkAppendMessages && (n == 0 || size+len(msgs[n].Payload) <= bulkAppendBytes) {
		size += len(msgs[n].Payload)
		n++
	}
	return n
}

// redeliveryNames are the entries a bulk redelivery must not interleave with.
var redeliveryNames = map[string]bool{domain.NameRedeliveryRequested: true}

// redeliversHook reports whether ev is a redelivery of the hook's items.
func redeliversHook(slug string) func(domain.Event) bool {
	return func(ev domain.Event) bool {
		rd, ok := ev.(domain.RedeliveryRequested)
		return ok && rd.HookSlug == slug
	}
}
