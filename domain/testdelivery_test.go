package domain_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
)

func TestTestBuildPayloadIsMarkedAsATest(t *testing.T) {
	const id = "0d4c9a52-6b8e-4f51-9d0e-2f7a1c3b5e60"
	for _, tc := range []struct {
		eventType  string
		wantStatus int64
		wantErr    bool
	}{
		{domain.EventBuildFinished, 1, false},
		{domain.EventBuildTriggered, 0, false},
		{"", 0, true},
		{"build/started", 0, true},
		{"all", 0, true},
		{"build", 0, true},
		{"BUILD/FINISHED", 0, true},
	} {
		t.Run(tc.eventType, func(t *testing.T) {
			p, err := domain.TestBuildPayload("my-app", tc.eventType, id)
			if tc.wantErr {
				var fe *domain.FieldError
				if !errors.Is(err, domain.ErrInvalid) || !errors.As(err, &fe) || fe.Field != "event_type" {
					t.Fatalf("TestBuildPayload(%q) error = %v, want an ErrInvalid naming event_type", tc.eventType, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("TestBuildPayload(%q): %v", tc.eventType, err)
			}
			want := domain.BuildPayload{
				BuildSlug: "hookd-test-" + id, BuildNumber: 0, AppSlug: "my-app", BuildStatus: tc.wantStatus,
				BuildTriggeredWorkflow: "hookd-test", Git: domain.GitInfo{Provider: "hookd", SrcBranch: "hookd-test"},
			}
			if p != want {
				t.Errorf("TestBuildPayload(%q) = %+v, want %+v", tc.eventType, p, want)
			}
			if !domain.IsTestBuildSlug(p.BuildSlug) {
				t.Errorf("IsTestBuildSlug(%q) = false", p.BuildSlug)
			}
		})
	}
}

func TestNewTestDeliveryCarriesTheExactPayloadToSend(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	const id = "5f0b7e2c-1d3a-4c8e-b6f9-0a2d4e6c8b10"
	for _, tc := range []struct {
		name, eventType string
		wantBody        string
		wantErr         bool
	}{
		{"finished", "build/finished",
			`{"build_slug":"hookd-test-` + id + `","build_number":0,"app_slug":"my-app","build_status":1,"build_triggered_workflow":"hookd-test","git":{"provider":"hookd","src_branch":"hookd-test"}}`, false},
		{"triggered", "build/triggered",
			`{"build_slug":"hookd-test-` + id + `","build_number":0,"app_slug":"my-app","build_status":0,"build_triggered_workflow":"hookd-test","git":{"provider":"hookd","src_branch":"hookd-test"}}`, false},
		{"empty type", "", "", true},
		{"unknown type", "build/started", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := domain.NewTestDelivery("my-app", "hook-1", tc.eventType, id, at)
			if tc.wantErr {
				if !errors.Is(err, domain.ErrInvalid) {
					t.Fatalf("NewTestDelivery(%q) error = %v, want ErrInvalid", tc.eventType, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(ev.Payload) != tc.wantBody {
				t.Errorf("payload\n got %s\nwant %s", ev.Payload, tc.wantBody)
			}
			if ev.DeliveryID != id || ev.HookSlug != "hook-1" || ev.AppSlug != "my-app" || ev.EventType != tc.eventType || !ev.RequestedAt.Equal(at) {
				t.Errorf("event %+v", ev)
			}
			if ev.BuildSlug() != "hookd-test-"+id || ev.EventName() != "test_delivery.requested.v1" {
				t.Errorf("BuildSlug %q, EventName %q", ev.BuildSlug(), ev.EventName())
			}
			// The payload decodes as a build event of the app, as receivers
			// parse it.
			p, err := domain.DecodeBuildEvent("my-app", ev.Payload)
			if err != nil || !strings.HasPrefix(p.BuildSlug, domain.TestBuildSlugPrefix) || p.BuildNumber != 0 {
				t.Errorf("payload decodes to %+v, %v", p, err)
			}
			// The wire form keeps the payload as an object, byte for byte.
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), `"payload":`+tc.wantBody) {
				t.Errorf("encoded event %s does not hold the payload as sent", b)
			}
		})
	}
}
