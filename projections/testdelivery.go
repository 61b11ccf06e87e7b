package projections

import (
	"encoding/json"
	"fmt"

	"github.com/hookd/hookd/domain"
)

// testDeliveryRequested records what the test delivery's item will link
// to: its request's sequence and its payload's build slug (no build event).
// The item itself appears with its attempt, marked Test by it.
func (w *writer) testDeliveryRequested(seq uint64, ev domain.TestDeliveryRequested) error {
	var p struct {
		BuildSlug string `json:"build_slug"`
	}
	if err := json.Unmarshal(ev.Payload, &p); err != nil {
		return fmt.Errorf("test delivery %s: payload: %w", ev.DeliveryID, err)
	}
	return w.setJSON(key(keyRequest, ev.HookSlug, ev.DeliveryID), lineage{RequestSeq: seq, BuildSlug: p.BuildSlug, RequestedBy: ev.Actor})
}
