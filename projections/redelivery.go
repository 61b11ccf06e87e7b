package projections

import (
	"slices"

	"github.com/hookd/hookd/domain"
)

// redeliveryRequested records on the original delivery item that a
// redelivery of it was asked for, so the API can say so and a bulk
// redelivery asks only once per item. The request is marked when it is
// logged, before it is attempted: that is what keeps two quick bulk
// requests from sending the same item twice. An original the views do not
// hold is left alone.
func (w *writer) redeliveryRequested(ev domain.RedeliveryRequested) error {
	inv, err := getU64(w.txn, key(keyItemIndex, ev.HookSlug, ev.OriginalDeliveryID))
	if err != nil || inv == 0 {
		return err
	}
	k := seqKey(keyItem, ev.HookSlug, inv)
	var d DeliveryItemView
	if err := getJSON(w.txn, k, &d); err != nil {
		return err
	}
	if slices.Contains(d.RedeliveredBy, ev.DeliveryID) {
		return nil
	}
	d.RedeliveredBy = append(d.RedeliveredBy, ev.DeliveryID)
	return w.setJSON(k, d)
}
