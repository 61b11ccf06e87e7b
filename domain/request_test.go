package domain_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
)

func hookForRequest(headers map[string]string) domain.Hook {
	return domain.Hook{
		Slug:    "hook1",
		AppSlug: "abcd1234",
		URL:     "https://receiver.example.com/hooks",
		Events:  []string{"all"},
		Headers: headers,
	}
}

// Message id and time of the requests the tests build.
const testMsgID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"

var testSentAt = time.Unix(1674087231, 0).UTC()

// buildRequest builds a request signed with secret alone ("" for none).
func buildRequest(hook domain.Hook, eventType string, body []byte, secret string) domain.OutgoingRequest {
	return domain.BuildRequest(hook, eventType, body, testMsgID, testSentAt, domain.SigningSecrets{Current: secret})
}

// withIDHeaders adds the Standard Webhooks id and timestamp headers every
// request carries.
func withIDHeaders(h map[string]string) map[string]string {
	h["Webhook-Id"] = testMsgID
	h["Webhook-Timestamp"] = "1674087231"
	return h
}

// independentSignStandard computes the expected Standard Webhooks
// signature without domain code.
func independentSignStandard(key []byte, id string, at time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.%s", id, at.Unix(), body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// independentSign computes the expected signature without domain.Sign.
func independentSign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestBuildRequestSetsHeaders(t *testing.T) {
	body := []byte(`{"build_slug":"1234abcd","build_number":3}`)
	tests := []struct {
		name      string
		hook      domain.Hook
		secret    string
		eventType string
		want      map[string]string
	}{
		{
			name:      "no secret, no custom headers",
			hook:      hookForRequest(nil),
			eventType: domain.EventBuildTriggered,
			want: withIDHeaders(map[string]string{
				"Content-Type":       "application/json",
				"Bitrise-Event-Type": "build/triggered",
				"Bitrise-App-Id":     "abcd1234",
				"User-Agent":         "hookd/1",
			}),
		},
		{
			name:      "custom headers included",
			hook:      hookForRequest(map[string]string{"Authorization": "Bearer t", "X-Team": "mobile"}),
			eventType: domain.EventBuildFinished,
			want: withIDHeaders(map[string]string{
				"Content-Type":       "application/json",
				"Bitrise-Event-Type": "build/finished",
				"Bitrise-App-Id":     "abcd1234",
				"User-Agent":         "hookd/1",
				"Authorization":      "Bearer t",
				"X-Team":             "mobile",
			}),
		},
		{
			name:      "custom user agent wins",
			hook:      hookForRequest(map[string]string{"User-Agent": "mine/2"}),
			eventType: domain.EventBuildFinished,
			want: withIDHeaders(map[string]string{
				"Content-Type":       "application/json",
				"Bitrise-Event-Type": "build/finished",
				"Bitrise-App-Id":     "abcd1234",
				"User-Agent":         "mine/2",
			}),
		},
		{
			name: "reserved headers in a hook are dropped, never sent",
			hook: hookForRequest(map[string]string{
				"Content-Type":           "text/plain",
				"content-length":         "1",
				"Bitrise-Event-Type":     "spoofed",
				"Bitrise-App-Id":         "other-app",
				"Bitrise-Hook-Signature": "sha256=forged",
				"Webhook-Id":             "w1",
				"Webhook-Timestamp":      "1",
				"Webhook-Signature":      "v1,forged",
				"Host":                   "evil.example.com",
				"X-Kept":                 "yes",
			}),
			eventType: domain.EventBuildTriggered,
			want: withIDHeaders(map[string]string{
				"Content-Type":       "application/json",
				"Bitrise-Event-Type": "build/triggered",
				"Bitrise-App-Id":     "abcd1234",
				"User-Agent":         "hookd/1",
				"X-Kept":             "yes",
			}),
		},
		{
			name:      "with secret",
			hook:      hookForRequest(map[string]string{"X-Team": "mobile"}),
			secret:    "s3cret",
			eventType: domain.EventBuildFinished,
			want: withIDHeaders(map[string]string{
				"Content-Type":           "application/json",
				"Bitrise-Event-Type":     "build/finished",
				"Bitrise-App-Id":         "abcd1234",
				"User-Agent":             "hookd/1",
				"X-Team":                 "mobile",
				"Bitrise-Hook-Signature": independentSign("s3cret", body),
				"Webhook-Signature":      independentSignStandard([]byte("s3cret"), testMsgID, testSentAt, body),
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := buildRequest(tt.hook, tt.eventType, body, tt.secret)
			if !maps.Equal(req.Headers, tt.want) {
				t.Errorf("Headers =\n%q\nwant\n%q", req.Headers, tt.want)
			}
			if req.URL != tt.hook.URL {
				t.Errorf("URL = %q, want %q", req.URL, tt.hook.URL)
			}
			if !bytes.Equal(req.Body, body) {
				t.Errorf("Body = %s, want unchanged %s", req.Body, body)
			}
		})
	}
}

func TestBuildRequestDoesNotChangeHookHeaders(t *testing.T) {
	custom := map[string]string{"X-Team": "mobile"}
	buildRequest(hookForRequest(custom), domain.EventBuildFinished, []byte(`{}`), "s")
	if want := map[string]string{"X-Team": "mobile"}; !maps.Equal(custom, want) {
		t.Errorf("hook headers became %q, want %q", custom, want)
	}
}

func TestBuildRequestSignatureOnlyWithSecret(t *testing.T) {
	body := domain.BuildPayload{
		BuildSlug: "1234abcd", BuildNumber: 3, AppSlug: "abcd1234",
		BuildTriggeredWorkflow: "deploy",
		Git:                    domain.GitInfo{Provider: "github", SrcBranch: "feature/branch"},
	}.Body()
	tests := []struct {
		name    string
		secret  string
		wantSig bool
	}{
		{"no secret", "", false},
		{"secret", "s3cret", true},
		{"secret with spaces and unicode", " pä ss ", true},
		{"long secret", string(bytes.Repeat([]byte("k"), 200)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := buildRequest(hookForRequest(nil), domain.EventBuildFinished, body, tt.secret)
			sig, ok := req.Headers["Bitrise-Hook-Signature"]
			if ok != tt.wantSig {
				t.Fatalf("Bitrise-Hook-Signature present = %v, want %v (headers %q)", ok, tt.wantSig, req.Headers)
			}
			if !ok {
				return
			}
			if want := independentSign(tt.secret, body); sig != want {
				t.Errorf("Bitrise-Hook-Signature = %q, want %q", sig, want)
			}
			if !domain.VerifySignature(tt.secret, req.Body, sig) {
				t.Error("VerifySignature rejects the signature BuildRequest made")
			}
		})
	}
}

func TestSignMatchesKnownVector(t *testing.T) {
	// printf '%s' '{"a":1}' | openssl dgst -sha256 -hmac secret
	const want = "sha256=aa9e2e3575f5d7098b6caccd790888c36d5fdb63342a73bada2d6a51747a8494"
	body := []byte(`{"a":1}`)
	if got := domain.Sign("secret", body); got != want {
		t.Errorf("Sign(secret, %s) = %q, want %q", body, got, want)
	}
	req := buildRequest(hookForRequest(nil), domain.EventBuildTriggered, body, "secret")
	if got := req.Headers["Bitrise-Hook-Signature"]; got != want {
		t.Errorf("BuildRequest signature = %q, want %q", got, want)
	}
	if got := independentSign("secret", body); got != want {
		t.Errorf("crypto/hmac gives %q, want %q (test vector is wrong)", got, want)
	}
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"build_slug":"b","build_number":1}`)
	good := independentSign("s3cret", body)
	tests := []struct {
		name   string
		secret string
		body   []byte
		sig    string
		want   bool
	}{
		{"right secret and body", "s3cret", body, good, true},
		{"wrong secret", "other", body, good, false},
		{"secret differs by case", "S3cret", body, good, false},
		{"empty secret", "", body, good, false},
		{"body changed by one byte", "s3cret", []byte(`{"build_slug":"b","build_number":2}`), good, false},
		{"body with trailing newline", "s3cret", append(bytes.Clone(body), '\n'), good, false},
		{"signature without prefix", "s3cret", body, good[len("sha256="):], false},
		{"signature uppercase hex", "s3cret", body, "sha256=" + upperHex(good[len("sha256="):]), false},
		{"signature truncated", "s3cret", body, good[:len(good)-1], false},
		{"empty signature", "s3cret", body, "", false},
		{"sha1 prefix", "s3cret", body, "sha1=" + good[len("sha256="):], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.VerifySignature(tt.secret, tt.body, tt.sig); got != tt.want {
				t.Errorf("VerifySignature(%q, %s, %q) = %v, want %v", tt.secret, tt.body, tt.sig, got, tt.want)
			}
		})
	}
}

func upperHex(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
