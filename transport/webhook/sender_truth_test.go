package webhook_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/transport/webhook"
)

// shortTimeout is the send timeout of the tests whose receiver never
// finishes; they assert what is recorded, never how long it took.
const shortTimeout = 300 * time.Millisecond

// trickleEvery paces receivers that send a little at a time, so that the
// send timeout, not the bytes, ends the delivery.
const trickleEvery = 2 * time.Millisecond

// rawReceiver listens on 127.0.0.1 and, for each connection, reads one
// request and then lets answer write whatever bytes it likes; the
// connection is closed when answer returns.
func rawReceiver(t *testing.T, answer func(conn net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				req, err := http.ReadRequest(bufio.NewReader(conn))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				answer(conn)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "http://" + l.Addr().String() + "/hook"
}

// untilClosed waits until the sender closes the connection.
func untilClosed(conn net.Conn) { _, _ = io.Copy(io.Discard, conn) }

// trickle writes chunk every trickleEvery until the sender hangs up.
func trickle(conn net.Conn, chunk string) {
	tick := time.NewTicker(trickleEvery)
	defer tick.Stop()
	for range tick.C {
		if _, err := io.WriteString(conn, chunk); err != nil {
			return
		}
	}
}

func send(t *testing.T, timeout time.Duration, url string) webhook.Outcome {
	t.Helper()
	s := webhook.NewSender(webhook.SenderConfig{AllowPrivateTargets: true, Timeout: timeout})
	return s.Send(t.Context(), domain.OutgoingRequest{URL: url, Body: []byte(`{}`)})
}

func TestSenderRecordsACutOffBodyAsAFailureKeepingStatusAndHeaders(t *testing.T) {
	const head = "HTTP/1.1 200 OK\r\nX-Kept: yes\r\n"
	cases := []struct {
		name    string
		answer  func(net.Conn)
		timeout time.Duration
		want    string
	}{
		{
			"closed before Content-Length was reached",
			func(c net.Conn) { _, _ = io.WriteString(c, head+"Content-Length: 100\r\n\r\npartial") },
			5 * time.Second,
			"response body cut off: connection closed before the body was complete (kept 7 of 100 bytes)",
		},
		{
			"closed in the middle of a chunked body",
			func(c net.Conn) {
				_, _ = io.WriteString(c, head+"Transfer-Encoding: chunked\r\n\r\n7\r\npartial\r\n")
			},
			5 * time.Second,
			"response body cut off: connection closed before the body was complete (kept 7 bytes)",
		},
		{
			"the send timeout hit while the body was being read",
			func(c net.Conn) {
				_, _ = io.WriteString(c, head+"Content-Length: 100\r\n\r\npartial")
				untilClosed(c)
			},
			shortTimeout,
			"response body cut off: timeout after 300ms (kept 7 of 100 bytes)",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := send(t, c.timeout, rawReceiver(t, c.answer))
			if out.Response == nil {
				t.Fatalf("no response recorded (error %q); the status and headers came", out.Error)
			}
			r := out.Response
			if r.Status != http.StatusOK || !slices.Equal(r.Headers["X-Kept"], []string{"yes"}) || r.Body != "partial" {
				t.Errorf("recorded status %d, X-Kept %q, body %q; want 200, yes, partial", r.Status, r.Headers["X-Kept"], r.Body)
			}
			if r.Truncated {
				t.Error("recorded truncated: nothing past 64 KiB was discarded, the receiver sent less")
			}
			if out.Error != c.want {
				t.Errorf("error %q\nwant  %q", out.Error, c.want)
			}
		})
	}
}

func TestSenderRecordsAWholeBodyWithoutError(t *testing.T) {
	out := send(t, 5*time.Second, rawReceiver(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ncomplete")
		untilClosed(c)
	}))
	if out.Error != "" || out.Response == nil || out.Response.Body != "complete" {
		t.Errorf("outcome error %q, response %+v; want the body and no error", out.Error, out.Response)
	}
}

