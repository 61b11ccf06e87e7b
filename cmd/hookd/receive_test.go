package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/hookd/hookd/domain"
)

// postTo sends one webhook-like request and returns the status.
func postTo(t *testing.T, url string, body string, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// signedHeaders are the headers hookd would send for body, signed with
// secret: the Bitrise signature by hookd's domain, the Standard Webhooks
// one by the reference library (keyed as hookd keys it).
func signedHeaders(t *testing.T, secret, id string, at time.Time, body string) map[string]string {
	t.Helper()
	key := []byte(secret)
	if rest, ok := strings.CutPrefix(secret, "whsec_"); ok {
		var err error
		if key, err = base64.StdEncoding.DecodeString(rest); err != nil {
			t.Fatal(err)
		}
	}
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, at, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"Content-Type": "application/json", "Bitrise-Event-Type": "build/finished", "Bitrise-App-Id": "my-app",
		"Webhook-Id": id, "Webhook-Timestamp": fmt.Sprint(at.Unix()),
		"Bitrise-Hook-Signature": domain.Sign(secret, []byte(body)), "Webhook-Signature": sig, "X-Team": "mobile",
	}
}

func TestReceivePrintsWebhooksAndChecksSignatures(t *testing.T) {
	const secret = "s3cret"
	recv := startReceive(t, "--secret", secret)
	const body = `{"build_slug":"1234abcd","build_number":3,"git":{"provider":"github"}}`
	now := time.Now()

	signed := signedHeaders(t, secret, "msg-signed", now, body)
	tampered := signedHeaders(t, secret, "msg-tampered", now, body)
	wrongKey := signedHeaders(t, "other-secret", "msg-wrong-key", now, body)
	stale := signedHeaders(t, secret, "msg-stale", now.Add(-time.Hour), body)
	rotated := signedHeaders(t, secret, "msg-rotated", now, body)
	rotated["Webhook-Signature"] = signedHeaders(t, "old-secret", "msg-rotated", now, body)["Webhook-Signature"] + " " + rotated["Webhook-Signature"]
	noID := signedHeaders(t, secret, "msg-no-id", now, body)
	delete(noID, "Webhook-Id")
	cases := []struct {
		name            string
		body            string
		header          map[string]string
		bitrise, stdwhk string // the start of each check's line
	}{
		{"signed", body, signed, "ok", "ok"},
		{"unsigned", body, map[string]string{"Bitrise-Event-Type": "build/triggered"}, "not signed", "not signed"},
		{"tampered body", strings.Replace(body, "3", "4", 1), tampered, "MISMATCH", "MISMATCH"},
		{"another key", body, wrongKey, "MISMATCH", "MISMATCH"},
		{"an hour old", body, stale, "ok", "ok, but the timestamp is 1h0m"},
		{"rotation: two signatures", body, rotated, "ok", "ok (1 of 2 signatures matched"},
		{"no Webhook-Id", body, noID, "ok", "MISMATCH (Webhook-Id or Webhook-Timestamp is missing)"},
		{"not JSON", "plain words", map[string]string{"Bitrise-Event-Type": "build/finished"}, "not signed", "not signed"},
	}
	for _, c := range cases {
		if got := postTo(t, recv.base+"/hook/"+strings.ReplaceAll(c.name, " ", "-"), c.body, c.header); got != http.StatusOK {
			t.Fatalf("%s: answered %d, want 200", c.name, got)
		}
	}
	blocks := recv.blocks(t, len(cases))
	for i, c := range cases {
		b := blocks[i]
		if !strings.Contains(b[0], "POST /hook/"+strings.ReplaceAll(c.name, " ", "-")) {
			t.Fatalf("%s: block %d starts %q (requests are printed in order, one block each)", c.name, i, b[0])
		}
		if got, _ := blockLine(b, "   signature Bitrise-Hook-Signature:"); !strings.HasPrefix(got, c.bitrise) {
			t.Errorf("%s: Bitrise-Hook-Signature check %q, want %q", c.name, got, c.bitrise)
		}
		if got, _ := blockLine(b, "   signature Webhook-Signature:"); !strings.HasPrefix(got, c.stdwhk) {
			t.Errorf("%s: Webhook-Signature check %q, want %q", c.name, got, c.stdwhk)
		}
		if c.bitrise == "ok" && c.stdwhk == "ok" && strings.Contains(strings.Join(b, "\n"), "but the timestamp") {
			t.Errorf("%s: a fresh timestamp is flagged:\n%s", c.name, strings.Join(b, "\n"))
		}
	}
	first := strings.Join(blocks[0], "\n")
	for _, want := range []string{
		"build/finished", "(" + fmt.Sprint(len(body)) + " bytes)", "   Webhook-Id: msg-signed", "   Bitrise-App-Id: my-app",
		"   X-Team: mobile", "   Webhook-Timestamp: " + fmt.Sprint(now.Unix()), "s ago)",
		"   {\n     \"build_slug\": \"1234abcd\",\n     \"build_number\": 3,\n     \"git\": {\n       \"provider\": \"github\"\n     }\n   }",
		"   → answered 200",
	} {
		if !strings.Contains(first, want) {
			t.Errorf("the signed request's block lacks %q:\n%s", want, first)
		}
	}
	if strings.Contains(first, "Accept-Encoding") || strings.Contains(first, "Content-Length") {
		t.Errorf("transport headers are printed:\n%s", first)
	}
	if last := strings.Join(blocks[len(blocks)-1], "\n"); !strings.Contains(last, "(not JSON)\n   plain words") {
		t.Errorf("a body that is not JSON is not printed as is:\n%s", last)
	}

	// Not a webhook.
	resp, err := httpClient.Get(recv.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET answered %d, want 405", resp.StatusCode)
	}
}

