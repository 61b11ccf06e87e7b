package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"

	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/transport/httpapi"
	"github.com/hookd/hookd/transport/webhook"
)

// hostileCase is one request a client should not be able to hurt hookd with.
type hostileCase struct {
	name         string
	method, path string
	body         any      // nil, string or []byte, sent as is
	headers      []string // name, value pairs; a body is sent as application/json unless overridden
	want         int      // the status; 0: any status below 500
	words        []string // the error message mentions each
}

// nested is a JSON value nested depth levels deep.
func nested(depth int, open, close string) string {
	return strings.Repeat(open, depth) + strings.Repeat(close, depth)
}

func TestHostileRequestsNeverGet5xxAndRejectedOnesWriteNothing(t *testing.T) {
	s := newStack(t)
	h := s.api.createHook("app-1", hookBody(nil))
	s.api.sendBuild("app-1", "build/finished", buildBody(1))
	item := s.api.waitItems("app-1", h.Slug, 1)[0]
	hook, items := hookPath("app-1", h.Slug), itemsPath("app-1", h.Slug)
	// Requests that are accepted go to an app without hooks, so that no
	// delivery attempt moves the log head while the others are checked.
	const quiet = "app-quiet"

	huge := strings.Repeat("a", 64<<10)
	validHook := `{"url":"https://example.com/hook","events":["all"]}`
	validBuild := `{"build_slug":"b-1","build_number":1,"build_status":0}`
	buildType := []string{"Bitrise-Event-Type", "build/finished"}
	deepHookURL := `{"url":` + nested(10_000, "[", "]") + `,"events":["all"]}`
	deepUnknownField := `{"url":"https://example.com/","events":["all"],"x":` + nested(100_000, "[", "]") + `}`
	deepBuild := `{"build_slug":"b","build_number":1,"build_status":0,"git":` + nested(10_001, `{"a":`, "}") + `}`
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(validHook))
	_ = zw.Close()

	cases := []hostileCase{
		// Slugs in the path.
		{name: "huge app slug", method: http.MethodGet, path: hooksPath(huge), want: 400, words: []string{"app-slug"}},
		{name: "huge app slug on build event", method: http.MethodPost, path: buildEventsPath(huge), body: validBuild, headers: buildType, want: 400},
		{name: "huge hook slug", method: http.MethodGet, path: hookPath("app-1", huge), want: 404},
		{name: "huge hook slug on update", method: http.MethodPut, path: hookPath("app-1", huge), body: validHook, want: 404},
		{name: "huge item slug on redeliver", method: http.MethodPost, path: items + "/" + huge + "/redeliver", want: 404},
		{name: "NUL in app slug", method: http.MethodGet, path: hooksPath("app%00"), want: 400, words: []string{"app-slug"}},
		{name: "NUL in app slug on create", method: http.MethodPost, path: hooksPath("app-1%00evil"), body: validHook, want: 400},
		{name: "NUL in app slug on build event", method: http.MethodPost, path: buildEventsPath("%00"), body: validBuild, headers: buildType, want: 400},
		{name: "NUL in hook slug", method: http.MethodGet, path: hookPath("app-1", h.Slug+"%00"), want: 404},
		{name: "NUL in hook slug on delete", method: http.MethodDelete, path: hookPath("app-1", "%00"), want: 404},
		{name: "NUL in hook slug on update", method: http.MethodPut, path: hookPath("app-1", "x%00y"), body: validHook, want: 404},
		{name: "NUL in item slug", method: http.MethodGet, path: items + "/" + item.Slug + "%00", want: 404},
		{name: "unicode app slug", method: http.MethodGet, path: hooksPath("%C3%A4pp"), want: 400},
		{name: "unicode lookalike hook slug", method: http.MethodGet, path: hookPath("app-1", "%D0%B0"+h.Slug[1:]), want: 404}, // first character replaced by a Cyrillic look-alike
		{name: "invalid UTF-8 slug", method: http.MethodGet, path: hooksPath("%ff%fe"), want: 400},
		{name: "encoded slashes in slug", method: http.MethodGet, path: hooksPath("app-1%2F..%2F..%2Fetc"), want: 0},
		{name: "path traversal", method: http.MethodGet, path: "/v0.1/apps/../../../etc/passwd/outgoing-webhooks", want: 0},
		{name: "path traversal on create", method: http.MethodPost, path: "/v0.1/apps/app-1/../app-2/outgoing-webhooks", body: validHook, want: 0},
		{name: "dot slug", method: http.MethodGet, path: hooksPath("."), want: 0},
		{name: "dot-dot item slug", method: http.MethodGet, path: items + "/..", want: 0},
		// Paging parameters.
		{name: "next=%ff", method: http.MethodGet, path: hooksPath("app-1") + "?next=%ff", want: 400, words: []string{"next"}},
		{name: "next=%00", method: http.MethodGet, path: items + "?next=%00", want: 400, words: []string{"next"}},
		{name: "huge next", method: http.MethodGet, path: items + "?next=" + huge, want: 400, words: []string{"next"}},
		{name: "next with a line break", method: http.MethodGet, path: items + "?next=" + projections.EncodeAnchor(1) + "%0A", want: 400, words: []string{"next"}},
		{name: "next padded", method: http.MethodGet, path: items + "?next=" + projections.EncodeAnchor(1) + "%3D", want: 400, words: []string{"next"}},
		{name: "limit=99999999999999999999", method: http.MethodGet, path: hooksPath("app-1") + "?limit=99999999999999999999", want: 400, words: []string{"limit"}},
		{name: "limit overflowing on items", method: http.MethodGet, path: items + "?limit=99999999999999999999", want: 400, words: []string{"limit"}},
		{name: "limit=-1", method: http.MethodGet, path: items + "?limit=-1", want: 400, words: []string{"limit"}},
		{name: "limit=0", method: http.MethodGet, path: items + "?limit=0", want: 400, words: []string{"limit"}},
		{name: "limit=1e3", method: http.MethodGet, path: items + "?limit=1e3", want: 400, words: []string{"limit"}},
		{name: "limit=%00", method: http.MethodGet, path: items + "?limit=%00", want: 400, words: []string{"limit"}},
		{name: "limit above the maximum is capped", method: http.MethodGet, path: items + "?limit=4294967297", want: 200},
		// JSON bodies.
		{name: "URL nested 10,000 levels", method: http.MethodPost, path: hooksPath("app-1"), body: deepHookURL, want: 400},
		{name: "unknown field nested 100,000 levels", method: http.MethodPost, path: hooksPath("app-1"), body: deepUnknownField, want: 400},
		{name: "update nested 10,000 levels", method: http.MethodPut, path: hook, body: deepHookURL, want: 400},
		{name: "build event nested 10,001 levels", method: http.MethodPost, path: buildEventsPath("app-1"), body: deepBuild, headers: buildType, want: 400},
		{name: "body that is only nesting", method: http.MethodPost, path: buildEventsPath("app-1"), body: nested(50_000, "[", "]"), headers: buildType, want: 400},
		{name: "escaped NUL in url", method: http.MethodPost, path: hooksPath("app-1"), body: `{"url":"https://example.com/\u0000","events":["all"]}`, want: 400, words: []string{"url"}},
		{name: "escaped NUL in host", method: http.MethodPost, path: hooksPath("app-1"), body: `{"url":"https://exa\u0000mple.com/","events":["all"]}`, want: 400, words: []string{"url"}},
		{name: "escaped NUL in header value", method: http.MethodPost, path: hooksPath("app-1"), body: `{"url":"https://example.com/","events":["all"],"headers":{"X-A":"a\u0000b"}}`, want: 400, words: []string{"headers"}},
		{name: "escaped NUL in header name", method: http.MethodPost, path: hooksPath("app-1"), body: `{"url":"https://example.com/","events":["all"],"headers":{"X-\u0000":"v"}}`, want: 400, words: []string{"headers"}},
		{name: "escaped NUL in event", method: http.MethodPost, path: hooksPath("app-1"), body: `{"url":"https://example.com/","events":["all\u0000"]}`, want: 400, words: []string{"events"}},
		{name: "raw NUL byte in a string", method: http.MethodPost, path: hooksPath("app-1"), body: "{\"url\":\"https://example.com/\x00\",\"events\":[\"all\"]}", want: 400},
		{name: "raw NUL byte in a build event", method: http.MethodPost, path: buildEventsPath("app-1"), body: "{\"build_slug\":\"b\x00\",\"build_number\":1,\"build_status\":0}", headers: buildType, want: 400},
		{name: "escaped NUL in build slug is data", method: http.MethodPost, path: buildEventsPath(quiet), body: `{"build_slug":"b\u0000c","build_number":1,"build_status":0}`, headers: buildType, want: 202},
		{name: "lone surrogate and invalid UTF-8", method: http.MethodPost, path: buildEventsPath(quiet), body: "{\"build_slug\":\"\\ud800\xff\",\"build_number\":1,\"build_status\":0}", headers: buildType, want: 202},
		{name: "duplicate events keys, last invalid", method: http.MethodPost, path: hooksPath("app-1"), body: `{"url":"https://example.com/","events":["all"],"events":["bogus"]}`, want: 400, words: []string{"events"}},
		{name: "duplicate build_number keys, last wrong type", method: http.MethodPost, path: buildEventsPath("app-1"), body: `{"build_slug":"b","build_number":1,"build_number":"1","build_status":0}`, headers: buildType, want: 400, words: []string{"build_number"}},
		{name: "number too big for int64", method: http.MethodPost, path: buildEventsPath("app-1"), body: `{"build_slug":"b","build_number":99999999999999999999,"build_status":0}`, headers: buildType, want: 400, words: []string{"build_number"}},
		{name: "float build number", method: http.MethodPost, path: buildEventsPath("app-1"), body: `{"build_slug":"b","build_number":1e2,"build_status":0}`, headers: buildType, want: 400, words: []string{"build_number"}},
		{name: "byte order mark", method: http.MethodPost, path: hooksPath("app-1"), body: "\xef\xbb\xbf" + validHook, want: 400},
		{name: "second JSON value", method: http.MethodPost, path: buildEventsPath("app-1"), body: validBuild + `{"build_slug":"x"}`, headers: buildType, want: 400},
		// Content types and encodings.
		{name: "form body", method: http.MethodPost, path: hooksPath("app-1"), body: "url=https%3A%2F%2Fexample.com%2F&events=all",
			headers: []string{"Content-Type", "application/x-www-form-urlencoded"}, want: 400},
		{name: "multipart body", method: http.MethodPost, path: buildEventsPath("app-1"),
			body:    "--x\r\nContent-Disposition: form-data; name=\"build_slug\"\r\n\r\nb\r\n--x--\r\n",
			headers: []string{"Content-Type", "multipart/form-data; boundary=x", "Bitrise-Event-Type", "build/finished"}, want: 400},
		{name: "UTF-16 body", method: http.MethodPost, path: hooksPath("app-1"), body: utf16le(validHook),
			headers: []string{"Content-Type", "application/json; charset=utf-16"}, want: 400},
		{name: "gzip body", method: http.MethodPost, path: hooksPath("app-1"), body: gz.Bytes(),
			headers: []string{"Content-Encoding", "gzip"}, want: 400},
		{name: "XML body", method: http.MethodPost, path: buildEventsPath("app-1"), body: `<build><slug>b</slug></build>`,
			headers: []string{"Content-Type", "application/xml", "Bitrise-Event-Type", "build/finished"}, want: 400},
		{name: "JSON sent as text/plain", method: http.MethodPost, path: hooksPath("app-without-builds"), body: validHook,
			headers: []string{"Content-Type", "text/plain"}, want: 0},
		{name: "no content type", method: http.MethodPost, path: buildEventsPath(quiet), body: validBuild,
			headers: []string{"Content-Type", "", "Bitrise-Event-Type", "build/triggered"}, want: 0},
		{name: "two event types", method: http.MethodPost, path: buildEventsPath("app-1"), body: validBuild,
			headers: []string{"Bitrise-Event-Type", "build/finished, build/triggered"}, want: 400, words: []string{"Bitrise-Event-Type"}},
		{name: "event type in another case", method: http.MethodPost, path: buildEventsPath("app-1"), body: validBuild,
			headers: []string{"Bitrise-Event-Type", "Build/Finished"}, want: 400, words: []string{"Bitrise-Event-Type"}},
		{name: "huge event type", method: http.MethodPost, path: buildEventsPath("app-1"), body: validBuild,
			headers: []string{"Bitrise-Event-Type", huge}, want: 400, words: []string{"Bitrise-Event-Type"}},
	}

	api := *s.api
	// Redirects (path cleaning) are answers to check, not to follow.
	api.http = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := api
			c.t = t
			before := s.head()
			r := c.do(tc.method, tc.path, tc.body, tc.headers...) // fails on any 5xx
			if tc.want != 0 && r.Status != tc.want {
				t.Fatalf("status %d, want %d; body %s", r.Status, tc.want, r.Body)
			}
			if r.Status >= 400 {
				r.expectError(t, r.Status, tc.words...)
			}
			if r.Status >= 300 {
				if after := s.head(); after != before {
					t.Errorf("log head moved from %d to %d on a rejected request", before, after)
				}
			}
		})
	}

	// The API still works, and nothing rejected reached the hooks.
	l := s.api.listHooks("app-1", "")
	if l.Paging.TotalItemCount < 1 || l.Data[0].Slug != h.Slug || l.Data[0].URL != h.URL {
		t.Errorf("hooks after the hostile requests: %+v", l)
	}
}

