package eventlog

import (
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/domain"
)

// EncodeEvent turns a domain event into a message with id as its UUID and
// the event's wire name in its metadata.
func EncodeEvent(id string, ev domain.Event) (*message.Message, error) {
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ev.EventName(), err)
	}
	msg := message.NewMessage(id, payload)
	msg.Metadata.Set(MetaName, ev.EventName())
	// The delivery id lets a sender match requests and attempts without
	// decoding their bodies.
	switch e := ev.(type) {
	case domain.DeliveryAttempted:
		msg.Metadata.Set(MetaDeliveryID, e.DeliveryID)
	case domain.DeliveryRequested:
		msg.Metadata.Set(MetaDeliveryID, e.DeliveryID)
	case domain.RedeliveryRequested:
		msg.Metadata.Set(MetaDeliveryID, e.DeliveryID)
	case domain.TestDeliveryRequested:
		msg.Metadata.Set(MetaDeliveryID, e.DeliveryID)
	}
	return msg, nil
}

// DecodeEvent turns a stored payload back into the domain event its wire
// name says. Unknown names give an error wrapping ErrUnknownEvent.
func DecodeEvent(name string, payload []byte) (domain.Event, error) {
	var ev domain.Event
	var err error
	switch name {
	case domain.NameHookConfigured:
		ev, err = decodeAs[domain.HookConfigured](payload)
	case domain.NameHookRemoved:
		ev, err = decodeAs[domain.HookRemoved](payload)
	case domain.NameBuildEventReceived:
		ev, err = decodeAs[domain.BuildEventReceived](payload)
	case domain.NameDeliveryAttempted:
		ev, err = decodeAs[domain.DeliveryAttempted](payload)
	case domain.NameRedeliveryRequested:
		ev, err = decodeAs[domain.RedeliveryRequested](payload)
	case domain.NameDeliveryRequested:
		ev, err = decodeAs[domain.DeliveryRequested](payload)
	case domain.NameTestDeliveryRequested:
		ev, err = decodeAs[domain.TestDeliveryRequested](payload)
	case domain.NameTokenIssued:
		ev, err = decodeAs[domain.TokenIssued](payload)
	case domain.NameTokenRevoked:
		ev, err = decodeAs[domain.TokenRevoked](payload)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnknownEvent, name)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	return ev, nil
}

// DecodeEntry decodes the domain event an entry holds.
func DecodeEntry(e Entry) (domain.Event, error) {
	ev, err := DecodeEvent(e.Name(), e.Payload)
	if err != nil {
		return nil, fmt.Errorf("entry %d: %w", e.Seq, err)
	}
	return ev, nil
}

// DecodeMessage decodes the domain event a subscribed message holds.
func DecodeMessage(msg *message.Message) (domain.Event, error) {
	return DecodeEvent(msg.Metadata.Get(MetaName), msg.Payload)
}

// ErrUnknownEvent marks an entry whose wire name this build does not know.
var ErrUnknownEvent = fmt.Errorf("eventlog: unknown event")

func decodeAs[T domain.Event](payload []byte) (domain.Event, error) {
	var v T
	if err := json.Unmarshal(payload, &v); err != nil {
		return nil, err
	}
	return v, nil
}
