package testkit

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Request is one request a Receiver got, as it arrived.
//
// Requests returned by a Receiver share their Header and Body with the
// Receiver's record: read them, do not modify them.
type Request struct {
	Method     string
	Path       string // the URL path, decoded (r.URL.Path)
	RequestURI string // the request target as sent: path and query, undecoded
	Header     http.Header
	Body       []byte // the bytes read, exactly
	BodyErr    error  // why the body could not be read whole, if it could not
	Received   time.Time
	RemoteAddr string
	// Status is the status the receiver answered, set when the handler
	// writes it (or returns without writing: 200); 0 until then, as for a
	// request that is held.
	Status int
}

// Reply is what a Receiver answers when no handler is set.
type Reply struct {
	Status int // 0 means 200
	Header http.Header
	Body   string
}

// Receiver is a webhook receiver: an httptest.Server on loopback that
// records every request (method, target, headers, body bytes, time
// received, remote address, the status answered) before answering it.
// By default it answers 200 "ok"; SetStatus, SetReply, SetHandler and Hold
// change that while it runs. It is safe for concurrent use, and it is
// closed in t.Cleanup.
//
// A request whose body cannot be read whole fails the test (t.Errorf):
// whoever sent it cut it off. AllowCutBodies turns that off for tests that
// kill the sender mid-request.
type Receiver struct {
	t   testing.TB
	srv *httptest.Server

	mu      sync.Mutex
	reqs    []Request
	changed chan struct{} // closed and replaced on every new request
	reply   Reply
	handler http.HandlerFunc
	hold    chan struct{} // while non-nil, new requests wait until it is closed
	cutOK   bool
}

// NewReceiver starts a Receiver answering 200 "ok" and closes it in
// t.Cleanup (which waits for the handlers still running: release what a
// handler waits on in a cleanup registered after NewReceiver).
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	rc := &Receiver{t: t, changed: make(chan struct{}), reply: Reply{Status: http.StatusOK, Body: "ok"}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

// URL is the receiver's base URL, http://127.0.0.1:port, without a
// trailing slash: append the path a test wants.
func (rc *Receiver) URL() string { return rc.srv.URL }

// Addr is the address the receiver listens on: a *net.TCPAddr on loopback.
func (rc *Receiver) Addr() net.Addr { return rc.srv.Listener.Addr() }

// SetStatus makes the default answer status code, keeping its headers and body.
func (rc *Receiver) SetStatus(code int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.reply.Status = code
}

// SetReply sets the default answer: status, headers and body.
func (rc *Receiver) SetReply(p Reply) {
	p.Header = p.Header.Clone()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.reply = p
}

// SetHandler makes h answer every later request instead of the default
// answer; nil restores it. h is called after the request is recorded, and
// may read its body again.
func (rc *Receiver) SetHandler(h http.HandlerFunc) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.handler = h
}

// Hold makes every later request wait, recorded but unanswered, until
// release is called (or the request is cancelled); then it is answered as
// the receiver is set at that moment. release may be called more than
// once, and is called in t.Cleanup.
func (rc *Receiver) Hold() (release func()) {
	ch := make(chan struct{})
	release = sync.OnceFunc(func() {
		rc.mu.Lock()
		if rc.hold == ch {
			rc.hold = nil
		}
		rc.mu.Unlock()
		close(ch)
	})
	rc.mu.Lock()
	rc.hold = ch
	rc.mu.Unlock()
	rc.t.Cleanup(release) // before the server closes, which waits for held handlers
	return release
}

// AllowCutBodies records a body that cannot be read whole (with BodyErr)
// without failing the test.
func (rc *Receiver) AllowCutBodies() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.cutOK = true
}

// Requests returns the requests so far, in the order they arrived.
func (rc *Receiver) Requests() []Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Request(nil), rc.reqs...)
}

// Count is the number of requests so far.
func (rc *Receiver) Count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

// ByHeader groups the requests so far by their value of the header name
// (those without it under ""), each group in the order of arrival:
// ByHeader("Webhook-Id") shows every delivery sent more than once.
func (rc *Receiver) ByHeader(name string) map[string][]Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string][]Request{}
	for _, r := range rc.reqs {
		v := r.Header.Get(name)
		out[v] = append(out[v], r)
	}
	return out
}

// WaitForCount waits until the receiver has n requests and returns them.
// It fails the test if they do not come within timeout, or if more than n
// come: an extra request is a request sent twice.
func (rc *Receiver) WaitForCount(t testing.TB, n int, timeout time.Duration) []Request {
	t.Helper()
	var got []Request
	WaitUntilf(t, timeout, fmt.Sprintf("%d requests at the receiver", n), func() (bool, string) {
		got = rc.Requests()
		return len(got) >= n, fmt.Sprintf("%d requests", len(got))
	})
	if len(got) > n {
		t.Fatalf("the receiver got %d requests, want %d", len(got), n)
	}
	return got
}

// StaysAt fails the test if the receiver has other than n requests now or
// at any moment during d: it is for checking that nothing more is sent.
func (rc *Receiver) StaysAt(t testing.TB, n int, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		rc.mu.Lock()
		got, changed := len(rc.reqs), rc.changed
		rc.mu.Unlock()
		if got != n {
			t.Fatalf("the receiver has %d requests, want still %d", got, n)
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			return
		}
	}
}

func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	body, err := io.ReadAll(r.Body)
	rc.mu.Lock()
	i := len(rc.reqs)
	rc.reqs = append(rc.reqs, Request{
		Method: r.Method, Path: r.URL.Path, RequestURI: r.RequestURI, Header: r.Header.Clone(),
		Body: body, BodyErr: err, Received: received, RemoteAddr: r.RemoteAddr,
	})
	close(rc.changed)
	rc.changed = make(chan struct{})
	reply, handler, hold, cutOK := rc.reply, rc.handler, rc.hold, rc.cutOK
	rc.mu.Unlock()
	if err != nil && !cutOK {
		rc.t.Errorf("receiver: %s %s: body cut off after %d bytes: %v", r.Method, r.RequestURI, len(body), err)
	}
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
		rc.mu.Lock()
		reply, handler = rc.reply, rc.handler
		rc.mu.Unlock()
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sw := &statusWriter{ResponseWriter: w, rc: rc, i: i}
	if handler != nil {
		handler(sw, r)
	} else {
		reply.write(sw)
	}
	sw.answered(http.StatusOK) // the status net/http sends for a handler that wrote nothing
}

func (p Reply) write(w http.ResponseWriter) {
	for k, vs := range p.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	status := p.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, p.Body)
}

// statusWriter records the status of request i when it is written.
type statusWriter struct {
	http.ResponseWriter
	rc   *Receiver
	i    int
	done bool
}

func (w *statusWriter) answered(code int) {
	if w.done {
		return
	}
	w.done = true
	w.rc.mu.Lock()
	w.rc.reqs[w.i].Status = code
	w.rc.mu.Unlock()
}

func (w *statusWriter) WriteHeader(code int) {
	if code >= 200 { // not an informational 1xx
		w.answered(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.answered(http.StatusOK)
	return w.ResponseWriter.Write(b)
}

// Flush lets handlers send a partial answer.
func (w *statusWriter) Flush() {
	w.answered(http.StatusOK)
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
