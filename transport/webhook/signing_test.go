package webhook_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/sealer"
	"github.com/hookd/hookd/internal/testkit"
	"github.com/hookd/hookd/transport/webhook"
)

// whsecSecret is a Standard Webhooks secret of 32 key bytes.
var whsecSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

// referenceVerifier is what a receiver using the Standard Webhooks reference
// library configures: NewWebhook for a whsec_ secret, NewWebhookRaw for any
// other secret.
func referenceVerifier(t *testing.T, secret string) *standardwebhooks.Webhook {
	t.Helper()
	var wh *standardwebhooks.Webhook
	var err error
	if strings.HasPrefix(secret, "whsec_") {
		wh, err = standardwebhooks.NewWebhook(secret)
	} else {
		wh, err = standardwebhooks.NewWebhookRaw([]byte(secret))
	}
	if err != nil {
		t.Fatalf("reference library rejects secret: %v", err)
	}
	return wh
}

// bitriseSignature is the Bitrise-Hook-Signature a receiver expects,
// computed here without hookd's code.
func bitriseSignature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// requestFor returns the one request rc got for a build event.
func requestFor(t *testing.T, rc *testkit.Receiver, event string) testkit.Request {
	t.Helper()
	var found []testkit.Request
	for _, r := range rc.Requests() {
		if buildSlug(r) == event {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("receiver got %d requests for %s, want 1", len(found), event)
	}
	return found[0]
}

func TestDeliveriesVerifyWithTheStandardWebhooksReferenceLibrary(t *testing.T) {
	const plainSecret = "plain s3cret ünï"
	tests := []struct {
		slug   string
		secret string
	}{
		{"h-whsec", whsecSecret},
		{"h-plain", plainSecret},
	}
	e := newLogEnv(t)
	receivers := map[string]*testkit.Receiver{}
	for _, tt := range tests {
		receivers[tt.slug] = testkit.NewReceiver(t)
		cfg := hookConfigured("app-1", tt.slug, receivers[tt.slug].URL())
		cfg.SealedSecret = sealed(t, tt.slug, tt.secret)
		e.append(cfg)
	}
	e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	e.append(buildEvent("app-1", "e1"), buildEvent("app-1", "e2"))
	attempts := e.waitAttempts(4)

	for _, tt := range tests {
		t.Run(tt.slug, func(t *testing.T) {
			for _, ev := range []string{"e1", "e2"} {
				got := requestFor(t, receivers[tt.slug], ev)
				if err := referenceVerifier(t, tt.secret).Verify(got.Body, got.Header); err != nil {
					t.Errorf("%s: the reference library rejects the delivery: %v (headers %q)", ev, err, got.Header)
				}
				if sig, want := got.Header.Get("Bitrise-Hook-Signature"), bitriseSignature(tt.secret, got.Body); sig != want {
					t.Errorf("%s: Bitrise-Hook-Signature = %q, want %q", ev, sig, want)
				}
				if sigs := strings.Fields(got.Header.Get("Webhook-Signature")); len(sigs) != 1 {
					t.Errorf("%s: webhook-signature %q, want exactly one signature without a rotation", ev, sigs)
				}
				if id, want := got.Header.Get("Webhook-Id"), webhook.DeliveryID(ev, tt.slug); id != want {
					t.Errorf("%s: webhook-id = %q, want DeliveryID = %q", ev, id, want)
				}
			}
		})
	}

	// The whsec_ secret keys the Standard Webhooks signature with its
	// decoded bytes: a receiver keyed with the string itself rejects it.
	got := requestFor(t, receivers["h-whsec"], "e1")
	if err := referenceVerifier(t, "raw-"+whsecSecret).Verify(got.Body, got.Header); err == nil {
		t.Error("a verifier keyed with the wrong secret accepts the delivery")
	}
	raw, _ := standardwebhooks.NewWebhookRaw([]byte(whsecSecret))
	if err := raw.Verify(got.Body, got.Header); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("verifying with the whsec_ string's bytes gives %v, want ErrNoMatchingSignature (the decoded key must be used)", err)
	}

	// A redelivery of e1 to h-whsec carries the same webhook-id, so the
	// receiver can deduplicate, and verifies again.
	var original domain.DeliveryAttempted
	for _, a := range attempts {
		if a.BuildEventID == "e1" && a.HookSlug == "h-whsec" {
			original = a
		}
	}
	e.append(domain.RedeliveryRequested{
		DeliveryID: "redelivery-1", OriginalDeliveryID: original.DeliveryID, HookSlug: "h-whsec", AppSlug: "app-1",
		BuildEventID: "e1", EventType: original.EventType, Payload: original.Request.Body, RequestedAt: base,
	})
	e.waitAttempts(5)
	e.waitCaughtUp()
	reqs := receivers["h-whsec"].Requests()
	var again []testkit.Request
	for _, r := range reqs {
		if buildSlug(r) == "e1" {
			again = append(again, r)
		}
	}
	if len(again) != 2 {
		t.Fatalf("h-whsec got e1 %d times, want the delivery and the redelivery", len(again))
	}
	re := again[1]
	if id, want := re.Header.Get("Webhook-Id"), webhook.DeliveryID("e1", "h-whsec"); id != want || id != again[0].Header.Get("Webhook-Id") {
		t.Errorf("redelivery webhook-id = %q, want the original's %q", id, want)
	}
	if err := referenceVerifier(t, whsecSecret).Verify(re.Body, re.Header); err != nil {
		t.Errorf("the reference library rejects the redelivery: %v", err)
	}
	for _, a := range e.attempts() {
		if a.DeliveryID == "redelivery-1" && a.Request.Headers["Webhook-Id"] != webhook.DeliveryID("e1", "h-whsec") {
			t.Errorf("redelivery item records webhook-id %q", a.Request.Headers["Webhook-Id"])
		}
	}
}

