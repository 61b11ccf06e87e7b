package httpapi

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/projections"
)

// deliveryItemJSON is a delivery item in the Bitrise shape: headers as a
// JSON object encoded in a string, the payload as the exact body string.
type deliveryItemJSON struct {
	Slug               string    `json:"slug"`
	CreatedAt          time.Time `json:"created_at"`
	UpdatedAt          time.Time `json:"updated_at"`
	EventType          string    `json:"event_type"`
	BuildEventID       *string   `json:"build_event_id"`
	RequestURL         string    `json:"request_url"`
	RequestHeaders     string    `json:"request_headers"`
	RequestPayload     string    `json:"request_payload"`
	ResponseHTTPStatus *int      `json:"response_http_status"`
	ResponseHeaders    *string   `json:"response_headers"`
	// ResponseHeadersTruncated (an extension): some headers were not kept.
	ResponseHeadersTruncated bool    `json:"response_headers_truncated"`
	ResponseBody             *string `json:"response_body"`
	// ResponseBodyEncoding (an extension): "utf-8" when response_body is
	// the text, "base64" when it is the base64 of bytes that are not text.
	ResponseBodyEncoding *string `json:"response_body_encoding"`
	ResponseTruncated    bool    `json:"response_body_truncated"`
	ResponseSeconds      *int64  `json:"response_seconds"`
	ResponseMS           *int64  `json:"response_ms"`
	Error                *string `json:"error"`
	RedeliveryOf         *string `json:"redelivery_of"`
	// RedeliveredBy (an extension): the redeliveries requested of this item.
	RedeliveredBy []string `json:"redelivered_by"`
	// Extensions linking the item to the log: the sequences of its build
	// event, of the delivery.requested or redelivery.requested that asked
	// for it (absent for attempts logged before requests were), and of its
	// delivery.attempted. Status is failed or succeeded, by the rule
	// redeliver-failed and ?status= use; BuildSlug is the build's.
	BuildEventSequence uint64 `json:"build_event_sequence,omitempty"`
	RequestSequence    uint64 `json:"request_sequence,omitempty"`
	AttemptSequence    uint64 `json:"attempt_sequence,omitempty"`
	Status             string `json:"status"`
	BuildSlug          string `json:"build_slug,omitempty"`
	// Test (an extension): a test delivery (POST .../test), not a
	// build's; its BuildEventID is null.
	Test bool `json:"test"`
	// RequestedBy (an extension): who asked for this item, {"token_id",
	// "token_name"}: the token behind a redelivery or a test, hookd itself
	// ("service") for a build event's first delivery; absent when the log
	// does not say.
	RequestedBy *domain.Actor `json:"requested_by,omitempty"`
}

func toDeliveryItemJSON(d projections.DeliveryItemView) deliveryItemJSON {
	out := deliveryItemJSON{
		Slug:               d.Slug,
		CreatedAt:          d.CreatedAt.UTC(),
		UpdatedAt:          d.CreatedAt.UTC(),
		EventType:          d.EventType,
		RequestURL:         d.RequestURL,
		RequestHeaders:     headersString(d.RequestHeaders),
		RequestPayload:     string(d.RequestPayload),
		ResponseHTTPStatus: d.ResponseStatus,
		ResponseBody:       d.ResponseBody,
		ResponseTruncated:  d.ResponseTruncated,
		RedeliveredBy:      append([]string{}, d.RedeliveredBy...),
		BuildEventSequence: d.BuildEventSeq,
		RequestSequence:    d.RequestSeq,
		AttemptSequence:    d.Seq,
		Status:             d.Status(),
		BuildSlug:          d.BuildSlug,
		Test:               d.Test,
		RequestedBy:        d.RequestedBy,
	}
	if !d.Test {
		id := d.BuildEventID
		out.BuildEventID = &id
	}
	if d.ResponseStatus != nil {
		h := headersString(flatten(d.ResponseHeaders))
		ms, s := d.DurationMS, d.DurationMS/1000
		out.ResponseHeaders, out.ResponseMS, out.ResponseSeconds = &h, &ms, &s
		out.ResponseHeadersTruncated = d.ResponseHeadersTruncated
		enc := bodyEncodingUTF8
		if d.ResponseBodyEncoding != "" {
			enc = d.ResponseBodyEncoding
		}
		out.ResponseBodyEncoding = &enc
	}
	if d.Error != "" {
		e := d.Error
		out.Error = &e
	}
	if d.RedeliveryOf != "" {
		o := d.RedeliveryOf
		out.RedeliveryOf = &o
	}
	return out
}

