package domain_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hookd/hookd/domain"
)

// seedTriggered is the "Build triggered" example of the Bitrise outgoing
// webhook documentation, made valid JSON (the document's example misses a
// comma and carries comments).
const seedTriggered = `{
  "build_slug":"1234abcd",
  "build_number":3,
  "app_slug":"abcd1234",
  "build_status":0,
  "build_triggered_workflow":"deploy",
  "git": {
    "provider":"github",
    "src_branch":"feature/branch",
    "dst_branch":"master",
    "pull_request_id":32,
    "tag":"v1.0"
  }
}`

func int64p(v int64) *int64 { return &v }

func TestDecodeBuildEventDecodesSeedExample(t *testing.T) {
	got, err := domain.DecodeBuildEvent("abcd1234", []byte(seedTriggered))
	if err != nil {
		t.Fatalf("DecodeBuildEvent(seed example) error: %v", err)
	}
	want := domain.BuildPayload{
		BuildSlug:              "1234abcd",
		BuildNumber:            3,
		AppSlug:                "abcd1234",
		BuildStatus:            0,
		BuildTriggeredWorkflow: "deploy",
		Git: domain.GitInfo{
			Provider:      "github",
			SrcBranch:     "feature/branch",
			DstBranch:     "master",
			PullRequestID: int64p(32),
			Tag:           "v1.0",
		},
	}
	assertPayload(t, got, want)
}

func TestDecodeBuildEventAcceptsValidBodies(t *testing.T) {
	tests := []struct {
		name string
		app  string
		body string
		want domain.BuildPayload
	}{
		{
			name: "app_slug taken from the path when absent",
			app:  "app-from-path",
			body: `{"build_slug":"b1","build_number":7,"build_status":1}`,
			want: domain.BuildPayload{BuildSlug: "b1", BuildNumber: 7, AppSlug: "app-from-path", BuildStatus: 1},
		},
		{
			name: "app_slug equal to the path",
			app:  "abcd1234",
			body: `{"build_slug":"b1","build_number":7,"build_status":2,"app_slug":"abcd1234"}`,
			want: domain.BuildPayload{BuildSlug: "b1", BuildNumber: 7, AppSlug: "abcd1234", BuildStatus: 2},
		},
		{
			name: "zero build number and status are present, not missing",
			app:  "a",
			body: `{"build_slug":"b1","build_number":0,"build_status":0}`,
			want: domain.BuildPayload{BuildSlug: "b1", BuildNumber: 0, AppSlug: "a", BuildStatus: 0},
		},
		{
			name: "unknown fields ignored",
			app:  "a",
			body: `{"build_slug":"b1","build_number":1,"build_status":0,"extra":{"deep":[1,2,3]},"git":{"provider":"bitbucket","commit_hash":"abc"}}`,
			want: domain.BuildPayload{BuildSlug: "b1", BuildNumber: 1, AppSlug: "a", Git: domain.GitInfo{Provider: "bitbucket"}},
		},
		{
			name: "tag build",
			app:  "a",
			body: `{"build_slug":"b1","build_number":4,"build_status":3,"build_triggered_workflow":"release","git":{"provider":"github","src_branch":"main","tag":"v2.0"}}`,
			want: domain.BuildPayload{BuildSlug: "b1", BuildNumber: 4, AppSlug: "a", BuildStatus: 3, BuildTriggeredWorkflow: "release",
				Git: domain.GitInfo{Provider: "github", SrcBranch: "main", Tag: "v2.0"}},
		},
		{
			name: "null git",
			app:  "a",
			body: `{"build_slug":"b1","build_number":1,"build_status":0,"git":null}`,
			want: domain.BuildPayload{BuildSlug: "b1", BuildNumber: 1, AppSlug: "a"},
		},
		{
			name: "surrounding whitespace",
			app:  "a",
			body: " \n\t{\"build_slug\":\"b1\",\"build_number\":1,\"build_status\":0}\n ",
			want: domain.BuildPayload{BuildSlug: "b1", BuildNumber: 1, AppSlug: "a"},
		},
		{
			name: "large build number",
			app:  "a",
			body: `{"build_slug":"b1","build_number":9007199254740993,"build_status":0}`,
			want: domain.BuildPayload{BuildSlug: "b1", BuildNumber: 9007199254740993, AppSlug: "a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := domain.DecodeBuildEvent(tt.app, []byte(tt.body))
			if err != nil {
				t.Fatalf("DecodeBuildEvent(%q, %s) error: %v", tt.app, tt.body, err)
			}
			assertPayload(t, got, tt.want)
		})
	}
}

