package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/transport/httpapi"
)

// rawDo sends target exactly as written on the request line, bypassing any
// normalisation by Go's client, and returns the answer with its body read.
func (c *client) rawDo(method, target, body string) *response {
	c.t.Helper()
	u, err := url.Parse(c.base)
	if err != nil {
		c.t.Fatalf("parse base %q: %v", c.base, err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		c.t.Fatalf("dial %s: %v", u.Host, err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(waitLimit)); err != nil {
		c.t.Fatal(err)
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, u.Host)
	for k, vs := range c.header {
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", k, v)
		}
	}
	if body != "" {
		fmt.Fprintf(&req, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n" + body)
	if _, err := conn.Write(req.Bytes()); err != nil {
		c.t.Fatalf("%s %s: write: %v", method, target, err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("%s %s: read response: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return &response{method: method, path: target, Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Path cleaning would answer these with a redirect to another resource, or
// serve them as another path; a write method redirected elsewhere is a
// hazard. They are refused instead: 404 (or 400) with the JSON error body,
// for every method, and nothing is written.
func TestOddPathsAreRefusedWithJSONAndNeverRedirected(t *testing.T) {
	s := newStack(t)
	h := s.api.createHook("app-1", map[string]any{"url": "https://example.com/", "events": []string{"all"}})
	hook := hookPath("app-1", h.Slug)
	hooks := hooksPath("app-1")

	targets := []string{
		hooks + "/%2e%2e/x",
		hooks + "/%2E%2E/x",
		hooks + "/.%2e/x",
		hooks + "/x/../" + h.Slug,
		hooks + "/x/%2e%2e/" + h.Slug,
		hooks + "/x/%2E%2e/" + h.Slug + "/delivery-items",
		hooks + "/.",
		hooks + "/..",
		hooks + "/%2e",
		hooks + "/./" + h.Slug,
		hooks + "//" + h.Slug,
		hooks + "//",
		"/v0.1/apps/app-1/./outgoing-webhooks",
		"/v0.1/apps/app-1/%2e/outgoing-webhooks",
		"/v0.1/apps/app-1/../app-1/outgoing-webhooks",
		"/v0.1/apps/./app-1/outgoing-webhooks?limit=1",
		"/v0.1//apps/app-1/outgoing-webhooks",
		"/v0.1/apps//app-1/outgoing-webhooks",
		"//v0.1/apps/app-1/outgoing-webhooks",
		"/v0.1/./apps/app-1/outgoing-webhooks",
		"/v0.1/../v0.1/apps/app-1/outgoing-webhooks",
		"/x/../v0.1/apps/app-1/outgoing-webhooks",
		"/v0.1/apps/app-1/build-events/.",
		"/v0.1/apps/app-1/build-events/..",
		"/v0.1/apps/app-1/build-events/%2e%2e",
		hook + "/.",
		hook + "/..",
		hook + "//delivery-items",
		hook + "/delivery-items/.",
		hook + "/delivery-items/..",
		hook + "/delivery-items/x/redeliver/..",
		hook + "/redeliver-failed/.",
		hook + "/redeliver-failed/%2e%2e/",
		// An encoded slash is part of a segment, not a separator: this
		// names no route, and is not the delivery-items list.
		hook + "%2Fdelivery-items",
		hooks + "%2F" + h.Slug,
		// The absolute form of the request target.
		s.api.base + "/v0.1/apps/app-1/./outgoing-webhooks",
		s.api.base + hooks + "/x/../" + h.Slug,
	}
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}
	body := `{"url":"https://example.com/other","events":["all"]}`

	before := s.head()
	for _, target := range targets {
		for _, method := range methods {
			t.Run(method+" "+target, func(t *testing.T) {
				r := s.api.rawDo(method, target, body)
				if r.Status >= 300 && r.Status < 400 {
					t.Fatalf("status %d (Location %q), want no redirect", r.Status, r.Header.Get("Location"))
				}
				if loc := r.Header.Get("Location"); loc != "" {
					t.Errorf("answer has Location %q", loc)
				}
				if r.Status != http.StatusNotFound && r.Status != http.StatusBadRequest {
					t.Fatalf("status %d, want 404 or 400; body %s", r.Status, r.Body)
				}
				r.expectError(t, r.Status)
			})
		}
	}
	if after := s.head(); after != before {
		t.Errorf("log head moved from %d to %d: an odd path wrote something", before, after)
	}

	// The hook the odd paths pointed at is untouched.
	var got struct{ Data hookOut }
	s.api.rawDo(http.MethodGet, hook, "").expect(t, http.StatusOK).decode(t, &got)
	if got.Data.URL != h.URL {
		t.Errorf("hook after the odd paths: %+v, want %+v", got.Data, h)
	}
}

// Refusing odd paths does not refuse ordinary ones, inside /v0.1 or out.
func TestCleanPathsInAndOutsideTheAPIAreServed(t *testing.T) {
	s := newStack(t)
	api := s.serve(func(c *httpapi.Config) {
		c.UI = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprintf(w, "ui %s", r.URL.Path)
		})
		c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "metrics")
		})
	})
	h := api.createHook("app-1", map[string]any{"url": "https://example.com/", "events": []string{"all"}})

	for _, tc := range []struct {
		method, target string
		status         int
		body           string // contained in the answer
	}{
		{http.MethodGet, "/", http.StatusOK, "ui /"},
		{http.MethodGet, "/assets/app.js", http.StatusOK, "ui /assets/app.js"},
		{http.MethodGet, "/readyz", http.StatusOK, `"ready"`},
		{http.MethodGet, "/healthz", http.StatusOK, `"ok"`},
		{http.MethodGet, "/metrics", http.StatusOK, "metrics"},
		{http.MethodGet, "/openapi.json", http.StatusOK, `"openapi"`},
		{http.MethodGet, hooksPath("app-1"), http.StatusOK, h.Slug},
		{http.MethodGet, hooksPath("app-1") + "?limit=1", http.StatusOK, h.Slug},
		{http.MethodGet, hookPath("app-1", h.Slug), http.StatusOK, h.Slug},
		// A percent-encoded unreserved character is that character.
		{http.MethodGet, "/v0.1/apps/app%2D1/outgoing-webhooks/" + h.Slug, http.StatusOK, h.Slug},
		{http.MethodGet, itemsPath("app-1", h.Slug), http.StatusOK, `"data"`},
		// Dots inside a segment are part of a name, not a dot segment.
		{http.MethodGet, hooksPath("app.1..x"), http.StatusOK, `"data"`},
		{http.MethodGet, "/v0.1/apps/app-1/outgoing-webhooks/a..b", http.StatusNotFound, `"message"`},
	} {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			r := api.rawDo(tc.method, tc.target, "")
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.Status, tc.status, r.Body)
			}
			if !strings.Contains(string(r.Body), tc.body) {
				t.Errorf("body %s does not contain %s", r.Body, tc.body)
			}
			if strings.HasPrefix(tc.target, "/v0.1/") && !json.Valid(r.Body) {
				t.Errorf("API answer is not JSON: %s", r.Body)
			}
		})
	}
}