// bodyEncodingUTF8 names, in the API, a response body stored as text
// (domain.Response.BodyEncoding "").
const bodyEncodingUTF8 = "utf-8"

// headersString encodes headers as a JSON object in a string, keys sorted.
func headersString(h map[string]string) string {
	if h == nil {
		h = map[string]string{}
	}
	b, _ := json.Marshal(h)
	return string(b)
}

// flatten joins repeated response headers with ", " (RFC 9110, 5.3).
func flatten(h map[string][]string) map[string]string {
	out := make(map[string]string, len(h))
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out[k] = strings.Join(h[k], ", ")
	}
	return out
}

// listDeliveryItems lists a hook's delivery items, newest first, filtered
// by ?status, ?build_slug, ?since and ?until. A removed hook's items stay
// listed.
func (a *api) listDeliveryItems(w http.ResponseWriter, r *http.Request) error {
	_, h, err := a.hookFromPathIncludingDeleted(r)
	if err != nil {
		return err
	}
	anchor, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	f, err := itemFilter(r)
	if err != nil {
		return err
	}
	page, err := a.Views.ListDeliveryItemsFiltered(h.Slug, f, anchor, limit)
	if err != nil {
		return err
	}
	writePage(w, page, limit, toDeliveryItemJSON)
	return nil
}

// itemFromPath returns the hook and delivery item the path names; the
// hook may be a removed one only if deleted says so.
func (a *api) itemFromPath(r *http.Request, deleted bool) (projections.HookView, projections.DeliveryItemView, error) {
	find := a.hookFromPath
	if deleted {
		find = a.hookFromPathIncludingDeleted
	}
	_, h, err := find(r)
	if err != nil {
		return h, projections.DeliveryItemView{}, err
	}
	slug, err := pathSlug(r, "item-slug", domain.ErrDeliveryNotFound)
	if err != nil {
		return h, projections.DeliveryItemView{}, err
	}
	d, err := a.Views.DeliveryItem(h.Slug, slug)
	return h, d, err
}

// getDeliveryItem answers one delivery item, of a removed hook too.
func (a *api) getDeliveryItem(w http.ResponseWriter, r *http.Request) error {
	_, d, err := a.itemFromPath(r, true)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dataResponse{Data: toDeliveryItemJSON(d)})
	return nil
}

type redeliverResponse struct {
	Message string         `json:"message"`
	Data    map[string]any `json:"data"`
}

// redeliver asks for the item's payload to be sent again, to the hook's
// current URL and headers, as a new item linked to this one.
func (a *api) redeliver(w http.ResponseWriter, r *http.Request) error {
	h, d, err := a.itemFromPath(r, false)
	if err != nil {
		return err
	}
	if len(d.RequestPayload) == 0 {
		return &domain.FieldError{Field: "item-slug", Message: "this item has no payload to send again"}
	}
	if d.Test {
		return &domain.FieldError{Field: "item-slug", Message: "this item is a test delivery, which is not redelivered; POST .../test sends a new one"}
	}
	ev := domain.RedeliveryRequested{
		DeliveryID: a.NewID(), OriginalDeliveryID: d.Slug, HookSlug: h.Slug, AppSlug: h.AppSlug,
		BuildEventID: d.BuildEventID, EventType: d.EventType, Payload: d.RequestPayload, RequestedAt: a.Now(),
		Actor: actorOf(r),
	}
	if _, err := a.append(r.Context(), a.NewID(), ev); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, redeliverResponse{Message: "redelivery requested", Data: map[string]any{"slug": ev.DeliveryID}})
	return nil
}
