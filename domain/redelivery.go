package domain

import (
	"cmp"
	"slices"
	"time"
)

// DeliveryRecord is what the bulk-redelivery rule needs to know of one
// delivery item of a hook.
type DeliveryRecord struct {
	Slug         string
	BuildEventID string
	CreatedAt    time.Time
	// Status is the receiver's HTTP status; nil when no response arrived.
	Status *int
	// Error is the delivery's error, "" if none. A response with an error
	// (its body was cut off) failed whatever its status.
	Error string
	// RedeliveredBy holds the slugs of the redeliveries already requested
	// of this very item (by hand or by an earlier bulk request), whether
	// or not they have been attempted yet.
	RedeliveredBy []string
}

// Failed reports whether the item did not reach its receiver: no
// response, a status other than 2xx, or an error (a 2xx whose body was cut
// off is not known to have been handled).
func (d DeliveryRecord) Failed() bool {
	return d.Error != "" || d.Status == nil || *d.Status < 200 || *d.Status > 299
}

// SelectFailedForRedelivery picks the delivery items of one hook to send
// again after a receiver's outage. items are the hook's items created at
// or after since (others are ignored), in any order. All items of one
// build event form its history with that hook, the first delivery and its
// redeliveries; for each build event it picks at most one item, the
// newest, and only if
//
//   - it failed (no response, not 2xx, or an error),
//   - no redelivery of it has been requested yet,
//   - no item of that build event since then succeeded, and
//   - no redelivery of that build event requested since then is still
//     waiting to be attempted.
//
// The result is oldest first (by CreatedAt, then slug), the order to send
// them in. What this means for a user after an outage: every build event
// whose delivery failed since then is sent again, once; calling again
// before or after those redeliveries were attempted selects nothing,
// except a redelivery that failed again, which is then the build event's
// newest failed item; items created before since are never touched.
func SelectFailedForRedelivery(items []DeliveryRecord, since time.Time) []DeliveryRecord {
	type history struct {
		newest    DeliveryRecord
		delivered bool
		requested []string // redeliveries requested of its items
	}
	byEvent := map[string]*history{}
	present := map[string]bool{}
	for _, d := range items {
		if d.CreatedAt.Before(since) {
			continue
		}
		present[d.Slug] = true
		h := byEvent[d.BuildEventID]
		if h == nil {
			h = &history{newest: d}
			byEvent[d.BuildEventID] = h
		} else if newer(d, h.newest) {
			h.newest = d
		}
		h.delivered = h.delivered || !d.Failed()
		h.requested = append(h.requested, d.RedeliveredBy...)
	}
	out := make([]DeliveryRecord, 0, len(byEvent))
	for _, h := range byEvent {
		pending := slices.ContainsFunc(h.requested, func(slug string) bool { return !present[slug] })
		if h.delivered || pending || !h.newest.Failed() || len(h.newest.RedeliveredBy) > 0 {
			continue
		}
		out = append(out, h.newest)
	}
	slices.SortFunc(out, func(a, b DeliveryRecord) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Slug, b.Slug)
	})
	return out
}

// newer orders two items of one build event: later CreatedAt, then slug.
func newer(a, b DeliveryRecord) bool {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c > 0
	}
	return a.Slug > b.Slug
}
