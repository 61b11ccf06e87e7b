package domain

import (
	"encoding/json"
	"strconv"
	"time"
)

// OutgoingRequest is exactly what is POSTed to a hook: URL, headers and
// body. Body is always the compact JSON hookd built, kept raw so the log
// stores it byte for byte.
type OutgoingRequest struct {
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// UserAgent identifies hookd to receivers.
const UserAgent = "hookd/1"

// BuildRequest returns the request for delivering body, an event of
// eventType, to hook, as message id (stable for one build event and hook,
// the same on redeliveries) signed at the given time. Custom headers come
// first and reserved ones are never taken from them.
//
// With a current secret it carries Bitrise-Hook-Signature (keyed with the
// current secret) and the Standard Webhooks webhook-signature, with one
// "v1," signature per secret (current, then previous during a rotation).
func BuildRequest(hook Hook, eventType string, body []byte, id string, at time.Time, secrets SigningSecrets) OutgoingRequest {
	headers := make(map[string]string, len(hook.Headers)+8)
	for name, value := range hook.Headers {
		if !IsReservedHeader(name) {
			headers[name] = value
		}
	}
	headers["Content-Type"] = "application/json"
	headers["Bitrise-Event-Type"] = eventType
	headers["Bitrise-App-Id"] = hook.AppSlug
	headers["Webhook-Id"] = id
	headers["Webhook-Timestamp"] = strconv.FormatInt(at.Unix(), 10)
	if _, ok := headers["User-Agent"]; !ok {
		headers["User-Agent"] = UserAgent
	}
	if secrets.Current != "" {
		headers["Bitrise-Hook-Signature"] = Sign(secrets.Current, body)
		sig := SignStandardWebhooks(secrets.Current, id, at, body)
		if secrets.Previous != "" && secrets.Previous != secrets.Current {
			sig += " " + SignStandardWebhooks(secrets.Previous, id, at, body)
		}
		headers["Webhook-Signature"] = sig
	}
	return OutgoingRequest{URL: hook.URL, Headers: headers, Body: body}
}
