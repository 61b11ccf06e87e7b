package domain

import (
	"time"

	"github.com/google/uuid"
)

// NameDeliveryRequested is the wire name of DeliveryRequested.
const NameDeliveryRequested = "delivery.requested.v1"

// DeliveryRequested: the matcher decided that a build event goes to a hook.
// It is appended once per (build event, hook) pair, after the build event
// and in the order of the build events, by the one matcher that reads the
// log in order; a sender sends it and records a DeliveryAttempted with the
// same DeliveryID. Together with the hook events before BuildEventSeq it
// answers "which hooks did build X go to, and why not hook Y" from the log.
type DeliveryRequested struct {
	DeliveryID    string    `json:"delivery_id"`
	HookSlug      string    `json:"hook_slug"`
	AppSlug       string    `json:"app_slug"`
	BuildEventID  string    `json:"build_event_id"`
	BuildEventSeq uint64    `json:"build_event_seq"`
	RequestedAt   time.Time `json:"requested_at"`
	// Actor is hookd itself (ServiceActor); nil before actors were recorded.
	Actor *Actor `json:"actor,omitempty"`
}

func (DeliveryRequested) EventName() string { return NameDeliveryRequested }

// deliveryNamespace derives delivery ids: one (build event, hook) pair
// always gets the same id, so a pair re-sent after a crash is recognisable.
var deliveryNamespace = uuid.MustParse("6f1d3c1e-52a4-4d4e-9a43-3b2f0b6f6a10")

// DeliveryID is the id of the first delivery item of a build event to a
// hook, and the Webhook-Id of every delivery of that pair.
func DeliveryID(buildEventID, hookSlug string) string {
	return uuid.NewSHA1(deliveryNamespace, []byte(buildEventID+"\x00"+hookSlug)).String()
}