func TestSenderTimesOutOnBodyTrickledAByteAtATime(t *testing.T) {
	out := send(t, shortTimeout, rawReceiver(t, func(c net.Conn) {
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Kept: yes\r\nContent-Length: 1000000\r\n\r\n"); err != nil {
			return
		}
		trickle(c, "x")
	}))
	if out.Response == nil {
		t.Fatalf("no response recorded (error %q); the status and headers came", out.Error)
	}
	r := out.Response
	if r.Status != http.StatusOK || !slices.Equal(r.Headers["X-Kept"], []string{"yes"}) {
		t.Errorf("recorded status %d, X-Kept %q; want 200 and yes", r.Status, r.Headers["X-Kept"])
	}
	if strings.Trim(r.Body, "x") != "" || len(r.Body) > domain.MaxResponseBody {
		t.Errorf("recorded body of %d bytes %.40q..., want only the trickled bytes", len(r.Body), r.Body)
	}
	if want := fmt.Sprintf("response body cut off: timeout after 300ms (kept %d of 1000000 bytes)", len(r.Body)); out.Error != want {
		t.Errorf("error %q\nwant  %q", out.Error, want)
	}
}

func TestSenderTimesOutOnAResponseThatNeverCompletesItsHeaders(t *testing.T) {
	cases := []struct {
		name   string
		answer func(net.Conn)
	}{
		{"nothing after the status line", func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			untilClosed(c)
		}},
		{"a header trickled a byte at a time", func(c net.Conn) {
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Slow: "); err != nil {
				return
			}
			trickle(c, "x")
		}},
		{"1xx responses, one after another, forever", func(c net.Conn) {
			trickle(c, "HTTP/1.1 102 Processing\r\n\r\n")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := send(t, shortTimeout, rawReceiver(t, c.answer))
			if out.Response != nil {
				t.Errorf("recorded a response %+v; the headers never completed", out.Response)
			}
			if want := "timeout: no complete response within 300ms"; out.Error != want {
				t.Errorf("error %q, want %q", out.Error, want)
			}
		})
	}
}

func TestSenderRefusesResponseHeadersPast64KiB(t *testing.T) {
	cases := []struct {
		name   string
		answer func(net.Conn)
	}{
		{"one response with a 70 KiB header", func(c net.Conn) {
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("x", 70<<10)+"\r\nContent-Length: 0\r\n\r\n")
			untilClosed(c)
		}},
		{"1xx responses as fast as they can be sent", func(c net.Conn) {
			informational := []byte(strings.Repeat("HTTP/1.1 102 Processing\r\n\r\n", 64))
			for {
				if _, err := c.Write(informational); err != nil {
					return
				}
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := send(t, 5*time.Second, rawReceiver(t, c.answer))
			if out.Response != nil {
				t.Errorf("recorded a response with %d headers; none is stored past the limit", len(out.Response.Headers))
			}
			if want := "response headers larger than 64 KiB"; out.Error != want {
				t.Errorf("error %q, want %q", out.Error, want)
			}
		})
	}
}

