package webhook_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/internal/testkit"
	"github.com/hookd/hookd/transport/webhook"
)

func localSender() *webhook.Sender {
	return webhook.NewSender(webhook.SenderConfig{AllowPrivateTargets: true, Timeout: 5 * time.Second})
}

func TestSenderPostsExactBodyAndHeadersAndRecordsTheAnswer(t *testing.T) {
	rc := testkit.NewReceiver(t)
	rc.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Receiver", "seen")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"accepted":true}`)
	})
	hook := domain.Hook{
		Slug: "h-1", AppSlug: "app-1", URL: rc.URL() + "/hooks/h-1?token=abc",
		Headers: map[string]string{"X-Custom": "value with spaces", "Authorization": "Bearer t0k"},
	}
	body := []byte(`{"build_slug":"b-1","build_number":7,"app_slug":"app-1","build_status":1,"build_triggered_workflow":"primary","git":{"provider":"github","src_branch":"main"}}`)
	req := domain.BuildRequest(hook, domain.EventBuildFinished, body, "delivery-1", time.Now(), domain.SigningSecrets{Current: "s3cret"})

	out := localSender().Send(t.Context(), req)

	reqs := rc.Requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	got := reqs[0]
	if got.Method != http.MethodPost || got.RequestURI != "/hooks/h-1?token=abc" {
		t.Errorf("receiver got %s %s, want POST /hooks/h-1?token=abc", got.Method, got.RequestURI)
	}
	if !bytes.Equal(got.Body, body) {
		t.Errorf("receiver got body %q, want %q", got.Body, body)
	}
	for name, want := range req.Headers {
		if v := got.Header.Values(name); len(v) != 1 || v[0] != want {
			t.Errorf("receiver got header %s = %q, want exactly %q", name, v, want)
		}
	}
	if sig := got.Header.Get("Bitrise-Hook-Signature"); !domain.VerifySignature("s3cret", got.Body, sig) {
		t.Errorf("signature %q does not verify against the received body", sig)
	}
	if cl := got.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %s, want %d", cl, len(body))
	}

	if out.Error != "" || out.Response == nil {
		t.Fatalf("outcome error %q, response %v; want a response", out.Error, out.Response)
	}
	r := out.Response
	if r.Status != http.StatusAccepted || r.Body != `{"accepted":true}` || r.Truncated {
		t.Errorf("recorded status %d body %q truncated %v", r.Status, r.Body, r.Truncated)
	}
	if v := r.Headers["X-Receiver"]; len(v) != 1 || v[0] != "seen" {
		t.Errorf("recorded X-Receiver %q", v)
	}
	if v := r.Headers["Set-Cookie"]; len(v) != 2 || v[0] != "a=1" || v[1] != "b=2" {
		t.Errorf("recorded Set-Cookie %q, want both values", v)
	}
	if out.Duration <= 0 {
		t.Errorf("duration %v, want it measured", out.Duration)
	}
}

func TestSenderCutsResponseBodyAt64KiB(t *testing.T) {
	for _, c := range []struct {
		size      int
		truncated bool
	}{
		{domain.MaxResponseBody - 1, false},
		{domain.MaxResponseBody, false},
		{domain.MaxResponseBody + 1, true},
		{3 * domain.MaxResponseBody, true},
	} {
		big := bytes.Repeat([]byte("0123456789abcdef"), c.size/16+1)[:c.size]
		rc := testkit.NewReceiver(t)
		rc.SetHandler(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(big) })
		out := localSender().Send(t.Context(), domain.OutgoingRequest{URL: rc.URL(), Body: []byte(`{}`)})
		if out.Response == nil {
			t.Fatalf("%d-byte answer: no response, error %q", c.size, out.Error)
		}
		want := big[:min(c.size, domain.MaxResponseBody)]
		if len(out.Response.Body) != len(want) || out.Response.Body != string(want) || out.Response.Truncated != c.truncated {
			t.Errorf("%d-byte answer: recorded %d bytes, truncated %v; want %d bytes (the prefix), truncated %v",
				c.size, len(out.Response.Body), out.Response.Truncated, len(want), c.truncated)
		}
		if out.Error != "" {
			t.Errorf("%d-byte answer: error %q", c.size, out.Error)
		}
	}
}