func TestDecodeBuildEventRejectsInvalidFields(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		field string
	}{
		{"app_slug differs from path", `{"build_slug":"b","build_number":1,"build_status":0,"app_slug":"other"}`, "app_slug"},
		{"app_slug empty", `{"build_slug":"b","build_number":1,"build_status":0,"app_slug":""}`, "app_slug"},
		{"missing build_slug", `{"build_number":1,"build_status":0}`, "build_slug"},
		{"empty build_slug", `{"build_slug":"","build_number":1,"build_status":0}`, "build_slug"},
		{"null build_slug", `{"build_slug":null,"build_number":1,"build_status":0}`, "build_slug"},
		{"missing build_number", `{"build_slug":"b","build_status":0}`, "build_number"},
		{"null build_number", `{"build_slug":"b","build_number":null,"build_status":0}`, "build_number"},
		{"missing build_status", `{"build_slug":"b","build_number":1}`, "build_status"},
		{"build_number as string", `{"build_slug":"b","build_number":"3","build_status":0}`, "build_number"},
		{"build_number fractional", `{"build_slug":"b","build_number":3.5,"build_status":0}`, "build_number"},
		{"build_status as string", `{"build_slug":"b","build_number":1,"build_status":"0"}`, "build_status"},
		{"build_slug as number", `{"build_slug":12,"build_number":1,"build_status":0}`, "build_slug"},
		{"workflow as array", `{"build_slug":"b","build_number":1,"build_status":0,"build_triggered_workflow":["x"]}`, "build_triggered_workflow"},
		{"git as string", `{"build_slug":"b","build_number":1,"build_status":0,"git":"github"}`, "git"},
		{"pull_request_id fractional", `{"build_slug":"b","build_number":1,"build_status":0,"git":{"pull_request_id":1.5}}`, "git.pull_request_id"},
		{"pull_request_id as string", `{"build_slug":"b","build_number":1,"build_status":0,"git":{"pull_request_id":"32"}}`, "git.pull_request_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := domain.DecodeBuildEvent("abcd1234", []byte(tt.body))
			assertFieldError(t, err, tt.field)
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not mention %q", err, tt.field)
			}
		})
	}
}

func TestDecodeBuildEventRejectsMalformedBodies(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"empty", ""},
		{"whitespace only", "  \n"},
		{"malformed", `{"build_slug":`},
		{"not JSON", `build_slug=b`},
		{"trailing comma", `{"build_slug":"b","build_number":1,"build_status":0,}`},
		{"seed example as published", `{"build_slug":"1234abcd","build_triggered_workflow":"deploy" "git":{}}`},
		{"two objects", `{"build_slug":"b","build_number":1,"build_status":0}{"build_slug":"c","build_number":2,"build_status":0}`},
		{"object then garbage", `{"build_slug":"b","build_number":1,"build_status":0} x`},
		{"array", `[{"build_slug":"b","build_number":1,"build_status":0}]`},
		{"string", `"hello"`},
		{"number", `42`},
		{"null", `null`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := domain.DecodeBuildEvent("a", []byte(tt.body))
			if err == nil {
				t.Fatalf("DecodeBuildEvent(%q) accepted a malformed body", tt.body)
			}
			if !errors.Is(err, domain.ErrInvalid) {
				t.Errorf("error %q does not wrap domain.ErrInvalid", err)
			}
			var fe *domain.FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %q (%T) is not a *domain.FieldError", err, err)
			}
		})
	}
}

