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