func TestRotatedSecretSignsWithBothUntilItsGracePeriodEnds(t *testing.T) {
	const secretA = "old secret A"
	secretB := whsecSecret
	tests := []struct {
		name      string
		until     time.Time
		wantBoth  bool
		wantCount int
	}{
		{"within the grace period both verify", time.Now().Add(time.Hour), true, 2},
		{"after the grace period only the new one verifies", time.Now().Add(-time.Second), false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newLogEnv(t)
			rc := testkit.NewReceiver(t)
			cfg := hookConfigured("app-1", "h1", rc.URL())
			cfg.SealedSecret = sealed(t, "h1", secretA)
			e.append(cfg)
			cfg.SealedSecret, cfg.PreviousSecretValidUntil = sealed(t, "h1", secretB), &tt.until
			e.append(cfg)
			e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
			e.append(buildEvent("app-1", "e1"))
			e.waitAttempts(1)
			e.waitCaughtUp()

			got := requestFor(t, rc, "e1")
			if err := referenceVerifier(t, secretB).Verify(got.Body, got.Header); err != nil {
				t.Errorf("the new secret B does not verify: %v (webhook-signature %q)", err, got.Header.Get("Webhook-Signature"))
			}
			errA := referenceVerifier(t, secretA).Verify(got.Body, got.Header)
			switch {
			case tt.wantBoth && errA != nil:
				t.Errorf("the old secret A does not verify within its grace period: %v", errA)
			case !tt.wantBoth && !errors.Is(errA, standardwebhooks.ErrNoMatchingSignature):
				t.Errorf("the old secret A gives %v after its grace period, want ErrNoMatchingSignature", errA)
			}
			sigs := strings.Split(got.Header.Get("Webhook-Signature"), " ")
			if len(sigs) != tt.wantCount {
				t.Errorf("webhook-signature %q has %d signatures, want %d", got.Header.Get("Webhook-Signature"), len(sigs), tt.wantCount)
			}
			if sig, want := got.Header.Get("Bitrise-Hook-Signature"), bitriseSignature(secretB, got.Body); sig != want {
				t.Errorf("Bitrise-Hook-Signature = %q, want it keyed with the new secret %q", sig, want)
			}
		})
	}
}

