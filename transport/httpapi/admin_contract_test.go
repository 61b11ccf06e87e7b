package httpapi_test

import (
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/transport/httpapi"
)

// adminSession calls the admin operations, validated against the document:
// a real online rebuild over the stack's log (GET before, POST, GET once
// done), then a fake one for the 409 and a failed rebuild's answer.
func adminSession(t *testing.T, v *contract, s *stack, token string) {
	t.Helper()
	live, err := projections.OpenLive(t.Context(), filepath.Join(t.TempDir(), "views"), s.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = live.Close() })
	api := v.wrap(s.serve(func(c *httpapi.Config) { c.APIToken = token; c.Admin = live })).withHeader("Authorization", "Bearer "+token)
	var st struct {
		Data projections.Projections `json:"data"`
	}
	api.do(http.MethodGet, "/v0.1/admin/projections", nil).expect(t, http.StatusOK).decode(t, &st)
	if st.Data.Rebuild != nil || st.Data.Head == 0 {
		t.Errorf("before a rebuild: %+v", st.Data)
	}
	api.do(http.MethodPost, "/v0.1/admin/projections/rebuild", nil).expect(t, http.StatusAccepted)
	deadline := time.Now().Add(waitLimit)
	for {
		api.do(http.MethodGet, "/v0.1/admin/projections", nil).expect(t, http.StatusOK).decode(t, &st)
		if st.Data.Rebuild.State != projections.RebuildRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rebuild did not end: %+v", st.Data.Rebuild)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st.Data.Rebuild.State != projections.RebuildDone || st.Data.Rebuild.Processed != st.Data.Head {
		t.Errorf("after the rebuild: %+v", st.Data)
	}

	fake := &fakeAdmin{}
	api = v.wrap(s.serve(func(c *httpapi.Config) { c.APIToken = token; c.Admin = fake })).withHeader("Authorization", "Bearer "+token)
	api.do(http.MethodPost, "/v0.1/admin/projections/rebuild", nil).expect(t, http.StatusAccepted)
	api.do(http.MethodGet, "/v0.1/admin/projections", nil).expect(t, http.StatusOK)
	api.do(http.MethodPost, "/v0.1/admin/projections/rebuild", nil).expectError(t, http.StatusConflict, "already running")
	fake.fail("rebuild: read from 1: disk on fire")
	api.do(http.MethodGet, "/v0.1/admin/projections", nil).expect(t, http.StatusOK)
}

// tokenSession calls the token operations and /v0.1/me, validated against
// the document: issue (and a refused request), list, revoke (and an
// unknown id), a 403 for a token without the scope, and a 401 for it
// once revoked.
func tokenSession(t *testing.T, v *contract, api *client) {
	t.Helper()
	api.do(http.MethodGet, "/v0.1/me", nil).expect(t, http.StatusOK)
	api.do(http.MethodPost, "/v0.1/admin/tokens", map[string]any{"name": "x", "scopes": []string{"everything"}, "apps": []string{"*"}}).
		expectError(t, http.StatusBadRequest, "scopes")
	reader, tk := api.issue("reader", []string{"apps:read"}, []string{"app-1"}, "expires_at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	reader.do(http.MethodGet, "/v0.1/me", nil).expect(t, http.StatusOK)
	reader.do(http.MethodGet, hooksPath("app-1"), nil).expect(t, http.StatusOK)
	reader.do(http.MethodGet, "/v0.1/admin/tokens", nil).expectError(t, http.StatusForbidden, "admin")
	reader.do(http.MethodPost, hooksPath("app-1"), hookBody(nil)).expectError(t, http.StatusForbidden, "apps:write")
	reader.do(http.MethodGet, hooksPath("app-2"), nil).expectError(t, http.StatusForbidden, "app-2")
	api.do(http.MethodGet, "/v0.1/admin/tokens?limit=1", nil).expect(t, http.StatusOK)
	api.do(http.MethodGet, "/v0.1/admin/tokens?next=bad", nil).expectError(t, http.StatusBadRequest, "next")
	api.do(http.MethodDelete, "/v0.1/admin/tokens/"+tk.ID, nil).expect(t, http.StatusOK)
	api.do(http.MethodDelete, "/v0.1/admin/tokens/00000000-0000-4000-8000-000000000000", nil).expectError(t, http.StatusNotFound, "token")
	reader.do(http.MethodGet, "/v0.1/me", nil).expectError(t, http.StatusUnauthorized, "revoked")
}