func TestReceiveWithoutSecretAndWithAnotherStatus(t *testing.T) {
	recv := startReceive(t, "--status", "503")
	if !strings.Contains(recv.lines.String(), "signatures are not checked (no --secret); answering 503") {
		t.Errorf("the start line does not say how it checks and answers:\n%s", recv.lines)
	}
	body := `{"a":1}`
	if got := postTo(t, recv.base+"/x", body, signedHeaders(t, "k", "m1", time.Now(), body)); got != http.StatusServiceUnavailable {
		t.Fatalf("answered %d, want --status 503", got)
	}
	b := recv.blocks(t, 1)[0]
	for _, prefix := range []string{"   signature Bitrise-Hook-Signature:", "   signature Webhook-Signature:"} {
		if got, _ := blockLine(b, prefix); got != "present, not checked (give --secret)" {
			t.Errorf("%s %q without --secret", prefix, got)
		}
	}
	if got, _ := blockLine(b, "   → answered"); got != "503" {
		t.Errorf("answered line %q", got)
	}

	for _, args := range [][]string{{"receive", "--status", "99"}, {"receive", "--addr", "nonsense"}, {"receive", "extra"}} {
		if code, out := runHookd(t, 10*time.Second, nil, args...); code == 0 {
			t.Errorf("hookd %s exited 0:\n%s", strings.Join(args, " "), out)
		}
	}
}

// TestServeDeliversToReceiveWithBothSignaturesOK is the quick start: a real
// server delivers to a real `hookd receive` with the hook's secret, in the
// Standard Webhooks whsec_ form, and both signatures verify.
func TestServeDeliversToReceiveWithBothSignaturesOK(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	recv := startReceive(t, "--secret", secret)
	srv := startServer(t, "server", t.TempDir())

	var created struct {
		Data struct{ Slug string } `json:"data"`
	}
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks",
		fmt.Sprintf(`{"url":%q,"events":["all"],"headers":{"X-Team":"mobile"},"secret":%q}`, recv.base+"/hook", secret),
		nil, http.StatusOK, &created)
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events", buildFinishedInput,
		map[string]string{"Bitrise-Event-Type": "build/finished"}, http.StatusAccepted, nil)
	b := recv.blocks(t, 1)[0]
	text := strings.Join(b, "\n")
	for prefix, want := range map[string]string{
		"   signature Bitrise-Hook-Signature:": "ok",
		"   signature Webhook-Signature:":      "ok",
		"   Bitrise-App-Id:":                   e2eApp,
		"   X-Team:":                           "mobile",
		"   → answered":                        "200",
	} {
		if got, _ := blockLine(b, prefix); got != want {
			t.Errorf("%s %q, want %q:\n%s", prefix, got, want, text)
		}
	}
	if id, ok := blockLine(b, "   Webhook-Id:"); !ok || id == "" {
		t.Errorf("no Webhook-Id printed:\n%s", text)
	}
	if !strings.Contains(b[0], "POST /hook  build/finished") {
		t.Errorf("block header %q", b[0])
	}
	srv.stop(t)
}
