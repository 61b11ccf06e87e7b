package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// BuildPayload is the body sent for a build event, field for field as in
// the Bitrise outgoing-webhook documentation. Field order is the wire order.
type BuildPayload struct {
	BuildSlug              string  `json:"build_slug"`
	BuildNumber            int64   `json:"build_number"`
	AppSlug                string  `json:"app_slug"`
	BuildStatus            int64   `json:"build_status"`
	BuildTriggeredWorkflow string  `json:"build_triggered_workflow"`
	Git                    GitInfo `json:"git"`
}

// GitInfo describes what triggered a build. DstBranch and PullRequestID are
// set for pull request builds, Tag for tag builds; absent ones are omitted.
type GitInfo struct {
	Provider      string `json:"provider"`
	SrcBranch     string `json:"src_branch"`
	DstBranch     string `json:"dst_branch,omitempty"`
	PullRequestID *int64 `json:"pull_request_id,omitempty"`
	Tag           string `json:"tag,omitempty"`
}

// buildInput mirrors BuildPayload with pointers, to tell a missing field
// from a zero one.
type buildInput struct {
	BuildSlug              *string   `json:"build_slug"`
	BuildNumber            *int64    `json:"build_number"`
	AppSlug                *string   `json:"app_slug"`
	BuildStatus            *int64    `json:"build_status"`
	BuildTriggeredWorkflow *string   `json:"build_triggered_workflow"`
	Git                    *gitInput `json:"git"`
}

type gitInput struct {
	Provider      *string `json:"provider"`
	SrcBranch     *string `json:"src_branch"`
	DstBranch     *string `json:"dst_branch"`
	PullRequestID *int64  `json:"pull_request_id"`
	Tag           *string `json:"tag"`
}

// ValidEventType reports whether t is a build event type hookd delivers.
func ValidEventType(t string) bool {
	return t == EventBuildTriggered || t == EventBuildFinished
}

// DecodeBuildEvent parses a build event body reported for appSlug. Unknown
// fields are ignored; wrong types and missing required fields are errors
// that wrap ErrInvalid and name the field. build_slug, build_number and
// build_status are required; app_slug, when present, must equal appSlug.
func DecodeBuildEvent(appSlug string, body []byte) (BuildPayload, error) {
	var in buildInput
	if err := decodeStrictJSON(body, &in); err != nil {
		return BuildPayload{}, err
	}
	if in.BuildSlug == nil || *in.BuildSlug == "" {
		return BuildPayload{}, invalid("build_slug", "is required")
	}
	if in.BuildNumber == nil {
		return BuildPayload{}, invalid("build_number", "is required")
	}
	if in.BuildStatus == nil {
		return BuildPayload{}, invalid("build_status", "is required")
	}
	if in.AppSlug != nil && *in.AppSlug != appSlug {
		return BuildPayload{}, invalid("app_slug", "%q does not match the app in the path %q", *in.AppSlug, appSlug)
	}
	p := BuildPayload{
		BuildSlug:              *in.BuildSlug,
		BuildNumber:            *in.BuildNumber,
		AppSlug:                appSlug,
		BuildStatus:            *in.BuildStatus,
		BuildTriggeredWorkflow: deref(in.BuildTriggeredWorkflow),
	}
	if g := in.Git; g != nil {
		p.Git = GitInfo{
			Provider:      deref(g.Provider),
			SrcBranch:     deref(g.SrcBranch),
			DstBranch:     deref(g.DstBranch),
			PullRequestID: g.PullRequestID,
			Tag:           deref(g.Tag),
		}
	}
	return p, nil
}

// Body returns the exact JSON sent to receivers for this build.
func (p BuildPayload) Body() []byte {
	b, err := json.Marshal(p)
	if err != nil {
		// BuildPayload holds only strings and integers.
		panic(fmt.Sprintf("domain: marshal build payload: %v", err))
	}
	return b
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// decodeStrictJSON decodes exactly one JSON object into v, turning the
// decoder's errors into messages that name the field.
func decodeStrictJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("", "body must hold a single JSON object")
	}
	return nil
}

// jsonError describes a decoding error for a client.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return invalid("", "body must be a JSON object")
		}
		return invalid(field, "must be %s, not %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return invalid("", "malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.Is(err, io.EOF):
		return invalid("", "body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("", "body ends in the middle of its JSON")
	default:
		return invalid("", "malformed JSON: %v", err)
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint64":
		return "an integer"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	default:
		return "a " + goKind
	}
}

// DecodeJSON decodes one JSON object from body into v, with errors that
// wrap ErrInvalid and name the offending field. Exported for the API's
// request bodies so every decoding error reads the same.
func DecodeJSON(body []byte, v any) error {
	return decodeStrictJSON(body, v)
}
