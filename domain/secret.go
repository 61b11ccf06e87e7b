package domain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// StandardWebhooksPrefix marks a secret given in the Standard Webhooks
// form: "whsec_" and the base64 of the key bytes.
const StandardWebhooksPrefix = "whsec_"

// MaxSecretLength bounds a hook secret.
const MaxSecretLength = 256

// DefaultSecretGrace is how long a replaced secret still signs deliveries,
// so receivers can roll over without dropping any.
const DefaultSecretGrace = 24 * time.Hour

// validateSecret checks a secret as a user gives it; "" removes a secret.
func validateSecret(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > MaxSecretLength {
		return invalid("secret", "is longer than %d bytes", MaxSecretLength)
	}
	if strings.HasPrefix(s, StandardWebhooksPrefix) {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, StandardWebhooksPrefix))
		if err != nil || len(key) < 24 || len(key) > 64 {
			return invalid("secret", "a secret starting with %q must be followed by the base64 of 24 to 64 bytes", StandardWebhooksPrefix)
		}
	}
	return nil
}

// standardWebhooksKey is the HMAC key of the Standard Webhooks signature:
// the decoded bytes of a "whsec_" secret, else the secret's UTF-8 bytes.
func standardWebhooksKey(secret string) []byte {
	if rest, ok := strings.CutPrefix(secret, StandardWebhooksPrefix); ok {
		if key, err := base64.StdEncoding.DecodeString(rest); err == nil {
			return key
		}
	}
	return []byte(secret)
}

// SignStandardWebhooks returns one "v1,<base64>" signature of the Standard
// Webhooks scheme: HMAC-SHA256 of "{id}.{unix seconds}.{body}".
func SignStandardWebhooks(secret, id string, at time.Time, body []byte) string {
	mac := hmac.New(sha256.New, standardWebhooksKey(secret))
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(at.Unix(), 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// RotationDeadline says until when a hook's replaced secret keeps signing
// when a configuration made at sets newSecret (sealed; nil leaves the
// secret as it was, "" removes it): only a new secret replacing an existing
// one starts a grace period; nil means none.
func RotationDeadline(hadSecret bool, newSecret *string, at time.Time, grace time.Duration) *time.Time {
	if !hadSecret || newSecret == nil || *newSecret == "" {
		return nil
	}
	until := at.Add(grace)
	return &until
}

// SigningSecrets are the clear secrets that sign one delivery: the current
// one and, during a rotation's grace period, the one it replaced.
type SigningSecrets struct {
	Current  string
	Previous string
}

// LogValue, String and GoString keep the clear secrets out of logs and
// formatted errors: they print as REDACTED.
func (SigningSecrets) LogValue() slog.Value { return slog.StringValue(Masked) }
func (SigningSecrets) String() string       { return Masked }
func (SigningSecrets) GoString() string     { return Masked }

// SealedSigningSecrets returns the hook's sealed secrets that sign a
// delivery made at: the previous one only until its grace period ends.
func (h Hook) SealedSigningSecrets(at time.Time) (current, previous string) {
	if h.PreviousSealedSecret != "" && at.Before(h.PreviousValidUntil) {
		previous = h.PreviousSealedSecret
	}
	return h.SealedSecret, previous
}

// credentialHints are substrings of header names whose values are masked
// in delivery items and hooks as the API shows them.
var credentialHints = []string{"token", "secret", "key", "password", "auth", "cookie", "session"}

// Masked is what a masked header value reads as.
const Masked = "REDACTED"

// LooksLikeCredential reports whether a header's value should be masked
// when shown: Authorization, Cookie and names containing token, secret,
// key, password, auth or session, in any case.
func LooksLikeCredential(name string) bool {
	n := strings.ToLower(name)
	for _, hint := range credentialHints {
		if strings.Contains(n, hint) {
			return true
		}
	}
	return false
}

// IsMaskedHeader reports whether a header's value is shown as Masked: a
// credential-like name that hookd does not set itself.
func IsMaskedHeader(name string) bool {
	return LooksLikeCredential(name) && !IsReservedHeader(name)
}

// MaskCredentialHeaders returns a copy of headers with the values of
// credential-like headers replaced by Masked. hookd's own signature
// headers are not secrets and stay readable.
func MaskCredentialHeaders(headers map[string]string) map[string]string {
	out := make(map[string]string, len(headers))
	for k, v := range headers {
		if IsMaskedHeader(k) {
			v = Masked
		}
		out[k] = v
	}
	return out
}