func TestSecretThatCannotBeOpenedIsRecordedAsNotSent(t *testing.T) {
	e := newLogEnv(t)
	rc := testkit.NewReceiver(t)
	other, err := sealer.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "sealed-with-another-key"
	s, err := other.Seal(secret, "h1")
	if err != nil {
		t.Fatal(err)
	}
	cfg := hookConfigured("app-1", "h1", rc.URL())
	cfg.SealedSecret = &s
	e.append(cfg)
	e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	e.append(buildEvent("app-1", "e1"))
	a := e.waitAttempts(1)[0]
	e.waitCaughtUp()

	if rc.Count() != 0 {
		t.Errorf("receiver got %d requests; an unsigned delivery of a hook with a secret must not be sent", rc.Count())
	}
	if !strings.HasPrefix(a.Error, "not sent: ") || a.Response != nil {
		t.Errorf("attempt error %q response %+v, want a not-sent error and no response", a.Error, a.Response)
	}
	for _, h := range []string{"Webhook-Signature", "Bitrise-Hook-Signature"} {
		if v, ok := a.Request.Headers[h]; ok {
			t.Errorf("recorded request has %s = %q without an opened secret", h, v)
		}
	}
}

func TestSealedSecretCopiedToAnotherHookDoesNotSign(t *testing.T) {
	e := newLogEnv(t)
	rc := testkit.NewReceiver(t)
	cfg := hookConfigured("app-1", "h-thief", rc.URL())
	cfg.SealedSecret = sealed(t, "h-victim", "victim secret") // sealed for another hook
	e.append(cfg)
	e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	e.append(buildEvent("app-1", "e1"))
	a := e.waitAttempts(1)[0]
	e.waitCaughtUp()
	if rc.Count() != 0 || !strings.HasPrefix(a.Error, "not sent: ") {
		t.Errorf("receiver got %d requests, attempt error %q; want nothing sent and a not-sent error", rc.Count(), a.Error)
	}
}

func TestLogNeverHoldsAClearSecret(t *testing.T) {
	const secretA, secretB = "clear-canary-secret-A", "clear-canary-secret-B"
	e := newLogEnv(t)
	rc := testkit.NewReceiver(t)
	cfg := hookConfigured("app-1", "h1", rc.URL())
	cfg.SealedSecret = sealed(t, "h1", secretA)
	e.append(cfg)
	until := time.Now().Add(time.Hour)
	cfg.SealedSecret, cfg.PreviousSecretValidUntil = sealed(t, "h1", secretB), &until
	e.append(cfg)
	e.startDispatcher(webhook.SenderConfig{Timeout: 5 * time.Second})
	e.append(buildEvent("app-1", "e1"))
	e.waitAttempts(1)
	e.waitCaughtUp()
	if got := requestFor(t, rc, "e1"); len(strings.Fields(got.Header.Get("Webhook-Signature"))) != 2 {
		t.Fatalf("delivery was not signed with both secrets: %q", got.Header.Get("Webhook-Signature"))
	}

	r := eventlog.NewReader(e.store, eventlog.Topic, 1)
	n := 0
	for r.Next(testContext(t)) {
		entry := r.Entry()
		n++
		for _, s := range []string{secretA, secretB} {
			if bytes.Contains(entry.Payload, []byte(s)) {
				t.Errorf("log entry %d (%s) holds the secret %q in clear", entry.Seq, entry.Name(), s)
			}
			for k, v := range entry.Metadata {
				if strings.Contains(v, s) {
					t.Errorf("log entry %d metadata %s holds the secret %q", entry.Seq, k, s)
				}
			}
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 4 {
		t.Errorf("read %d entries, want at least 4", n)
	}
}
