package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/projections"
	"github.com/hookd/hookd/transport/httpapi"
)

// fakeAdmin runs a rebuild until finish is called.
type fakeAdmin struct {
	mu sync.Mutex
	st *projections.RebuildStatus
}

func (f *fakeAdmin) Status() (projections.Projections, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return projections.Projections{Applied: 7, Head: 9, Rebuild: f.st}, nil
}

func (f *fakeAdmin) StartRebuild() (projections.RebuildStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.st != nil && f.st.State == projections.RebuildRunning {
		return *f.st, projections.ErrRebuildRunning
	}
	f.st = &projections.RebuildStatus{State: projections.RebuildRunning, StartedAt: time.Unix(0, 0).UTC()}
	return *f.st, nil
}

func (f *fakeAdmin) finish() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.State = projections.RebuildDone
}

func (f *fakeAdmin) fail(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	at := time.Unix(1, 0).UTC()
	f.st.State, f.st.Error, f.st.FinishedAt, f.st.Processed, f.st.Total = projections.RebuildFailed, &msg, &at, 5, 9
}

func adminCall(t *testing.T, h http.Handler, method, path, token string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Host = "127.0.0.1" // httptest's example.com is no loopback host: refused without a token
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s %s: %d %q: %v", method, path, rec.Code, rec.Body, err)
	}
	return rec.Code, body
}

func TestAdminRebuildAnswers202Then409WhileRunningAndNeedsTheToken(t *testing.T) {
	admin := &fakeAdmin{}
	h := httpapi.NewRouter(httpapi.Config{Admin: admin, APIToken: "s3cret"})
	const get, post = "/v0.1/admin/projections", "/v0.1/admin/projections/rebuild"

	for _, c := range []struct{ method, path string }{{http.MethodGet, get}, {http.MethodPost, post}} {
		if code, _ := adminCall(t, h, c.method, c.path, ""); code != http.StatusUnauthorized {
			t.Errorf("%s %s without the token: %d, want 401", c.method, c.path, code)
		}
		if code, _ := adminCall(t, h, c.method, c.path, "wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s %s with a wrong token: %d, want 401", c.method, c.path, code)
		}
	}
	if admin.st != nil {
		t.Fatal("an unauthenticated POST started a rebuild")
	}

	code, body := adminCall(t, h, http.MethodGet, get, "s3cret")
	data, _ := body["data"].(map[string]any)
	if code != http.StatusOK || data == nil || data["applied"] != 7.0 || data["head"] != 9.0 {
		t.Fatalf("GET before a rebuild: %d %v", code, body)
	}
	if rb, ok := data["rebuild"]; !ok || rb != nil {
		t.Errorf("rebuild before the first one: %v, want null", rb)
	}

	code, body = adminCall(t, h, http.MethodPost, post, "s3cret")
	data, _ = body["data"].(map[string]any)
	if code != http.StatusAccepted || data == nil || data["state"] != "running" {
		t.Fatalf("POST: %d %v, want 202 with state running", code, body)
	}
	code, body = adminCall(t, h, http.MethodPost, post, "s3cret")
	if msg, _ := body["message"].(string); code != http.StatusConflict || !strings.Contains(msg, "already running") {
		t.Fatalf("second POST while running: %d %v, want 409", code, body)
	}
	admin.finish()
	if code, _ := adminCall(t, h, http.MethodPost, post, "s3cret"); code != http.StatusAccepted {
		t.Fatalf("POST after the first ended: %d, want 202", code)
	}
}

func TestAdminProjectionsShowsARealRebuildDone(t *testing.T) {
	store, err := badgerlog.Open(t.TempDir(), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	live, err := projections.OpenLive(t.Context(), filepath.Join(t.TempDir(), "views"), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	h := httpapi.NewRouter(httpapi.Config{Admin: live})
	if code, _ := adminCall(t, h, http.MethodPost, "/v0.1/admin/projections/rebuild", ""); code != http.StatusAccepted {
		t.Fatalf("POST: %d", code)
	}
	deadline := time.Now().Add(waitLimit)
	for {
		code, body := adminCall(t, h, http.MethodGet, "/v0.1/admin/projections", "")
		data, _ := body["data"].(map[string]any)
		rb, _ := data["rebuild"].(map[string]any)
		if code != http.StatusOK || rb == nil {
			t.Fatalf("GET: %d %v", code, body)
		}
		if rb["state"] == "done" {
			for _, k := range []string{"processed", "total", "events_per_second", "started_at", "finished_at", "error"} {
				if _, ok := rb[k]; !ok {
					t.Errorf("rebuild has no %q: %v", k, rb)
				}
			}
			return
		}
		if rb["state"] != "running" || time.Now().After(deadline) {
			t.Fatalf("rebuild: %v", rb)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
