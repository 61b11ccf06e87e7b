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

// TestCodecRoundTripThroughStore: each domain event, encoded, appended,
// read back from the Store and decoded, equals the original; so does one
// delivered by a Subscriber and decoded with DecodeMessage.
func TestCodecRoundTripThroughStore(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	events := sampleEvents()
	pub := eventlog.NewPublisher(store)
	for i, ev := range events {
		msg, err := eventlog.EncodeEvent(fmt.Sprintf("uuid-%d", i), ev)
		if err != nil {
			t.Fatalf("EncodeEvent(%T): %v", ev, err)
		}
		if got := msg.Metadata.Get(eventlog.MetaName); got != ev.EventName() {
			t.Fatalf("EncodeEvent(%T): name metadata %q, want %q", ev, got, ev.EventName())
		}
		if err := pub.Publish(eventlog.Topic, msg); err != nil {
			t.Fatal(err)
		}
	}

	entries := readAll(t, store)
	if len(entries) != len(events) {
		t.Fatalf("%d entries, want %d", len(entries), len(events))
	}
	for i, e := range entries {
		want := events[i]
		if e.UUID != fmt.Sprintf("uuid-%d", i) || e.Name() != want.EventName() {
			t.Fatalf("entry %d: uuid %q name %q", e.Seq, e.UUID, e.Name())
		}
		got, err := eventlog.DecodeEntry(e)
		if err != nil {
			t.Fatalf("DecodeEntry(%s): %v", e.Name(), err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s round trip:\n got %#v\nwant %#v", e.Name(), got, want)
		}
	}

	sub, err := eventlog.NewSubscriber(store, eventlog.SubscriberConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ch, err := sub.Subscribe(testContext(t), eventlog.Topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range events {
		m := recv(t, ch)
		got, err := eventlog.DecodeMessage(m)
		if err != nil {
			t.Fatalf("DecodeMessage: %v", err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("DecodeMessage %s:\n got %#v\nwant %#v", want.EventName(), got, want)
		}
		m.Ack()
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
