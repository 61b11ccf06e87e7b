package domain

import (
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Build event types, as sent in the Bitrise-Event-Type header.
const (
	EventBuildTriggered = "build/triggered"
	EventBuildFinished  = "build/finished"
)

// Event selectors a hook may subscribe to besides the event types
// themselves: both select every build event.
const (
	SelectAll   = "all"
	SelectBuild = "build"
)

// MaxURLLength bounds a hook URL.
const MaxURLLength = 2048

// reservedHeaders are set by hookd on every delivery; a hook's custom
// headers cannot override them.
var reservedHeaders = []string{
	"Bitrise-App-Id", "Bitrise-Event-Type", "Bitrise-Hook-Signature",
	"Connection", "Content-Length", "Content-Type", "Host", "Transfer-Encoding",
	"Webhook-Id", "Webhook-Signature", "Webhook-Timestamp",
}

// HookSpec is a validated hook configuration as a user gives it.
// Secret is nil when the user did not send one.
type HookSpec struct {
	URL     string
	Events  []string
	Headers map[string]string
	Secret  *string
}

// Hook is a configured hook as the dispatcher knows it.
type Hook struct {
	Slug    string
	AppSlug string
	URL     string
	Events  []string
	Headers map[string]string
	// SealedSecret is the current secret, encrypted; "" when unsigned.
	SealedSecret string
	// PreviousSealedSecret still signs deliveries until PreviousValidUntil.
	PreviousSealedSecret string
	PreviousValidUntil   time.Time
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

// ValidateHookSpec checks a user's hook configuration and returns it in
// canonical form: events deduplicated in the order given, header names
// canonicalised. Errors wrap ErrInvalid and name the field.
func ValidateHookSpec(s HookSpec) (HookSpec, error) {
	if err := validateHookURL(s.URL); err != nil {
		return HookSpec{}, err
	}
	if len(s.Events) == 0 {
		return HookSpec{}, invalid("events", "must list at least one of %q, %q, %q, %q",
			SelectAll, SelectBuild, EventBuildTriggered, EventBuildFinished)
	}
	events := make([]string, 0, len(s.Events))
	for _, e := range s.Events {
		switch e {
		case SelectAll, SelectBuild, EventBuildTriggered, EventBuildFinished:
		default:
			return HookSpec{}, invalid("events", "unknown event %q; use %q, %q, %q or %q",
				e, SelectAll, SelectBuild, EventBuildTriggered, EventBuildFinished)
		}
		if !slices.Contains(events, e) {
			events = append(events, e)
		}
	}
	if s.Secret != nil {
		if err := validateSecret(*s.Secret); err != nil {
			return HookSpec{}, err
		}
	}
	headers := make(map[string]string, len(s.Headers))
	for name, value := range s.Headers {
		if !isToken(name) {
			return HookSpec{}, invalid("headers", "%q is not a valid header name", name)
		}
		canon := textproto.CanonicalMIMEHeaderKey(name)
		if IsReservedHeader(canon) {
			return HookSpec{}, invalid("headers", "%q is set by hookd and cannot be overridden", canon)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return HookSpec{}, invalid("headers", "value of %q must not contain CR, LF or NUL", canon)
		}
		if _, dup := headers[canon]; dup {
			return HookSpec{}, invalid("headers", "%q is given twice", canon)
		}
		headers[canon] = value
	}
	return HookSpec{URL: s.URL, Events: events, Headers: headers, Secret: s.Secret}, nil
}

func validateHookURL(raw string) error {
	if raw == "" {
		return invalid("url", "is required")
	}
	if len(raw) > MaxURLLength {
		return invalid("url", "is longer than %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return invalid("url", "must be an absolute http or https URL")
	}
	if u.User != nil {
		return invalid("url", "must not contain credentials; use a custom header")
	}
	return nil
}

// HookHost returns the host name or address literal of a valid hook URL.
func HookHost(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// HookAddrLiteral reports the address when a hook URL names its host by
// IP literal, in any spelling ParseHostAddr reads ("0x7f000001",
// "[::ffff:127.0.0.1]", "127.1."), so it can be checked without a DNS lookup.
func HookAddrLiteral(rawURL string) (netip.Addr, bool) {
	return ParseHostAddr(HookHost(rawURL))
}

// IsReservedHeader reports whether hookd owns the header of that name.
func IsReservedHeader(name string) bool {
	canon := textproto.CanonicalMIMEHeaderKey(name)
	return slices.Contains(reservedHeaders, canon)
}

// isToken reports whether s is an RFC 9110 token, as header names must be.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Matches reports whether the hook wants events of that type for that app.
func (h Hook) Matches(appSlug, eventType string) bool {
	if h.AppSlug != appSlug {
		return false
	}
	for _, e := range h.Events {
		if e == SelectAll || e == SelectBuild || e == eventType {
			return true
		}
	}
	return false
}