func TestSenderRecordsRedirectWithoutFollowingIt(t *testing.T) {
	target := testkit.NewReceiver(t)
	redirector := testkit.NewReceiver(t)
	redirector.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL()+"/elsewhere", http.StatusFound)
	})
	out := localSender().Send(t.Context(), domain.OutgoingRequest{URL: redirector.URL(), Body: []byte(`{}`)})
	if out.Response == nil || out.Response.Status != http.StatusFound {
		t.Fatalf("outcome %+v, want a recorded 302", out)
	}
	if loc := out.Response.Headers["Location"]; len(loc) != 1 || loc[0] != target.URL()+"/elsewhere" {
		t.Errorf("recorded Location %q", loc)
	}
	if n := target.Count(); n != 0 {
		t.Errorf("the redirect target got %d requests, want none", n)
	}
}

func TestSenderTimesOutOnReceiverThatNeverAnswers(t *testing.T) {
	release := make(chan struct{})
	rc := testkit.NewReceiver(t)
	rc.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // before the server closes
	s := webhook.NewSender(webhook.SenderConfig{Timeout: 300 * time.Millisecond, AllowPrivateTargets: true})
	out := s.Send(t.Context(), domain.OutgoingRequest{URL: rc.URL(), Body: []byte(`{}`)})
	if out.Response != nil || !strings.Contains(out.Error, "timeout") {
		t.Errorf("outcome response %v error %q, want no response and a timeout", out.Response, out.Error)
	}
}

func TestSenderTimesOutOnBodyThatNeverEnds(t *testing.T) {
	release := make(chan struct{})
	rc := testkit.NewReceiver(t)
	rc.SetHandler(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	s := webhook.NewSender(webhook.SenderConfig{Timeout: 300 * time.Millisecond, AllowPrivateTargets: true})
	out := s.Send(t.Context(), domain.OutgoingRequest{URL: rc.URL(), Body: []byte(`{}`)})
	// The status and headers came: that is a response, its body cut short,
	// and a failed delivery.
	if out.Response == nil || out.Response.Status != http.StatusOK || out.Response.Body != "partial" {
		t.Fatalf("outcome %+v, want status 200 with the partial body", out)
	}
	if want := "response body cut off: timeout after 300ms (kept 7 bytes)"; out.Error != want {
		t.Errorf("error %q, want %q", out.Error, want)
	}
}

func TestSenderReportsConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	out := localSender().Send(t.Context(), domain.OutgoingRequest{URL: "http://" + addr + "/hook", Body: []byte(`{}`)})
	if out.Response != nil || !strings.Contains(out.Error, "connection refused") {
		t.Errorf("outcome response %v error %q, want no response and connection refused", out.Response, out.Error)
	}
}

func TestSenderRefusesPrivateTargetAtDialTime(t *testing.T) {
	rc := testkit.NewReceiver(t)
	port := rc.Addr().(*net.TCPAddr).Port
	s := webhook.NewSender(webhook.SenderConfig{Timeout: 2 * time.Second})
	for _, url := range []string{
		rc.URL() + "/hook",
		"http://localhost:" + strconv.Itoa(port) + "/hook", // a name resolving to loopback
	} {
		out := s.Send(t.Context(), domain.OutgoingRequest{URL: url, Body: []byte(`{}`)})
		if out.Response != nil || !strings.HasPrefix(out.Error, "refused") || !strings.Contains(out.Error, "--allow-private-targets") {
			t.Errorf("%s: outcome response %v error %q, want no response and an error starting with \"refused\" that names the flag allowing it", url, out.Response, out.Error)
		}
	}
	if n := rc.Count(); n != 0 {
		t.Errorf("the loopback receiver got %d requests, want none", n)
	}
}
