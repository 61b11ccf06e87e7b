package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/natstest"
	"github.com/hookd/hookd/internal/testkit"
)

// The README's move from the embedded log to JetStream: export a stopped
// server's log, import it into an empty stream, and the stream verifies to
// the same head and last hash, exports the same bytes, and a hookd serving
// it shows the same views and sends nothing again that was attempted.
func TestMovingTheEmbeddedLogToJetStreamKeepsEveryHash(t *testing.T) {
	src := t.TempDir()
	recv := newReceiver(t)
	srv := startServer(t, "embedded", src)
	var created struct {
		Data struct{ Slug string } `json:"data"`
	}
	body := fmt.Sprintf(`{"url":%q,"events":["all"],"secret":%q}`, recv.URL()+"/signed", e2eSecret)
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks", body, nil, http.StatusOK, &created)
	path := "/v0.1/apps/" + e2eApp + "/outgoing-webhooks/" + created.Data.Slug
	for i := range 5 {
		srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events",
			fmt.Sprintf(`{"build_slug":"move-%d","build_number":%d,"build_status":1}`, i, i+1),
			map[string]string{"Bitrise-Event-Type": "build/finished"}, http.StatusAccepted, nil)
	}
	recv.WaitForCount(t, 5, pollTimeout)
	testkit.WaitUntil(t, pollTimeout, "every delivery to be recorded", func() bool {
		l, _ := listItems(t, srv, path)
		return len(l.Data) == 5
	})
	l, _ := listItems(t, srv, path)
	var slugs []string
	for _, it := range l.Data {
		slugs = append(slugs, it.Slug)
	}
	before := readView(t, srv, path, slugs)
	srv.stop(t)

	backup := filepath.Join(t.TempDir(), "backup.jsonl")
	if code, _, errOut := runHookdSplit(t, time.Minute, nil, "log", "export", "--data", src, "--out", backup); code != 0 {
		t.Fatalf("log export: exit %d: %s", code, errOut)
	}
	want := verifyLine(t, src)

	nats := natstest.RunServer(t)
	code, out, errOut := runHookdSplit(t, time.Minute, nil, "log", "import", "--log", nats.URL, "--in", backup)
	if code != 0 || !strings.Contains(out, strings.TrimPrefix(want, "log verify: ")) {
		t.Fatalf("log import --log: exit %d, want a summary with %q:\n%s%s", code, want, out, errOut)
	}
	code, out, errOut = runHookdSplit(t, time.Minute, nil, "log", "verify", "--log", nats.URL)
	if got := verifyOK.FindString(out); code != 0 || got != want {
		t.Fatalf("log verify --log: exit %d, %q; the embedded log verified as %q:\n%s%s", code, got, want, out, errOut)
	}
	exported, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if _, again, _ := runHookdSplit(t, time.Minute, nil, "log", "export", "--log", nats.URL); again != string(exported) {
		t.Fatalf("an export of the stream differs from the embedded log's")
	}
	// Into a stream that has entries, import refuses.
	if code, _, errOut := runHookdSplit(t, time.Minute, nil, "log", "import", "--log", nats.URL, "--in", backup); code != 1 || !strings.Contains(errOut, "already has entries") {
		t.Errorf("import into a stream with entries: exit %d:\n%s", code, errOut)
	}

	// A process on the stream, with the old key, serves the same views
	// and sends none of the five attempted deliveries again.
	key, err := os.ReadFile(filepath.Join(src, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	shared := startServer(t, "on JetStream", t.TempDir(), "HOOKD_LOG="+nats.URL, "HOOKD_SECRET_KEY="+strings.TrimSpace(string(key)))
	testkit.WaitUntil(t, pollTimeout, "the process to build its views from the stream", func() bool {
		code, b := shared.call(t, http.MethodGet, path+"/delivery-items", "", nil)
		return code == http.StatusOK && strings.Count(string(b), `"slug"`) == 5
	})
	requireSameView(t, "the hook on JetStream", before, readView(t, shared, path, slugs))
	shared.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events", buildFinishedInput,
		map[string]string{"Bitrise-Event-Type": "build/finished"}, http.StatusAccepted, nil)
	got := recv.WaitForCount(t, 6, pollTimeout)
	if r := got[5]; r.Header.Get("Bitrise-Hook-Signature") != sign(e2eSecret, string(r.Body)) {
		t.Errorf("the delivery from JetStream is signed %q, want the old secret's %q", r.Header.Get("Bitrise-Hook-Signature"), sign(e2eSecret, string(r.Body)))
	}
	recv.StaysAt(t, 6, time.Second)
	shared.stop(t)
}
