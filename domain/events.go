package domain

import (
	"encoding/json"
	"time"
)

// Wire names of the events. They are part of the stored log and never
// change; a breaking change to an event adds a new name ending in .v2.
const (
	NameHookConfigured      = "hook.configured.v1"
	NameHookRemoved         = "hook.removed.v1"
	NameBuildEventReceived  = "build_event.received.v1"
	NameDeliveryAttempted   = "delivery.attempted.v1"
	NameRedeliveryRequested = "redelivery.requested.v1"
)

// Event is a fact appended to the log.
type Event interface {
	EventName() string
}

// HookConfigured: a hook was created or its configuration replaced.
// The secret is never stored in clear: SealedSecret holds it encrypted with
// the server's key. It is nil when the configuration left the secret as it
// was, and points to "" when the secret was removed. When a secret replaced
// another, PreviousSecretValidUntil says until when the old one still signs.
type HookConfigured struct {
	HookSlug                 string            `json:"hook_slug"`
	AppSlug                  string            `json:"app_slug"`
	URL                      string            `json:"url"`
	Events                   []string          `json:"events"`
	Headers                  map[string]string `json:"headers"`
	SealedSecret             *string           `json:"sealed_secret,omitempty"`
	PreviousSecretValidUntil *time.Time        `json:"previous_secret_valid_until,omitempty"`
	ConfiguredAt             time.Time         `json:"configured_at"`
	// Actor is who caused it (see Actor); nil in entries logged before
	// actors were recorded.
	Actor *Actor `json:"actor,omitempty"`
}

// HookRemoved: a hook was deleted; it receives nothing from here on.
type HookRemoved struct {
	HookSlug  string    `json:"hook_slug"`
	AppSlug   string    `json:"app_slug"`
	RemovedAt time.Time `json:"removed_at"`
	// Actor is who caused it (see Actor); nil in entries logged before
	// actors were recorded.
	Actor *Actor `json:"actor,omitempty"`
}

// BuildEventReceived: the CI reported a build event for an app.
type BuildEventReceived struct {
	EventID    string       `json:"event_id"`
	AppSlug    string       `json:"app_slug"`
	EventType  string       `json:"event_type"`
	Build      BuildPayload `json:"build"`
	ReceivedAt time.Time    `json:"received_at"`
	// IdempotencyKey is the client's Idempotency-Key header as given, if
	// it sent one: the event's unique key was made from it instead of
	// from the build slug (so auditors see why a repeat was refused).
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Actor is who caused it (see Actor); nil in entries logged before
	// actors were recorded.
	Actor *Actor `json:"actor,omitempty"`
}

// RedeliveryRequested: a user asked to send a delivery item again. It
// carries the original payload so the dispatcher needs nothing but the log.
type RedeliveryRequested struct {
	DeliveryID         string          `json:"delivery_id"`
	OriginalDeliveryID string          `json:"original_delivery_id"`
	HookSlug           string          `json:"hook_slug"`
	AppSlug            string          `json:"app_slug"`
	BuildEventID       string          `json:"build_event_id"`
	EventType          string          `json:"event_type"`
	Payload            json.RawMessage `json:"payload"`
	RequestedAt        time.Time       `json:"requested_at"`
	// Actor is who caused it (see Actor); nil in entries logged before
	// actors were recorded.
	Actor *Actor `json:"actor,omitempty"`
}

// DeliveryAttempted: one POST to a hook was made (or could not be made),
// with exactly what was sent and what came back.
type DeliveryAttempted struct {
	DeliveryID   string          `json:"delivery_id"`
	HookSlug     string          `json:"hook_slug"`
	AppSlug      string          `json:"app_slug"`
	BuildEventID string          `json:"build_event_id"`
	EventType    string          `json:"event_type"`
	RedeliveryOf string          `json:"redelivery_of,omitempty"`
	Request      OutgoingRequest `json:"request"`
	Response     *Response       `json:"response,omitempty"`
	DurationMS   int64           `json:"duration_ms"`
	Error        string          `json:"error,omitempty"`
	AttemptedAt  time.Time       `json:"attempted_at"`
	// Test marks the attempt of a test_delivery.requested; BuildEventID
	// is then "" (a test answers to no build event).
	Test bool `json:"test,omitempty"`
	// Actor is hookd itself (ServiceActor); nil before actors were recorded.
	Actor *Actor `json:"actor,omitempty"`
}

// Response is what a receiver answered. Body holds at most
// MaxResponseBody bytes; Truncated says whether more was discarded. Body is
// the text itself when the bytes are UTF-8, else (BodyEncoding "base64")
// their base64, so JSON never mangles them. Headers hold at most
// MaxStoredResponseHeaders bytes; HeadersTruncated says whether some were
// left out.
type Response struct {
	Status           int                 `json:"status"`
	Headers          map[string][]string `json:"headers"`
	HeadersTruncated bool                `json:"headers_truncated,omitempty"`
	Body             string              `json:"body"`
	BodyEncoding     string              `json:"body_encoding,omitempty"`
	Truncated        bool                `json:"truncated,omitempty"`
}

// MaxResponseBody is how much of a receiver's answer is kept.
const MaxResponseBody = 64 << 10

// MaxResponseHeaderBytes is how much of a response's header section
// (1xx responses included) is read at all; a receiver sending more gets
// its delivery recorded as failed, without a response.
const MaxResponseHeaderBytes = 64 << 10

// MaxStoredResponseHeaders is how many bytes of response headers (names
// plus values) one delivery item keeps.
const MaxStoredResponseHeaders = 16 << 10

// BodyEncodingBase64 marks a Response.Body holding the base64 (standard
// alphabet, padded) of the raw bytes; "" means the body is UTF-8 text.
const BodyEncodingBase64 = "base64"

func (HookConfigured) EventName() string      { return NameHookConfigured }
func (HookRemoved) EventName() string         { return NameHookRemoved }
func (BuildEventReceived) EventName() string  { return NameBuildEventReceived }
func (RedeliveryRequested) EventName() string { return NameRedeliveryRequested }
func (DeliveryAttempted) EventName() string   { return NameDeliveryAttempted }
