package projections

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hookd/hookd/domain"
)

// Keys of the build events and of what links delivery items to the log
// (see doc.go).
const (
	keyBuildEvent      = 'b' // b <app> 0 <^seq> → BuildEventView
	keyBuildEventIndex = 'B' // B <event id> → buildEventRef
	keyBuildEventCount = 'o' // o <app> → number of build events
	keyEventRequest    = 'r' // r <event id> 0 <request seq> → eventRequest
	keyEventItem       = 'e' // e <event id> 0 <hook> 0 <attempt seq> → ""
	keyRequest         = 'Q' // Q <hook> 0 <delivery id> → lineage
)

// BuildEventView is a build event as it was received.
type BuildEventView struct {
	EventID    string          `json:"event_id"`
	AppSlug    string          `json:"app_slug"`
	EventType  string          `json:"event_type"`
	ReceivedAt time.Time       `json:"received_at"`
	Payload    json.RawMessage `json:"payload"`
	Seq        uint64          `json:"seq"`
	// ReportedBy is the token that reported it; nil before actors were
	// recorded.
	ReportedBy *domain.Actor `json:"reported_by,omitempty"`
}

// EventDelivery is one hook a build event was requested for, and the
// delivery items (the first and any redeliveries) it got, oldest first.
type EventDelivery struct {
	HookSlug    string
	DeliveryID  string
	RequestSeq  uint64    // 0 when the log holds no delivery.requested (older logs)
	RequestedAt time.Time // zero then too
	Items       []DeliveryItemView
}

// BuildEventDetail is a build event with its deliveries in request order.
type BuildEventDetail struct {
	Event      BuildEventView
	Deliveries []EventDelivery
}

// buildEventRef finds a build event's view and says what delivery items
// of it need to know.
type buildEventRef struct {
	App       string `json:"app"`
	Seq       uint64 `json:"seq"`
	BuildSlug string `json:"build_slug"`
}

// eventRequest is one delivery.requested of a build event.
type eventRequest struct {
	HookSlug    string    `json:"hook_slug"`
	DeliveryID  string    `json:"delivery_id"`
	RequestedAt time.Time `json:"requested_at"`
}

// lineage is what a delivery item takes from the request that asked for it.
type lineage struct {
	RequestSeq    uint64        `json:"request_seq"`
	BuildEventSeq uint64        `json:"build_event_seq"`
	BuildSlug     string        `json:"build_slug"`
	RequestedBy   *domain.Actor `json:"requested_by,omitempty"`
}

func (w *writer) buildEventReceived(seq uint64, ev domain.BuildEventReceived) error {
	idx := key(keyBuildEventIndex, ev.EventID)
	if _, err := w.txn.Get(idx); err == nil {
		return nil // the same event id twice: the first one stands
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	b := BuildEventView{EventID: ev.EventID, AppSlug: ev.AppSlug, EventType: ev.EventType,
		ReceivedAt: ev.ReceivedAt, Payload: ev.Build.Body(), Seq: seq, ReportedBy: ev.Actor}
	if err := w.setJSON(seqKey(keyBuildEvent, ev.AppSlug, ^seq), b); err != nil {
		return err
	}
	if err := w.setJSON(idx, buildEventRef{App: ev.AppSlug, Seq: seq, BuildSlug: ev.Build.BuildSlug}); err != nil {
		return err
	}
	return w.add(key(keyBuildEventCount, ev.AppSlug), 1)
}

func (w *writer) deliveryRequested(seq uint64, ev domain.DeliveryRequested) error {
	ref, err := w.buildEventRef(ev.BuildEventID)
	if err != nil {
		return err
	}
	bseq := ev.BuildEventSeq
	if bseq == 0 {
		bseq = ref.Seq
	}
	if err := w.setJSON(seqKey(keyEventRequest, ev.BuildEventID, seq),
		eventRequest{HookSlug: ev.HookSlug, DeliveryID: ev.DeliveryID, RequestedAt: ev.RequestedAt}); err != nil {
		return err
	}
	return w.setJSON(key(keyRequest, ev.HookSlug, ev.DeliveryID), lineage{RequestSeq: seq, BuildEventSeq: bseq, BuildSlug: ref.BuildSlug, RequestedBy: ev.Actor})
}

// redeliveryLineage records what the redelivery's item will link to.
func (w *writer) redeliveryLineage(seq uint64, ev domain.RedeliveryRequested) error {
	ref, err := w.buildEventRef(ev.BuildEventID)
	if err != nil {
		return err
	}
	return w.setJSON(key(keyRequest, ev.HookSlug, ev.DeliveryID), lineage{RequestSeq: seq, BuildEventSeq: ref.Seq, BuildSlug: ref.BuildSlug, RequestedBy: ev.Actor})
}

// buildEventRef returns the build event's reference; the zero one if the
// views do not hold it.
func (w *writer) buildEventRef(eventID string) (buildEventRef, error) {
	var ref buildEventRef
	err := getJSON(w.txn, key(keyBuildEventIndex, eventID), &ref)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return buildEventRef{}, nil
	}
	return ref, err
}

