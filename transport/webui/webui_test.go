package webui_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/hookd/hookd/transport/webui"
)

func get(t *testing.T, h http.Handler, method, path string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerServesEachFileWithItsTypeAndSecurityHeaders(t *testing.T) {
	h := webui.Handler()
	for _, tc := range []struct{ path, contentType, contains string }{
		{"/", "text/html; charset=utf-8", "<title>hookd"},
		{"/assets/app.css", "text/css; charset=utf-8", ".status"},
		{"/assets/app.js", "text/javascript; charset=utf-8", "sessionStorage"},
		{"/assets/icon.svg", "image/svg+xml", "<svg"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp := get(t, h, http.MethodGet, tc.path, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			want := map[string]string{
				"Content-Type":            tc.contentType,
				"Content-Security-Policy": webui.ContentSecurityPolicy,
				"X-Content-Type-Options":  "nosniff",
				"Cache-Control":           "no-cache",
			}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if resp.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}
			if b := body(t, resp); !strings.Contains(b, tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
		})
	}
}

func TestHandlerAnswersRevalidationWith304(t *testing.T) {
	h := webui.Handler()
	etag := get(t, h, http.MethodGet, "/assets/app.js", nil).Header.Get("ETag")
	resp := get(t, h, http.MethodGet, "/assets/app.js", map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified {
		t.Fatalf("status %d, want 304", resp.StatusCode)
	}
}

func TestHandlerHeadHasNoBody(t *testing.T) {
	resp := get(t, webui.Handler(), http.MethodHead, "/", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if b := body(t, resp); b != "" {
		t.Fatalf("HEAD body %q, want empty", b)
	}
}

func TestHandlerRefusesUnknownPathsAndMethods(t *testing.T) {
	h := webui.Handler()
	for _, path := range []string{"/assets/", "/assets/nope.js", "/assets/index.html", "/assets/../webui.go", "/assets/a/b.js", "/other"} {
		if resp := get(t, h, http.MethodGet, path, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
		}
	}
	if resp := get(t, h, http.MethodPost, "/", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: status %d, want 405", resp.StatusCode)
	}
}

func TestContentSecurityPolicyAllowsOnlyThisOrigin(t *testing.T) {
	csp := webui.ContentSecurityPolicy
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "data:", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP allows %q: %s", bad, csp)
		}
	}
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP lacks %q: %s", want, csp)
		}
	}
}

// The page loads nothing from elsewhere and has no inline script or style,
// which the CSP would block anyway.
func TestPageLoadsOnlyItsOwnAssets(t *testing.T) {
	html := body(t, get(t, webui.Handler(), http.MethodGet, "/", nil))
	refs := regexp.MustCompile(`(?i)\s(?:src|href)="([^"]*)"`).FindAllStringSubmatch(html, -1)
	if len(refs) == 0 {
		t.Fatal("no src or href found")
	}
	for _, m := range refs {
		if !strings.HasPrefix(m[1], "/assets/") {
			t.Errorf("page refers to %q, want only /assets/...", m[1])
		}
	}
	for _, bad := range []string{"<style", " style=", "<script>", " onclick=", " onload="} {
		if strings.Contains(html, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
}

// The script builds the DOM from text nodes only: API data never becomes HTML.
func TestScriptNeverParsesHTML(t *testing.T) {
	js := body(t, get(t, webui.Handler(), http.MethodGet, "/assets/app.js", nil))
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
}

// The live list reads the log's SSE stream with fetch, so that the token
// goes in the Authorization header: EventSource cannot send one, and a
// token in a URL ends up in logs and history.
func TestScriptFollowsTheLogWithTheTokenInAHeader(t *testing.T) {
	js := body(t, get(t, webui.Handler(), http.MethodGet, "/assets/app.js", nil))
	for _, want := range []string{"'/v0.1/log/entries'", "text/event-stream", "Last-Event-ID", "getReader()", "Authorization"} {
		if !strings.Contains(js, want) {
			t.Errorf("app.js lacks %q", want)
		}
	}
	for _, bad := range []string{"new EventSource", "token=", "access_token"} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js uses %q", bad)
		}
	}
}

// Every form control has a name a screen reader can read: a <label for>,
// an enclosing <label>, or aria-label.
func TestEveryControlOnThePageIsLabelled(t *testing.T) {
	html := body(t, get(t, webui.Handler(), http.MethodGet, "/", nil))
	controls := regexp.MustCompile(`<(?:input|select|textarea)\b[^>]*>`)
	id := regexp.MustCompile(`\bid="([^"]+)"`)
	n := 0
	for _, loc := range controls.FindAllStringIndex(html, -1) {
		tag := html[loc[0]:loc[1]]
		n++
		before := html[:loc[0]]
		enclosed := strings.LastIndex(before, "<label") > strings.LastIndex(before, "</label>")
		var forLabel bool
		if m := id.FindStringSubmatch(tag); m != nil {
			forLabel = strings.Contains(html, `for="`+m[1]+`"`)
		}
		if !enclosed && !forLabel && !strings.Contains(tag, "aria-label=") {
			t.Errorf("control without a label: %s", tag)
		}
	}
	if n < 8 {
		t.Fatalf("found %d controls; the pattern is broken", n)
	}
}
