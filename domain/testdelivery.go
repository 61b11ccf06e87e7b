package domain

import (
	"encoding/json"
	"strings"
	"time"
)

// NameTestDeliveryRequested is the wire name of TestDeliveryRequested.
const NameTestDeliveryRequested = "test_delivery.requested.v1"

// TestBuildSlugPrefix starts the build_slug of every test payload, so a
// receiver can tell a test from a real build by the body alone.
const TestBuildSlugPrefix = "hookd-test-"

// Fields of a test payload besides its build slug: build number 0 (no
// real build has it), a workflow and branch that name hookd's test.
const (
	testWorkflow = "hookd-test"
	testProvider = "hookd"
	testBranch   = "hookd-test"
)

// TestDeliveryRequested: a user asked to send a test payload to one hook.
// It is a request like delivery.requested, but for that one hook only: the
// matcher never sees it, so no other hook gets it, and it names no build
// event. It carries the payload to send, made once, so a sender needs
// nothing but this entry, and a send repeated after a crash sends the same
// bytes with the same Webhook-Id (the DeliveryID). A sender records a
// DeliveryAttempted with the same DeliveryID and Test set.
type TestDeliveryRequested struct {
	DeliveryID  string          `json:"delivery_id"`
	HookSlug    string          `json:"hook_slug"`
	AppSlug     string          `json:"app_slug"`
	EventType   string          `json:"event_type"`
	Payload     json.RawMessage `json:"payload"`
	RequestedAt time.Time       `json:"requested_at"`
	// Actor is who asked for it; nil before actors were recorded.
	Actor *Actor `json:"actor,omitempty"`
}

func (TestDeliveryRequested) EventName() string { return NameTestDeliveryRequested }

// BuildSlug is the build_slug of the test's payload.
func (ev TestDeliveryRequested) BuildSlug() string { return TestBuildSlugPrefix + ev.DeliveryID }

// TestBuildPayload is the build payload of a test delivery for appSlug:
// build_slug TestBuildSlugPrefix + deliveryID, build_number 0, the status
// of a successful build for build/finished (1) and of a running one for
// build/triggered (0), and workflow, git provider and branch "hookd-test" /
// "hookd". An event type hookd does not deliver is an error wrapping
// ErrInvalid that names event_type.
func TestBuildPayload(appSlug, eventType, deliveryID string) (BuildPayload, error) {
	if !ValidEventType(eventType) {
		return BuildPayload{}, invalid("event_type", "must be %s or %s", EventBuildTriggered, EventBuildFinished)
	}
	status := int64(0)
	if eventType == EventBuildFinished {
		status = 1
	}
	return BuildPayload{
		BuildSlug:              TestDeliveryRequested{DeliveryID: deliveryID}.BuildSlug(),
		BuildNumber:            0,
		AppSlug:                appSlug,
		BuildStatus:            status,
		BuildTriggeredWorkflow: testWorkflow,
		Git:                    GitInfo{Provider: testProvider, SrcBranch: testBranch},
	}, nil
}

// DefaultTestEventType is the event type of a test delivery that names none.
const DefaultTestEventType = EventBuildFinished

// NewTestDelivery returns the request of a test delivery of eventType to
// the app's hook, with the id and time made at the edge. eventType must be
// one hookd delivers ("" too is an error: the caller applies
// DefaultTestEventType when none was asked for).
func NewTestDelivery(appSlug, hookSlug, eventType, deliveryID string, at time.Time) (TestDeliveryRequested, error) {
	p, err := TestBuildPayload(appSlug, eventType, deliveryID)
	if err != nil {
		return TestDeliveryRequested{}, err
	}
	return TestDeliveryRequested{
		DeliveryID: deliveryID, HookSlug: hookSlug, AppSlug: appSlug, EventType: eventType,
		Payload: p.Body(), RequestedAt: at,
	}, nil
}

// IsTestBuildSlug reports whether a build slug is a test payload's.
func IsTestBuildSlug(slug string) bool { return strings.HasPrefix(slug, TestBuildSlugPrefix) }
