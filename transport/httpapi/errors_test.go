package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/hookd/hookd/internal/service"
	"github.com/hookd/hookd/transport/httpapi"
)

func TestAPITokenIsRequiredWhenConfigured(t *testing.T) {
	s := newStack(t, func(c *service.Config) { c.APIToken = "t0k" })
	anon := s.api
	rc := newReceiver(t, http.StatusOK)

	before := s.head()
	for _, tc := range []struct{ name, auth string }{
		{"no header", ""},
		{"wrong token", "nope"},
		{"wrong bearer token", "Bearer nope"},
		{"token as prefix", "t0kk"},
		{"empty bearer", "Bearer "},
		{"wrong token, upper-case scheme", "BEARER nope"},
		{"wrong token, token scheme", "TOKEN nope"},
		{"another scheme", "Basic t0k"},
		{"scheme glued to the token", "bearert0k"},
		{"token in the wrong case", "Bearer T0K"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := anon
			if tc.auth != "" {
				c = anon.withHeader("Authorization", tc.auth)
			}
			c.do(http.MethodGet, hooksPath("app-1"), nil).expectError(t, http.StatusUnauthorized, "token")
			c.do(http.MethodPost, hooksPath("app-1"), hookBody(nil)).expectError(t, http.StatusUnauthorized, "token")
			c.do(http.MethodPost, buildEventsPath("app-1"), buildBody(1), "Bitrise-Event-Type", "build/triggered").
				expectError(t, http.StatusUnauthorized, "token")
		})
	}
	if after := s.head(); after != before {
		t.Errorf("log head moved from %d to %d on unauthorized requests", before, after)
	}

	// The scheme is case-insensitive (RFC 9110, section 11.1); the token is not.
	for i, auth := range []string{"t0k", "Bearer t0k", "token t0k", "BEARER t0k", "bearer t0k", "Token t0k", "TOKEN t0k", "bEaReR   t0k", "Bearer\tt0k"} {
		t.Run(auth, func(t *testing.T) {
			c := anon.withHeader("Authorization", auth)
			c.do(http.MethodGet, hooksPath("app-1"), nil).expect(t, http.StatusOK)
			h := c.createHook("app-1", hookBody(map[string]any{"url": rc.URL() + "/"}))
			c.do(http.MethodGet, hookPath("app-1", h.Slug), nil).expect(t, http.StatusOK)
			c.do(http.MethodGet, itemsPath("app-1", h.Slug), nil).expect(t, http.StatusOK)
			c.sendBuild("app-1", "build/triggered", buildBody(i+1)) // a new build each time: a repeat would be a 200
		})
	}
}

func TestUnknownRouteIsNotFoundJSON(t *testing.T) {
	s := newStack(t)
	// The API alone: the service's router serves the web page at "/".
	api := s.serve(func(c *httpapi.Config) { c.UI = nil })
	for _, p := range []string{"/", "/nope", "/v0.1", "/v0.1/apps/app-1", "/v0.1/apps/app-1/unknown", "/v1/apps/app-1/outgoing-webhooks"} {
		t.Run(p, func(t *testing.T) {
			api.do(http.MethodGet, p, nil).expectError(t, http.StatusNotFound, "not found")
		})
	}
}

func TestWrongMethodIsMethodNotAllowedJSON(t *testing.T) {
	s := newStack(t)
	h := s.api.createHook("app-1", hookBody(nil))
	for _, tc := range []struct{ method, path string }{
		{http.MethodPatch, hooksPath("app-1")},
		{http.MethodDelete, hooksPath("app-1")},
		{http.MethodPost, hookPath("app-1", h.Slug)},
		{http.MethodPut, buildEventsPath("app-1")},
		{http.MethodPost, buildEventsPath("app-1") + "/some-event"},
		{http.MethodPut, itemsPath("app-1", h.Slug)},
		{http.MethodGet, itemsPath("app-1", h.Slug) + "/some-item/redeliver"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			s.api.do(tc.method, tc.path, nil).expectError(t, http.StatusMethodNotAllowed, "method")
		})
	}
}
