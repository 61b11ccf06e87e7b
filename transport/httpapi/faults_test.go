package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/transport/httpapi"
)

// refusingLog is the real log until refuse is set; then every append fails
// the way a full disk or a failed fsync does, wrapping ErrUnavailable.
type refusingLog struct {
	next    httpapi.Appender
	refuse  atomic.Bool
	refused atomic.Int64
}

func (l *refusingLog) Append(ctx context.Context, topic string, msgs ...*message.Message) ([]uint64, error) {
	if l.refuse.Load() {
		l.refused.Add(1)
		return nil, fmt.Errorf("%w: fsync: write /data/log/000001.vlog: no space left on device", eventlog.ErrUnavailable)
	}
	return l.next.Append(ctx, topic, msgs...)
}

func (l *refusingLog) AppendAt(ctx context.Context, topic string, last uint64, msgs ...*message.Message) ([]uint64, error) {
	if l.refuse.Load() {
		l.refused.Add(1)
		return nil, fmt.Errorf("%w: fsync: write /data/log/000001.vlog: no space left on device", eventlog.ErrUnavailable)
	}
	return l.next.AppendAt(ctx, topic, last, msgs...)
}

func TestLogRefusingAppendsAnswers503AndLosesNothingAcknowledged(t *testing.T) {
	s := newStack(t)
	log := &refusingLog{next: s.base.Log}
	api := s.serve(func(c *httpapi.Config) { c.Log = log })
	rc := newReceiver(t, http.StatusOK)

	// Acknowledged before the log fails: a hook and three build events.
	h := api.createHook("app-1", hookBody(map[string]any{"url": rc.URL() + "/hook"}))
	var acked []accepted
	for i := range 3 {
		acked = append(acked, api.sendBuild("app-1", "build/finished", buildBody(i+1)))
	}
	itemsBefore := api.waitItems("app-1", h.Slug, 3)
	hooksBefore := api.listHooks("app-1", "")

	log.refuse.Store(true)
	before := s.head()
	for _, tc := range []struct {
		name, method, path string
		body               any
		headers            []string
	}{
		{"build event", http.MethodPost, buildEventsPath("app-1"), buildBody(4), []string{"Bitrise-Event-Type", "build/finished"}},
		{"create hook", http.MethodPost, hooksPath("app-1"), hookBody(nil), nil},
		{"update hook", http.MethodPut, hookPath("app-1", h.Slug), hookBody(map[string]any{"url": rc.URL() + "/moved"}), nil},
		{"delete hook", http.MethodDelete, hookPath("app-1", h.Slug), nil, nil},
		{"redeliver", http.MethodPost, itemsPath("app-1", h.Slug) + "/" + itemsBefore[0].Slug + "/redeliver", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *api
			c.t = t
			// do would fail on any 5xx: this client expects one.
			r := c.doAllowing5xx(tc.method, tc.path, tc.body, tc.headers...)
			r.expectError(t, http.StatusServiceUnavailable, "event log", "try again")
			if strings.Contains(string(r.Body), "no space") || strings.Contains(string(r.Body), "/data/") {
				t.Errorf("the 503 tells the client about hookd's disk: %s", r.Body)
			}
		})
	}
	if n := log.refused.Load(); n != 5 {
		t.Errorf("%d appends refused, want 5 (one per write request)", n)
	}
	if after := s.head(); after != before {
		t.Errorf("log head moved from %d to %d while the log refused appends", before, after)
	}

	// Reads still work, and everything acknowledged is still there.
	if got := api.listHooks("app-1", ""); len(got.Data) != 1 || got.Data[0].URL != hooksBefore.Data[0].URL {
		t.Errorf("hooks while the log refuses appends: %+v, want %+v", got, hooksBefore)
	}
	itemsDuring := api.listItems("app-1", h.Slug, "?limit=200").Data
	if !sameSlugs(itemsDuring, itemsBefore) {
		t.Errorf("delivery items while the log refuses appends: %v, want %v", slugs(itemsDuring), slugs(itemsBefore))
	}
	for _, a := range acked {
		if !s.logHas(a.Sequence, a.EventID) {
			t.Errorf("acknowledged build event %s (seq %d) is not in the log", a.EventID, a.Sequence)
		}
	}

	// Once the log takes appends again, so does the API, and nothing was lost.
	log.refuse.Store(false)
	api.sendBuild("app-1", "build/finished", buildBody(5))
	itemsAfter := api.waitItems("app-1", h.Slug, 4)
	if len(itemsAfter) != 4 || !sameSlugs(itemsAfter[1:], itemsBefore) {
		t.Errorf("delivery items after recovery: %v, want a new one before %v", slugs(itemsAfter), slugs(itemsBefore))
	}
	if n := len(rc.Requests()); n != 4 {
		t.Errorf("the receiver got %d deliveries, want 4 (3 before, 1 after; none for refused requests)", n)
	}
}

// doAllowing5xx is do for a request whose answer may be a 5xx: it sends
// the body as JSON and returns the answer, whatever its status.
func (c *client) doAllowing5xx(method, path string, body any, headers ...string) *response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			c.t.Fatalf("marshal request body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatalf("new request %s %s: %v", method, path, err)
	}
	req.Header.Set("Content-Type", "application/json")
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
	return &response{method: method, path: path, Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func slugs(items []itemOut) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Slug
	}
	return out
}

func sameSlugs(a, b []itemOut) bool { return slices.Equal(slugs(a), slugs(b)) }

// logHas reports whether the log holds the event id at seq.
func (s *stack) logHas(seq uint64, id string) bool {
	s.t.Helper()
	r := eventlog.NewReader(s.store, eventlog.Topic, seq)
	if !r.Next(context.Background()) {
		return false
	}
	e := r.Entry()
	return e.Seq == seq && e.UUID == id
}
