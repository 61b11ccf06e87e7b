package domain_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd/domain"
)

// whsec returns a Standard Webhooks secret of n key bytes.
func whsec(n int) string {
	key := make([]byte, n)
	for i := range key {
		key[i] = byte(i*7 + 3)
	}
	return domain.StandardWebhooksPrefix + base64.StdEncoding.EncodeToString(key)
}

// referenceSign signs with the Standard Webhooks reference library the way
// a receiver would configure it: a whsec_ secret through NewWebhook, any
// other secret as its raw bytes.
func referenceSign(t *testing.T, secret, id string, at time.Time, body []byte) string {
	t.Helper()
	var wh *standardwebhooks.Webhook
	var err error
	if strings.HasPrefix(secret, domain.StandardWebhooksPrefix) {
		wh, err = standardwebhooks.NewWebhook(secret)
	} else {
		wh, err = standardwebhooks.NewWebhookRaw([]byte(secret))
	}
	if err != nil {
		t.Fatalf("reference library rejects secret %q: %v", secret, err)
	}
	sig, err := wh.Sign(id, at, body)
	if err != nil {
		t.Fatalf("reference Sign: %v", err)
	}
	return sig
}

func TestSignStandardWebhooksMatchesReferenceLibrary(t *testing.T) {
	body := []byte(`{"build_slug":"b-1","build_number":7}`)
	at := time.Unix(1700000000, 999_999_999).In(time.FixedZone("UTC+5", 5*3600))
	tests := []struct {
		name   string
		secret string
		id     string
		at     time.Time
		body   []byte
		want   string // known value; "" when only the reference library decides
	}{
		{
			// The vector of the reference library's own TestWebhookSign.
			name:   "standard webhooks spec vector",
			secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
			id:     "msg_p5jXN8AQM9LWM0D4loKWxJek",
			at:     time.Unix(1614265330, 0),
			body:   []byte(`{"test": 2432232314}`),
			want:   "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		},
		{name: "whsec_ with 32 key bytes", secret: whsec(32), id: "delivery-1", at: at, body: body},
		{name: "whsec_ with 64 key bytes", secret: whsec(64), id: "delivery-1", at: at, body: body},
		{name: "plain secret", secret: "s3cret", id: "delivery-1", at: at, body: body},
		{name: "plain secret with spaces and unicode", secret: " pä ss ", id: "delivery-1", at: at, body: body},
		{name: "plain secret that looks almost like whsec", secret: "whsecret_abc", id: "d", at: at, body: body},
		{name: "empty body", secret: "s3cret", id: "delivery-2", at: at, body: []byte{}},
		{name: "time before 1970", secret: "s3cret", id: "d", at: time.Unix(-5, 0), body: body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := domain.SignStandardWebhooks(tt.secret, tt.id, tt.at, tt.body)
			ref := referenceSign(t, tt.secret, tt.id, tt.at, tt.body)
			if got != ref {
				t.Errorf("SignStandardWebhooks = %q, the reference library signs %q", got, ref)
			}
			if tt.want != "" && got != tt.want {
				t.Errorf("SignStandardWebhooks = %q, want the known vector %q", got, tt.want)
			}
		})
	}
}

func TestWhsecSecretSignsWithDecodedBytesButBitriseSignatureWithTheString(t *testing.T) {
	secret := whsec(32)
	body := []byte(`{"build_slug":"b-1"}`)
	req := domain.BuildRequest(hookForRequest(nil), domain.EventBuildFinished, body, testMsgID, testSentAt,
		domain.SigningSecrets{Current: secret})

	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if got, want := req.Headers["Webhook-Signature"], independentSignStandard(key, testMsgID, testSentAt, body); got != want {
		t.Errorf("Webhook-Signature = %q, want %q (keyed with the decoded bytes)", got, want)
	}
	if got, raw := req.Headers["Webhook-Signature"], independentSignStandard([]byte(secret), testMsgID, testSentAt, body); got == raw {
		t.Errorf("Webhook-Signature %q is keyed with the whsec_ string, not its decoded bytes", got)
	}
	if got, want := req.Headers["Bitrise-Hook-Signature"], independentSign(secret, body); got != want {
		t.Errorf("Bitrise-Hook-Signature = %q, want %q (keyed with the secret string as given)", got, want)
	}
	if !domain.VerifySignature(secret, body, req.Headers["Bitrise-Hook-Signature"]) {
		t.Error("VerifySignature with the whsec_ string rejects Bitrise-Hook-Signature")
	}
}