func TestSenderStoresAt16KiBOfResponseHeadersInNameOrder(t *testing.T) {
	// 40 headers of 1 KiB: 40 KiB arrive (under the 64 KiB read limit),
	// the first whole ones by name that fit in 16 KiB are stored.
	var head strings.Builder
	head.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n")
	sent := map[string][]string{"Content-Length": {"2"}}
	for i := 39; i >= 0; i-- { // sent out of name order on purpose
		name, value := fmt.Sprintf("X-H-%02d", i), strings.Repeat("v", 1<<10)
		fmt.Fprintf(&head, "%s: %s\r\n", name, value)
		sent[name] = []string{value}
	}
	head.WriteString("\r\nok")
	out := send(t, 5*time.Second, rawReceiver(t, func(c net.Conn) {
		_, _ = io.WriteString(c, head.String())
		untilClosed(c)
	}))
	if out.Error != "" || out.Response == nil {
		t.Fatalf("outcome error %q, response %v; want a response", out.Error, out.Response)
	}
	r := out.Response
	want, _ := domain.CapResponseHeaders(sent, domain.MaxStoredResponseHeaders)
	if len(want) < 10 || len(want) == len(sent) {
		t.Fatalf("test is off: the cap keeps %d of %d headers", len(want), len(sent))
	}
	if !headersEqual(r.Headers, want) || !r.HeadersTruncated {
		t.Errorf("stored headers %v (truncated %v)\nwant %v (truncated)", slices.Sorted(maps.Keys(r.Headers)), r.HeadersTruncated, slices.Sorted(maps.Keys(want)))
	}
	size := 0
	for name, values := range r.Headers {
		for _, v := range values {
			size += len(name) + len(v)
		}
	}
	if size > domain.MaxStoredResponseHeaders {
		t.Errorf("stored %d bytes of headers, over %d", size, domain.MaxStoredResponseHeaders)
	}
	if r.Body != "ok" {
		t.Errorf("body %q, want ok", r.Body)
	}
}

func TestSenderStoresSmallResponseHeadersWhole(t *testing.T) {
	out := send(t, 5*time.Second, rawReceiver(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-B: 2\r\nX-B: 3\r\nContent-Length: 0\r\n\r\n")
		untilClosed(c)
	}))
	want := map[string][]string{"X-A": {"1"}, "X-B": {"2", "3"}, "Content-Length": {"0"}}
	if out.Response == nil || !headersEqual(out.Response.Headers, want) || out.Response.HeadersTruncated {
		t.Errorf("outcome %+v, want headers %v, not truncated", out, want)
	}
}

func TestSenderStoresANonUTF8BodyExactlyAsBase64(t *testing.T) {
	raw := []byte("\xff\xfe\x00binary \xc3\x28")
	out := send(t, 5*time.Second, rawReceiver(t, func(c net.Conn) {
		_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(raw), raw)
		untilClosed(c)
	}))
	if out.Error != "" || out.Response == nil {
		t.Fatalf("outcome error %q, response %v; want a response", out.Error, out.Response)
	}
	if out.Response.BodyEncoding != domain.BodyEncodingBase64 {
		t.Errorf("body encoding %q, want base64", out.Response.BodyEncoding)
	}
	if got, err := out.Response.RawBody(); err != nil || !bytes.Equal(got, raw) {
		t.Errorf("stored body decodes to %q (%v), want exactly %q", got, err, raw)
	}
}

func TestSenderStoresAUTF8BodyAsText(t *testing.T) {
	const text = `{"grüße":"✓"}`
	out := send(t, 5*time.Second, rawReceiver(t, func(c net.Conn) {
		_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(text), text)
		untilClosed(c)
	}))
	if out.Response == nil || out.Response.Body != text || out.Response.BodyEncoding != "" {
		t.Errorf("outcome %+v, want the text body with no encoding", out)
	}
}

func TestSenderKeepsAText64KiBPrefixTextWhenTheCutSplitsACharacter(t *testing.T) {
	text := "a" + strings.Repeat("é", domain.MaxResponseBody) // 2-byte characters after one byte
	out := send(t, 5*time.Second, rawReceiver(t, func(c net.Conn) {
		_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(text))
		_, _ = io.WriteString(c, text)
		untilClosed(c)
	}))
	if out.Error != "" || out.Response == nil {
		t.Fatalf("outcome error %q, response %v; want a response", out.Error, out.Response)
	}
	r := out.Response
	if r.BodyEncoding != "" || !r.Truncated || r.Body != text[:domain.MaxResponseBody-1] {
		t.Errorf("stored %d bytes, encoding %q, truncated %v; want the first %d bytes as text, truncated",
			len(r.Body), r.BodyEncoding, r.Truncated, domain.MaxResponseBody-1)
	}
}

func headersEqual(a, b map[string][]string) bool {
	return maps.EqualFunc(a, b, slices.Equal[[]string])
}