func TestBuildPayloadBodyIsExactWireJSON(t *testing.T) {
	tests := []struct {
		name    string
		payload domain.BuildPayload
		want    string
	}{
		{
			name: "pull request build",
			payload: domain.BuildPayload{
				BuildSlug: "1234abcd", BuildNumber: 3, AppSlug: "abcd1234", BuildStatus: 0,
				BuildTriggeredWorkflow: "deploy",
				Git:                    domain.GitInfo{Provider: "github", SrcBranch: "feature/branch", DstBranch: "master", PullRequestID: int64p(32)},
			},
			want: `{"build_slug":"1234abcd","build_number":3,"app_slug":"abcd1234","build_status":0,"build_triggered_workflow":"deploy","git":{"provider":"github","src_branch":"feature/branch","dst_branch":"master","pull_request_id":32}}`,
		},
		{
			name: "tag build omits dst_branch and pull_request_id",
			payload: domain.BuildPayload{
				BuildSlug: "1234abcd", BuildNumber: 4, AppSlug: "abcd1234", BuildStatus: 1,
				BuildTriggeredWorkflow: "release",
				Git:                    domain.GitInfo{Provider: "github", SrcBranch: "master", Tag: "v1.0"},
			},
			want: `{"build_slug":"1234abcd","build_number":4,"app_slug":"abcd1234","build_status":1,"build_triggered_workflow":"release","git":{"provider":"github","src_branch":"master","tag":"v1.0"}}`,
		},
		{
			name: "branch build",
			payload: domain.BuildPayload{
				BuildSlug: "s", BuildNumber: 1, AppSlug: "a", BuildStatus: 2,
				BuildTriggeredWorkflow: "primary",
				Git:                    domain.GitInfo{Provider: "gitlab", SrcBranch: "main"},
			},
			want: `{"build_slug":"s","build_number":1,"app_slug":"a","build_status":2,"build_triggered_workflow":"primary","git":{"provider":"gitlab","src_branch":"main"}}`,
		},
		{
			name: "pull request id zero is still sent",
			payload: domain.BuildPayload{
				BuildSlug: "s", BuildNumber: 1, AppSlug: "a",
				Git: domain.GitInfo{Provider: "github", SrcBranch: "f", DstBranch: "main", PullRequestID: int64p(0)},
			},
			want: `{"build_slug":"s","build_number":1,"app_slug":"a","build_status":0,"build_triggered_workflow":"","git":{"provider":"github","src_branch":"f","dst_branch":"main","pull_request_id":0}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.payload.Body()
			if string(got) != tt.want {
				t.Errorf("Body() =\n%s\nwant\n%s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("Body() is not valid JSON: %s", got)
			}
		})
	}
}

func TestBuildPayloadBodyRoundTripsThroughDecode(t *testing.T) {
	in, err := domain.DecodeBuildEvent("abcd1234", []byte(seedTriggered))
	if err != nil {
		t.Fatal(err)
	}
	out, err := domain.DecodeBuildEvent("abcd1234", in.Body())
	if err != nil {
		t.Fatalf("decoding Body() again: %v", err)
	}
	assertPayload(t, out, in)
}

func TestDecodeJSONRejectsTrailingData(t *testing.T) {
	var v struct{ A int }
	if err := domain.DecodeJSON([]byte(`{"A":1}{"A":2}`), &v); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("DecodeJSON(two objects) error = %v, want one wrapping ErrInvalid", err)
	}
	if err := domain.DecodeJSON([]byte(`{"A":1}`), &v); err != nil || v.A != 1 {
		t.Errorf("DecodeJSON(one object) = %+v, %v; want A=1, nil", v, err)
	}
}

func TestValidEventType(t *testing.T) {
	tests := map[string]bool{
		"build/triggered": true,
		"build/finished":  true,
		"all":             false,
		"build":           false,
		"":                false,
		"Build/Finished":  false,
	}
	for in, want := range tests {
		if got := domain.ValidEventType(in); got != want {
			t.Errorf("ValidEventType(%q) = %v, want %v", in, got, want)
		}
	}
}

func assertPayload(t *testing.T, got, want domain.BuildPayload) {
	t.Helper()
	gotPR, wantPR := got.Git.PullRequestID, want.Git.PullRequestID
	got.Git.PullRequestID, want.Git.PullRequestID = nil, nil
	if got != want {
		t.Errorf("payload =\n%+v\nwant\n%+v", got, want)
	}
	switch {
	case gotPR == nil && wantPR == nil:
	case gotPR == nil || wantPR == nil:
		t.Errorf("pull_request_id = %v, want %v", gotPR, wantPR)
	case *gotPR != *wantPR:
		t.Errorf("pull_request_id = %d, want %d", *gotPR, *wantPR)
	}
}