func TestBuildRequestSignsWithCurrentAndPreviousSecret(t *testing.T) {
	body := []byte(`{"build_slug":"b-1"}`)
	a, b := "secret-A", whsec(24)
	sigA := independentSignStandard([]byte(a), testMsgID, testSentAt, body)
	keyB, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(b, "whsec_"))
	sigB := independentSignStandard(keyB, testMsgID, testSentAt, body)
	tests := []struct {
		name       string
		secrets    domain.SigningSecrets
		wantSig    string // "" means no Webhook-Signature header
		wantBitSig string // "" means no Bitrise-Hook-Signature header
	}{
		{"current only", domain.SigningSecrets{Current: a}, sigA, independentSign(a, body)},
		{"current and previous", domain.SigningSecrets{Current: a, Previous: b}, sigA + " " + sigB, independentSign(a, body)},
		{"rotated the other way", domain.SigningSecrets{Current: b, Previous: a}, sigB + " " + sigA, independentSign(b, body)},
		{"previous equal to current signs once", domain.SigningSecrets{Current: a, Previous: a}, sigA, independentSign(a, body)},
		{"no current secret: no signatures even with a previous one", domain.SigningSecrets{Previous: b}, "", ""},
		{"no secrets", domain.SigningSecrets{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := domain.BuildRequest(hookForRequest(nil), domain.EventBuildFinished, body, testMsgID, testSentAt, tt.secrets)
			sig, ok := req.Headers["Webhook-Signature"]
			if ok != (tt.wantSig != "") || sig != tt.wantSig {
				t.Errorf("Webhook-Signature = %q (present %v), want %q", sig, ok, tt.wantSig)
			}
			bit, ok := req.Headers["Bitrise-Hook-Signature"]
			if ok != (tt.wantBitSig != "") || bit != tt.wantBitSig {
				t.Errorf("Bitrise-Hook-Signature = %q (present %v), want %q", bit, ok, tt.wantBitSig)
			}
		})
	}
}

func TestBuildRequestAlwaysCarriesWebhookIDAndTimestamp(t *testing.T) {
	// Sub-second parts and the zone must not change the unix seconds.
	sentAt := time.Date(2025, 3, 4, 5, 6, 7, 890_000_000, time.FixedZone("CET", 3600))
	for _, secret := range []string{"", "s3cret", whsec(32)} {
		req := domain.BuildRequest(hookForRequest(nil), domain.EventBuildTriggered, []byte(`{}`), "delivery-42", sentAt,
			domain.SigningSecrets{Current: secret})
		if got := req.Headers["Webhook-Id"]; got != "delivery-42" {
			t.Errorf("secret %q: Webhook-Id = %q, want delivery-42", secret, got)
		}
		if got, want := req.Headers["Webhook-Timestamp"], "1741061167"; got != want {
			t.Errorf("secret %q: Webhook-Timestamp = %q, want %q", secret, got, want)
		}
	}
}

func TestValidateHookSpecChecksSecret(t *testing.T) {
	tests := []struct {
		name    string
		secret  string
		wantErr bool
	}{
		{"empty removes the secret", "", false},
		{"plain", "s3cret", false},
		{"plain at the length limit", strings.Repeat("k", domain.MaxSecretLength), false},
		{"plain over the length limit", strings.Repeat("k", domain.MaxSecretLength+1), true},
		{"whsec_ over the length limit", domain.StandardWebhooksPrefix + strings.Repeat("A", domain.MaxSecretLength), true},
		{"whsec_ with 24 bytes", whsec(24), false},
		{"whsec_ with 32 bytes", whsec(32), false},
		{"whsec_ with 64 bytes", whsec(64), false},
		{"whsec_ with 23 bytes", whsec(23), true},
		{"whsec_ with 65 bytes", whsec(65), true},
		{"whsec_ alone", "whsec_", true},
		{"whsec_ with bad base64", "whsec_not*base64!at-all-but-long-enough-xx", true},
		{"whsec_ with url-safe base64", domain.StandardWebhooksPrefix + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 16)), true},
		{"whsec_ without padding", strings.TrimRight(whsec(32), "="), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSpec()
			s.Secret = &tt.secret
			got, err := domain.ValidateHookSpec(s)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("ValidateHookSpec: %v", err)
				}
				if got.Secret == nil || *got.Secret != tt.secret {
					t.Errorf("Secret = %v, want %q kept as given", got.Secret, tt.secret)
				}
				return
			}
			assertFieldError(t, err, "secret")
			if len(tt.secret) > len(domain.StandardWebhooksPrefix) && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q repeats the secret", err)
			}
		})
	}
}