// itemLineage fills in the item's links to the log: from its request, or,
// for an attempt logged without one, from its build event.
func (w *writer) itemLineage(d *DeliveryItemView) error {
	var l lineage
	err := getJSON(w.txn, key(keyRequest, d.HookSlug, d.Slug), &l)
	if errors.Is(err, badger.ErrKeyNotFound) {
		ref, err := w.buildEventRef(d.BuildEventID)
		if err != nil {
			return err
		}
		l = lineage{BuildEventSeq: ref.Seq, BuildSlug: ref.BuildSlug}
	} else if err != nil {
		return err
	}
	d.RequestSeq, d.BuildEventSeq, d.BuildSlug, d.RequestedBy = l.RequestSeq, l.BuildEventSeq, l.BuildSlug, l.RequestedBy
	if d.Test {
		return nil // a test is no build event's item
	}
	return w.set(seqKey(keyEventItem, d.BuildEventID+"\x00"+d.HookSlug, d.Seq), nil)
}

// ListBuildEvents returns a page of the app's build events, newest first.
func (v *Views) ListBuildEvents(appSlug, anchor string, limit int) (Page[BuildEventView], error) {
	return listPage[BuildEventView](v, keyBuildEvent, keyBuildEventCount, appSlug, anchor, limit)
}

// BuildEvent returns the app's build event with that id and its
// deliveries: one per delivery.requested, in request order, then any hook
// with items but no request (attempts logged before requests were).
func (v *Views) BuildEvent(appSlug, eventID string) (BuildEventDetail, error) {
	var out BuildEventDetail
	err := v.db.View(func(txn *badger.Txn) error {
		var ref buildEventRef
		if err := getJSON(txn, key(keyBuildEventIndex, eventID), &ref); err != nil {
			return err
		}
		if ref.App != appSlug {
			return domain.ErrBuildEventNotFound
		}
		if err := getJSON(txn, seqKey(keyBuildEvent, ref.App, ^ref.Seq), &out.Event); err != nil {
			return err
		}
		out.Deliveries = []EventDelivery{}
		byHook := map[string]int{}
		if err := iterate(txn, append(key(keyEventRequest, eventID), 0), func(k, val []byte) error {
			var r eventRequest
			if err := json.Unmarshal(val, &r); err != nil {
				return err
			}
			if _, ok := byHook[r.HookSlug]; ok {
				return nil
			}
			byHook[r.HookSlug] = len(out.Deliveries)
			out.Deliveries = append(out.Deliveries, EventDelivery{HookSlug: r.HookSlug, DeliveryID: r.DeliveryID,
				RequestSeq: binary.BigEndian.Uint64(k[len(k)-8:]), RequestedAt: r.RequestedAt, Items: []DeliveryItemView{}})
			return nil
		}); err != nil {
			return err
		}
		prefix := append(key(keyEventItem, eventID), 0)
		return iterate(txn, prefix, func(k, _ []byte) error {
			if len(k) < len(prefix)+9 {
				return nil
			}
			hook, seq := string(k[len(prefix):len(k)-9]), binary.BigEndian.Uint64(k[len(k)-8:])
			var d DeliveryItemView
			if err := getJSON(txn, seqKey(keyItem, hook, ^seq), &d); err != nil {
				return fmt.Errorf("item %d of hook %s listed but not readable: %v", seq, hook, err) // damage, not "not found"
			}
			i, ok := byHook[hook]
			if !ok {
				i = len(out.Deliveries)
				byHook[hook] = i
				out.Deliveries = append(out.Deliveries, EventDelivery{HookSlug: hook, Items: []DeliveryItemView{}})
			}
			out.Deliveries[i].Items = append(out.Deliveries[i].Items, d)
			return nil
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) || errors.Is(err, domain.ErrBuildEventNotFound) {
		// An answer, not damage: noteRead is not told.
		return BuildEventDetail{}, fmt.Errorf("get build event %s: %w", eventID, domain.ErrBuildEventNotFound)
	}
	if err := v.noteRead(err); err != nil {
		return BuildEventDetail{}, fmt.Errorf("get build event %s: %w", eventID, err)
	}
	return out, nil
}

// iterate calls f with each key and value under prefix, in key order.
func iterate(txn *badger.Txn, prefix []byte, f func(k, v []byte) error) error {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 16})
	defer it.Close()
	for it.Seek(prefix); it.Valid(); it.Next() {
		k := it.Item().Key()
		if err := it.Item().Value(func(v []byte) error { return f(k, v) }); err != nil {
			return err
		}
	}
	return nil
}
