package domain

import "encoding/json"

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
// eventType, to hook. Custom headers come first so reserved ones always win;
// a reserved name among them (say, from a hook configured before the name
// was reserved) is dropped, never sent.
func BuildRequest(hook Hook, eventType string, body []byte) OutgoingRequest {
	headers := make(map[string]string, len(hook.Headers)+5)
	for name, value := range hook.Headers {
		if !IsReservedHeader(name) {
			headers[name] = value
		}
	}
	headers["Content-Type"] = "application/json"
	headers["Bitrise-Event-Type"] = eventType
	headers["Bitrise-App-Id"] = hook.AppSlug
	if _, ok := headers["User-Agent"]; !ok {
		headers["User-Agent"] = UserAgent
	}
	if hook.Secret != "" {
		headers["Bitrise-Hook-Signature"] = Sign(hook.Secret, body)
	}
	return OutgoingRequest{URL: hook.URL, Headers: headers, Body: body}
}
