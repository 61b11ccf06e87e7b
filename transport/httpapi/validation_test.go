package httpapi_test

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/hookd/hookd/transport/httpapi"
	"github.com/hookd/hookd/transport/webhook"
)

// hookBody is a valid hook body with the given fields replaced; a nil
// value removes the field.
func hookBody(over map[string]any) map[string]any {
	b := map[string]any{"url": "https://example.com/hook", "events": []string{"all"}}
	for k, v := range over {
		if v == nil {
			delete(b, k)
			continue
		}
		b[k] = v
	}
	return b
}

func TestHookValidationRejectsBadInputNamingTheField(t *testing.T) {
	s := newStack(t)
	existing := s.api.createHook("app-1", hookBody(nil))
	cases := []struct {
		name  string
		body  any
		field string
	}{
		{"missing url", hookBody(map[string]any{"url": nil}), "url"},
		{"empty url", hookBody(map[string]any{"url": ""}), "url"},
		{"relative url", hookBody(map[string]any{"url": "/hook"}), "url"},
		{"ftp url", hookBody(map[string]any{"url": "ftp://example.com/hook"}), "url"},
		{"url without host", hookBody(map[string]any{"url": "http:///hook"}), "url"},
		{"url with credentials", hookBody(map[string]any{"url": "https://u:p@example.com/"}), "url"},
		{"missing events", hookBody(map[string]any{"events": nil}), "events"},
		{"empty events", hookBody(map[string]any{"events": []string{}}), "events"},
		{"unknown event", hookBody(map[string]any{"events": []string{"build/started"}}), "events"},
		{"reserved Content-Type header", hookBody(map[string]any{"headers": map[string]string{"Content-Type": "text/plain"}}), "headers"},
		{"reserved header in lower case", hookBody(map[string]any{"headers": map[string]string{"content-type": "text/plain"}}), "headers"},
		{"reserved Bitrise-Event-Type header", hookBody(map[string]any{"headers": map[string]string{"Bitrise-Event-Type": "x"}}), "headers"},
		{"reserved signature header", hookBody(map[string]any{"headers": map[string]string{"bitrise-hook-signature": "x"}}), "headers"},
		{"invalid header name", hookBody(map[string]any{"headers": map[string]string{"Bad Name": "x"}}), "headers"},
		{"header value with newline", hookBody(map[string]any{"headers": map[string]string{"X-A": "a\r\nB: c"}}), "headers"},
		{"events as string", hookBody(map[string]any{"events": "all"}), "events"},
		{"headers as array", hookBody(map[string]any{"headers": []string{"X-A"}}), "headers"},
		{"url as number", hookBody(map[string]any{"url": 42}), "url"},
		{"secret as number", hookBody(map[string]any{"secret": 42}), "secret"},
		{"header value as number", hookBody(map[string]any{"headers": map[string]any{"X-A": 1}}), "headers"},
		{"malformed JSON", `{"url": "https://example.com/",`, ""},
		{"not JSON", `url=https://example.com/`, ""},
		{"empty body", ``, ""},
		{"array body", `[]`, ""},
		{"two objects", `{"url":"https://example.com/","events":["all"]} {}`, ""},
	}
	for _, method := range []string{http.MethodPost, http.MethodPut} {
		path := hooksPath("app-1")
		if method == http.MethodPut {
			path = hookPath("app-1", existing.Slug)
		}
		for _, tc := range cases {
			t.Run(method+" "+tc.name, func(t *testing.T) {
				before := s.head()
				var words []string
				if tc.field != "" {
					words = append(words, tc.field)
				}
				s.api.do(method, path, tc.body).expectError(t, http.StatusBadRequest, words...)
				if after := s.head(); after != before {
					t.Errorf("log head moved from %d to %d on a rejected request", before, after)
				}
			})
		}
	}
	// Nothing rejected reached the hooks.
	l := s.api.listHooks("app-1", "")
	if l.Paging.TotalItemCount != 1 || l.Data[0].URL != existing.URL {
		t.Errorf("hooks after rejected requests = %+v", l)
	}
}

func TestHookValidationRejectsBadAppSlug(t *testing.T) {
	s := newStack(t)
	before := s.head()
	s.api.do(http.MethodPost, hooksPath("bad%20app"), hookBody(nil)).expectError(t, http.StatusBadRequest, "app-slug")
	if after := s.head(); after != before {
		t.Errorf("log head moved from %d to %d", before, after)
	}
}

