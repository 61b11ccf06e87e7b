package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/transport/httpapi"
)

// addHooks appends n entries to the stack's log through the API (one
// hook.configured each) and returns the head.
func (s *stack) addHooks(n int) uint64 {
	s.t.Helper()
	for range n {
		s.api.createHook("log-app", hookBody(nil))
	}
	return s.head()
}

// exportLines is what hookd log export prints for entries from to to.
func (s *stack) exportLines(from, to uint64) string {
	s.t.Helper()
	var b []byte
	for seq := from; seq <= to; seq++ {
		e, err := s.store.ReadEntry(context.Background(), eventlog.Topic, seq)
		if err != nil {
			s.t.Fatal(err)
		}
		if b, err = eventlog.AppendExportJSON(b, e); err != nil {
			s.t.Fatal(err)
		}
	}
	return string(b)
}

func TestLogEntriesStreamsTheLinesLogExportPrints(t *testing.T) {
	s := newStack(t)
	head := s.addHooks(5)
	for _, tc := range []struct {
		query    string
		from, to uint64
	}{
		{"", 1, head},
		{"?from=2", 2, head},
		{"?from=2&to=4", 2, 4},
		{"?to=3", 1, 3},
		{"?from=" + strconv.FormatUint(head+1, 10), head + 1, head}, // nothing after the head
		{"?from=3&to=2", 3, 2},
		{"?follow=false", 1, head},
	} {
		r := s.api.do(http.MethodGet, "/v0.1/log/entries"+tc.query, nil).expect(t, http.StatusOK)
		if ct := r.Header.Get("Content-Type"); ct != "application/x-ndjson" {
			t.Errorf("%s: Content-Type %q, want application/x-ndjson", tc.query, ct)
		}
		if want := s.exportLines(tc.from, tc.to); string(r.Body) != want {
			t.Errorf("GET /v0.1/log/entries%s:\n%s\nwant the export lines of %d..%d:\n%s", tc.query, r.Body, tc.from, tc.to, want)
		}
	}
}

func TestLogEntriesRefusesRangesTheLogDoesNotHold(t *testing.T) {
	s := newStack(t)
	head := s.addHooks(3)
	for _, tc := range []struct{ query, words string }{
		{"?from=0", "from"},
		{"?from=-1", "from"},
		{"?from=x", "from"},
		{"?to=" + strconv.FormatUint(head+1, 10), "past the log's head, 3"},
		{"?to=99", "past the log's head"},
		{"?from=" + strconv.FormatUint(head+2, 10), "past the log's head"},
		{"?from=3&to=1", "before from"},
		{"?follow=maybe", "follow"},
		{"?follow=true&to=2", "follow"},
	} {
		s.api.do(http.MethodGet, "/v0.1/log/entries"+tc.query, nil).expectError(t, http.StatusBadRequest, tc.words)
	}
	s.api.do(http.MethodGet, "/v0.1/log/entries", nil, "Accept", "text/event-stream", "Last-Event-ID", "x").
		expectError(t, http.StatusBadRequest, "Last-Event-ID")
	s.api.do(http.MethodGet, "/v0.1/log/entries", nil, "Accept", "text/event-stream", "Last-Event-ID", "7").
		expectError(t, http.StatusBadRequest, "Last-Event-ID", "past the log's head")
}

func TestLogEndpointsNeedTheToken(t *testing.T) {
	s := newStack(t)
	s.addHooks(1)
	api := s.serve(func(c *httpapi.Config) { c.APIToken = "log-token" })
	for _, path := range []string{"/v0.1/log/entries", "/v0.1/log/head", "/v0.1/log/entries?follow=true"} {
		api.do(http.MethodGet, path, nil).expectError(t, http.StatusUnauthorized, "token")
		api.do(http.MethodGet, path, nil, "Authorization", "Bearer wrong").expectError(t, http.StatusUnauthorized, "token")
	}
	api.do(http.MethodGet, "/v0.1/log/entries", nil, "Authorization", "Bearer log-token").expect(t, http.StatusOK)
	api.do(http.MethodGet, "/v0.1/log/head", nil, "Authorization", "log-token").expect(t, http.StatusOK)
}

