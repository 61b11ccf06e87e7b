package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
)

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestBuildEventIsAcceptedWithIDAndIncreasingSequence(t *testing.T) {
	s := newStack(t)
	var last uint64
	ids := map[string]bool{}
	for i, typ := range []string{"build/triggered", "build/finished", "build/triggered"} {
		r := s.api.do(http.MethodPost, buildEventsPath("app-1"), buildBody(i+1), "Bitrise-Event-Type", typ).
			expect(t, http.StatusAccepted)
		var raw map[string]map[string]json.RawMessage
		r.decode(t, &raw)
		if len(raw) != 1 || len(raw["data"]) != 3 || string(raw["data"]["duplicate"]) != "false" {
			t.Errorf("answer %s, want exactly {data: {event_id, sequence, duplicate: false}}", r.Body)
		}
		var out struct{ Data accepted }
		r.decode(t, &out)
		if !uuidPattern.MatchString(out.Data.EventID) {
			t.Errorf("event_id %q is not a UUID", out.Data.EventID)
		}
		if ids[out.Data.EventID] {
			t.Errorf("event_id %q repeated", out.Data.EventID)
		}
		ids[out.Data.EventID] = true
		if out.Data.Sequence <= last {
			t.Errorf("sequence %d after %d, want increasing", out.Data.Sequence, last)
		}
		last = out.Data.Sequence
	}
}

func TestBuildEventIsInTheLogBeforeTheAnswer(t *testing.T) {
	s := newStack(t)
	pr := 7
	body := map[string]any{
		"build_slug": "b-42", "build_number": 42, "app_slug": "app-1", "build_status": 1,
		"build_triggered_workflow": "deploy",
		"git": map[string]any{"provider": "github", "src_branch": "feature", "dst_branch": "main",
			"pull_request_id": pr, "tag": "v1.0.0"},
	}
	got := s.api.sendBuild("app-1", "build/finished", body)

	// Read it straight back from the store, with no wait in between.
	r := eventlog.NewReader(s.store, eventlog.Topic, got.Sequence)
	if !r.Next(context.Background()) {
		t.Fatalf("no log entry at sequence %d right after the 202 (err %v)", got.Sequence, r.Err())
	}
	e := r.Entry()
	if e.Seq != got.Sequence || e.UUID != got.EventID || e.Name() != domain.NameBuildEventReceived {
		t.Fatalf("entry = seq %d uuid %s name %s, want seq %d uuid %s %s",
			e.Seq, e.UUID, e.Name(), got.Sequence, got.EventID, domain.NameBuildEventReceived)
	}
	ev, err := eventlog.DecodeEntry(e)
	if err != nil {
		t.Fatalf("DecodeEntry: %v", err)
	}
	b, ok := ev.(domain.BuildEventReceived)
	if !ok {
		t.Fatalf("entry holds %T", ev)
	}
	want := domain.BuildPayload{
		BuildSlug: "b-42", BuildNumber: 42, AppSlug: "app-1", BuildStatus: 1, BuildTriggeredWorkflow: "deploy",
		Git: domain.GitInfo{Provider: "github", SrcBranch: "feature", DstBranch: "main", Tag: "v1.0.0"},
	}
	if b.EventID != got.EventID || b.AppSlug != "app-1" || b.EventType != "build/finished" || b.ReceivedAt.IsZero() {
		t.Errorf("event = %+v", b)
	}
	if b.Build.Git.PullRequestID == nil || *b.Build.Git.PullRequestID != 7 {
		t.Errorf("pull_request_id = %v, want 7", b.Build.Git.PullRequestID)
	}
	b.Build.Git.PullRequestID = nil
	if b.Build != want {
		t.Errorf("build = %+v, want %+v", b.Build, want)
	}
}

func TestBuildEventRejectsBadInputNamingTheField(t *testing.T) {
	s := newStack(t)
	without := func(field string) map[string]any {
		b := buildBody(1)
		delete(b, field)
		return b
	}
	with := func(field string, v any) map[string]any {
		b := buildBody(1)
		b[field] = v
		return b
	}
	cases := []struct {
		name      string
		eventType string // "-" sends no header
		body      any
		field     string
	}{
		{"missing event type header", "-", buildBody(1), "Bitrise-Event-Type"},
		{"empty event type header", "", buildBody(1), "Bitrise-Event-Type"},
		{"unknown event type", "build/started", buildBody(1), "Bitrise-Event-Type"},
		{"selector as event type", "all", buildBody(1), "Bitrise-Event-Type"},
		{"missing build_slug", "build/triggered", without("build_slug"), "build_slug"},
		{"empty build_slug", "build/triggered", with("build_slug", ""), "build_slug"},
		{"missing build_number", "build/triggered", without("build_number"), "build_number"},
		{"build_number as string", "build/triggered", with("build_number", "12"), "build_number"},
		{"build_number fractional", "build/triggered", with("build_number", 1.5), "build_number"},
		{"missing build_status", "build/triggered", without("build_status"), "build_status"},
		{"build_status as string", "build/triggered", with("build_status", "ok"), "build_status"},
		{"app_slug not matching path", "build/triggered", with("app_slug", "app-2"), "app_slug"},
		{"pull_request_id as string", "build/triggered",
			with("git", map[string]any{"provider": "github", "src_branch": "main", "pull_request_id": "7"}), "pull_request_id"},
		{"git as string", "build/triggered", with("git", "main"), "git"},
		{"malformed JSON", "build/triggered", `{"build_slug": "b",`, ""},
		{"empty body", "build/triggered", ``, ""},
		{"array body", "build/triggered", `[1,2]`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var headers []string
			if tc.eventType != "-" {
				headers = []string{"Bitrise-Event-Type", tc.eventType}
			}
			var words []string
			if tc.field != "" {
				words = []string{tc.field}
			}
			before := s.head()
			s.api.do(http.MethodPost, buildEventsPath("app-1"), tc.body, headers...).
				expectError(t, http.StatusBadRequest, words...)
			if after := s.head(); after != before {
				t.Errorf("log head moved from %d to %d on a rejected build event", before, after)
			}
		})
	}
}

func TestBuildEventAcceptsOptionalFieldsAbsent(t *testing.T) {
	s := newStack(t)
	body := map[string]any{"build_slug": "b", "build_number": 1, "build_status": 0}
	got := s.api.sendBuild("app-1", "build/triggered", body)
	r := eventlog.NewReader(s.store, eventlog.Topic, got.Sequence)
	if !r.Next(context.Background()) {
		t.Fatalf("no entry at %d: %v", got.Sequence, r.Err())
	}
	ev, err := eventlog.DecodeEntry(r.Entry())
	if err != nil {
		t.Fatal(err)
	}
	b := ev.(domain.BuildEventReceived)
	if b.Build.AppSlug != "app-1" {
		t.Errorf("app_slug = %q, want the path's app", b.Build.AppSlug)
	}
	if b.EventType != "build/triggered" {
		t.Errorf("event type = %q", b.EventType)
	}
}