func TestBodyOverOneMiBIsRejectedWith413(t *testing.T) {
	s := newStack(t)
	h := s.api.createHook("app-1", hookBody(nil))
	big := paddedHookBody(httpapi.MaxBodyBytes + 1)
	for _, tc := range []struct {
		name, method, path string
		headers            []string
	}{
		{"create hook", http.MethodPost, hooksPath("app-1"), nil},
		{"update hook", http.MethodPut, hookPath("app-1", h.Slug), nil},
		{"build event", http.MethodPost, buildEventsPath("app-1"), []string{"Bitrise-Event-Type", "build/triggered"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.head()
			s.api.do(tc.method, tc.path, big, tc.headers...).expectError(t, http.StatusRequestEntityTooLarge, "1 MiB")
			if after := s.head(); after != before {
				t.Errorf("log head moved from %d to %d", before, after)
			}
		})
	}
}

func TestBodyOfExactlyOneMiBIsAccepted(t *testing.T) {
	s := newStack(t)
	var out struct{ Data hookOut }
	s.api.do(http.MethodPost, hooksPath("app-1"), paddedHookBody(httpapi.MaxBodyBytes)).
		expect(t, http.StatusOK).decode(t, &out)
	if n := len(out.Data.Headers["X-Pad"]); n == 0 {
		t.Errorf("padding header lost")
	}
}

// paddedHookBody is a valid hook body of exactly n bytes.
func paddedHookBody(n int) string {
	const head, tail = `{"url":"https://example.com/","events":["all"],"headers":{"X-Pad":"`, `"}}`
	return head + strings.Repeat("a", n-len(head)-len(tail)) + tail
}

// stubResolver answers lookups from a fixed table; other names do not exist.
type stubResolver map[string][]netip.Addr

func (r stubResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestTargetGuardRefusesPrivateAddressLiterals(t *testing.T) {
	s := newStack(t)
	guarded := s.serve(func(c *httpapi.Config) { c.Targets = webhook.TargetGuard{AllowPrivate: false} })
	h := guarded.createHook("app-1", hookBody(map[string]any{"url": "https://93.184.216.34/hook"}))
	for _, u := range []string{
		"http://127.0.0.1/",
		"http://127.0.0.1:8080/hook",
		"http://[::1]/",
		"http://10.0.0.1/",
		"http://192.168.1.1/",
		"http://169.254.169.254/latest/meta-data",
		"http://0.0.0.0/",
	} {
		t.Run(u, func(t *testing.T) {
			before := s.head()
			guarded.do(http.MethodPost, hooksPath("app-1"), hookBody(map[string]any{"url": u})).
				expectError(t, http.StatusBadRequest, "url")
			guarded.do(http.MethodPut, hookPath("app-1", h.Slug), hookBody(map[string]any{"url": u})).
				expectError(t, http.StatusBadRequest, "url")
			if after := s.head(); after != before {
				t.Errorf("log head moved from %d to %d", before, after)
			}
		})
	}
	// The permissive router of the same stack accepts them.
	s.api.createHook("app-1", hookBody(map[string]any{"url": "http://127.0.0.1/"}))
}

func TestTargetGuardRefusesNamesResolvingToPrivateAddresses(t *testing.T) {
	s := newStack(t)
	resolver := stubResolver{
		"internal.example": {netip.MustParseAddr("10.1.2.3")},
		"mixed.example":    {netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("127.0.0.1")},
		"public.example":   {netip.MustParseAddr("93.184.216.34")},
	}
	guarded := s.serve(func(c *httpapi.Config) { c.Targets = webhook.TargetGuard{Resolver: resolver} })

	before := s.head()
	guarded.do(http.MethodPost, hooksPath("app-1"), hookBody(map[string]any{"url": "https://internal.example/hook"})).
		expectError(t, http.StatusBadRequest, "url", "internal.example")
	guarded.do(http.MethodPost, hooksPath("app-1"), hookBody(map[string]any{"url": "https://mixed.example/hook"})).
		expectError(t, http.StatusBadRequest, "url")
	if after := s.head(); after != before {
		t.Errorf("log head moved from %d to %d", before, after)
	}

	h := guarded.createHook("app-1", hookBody(map[string]any{"url": "https://public.example/hook"}))
	if h.URL != "https://public.example/hook" {
		t.Errorf("created %+v", h)
	}
}
