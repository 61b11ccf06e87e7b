package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/hookd/hookd/internal/testkit"
)

// Shapes of the API's answers, as a client decodes them.

type hookOut struct {
	Slug      string            `json:"slug"`
	URL       string            `json:"url"`
	Events    []string          `json:"events"`
	Headers   map[string]string `json:"headers"`
	Masked    []string          `json:"masked_headers"`
	HasSecret bool              `json:"has_secret"`
	CreatedAt string            `json:"created_at"`
	UpdatedAt string            `json:"updated_at"`
	DeletedAt *string           `json:"deleted_at"`
}

type pagingOut struct {
	TotalItemCount int     `json:"total_item_count"`
	PageItemLimit  int     `json:"page_item_limit"`
	Next           *string `json:"next"`
}

type hookList struct {
	Data   []hookOut `json:"data"`
	Paging pagingOut `json:"paging"`
}

type itemOut struct {
	Slug               string  `json:"slug"`
	CreatedAt          string  `json:"created_at"`
	UpdatedAt          string  `json:"updated_at"`
	EventType          string  `json:"event_type"`
	RequestURL         string  `json:"request_url"`
	RequestHeaders     string  `json:"request_headers"`
	RequestPayload     string  `json:"request_payload"`
	ResponseHTTPStatus *int    `json:"response_http_status"`
	ResponseHeaders    *string `json:"response_headers"`
	ResponseBody       *string `json:"response_body"`
	ResponseSeconds    *int64  `json:"response_seconds"`
	ResponseMS         *int64  `json:"response_ms"`
	Error              *string `json:"error"`
	RedeliveryOf       *string `json:"redelivery_of"`
	BuildEventID       string  `json:"build_event_id"`
	Status             string  `json:"status"`
	BuildSlug          string  `json:"build_slug"`
	BuildEventSequence uint64  `json:"build_event_sequence"`
	RequestSequence    uint64  `json:"request_sequence"`
	AttemptSequence    uint64  `json:"attempt_sequence"`
	Test               bool    `json:"test"`
}

type itemList struct {
	Data   []itemOut `json:"data"`
	Paging pagingOut `json:"paging"`
}

func hooksPath(app string) string { return "/v0.1/apps/" + app + "/outgoing-webhooks" }

func hookPath(app, hook string) string { return hooksPath(app) + "/" + hook }

func itemsPath(app, hook string) string { return hookPath(app, hook) + "/delivery-items" }

func buildEventsPath(app string) string { return "/v0.1/apps/" + app + "/build-events" }

// createHook configures a hook and returns it as the API answered.
func (c *client) createHook(app string, body map[string]any) hookOut {
	c.t.Helper()
	var out struct{ Data hookOut }
	c.do(http.MethodPost, hooksPath(app), body).expect(c.t, http.StatusOK).decode(c.t, &out)
	if out.Data.Slug == "" {
		c.t.Fatalf("created hook has no slug")
	}
	return out.Data
}

// listHooks returns one page of an app's hooks.
func (c *client) listHooks(app, query string) hookList {
	c.t.Helper()
	var out hookList
	c.do(http.MethodGet, hooksPath(app)+query, nil).expect(c.t, http.StatusOK).decode(c.t, &out)
	return out
}

// listItems returns one page of a hook's delivery items.
func (c *client) listItems(app, hook, query string) itemList {
	c.t.Helper()
	var out itemList
	c.do(http.MethodGet, itemsPath(app, hook)+query, nil).expect(c.t, http.StatusOK).decode(c.t, &out)
	return out
}

// buildBody is a build event body for build number n.
func buildBody(n int) map[string]any {
	return map[string]any{
		"build_slug":               fmt.Sprintf("build-%d", n),
		"build_number":             n,
		"build_status":             0,
		"build_triggered_workflow": "primary",
		"git":                      map[string]any{"provider": "github", "src_branch": "main"},
	}
}

type accepted struct {
	EventID  string `json:"event_id"`
	Sequence uint64 `json:"sequence"`
}

// sendBuild posts a build event and returns what the API accepted.
func (c *client) sendBuild(app, eventType string, body any) accepted {
	c.t.Helper()
	var out struct{ Data accepted }
	c.do(http.MethodPost, buildEventsPath(app), body, "Bitrise-Event-Type", eventType).
		expect(c.t, http.StatusAccepted).decode(c.t, &out)
	return out.Data
}

// waitItems polls the hook's delivery items until there are at least n,
// and returns the first page (newest first).
func (c *client) waitItems(app, hook string, n int) []itemOut {
	c.t.Helper()
	var list itemList
	testkit.WaitUntil(c.t, waitLimit, fmt.Sprintf("%d delivery items of hook %s", n, hook), func() bool {
		list = c.listItems(app, hook, "?limit=200")
		return len(list.Data) >= n
	})
	return list.Data
}

// buildEventOut is a build event as GET .../build-events answers it.
type buildEventOut struct {
	EventID    string          `json:"event_id"`
	Sequence   uint64          `json:"sequence"`
	EventType  string          `json:"event_type"`
	ReceivedAt string          `json:"received_at"`
	Payload    json.RawMessage `json:"payload"`
	Deliveries []struct {
		HookSlug        string `json:"hook_slug"`
		DeliveryID      string `json:"delivery_id"`
		RequestSequence uint64 `json:"request_sequence"`
		Items           []struct {
			Slug               string  `json:"slug"`
			ResponseHTTPStatus *int    `json:"response_http_status"`
			Error              *string `json:"error"`
			CreatedAt          string  `json:"created_at"`
			RedeliveryOf       *string `json:"redelivery_of"`
			Status             string  `json:"status"`
			RequestSequence    uint64  `json:"request_sequence"`
			AttemptSequence    uint64  `json:"attempt_sequence"`
		} `json:"items"`
	} `json:"deliveries"`
}

type buildEventList struct {
	Data   []buildEventOut
	Paging pagingOut
}

func (c *client) listBuildEvents(app, query string) buildEventList {
	c.t.Helper()
	var out buildEventList
	c.do(http.MethodGet, buildEventsPath(app)+query, nil).expect(c.t, http.StatusOK).decode(c.t, &out)
	return out
}

func (c *client) buildEvent(app, id string) buildEventOut {
	c.t.Helper()
	var out struct{ Data buildEventOut }
	c.do(http.MethodGet, buildEventsPath(app)+"/"+id, nil).expect(c.t, http.StatusOK).decode(c.t, &out)
	return out.Data
}

// waitBuildEvent waits until the build event has items for n hooks.
func (c *client) waitBuildEvent(app, id string, n int) buildEventOut {
	c.t.Helper()
	var b buildEventOut
	testkit.WaitUntil(c.t, waitLimit, fmt.Sprintf("build event %s attempted to %d hooks", id, n), func() bool {
		b = c.buildEvent(app, id)
		done := 0
		for _, d := range b.Deliveries {
			if len(d.Items) > 0 {
				done++
			}
		}
		return done >= n
	})
	return b
}