func TestLogHeadNamesTheLastEntry(t *testing.T) {
	s := newStack(t)
	type head struct {
		Data struct {
			Sequence uint64          `json:"sequence"`
			Hash     string          `json:"hash"`
			Time     json.RawMessage `json:"time"`
		} `json:"data"`
	}
	var empty head
	s.api.do(http.MethodGet, "/v0.1/log/head", nil).expect(t, http.StatusOK).decode(t, &empty)
	if empty.Data.Sequence != 0 || empty.Data.Hash != strings.Repeat("0", 64) || string(empty.Data.Time) != "null" {
		t.Errorf("head of an empty log = %+v, want sequence 0, 32 zero bytes, time null", empty.Data)
	}
	n := s.addHooks(2)
	var h head
	s.api.do(http.MethodGet, "/v0.1/log/head", nil).expect(t, http.StatusOK).decode(t, &h)
	e, err := s.store.ReadEntry(context.Background(), eventlog.Topic, n)
	if err != nil {
		t.Fatal(err)
	}
	var at string
	_ = json.Unmarshal(h.Data.Time, &at)
	if h.Data.Sequence != n || h.Data.Hash != hex.EncodeToString(e.Hash[:]) || !checkTime(t, "time", at).Equal(e.Time) {
		t.Errorf("head = %+v (time %s), want %d, %x, %s", h.Data, at, n, e.Hash, e.Time)
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ id, event, data string }

// readSSE reads events until n have come or the stream ends.
func readSSE(t *testing.T, br *bufio.Reader, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	for len(out) < n {
		line, err := br.ReadString('\n')
		if err != nil {
			break
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if cur != (sseEvent{}) {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, ":"): // a comment
		case strings.HasPrefix(line, "id: "):
			cur.id = line[len("id: "):]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			if cur.data != "" {
				t.Errorf("an event with two data lines: %q", line)
			}
			cur.data = line[len("data: "):]
		default:
			t.Errorf("unexpected SSE line %q", line)
		}
	}
	return out
}

// openStream GETs a stream and fails unless it answers 200.
func openStream(t *testing.T, ctx context.Context, url string, headers ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestLogEntriesAsSSEFollowAndResumeAfterLastEventID(t *testing.T) {
	s := newStack(t)
	s.addHooks(3)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resp := openStream(t, ctx, s.api.base+"/v0.1/log/entries", "Accept", "text/event-stream")
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q, want text/event-stream", ct)
	}
	br := bufio.NewReader(resp.Body)
	check := func(evs []sseEvent, from uint64) {
		t.Helper()
		for i, ev := range evs {
			seq := from + uint64(i)
			want := strings.TrimSuffix(s.exportLines(seq, seq), "\n")
			if ev.id != strconv.FormatUint(seq, 10) || ev.event != "entry" || ev.data != want {
				t.Errorf("event %d = %+v, want id %d, event entry, data %s", i, ev, seq, want)
			}
		}
	}
	check(readSSE(t, br, 3), 1)
	// SSE follows: an entry appended now comes on the same stream, within a second.
	appended := time.Now()
	s.addHooks(1)
	evs := readSSE(t, br, 1)
	if len(evs) != 1 || time.Since(appended) > 2*time.Second {
		t.Fatalf("after an append: %v after %s, want entry 4 within a second", evs, time.Since(appended))
	}
	check(evs, 4)
	cancel()

	// A reconnect with Last-Event-ID resumes right after it, whatever ?from says.
	s.addHooks(2) // 5, 6
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	resp = openStream(t, ctx2, s.api.base+"/v0.1/log/entries?from=1", "Accept", "text/event-stream", "Last-Event-ID", "4")
	br = bufio.NewReader(resp.Body)
	check(readSSE(t, br, 2), 5)

	// follow=false ends the stream at the head.
	r := s.api.do(http.MethodGet, "/v0.1/log/entries?follow=false&from=5", nil, "Accept", "text/event-stream")
	evs = readSSE(t, bufio.NewReader(bytes.NewReader(r.Body)), 10)
	if len(evs) != 2 {
		t.Fatalf("SSE with follow=false from 5: %d events, want 2 (5 and 6)", len(evs))
	}
	check(evs, 5)
	// So does a to.
	r = s.api.do(http.MethodGet, "/v0.1/log/entries?to=2", nil, "Accept", "text/event-stream")
	check(readSSE(t, bufio.NewReader(bytes.NewReader(r.Body)), 10), 1)
}

func TestLogEntriesFollowWritesEachAppendInOrderWithoutGapOrRepeat(t *testing.T) {
	s := newStack(t)
	s.addHooks(2)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resp := openStream(t, ctx, s.api.base+"/v0.1/log/entries?from=2&follow=true")
	br := bufio.NewReader(resp.Body)
	next := uint64(2)
	readLine := func() {
		t.Helper()
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if want := s.exportLines(next, next); line != want {
			t.Fatalf("line %q, want entry %d: %q", line, next, want)
		}
		next++
	}
	readLine()
	for round := range 5 {
		appended := time.Now()
		n := round%3 + 1
		s.addHooks(n)
		for range n {
			readLine()
		}
		if d := time.Since(appended); d > 2*time.Second {
			t.Errorf("round %d: entries came %s after their append, want within a second", round, d)
		}
	}
}

// TestLogStreamEndsWhenTheServerShutsDown: a following stream must not
// hold http.Server.Shutdown up.
func TestLogStreamEndsWhenTheServerShutsDown(t *testing.T) {
	s := newStack(t)
	s.addHooks(1)
	for _, sse := range []bool{false, true} {
		t.Run(fmt.Sprintf("sse=%v", sse), func(t *testing.T) {
			stopping := make(chan struct{})
			cfg := s.base
			cfg.Stopping = stopping
			srv := httptest.NewUnstartedServer(httpapi.NewRouter(cfg))
			srv.Config.RegisterOnShutdown(func() { close(stopping) })
			srv.Config.WriteTimeout = 30 * time.Second
			srv.Start()
			t.Cleanup(srv.Close)
			headers := []string{}
			if sse {
				headers = []string{"Accept", "text/event-stream"}
			}
			resp := openStream(t, t.Context(), srv.URL+"/v0.1/log/entries?follow=true", headers...)
			br := bufio.NewReader(resp.Body)
			if _, err := br.ReadString('\n'); err != nil {
				t.Fatalf("first line: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			if err := srv.Config.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown with a following stream open: %v after %s", err, time.Since(start))
			}
			rest, err := readAll(br)
			if err != nil {
				t.Errorf("the stream did not end cleanly: %v", err)
			}
			if sse {
				rest = strings.TrimPrefix(rest, "event: entry\n")
				if _, after, ok := strings.Cut(rest, "\n\n"); ok {
					rest = after
				}
			}
			if rest != "" {
				t.Errorf("after shutdown the stream still had %q", rest)
			}
		})
	}
}

func readAll(br *bufio.Reader) (string, error) {
	var b strings.Builder
	_, err := br.WriteTo(&b)
	return b.String(), err
}