func TestHookRegistryRotationKeepsPreviousSecretUntilItsDeadline(t *testing.T) {
	withSecret := func(minute int, sealed string, previousUntil *time.Time) domain.HookConfigured {
		e := configured("h1", "app1", minute, "all")
		e.SealedSecret, e.PreviousSecretValidUntil = &sealed, previousUntil
		return e
	}
	until := at(70)
	r := registryOf(withSecret(0, "sealed-A", nil), withSecret(10, "sealed-B", &until))

	h, _ := r.Get("h1")
	if h.SealedSecret != "sealed-B" || h.PreviousSealedSecret != "sealed-A" || !h.PreviousValidUntil.Equal(until) {
		t.Fatalf("after rotation: current %q previous %q until %v, want sealed-B, sealed-A until %v",
			h.SealedSecret, h.PreviousSealedSecret, h.PreviousValidUntil, until)
	}
	signing := []struct {
		at       time.Time
		previous string
	}{
		{at(10), "sealed-A"},
		{until.Add(-time.Nanosecond), "sealed-A"},
		{until, ""},
		{until.Add(time.Nanosecond), ""},
		{at(1000), ""},
	}
	for _, s := range signing {
		cur, prev := h.SealedSigningSecrets(s.at)
		if cur != "sealed-B" || prev != s.previous {
			t.Errorf("SealedSigningSecrets(%v) = %q, %q; want sealed-B, %q", s.at, cur, prev, s.previous)
		}
	}

	// A reconfiguration that leaves the secret alone keeps the rotation.
	r.Apply(configured("h1", "app1", 20, "all"))
	if h, _ := r.Get("h1"); h.SealedSecret != "sealed-B" || h.PreviousSealedSecret != "sealed-A" || !h.PreviousValidUntil.Equal(until) {
		t.Errorf("after a change without a secret: current %q previous %q until %v, want the rotation kept",
			h.SealedSecret, h.PreviousSealedSecret, h.PreviousValidUntil)
	}
	if m := r.Match("app1", domain.EventBuildFinished); len(m) != 1 || m[0].PreviousSealedSecret != "sealed-A" {
		t.Errorf("Match returned %+v, want the hook with its previous secret", m)
	}

	// Removing the secret clears both.
	r.Apply(withSecret(30, "", nil))
	h, _ = r.Get("h1")
	if h.SealedSecret != "" || h.PreviousSealedSecret != "" || !h.PreviousValidUntil.IsZero() {
		t.Errorf("after removing the secret: current %q previous %q until %v, want none",
			h.SealedSecret, h.PreviousSealedSecret, h.PreviousValidUntil)
	}
	if cur, prev := h.SealedSigningSecrets(at(31)); cur != "" || prev != "" {
		t.Errorf("SealedSigningSecrets after removal = %q, %q; want none", cur, prev)
	}
}

func TestHookRegistryRotationEdgeCases(t *testing.T) {
	until := at(100)
	sealed := func(minute int, s string, previousUntil *time.Time) domain.HookConfigured {
		e := configured("h1", "app1", minute, "all")
		e.SealedSecret, e.PreviousSecretValidUntil = &s, previousUntil
		return e
	}
	tests := []struct {
		name         string
		events       []domain.Event
		wantCurrent  string
		wantPrevious string
	}{
		{"new secret without a deadline drops the old one",
			[]domain.Event{sealed(0, "A", nil), sealed(1, "B", nil)}, "B", ""},
		{"first secret with a deadline has nothing to keep",
			[]domain.Event{configured("h1", "app1", 0, "all"), sealed(1, "A", &until)}, "A", ""},
		{"secret set after removal with a deadline keeps nothing",
			[]domain.Event{sealed(0, "A", nil), sealed(1, "", nil), sealed(2, "B", &until)}, "B", ""},
		{"removal with a deadline still clears both",
			[]domain.Event{sealed(0, "A", nil), sealed(1, "B", &until), sealed(2, "", &until)}, "", ""},
		{"second rotation keeps only the one just replaced",
			[]domain.Event{sealed(0, "A", nil), sealed(1, "B", &until), sealed(2, "C", &until)}, "C", "B"},
		{"rotation then new secret without deadline drops the previous",
			[]domain.Event{sealed(0, "A", nil), sealed(1, "B", &until), sealed(2, "C", nil)}, "C", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := registryOf(tt.events...).Get("h1")
			if h.SealedSecret != tt.wantCurrent || h.PreviousSealedSecret != tt.wantPrevious {
				t.Errorf("current %q previous %q, want %q, %q", h.SealedSecret, h.PreviousSealedSecret, tt.wantCurrent, tt.wantPrevious)
			}
			cur, prev := h.SealedSigningSecrets(at(50))
			if cur != tt.wantCurrent || prev != tt.wantPrevious {
				t.Errorf("SealedSigningSecrets within the grace period = %q, %q; want %q, %q", cur, prev, tt.wantCurrent, tt.wantPrevious)
			}
		})
	}
}