// Duplicate keys: encoding/json keeps the last, and that is the value both
// validated and stored, so a first, harmless-looking value cannot smuggle
// a second one past the checks.
func TestDuplicateJSONKeysAreValidatedAsStored(t *testing.T) {
	s := newStack(t)
	guarded := s.serve(func(c *httpapi.Config) { c.Targets = webhook.TargetGuard{Resolver: stubResolver{}} })

	before := s.head()
	guarded.do(http.MethodPost, hooksPath("app-1"),
		`{"url":"https://93.184.216.34/a","url":"http://127.0.0.1/","events":["all"]}`).
		expectError(t, http.StatusBadRequest, "url")
	if after := s.head(); after != before {
		t.Errorf("log head moved from %d to %d", before, after)
	}

	var out struct{ Data hookOut }
	guarded.do(http.MethodPost, hooksPath("app-1"),
		`{"url":"http://127.0.0.1/","url":"https://93.184.216.34/b","events":["all"],"headers":{"X-A":"1","X-A":"2"}}`).
		expect(t, http.StatusOK).decode(t, &out)
	if out.Data.URL != "https://93.184.216.34/b" || out.Data.Headers["X-A"] != "2" {
		t.Errorf("stored %+v, want the last url and header value", out.Data)
	}

	// Header names that differ only in case name one header twice.
	guarded.do(http.MethodPost, hooksPath("app-1"),
		`{"url":"https://93.184.216.34/c","events":["all"],"headers":{"x-a":"1","X-A":"2"}}`).
		expectError(t, http.StatusBadRequest, "headers")
}

// utf16le encodes an ASCII string as UTF-16LE with a byte order mark.
func utf16le(s string) []byte {
	out := []byte{0xff, 0xfe}
	for i := 0; i < len(s); i++ {
		out = append(out, s[i], 0)
	}
	return out
}
