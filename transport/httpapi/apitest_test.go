package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/natstest"
	"github.com/hookd/hookd/internal/service"
	"github.com/hookd/hookd/internal/testkit"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/transport/httpapi"
)

// waitLimit bounds every wait for an asynchronous result. Nothing
// legitimately takes this long; reaching it means the result never came.
const waitLimit = 5 * time.Second

// stack is the real hookd, built and run in-process by service.New as
// `hookd serve` builds it: the Badger log, the views and their runner, the
// dispatcher with a real sender, and the API served on 127.0.0.1. Private
// targets are allowed, since receivers are local.
type stack struct {
	t     *testing.T
	store eventlog.Log   // the service's log
	base  httpapi.Config // the service's router config, for serve
	// views are newLaggingStack's, which catchUp applies the log to; nil
	// in a stack from newStack, whose runner does that.
	views *projections.Views
	logs  *testkit.SyncBuffer
	api   *client // the service's own API
	// cfg is the service's config (a restart reuses its data directory
	// and log); stop stops the service, as t.Cleanup does (once).
	cfg  service.Config
	stop func()

	mu      sync.Mutex
	secrets []string // no response body may contain one of these
}

// testSecretKey seals hook secrets, as HOOKD_SECRET_KEY would: 32 zero
// bytes in base64, the key openSealed and newLaggingStack use.
const testSecretKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

// onJetStream reports whether the stacks run on a JetStream log (an
// embedded NATS server per stack) instead of the embedded Badger log:
// HOOKD_TEST_LOG=nats, as `make test-cluster` sets it, so the whole API
// suite runs on both backends.
func onJetStream() bool { return os.Getenv("HOOKD_TEST_LOG") == "nats" }

// newStack builds the service with service.New and runs it; opts, if
// given, adjust its config. Everything stops in t.Cleanup: the servers,
// then the service (runner, dispatcher, API), then the views and the log.
func newStack(t *testing.T, opts ...func(*service.Config)) *stack {
	t.Helper()
	logs := &testkit.SyncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := service.Config{
		Addr: "127.0.0.1:0", Data: t.TempDir(), AllowPrivateTargets: true, SecretKey: testSecretKey,
		NoDiskReserve: true, Workers: 8,
	}
	if onJetStream() {
		cfg.Log = service.LogConfig{URL: natstest.RunServer(t).URL}
	}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := service.New(cfg, logger)
	if err != nil {
		t.Fatalf("service.New: %v\n%s", err, logs.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	transport := &http.Transport{}
	s := &stack{t: t, store: svc.Log(), base: svc.APIConfig(), logs: logs, cfg: cfg}
	s.api = &client{t: t, st: s, base: "http://" + svc.Addr(), http: &http.Client{Transport: transport}}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			transport.CloseIdleConnections()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("the service failed: %v", err)
			}
			svc.Close()
			// Close logs what it could not close.
			for line := range strings.Lines(logs.String()) {
				if strings.Contains(line, `msg="closing the`) {
					t.Errorf("service.Close: %s", line)
				}
			}
			if t.Failed() {
				t.Logf("hookd logs (warn and above):\n%s", logs.String())
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// serve starts another router over the same stack, built from the
// service's router config adjusted by mod, and returns a client for it.
func (s *stack) serve(mod ...func(*httpapi.Config)) *client {
	s.t.Helper()
	cfg := s.base
	for _, m := range mod {
		m(&cfg)
	}
	srv := httptest.NewServer(httpapi.NewRouter(cfg))
	s.t.Cleanup(srv.Close)
	return &client{t: s.t, st: s, base: srv.URL, http: srv.Client()}
}

// forbid makes every later response fail the test if its body contains secret.
func (s *stack) forbid(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = append(s.secrets, secret)
}

func (s *stack) forbidden() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.secrets...)
}

// head is the sequence of the log's last entry.
func (s *stack) head() uint64 {
	s.t.Helper()
	h, err := s.store.Head(eventlog.Topic)
	if err != nil {
		s.t.Fatalf("store.Head: %v", err)
	}
	return h
}

// client sends requests to one router.
type client struct {
	t      *testing.T
	st     *stack
	base   string
	http   *http.Client
	header http.Header // sent with every request
}

// withHeader returns a copy of c that also sends the header.
func (c *client) withHeader(name, value string) *client {
	cp := *c
	cp.header = c.header.Clone()
	if cp.header == nil {
		cp.header = http.Header{}
	}
	cp.header.Set(name, value)
	return &cp
}

// response is an answer with its body read.
type response struct {
	method, path string
	Status       int
	Header       http.Header
	Body         []byte
}

// do sends a request. body may be nil, a string or []byte (sent as is), or
// anything else (sent as JSON). headers are name, value pairs. Any 5xx
// answer, or a secret in the body, fails the test.
func (c *client) do(method, path string, body any, headers ...string) *response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatalf("marshal request body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatalf("new request %s %s: %v", method, path, err)
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := &response{method: method, path: path, Status: resp.StatusCode, Header: resp.Header, Body: b}
	if r.Status >= 500 {
		c.t.Fatalf("%s %s: status %d, no request may get a 5xx: %s", method, path, r.Status, b)
	}
	for _, s := range c.st.forbidden() {
		if bytes.Contains(b, []byte(s)) {
			c.t.Fatalf("%s %s: response contains the secret %q: %s", method, path, s, b)
		}
	}
	return r
}

// expect fails the test unless the status is want.
func (r *response) expect(t *testing.T, want int) *response {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s %s: status %d, want %d; body: %s", r.method, r.path, r.Status, want, r.Body)
	}
	return r
}

// decode decodes the body into v, failing on anything but one JSON value.
func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want application/json", r.method, r.path, ct)
	}
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s %s: decode %s: %v", r.method, r.path, r.Body, err)
	}
}

// expectError checks a status and an error body {"message": ...} whose
// message contains every one of words (case-insensitive).
func (r *response) expectError(t *testing.T, status int, words ...string) string {
	t.Helper()
	r.expect(t, status)
	var body map[string]any
	r.decode(t, &body)
	msg, ok := body["message"].(string)
	if !ok || msg == "" {
		t.Fatalf("%s %s: error body %s has no message", r.method, r.path, r.Body)
	}
	if len(body) != 1 {
		t.Errorf("%s %s: error body %s has fields besides message", r.method, r.path, r.Body)
	}
	for _, w := range words {
		if !strings.Contains(strings.ToLower(msg), strings.ToLower(w)) {
			t.Errorf("%s %s: message %q does not mention %q", r.method, r.path, msg, w)
		}
	}
	return msg
}

// checkTime fails unless s is an RFC 3339 time in UTC ("Z").
func checkTime(t *testing.T, field, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Errorf("%s %q is not RFC 3339: %v", field, s, err)
		return ts
	}
	if !strings.HasSuffix(s, "Z") {
		t.Errorf("%s %q is not in UTC (no trailing Z)", field, s)
	}
	return ts
}