func TestLooksLikeCredentialAndMaskCredentialHeaders(t *testing.T) {
	tests := []struct {
		name   string
		masked bool
	}{
		{"Authorization", true},
		{"authorization", true},
		{"Proxy-Authorization", true},
		{"Cookie", true},
		{"X-Api-Key", true},
		{"X-API-KEY", true},
		{"X-Auth-Token", true},
		{"X-Secret-Thing", true},
		{"X-Session-Id", true},
		{"X-Password", true},
		{"Private-Token", true},
		{"X-Team", false},
		{"X-Env", false},
		{"User-Agent", false},
		{"Content-Type", false},
		{"Bitrise-Hook-Signature", false},
		{"Bitrise-App-Id", false},
		{"Bitrise-Event-Type", false},
		{"Webhook-Signature", false},
		{"Webhook-Id", false},
		{"Webhook-Timestamp", false},
	}
	headers := map[string]string{}
	want := map[string]string{}
	for _, tt := range tests {
		value := "value-of-" + tt.name
		headers[tt.name] = value
		want[tt.name] = value
		if tt.masked {
			want[tt.name] = domain.Masked
		}
		// The signature headers are reserved, so LooksLikeCredential may say
		// anything about them as long as MaskCredentialHeaders keeps them.
		if !domain.IsReservedHeader(tt.name) {
			if got := domain.LooksLikeCredential(tt.name); got != tt.masked {
				t.Errorf("LooksLikeCredential(%q) = %v, want %v", tt.name, got, tt.masked)
			}
		}
	}
	orig := maps.Clone(headers)
	got := domain.MaskCredentialHeaders(headers)
	if !maps.Equal(got, want) {
		t.Errorf("MaskCredentialHeaders =\n%q\nwant\n%q", got, want)
	}
	if !maps.Equal(headers, orig) {
		t.Errorf("MaskCredentialHeaders changed its argument to %q", headers)
	}
	if m := domain.MaskCredentialHeaders(nil); m == nil || len(m) != 0 {
		t.Errorf("MaskCredentialHeaders(nil) = %#v, want an empty map", m)
	}
}

func TestSigningSecretsPrintAsRedacted(t *testing.T) {
	s := domain.SigningSecrets{Current: "clear-current", Previous: "clear-previous"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("signing", "secrets", s)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("signing", "secrets", s)
	for _, out := range []string{buf.String(), fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), fmt.Sprintf("%v", &s)} {
		if strings.Contains(out, "clear-") {
			t.Errorf("a secret is printed: %s", out)
		}
		if !strings.Contains(out, domain.Masked) {
			t.Errorf("output %q does not say %s", out, domain.Masked)
		}
	}
}

func TestRotationDeadlineOnlyWhenANewSecretReplacesOne(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s, empty := "sealed", ""
	tests := []struct {
		name      string
		hadSecret bool
		newSecret *string
		want      bool
	}{
		{"new secret replaces one", true, &s, true},
		{"first secret", false, &s, false},
		{"secret left as it was", true, nil, false},
		{"secret removed", true, &empty, false},
	}
	for _, tt := range tests {
		got := domain.RotationDeadline(tt.hadSecret, tt.newSecret, at, time.Hour)
		if (got != nil) != tt.want || (got != nil && !got.Equal(at.Add(time.Hour))) {
			t.Errorf("%s: RotationDeadline = %v, want deadline %v", tt.name, got, tt.want)
		}
	}
}
