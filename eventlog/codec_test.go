package eventlog_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
)

func sampleEvents() []domain.Event {
	at := time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	secret := "s3cret"
	prID := int64(42)
	body := json.RawMessage(`{"build_slug":"b-1","build_number":7}`)
	return []domain.Event{
		domain.HookConfigured{
			HookSlug: "hook-1", AppSlug: "app-1", URL: "https://example.com/hook",
			Events:       []string{"build/triggered", "build/finished"},
			Headers:      map[string]string{"X-Team": "ci"},
			SealedSecret: &secret,
			ConfiguredAt: at,
		},
		domain.HookRemoved{HookSlug: "hook-1", AppSlug: "app-1", RemovedAt: at.Add(time.Hour)},
		domain.BuildEventReceived{
			EventID: "ev-1", AppSlug: "app-1", EventType: "build/finished",
			Build: domain.BuildPayload{
				BuildSlug: "b-1", BuildNumber: 7, AppSlug: "app-1", BuildStatus: 1,
				BuildTriggeredWorkflow: "primary",
				Git:                    domain.GitInfo{Provider: "github", SrcBranch: "feature", DstBranch: "main", PullRequestID: &prID},
			},
			ReceivedAt: at,
		},
		domain.DeliveryAttempted{
			DeliveryID: "d-2", HookSlug: "hook-1", AppSlug: "app-1", BuildEventID: "ev-1",
			EventType: "build/finished", RedeliveryOf: "d-1",
			Request: domain.OutgoingRequest{
				URL:     "https://example.com/hook",
				Headers: map[string]string{"Content-Type": "application/json"},
				Body:    body,
			},
			Response:    &domain.Response{Status: 200, Headers: map[string][]string{"X-A": {"1", "2"}}, Body: "ok", Truncated: true},
			DurationMS:  12,
			Error:       "",
			AttemptedAt: at,
		},
		domain.RedeliveryRequested{
			DeliveryID: "d-2", OriginalDeliveryID: "d-1", HookSlug: "hook-1", AppSlug: "app-1",
			BuildEventID: "ev-1", EventType: "build/finished", Payload: body, RequestedAt: at,
		},
		domain.TestDeliveryRequested{
			DeliveryID: "d-3", HookSlug: "hook-1", AppSlug: "app-1", EventType: "build/finished", Payload: body, RequestedAt: at,
		},
	}
}

func TestDecodeUnknownEvent(t *testing.T) {
	for _, name := range []string{"", "hook.configured.v2", "no.such.event.v1"} {
		e := eventlog.Entry{Seq: 7, Metadata: map[string]string{eventlog.MetaName: name}, Payload: []byte(`{}`)}
		if _, err := eventlog.DecodeEntry(e); !errors.Is(err, eventlog.ErrUnknownEvent) {
			t.Errorf("DecodeEntry(name %q): err = %v, want ErrUnknownEvent", name, err)
		}
		m := message.NewMessage("x", []byte(`{}`))
		m.Metadata.Set(eventlog.MetaName, name)
		if _, err := eventlog.DecodeMessage(m); !errors.Is(err, eventlog.ErrUnknownEvent) {
			t.Errorf("DecodeMessage(name %q): err = %v, want ErrUnknownEvent", name, err)
		}
	}

	// A known name with a payload that is not its JSON is an error, but
	// not ErrUnknownEvent.
	e := eventlog.Entry{Seq: 8, Metadata: map[string]string{eventlog.MetaName: domain.NameHookRemoved}, Payload: []byte(`[1,2`)}
	_, err := eventlog.DecodeEntry(e)
	if err == nil || errors.Is(err, eventlog.ErrUnknownEvent) {
		t.Fatalf("DecodeEntry(bad payload): err = %v, want a decode error", err)
	}
}

// Each domain event, encoded as a message and decoded again, from the
// message and from an Entry carrying its bytes, equals the original.
func TestCodecRoundTrip(t *testing.T) {
	for i, ev := range sampleEvents() {
		msg, err := eventlog.EncodeEvent(fmt.Sprintf("uuid-%d", i), ev)
		if err != nil {
			t.Fatalf("EncodeEvent(%T): %v", ev, err)
		}
		if got := msg.Metadata.Get(eventlog.MetaName); got != ev.EventName() {
			t.Fatalf("EncodeEvent(%T): name metadata %q, want %q", ev, got, ev.EventName())
		}
		got, err := eventlog.DecodeMessage(msg)
		if err != nil || !reflect.DeepEqual(got, ev) {
			t.Errorf("DecodeMessage %s: %v\n got %#v\nwant %#v", ev.EventName(), err, got, ev)
		}
		e := eventlog.Entry{Seq: uint64(i + 1), UUID: msg.UUID, Metadata: msg.Metadata, Payload: msg.Payload}
		if got, err = eventlog.DecodeEntry(e); err != nil || !reflect.DeepEqual(got, ev) {
			t.Errorf("DecodeEntry %s: %v\n got %#v\nwant %#v", ev.EventName(), err, got, ev)
		}
	}
}
