package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/internal/service"
	"github.com/hookd/hookd/internal/testkit"
)

// runHookdIn is runHookdSplit with stdin.
func runHookdIn(t *testing.T, timeout time.Duration, stdin io.Reader, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, hookdBin, args...)
	cmd.Env = childEnv(env...)
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdin = stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("hookd %s did not exit within %s; output:\n%s%s", strings.Join(args, " "), timeout, &out, &errOut)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("hookd %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// verifyLine runs hookd log verify on data and returns its final line.
func verifyLine(t *testing.T, data string) string {
	t.Helper()
	code, out, errOut := runHookdSplit(t, time.Minute, nil, "log", "verify", "--data", data)
	m := verifyOK.FindString(out)
	if code != 0 || m == "" {
		t.Fatalf("log verify --data %s: exit %d:\n%s%s", data, code, out, errOut)
	}
	return m
}

// requireNoLog fails unless data holds neither a log nor a staging
// directory (data itself may be missing).
func requireNoLog(t *testing.T, data string) {
	t.Helper()
	for _, p := range []string{filepath.Join(data, "log"), filepath.Join(data, "views"), service.HeadFile(data)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s exists after a refused import (%v)", p, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(data, ".log.import-*")); len(left) != 0 {
		t.Fatalf("a refused import left %v", left)
	}
}

// TestBackupByExportAndImportRestoresTheSameLogAndViews builds a log
// through a real server (hooks with and without a secret, a removed hook,
// build events, deliveries, a redelivery), exports it, imports it into a
// new directory, and compares the logs and the views served from each.
func TestBackupByExportAndImportRestoresTheSameLogAndViews(t *testing.T) {
	src := t.TempDir()
	recv := newReceiver(t)
	srv := startServer(t, "original", src)
	var hooks []string
	for i, body := range []string{
		fmt.Sprintf(`{"url":%q,"events":["all"],"headers":{"X-Team":"<ci> & co"},"secret":%q}`, recv.URL()+"/signed", e2eSecret),
		fmt.Sprintf(`{"url":%q,"events":["build/finished"]}`, recv.URL()+"/plain"),
		fmt.Sprintf(`{"url":%q,"events":["all"]}`, recv.URL()+"/removed"),
	} {
		var created struct {
			Data struct{ Slug string } `json:"data"`
		}
		srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks", body, nil, http.StatusOK, &created)
		if i < 2 {
			hooks = append(hooks, created.Data.Slug)
		} else {
			srv.mustCall(t, http.MethodDelete, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks/"+created.Data.Slug, "", nil, http.StatusOK, nil)
		}
	}
	for i, typ := range []string{"build/triggered", "build/finished", "build/finished"} {
		srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events",
			fmt.Sprintf(`{"build_slug":"backup-%d","build_number":%d,"build_status":1,"build_triggered_workflow":"<deploy> & \u2028"}`, i, i+1),
			map[string]string{"Bitrise-Event-Type": typ}, http.StatusAccepted, nil)
	}
	const sent = 3 + 2 // every build event to the signed hook, the finished ones to the plain hook
	recv.WaitForCount(t, sent, pollTimeout)
	signedPath := "/v0.1/apps/" + e2eApp + "/outgoing-webhooks/" + hooks[0]
	var list itemList
	testkit.WaitUntil(t, pollTimeout, "every delivery to be recorded", func() bool {
		list, _ = listItems(t, srv, signedPath)
		return len(list.Data) == 3
	})
	srv.mustCall(t, http.MethodPost, signedPath+"/delivery-items/"+list.Data[1].Slug+"/redeliver", "", nil, http.StatusOK, nil)
	recv.WaitForCount(t, sent+1, pollTimeout)
	testkit.WaitUntil(t, pollTimeout, "the redelivery to be recorded", func() bool {
		list, _ = listItems(t, srv, signedPath)
		return len(list.Data) == 4
	})
	srv.stop(t)

	// Back up: export the stopped server's log.
	backup := filepath.Join(t.TempDir(), "backup.jsonl")
	code, _, errOut := runHookdSplit(t, time.Minute, nil, "log", "export", "--data", src, "--out", backup)
	if code != 0 {
		t.Fatalf("log export: exit %d: %s", code, errOut)
	}
	exported, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	withDeliveryID := 0
	for _, e := range decodeEntryLines(t, string(exported)) {
		if e.Metadata[eventlog.MetaDeliveryID] != "" {
			withDeliveryID++
		}
		if e.PayloadBase64 != nil {
			t.Errorf("entry %d (%s) needed payload_base64: hookd's own events are compact JSON", e.Seq, e.Type)
		}
	}
	if want := 2 * (sent + 1); withDeliveryID != want { // requests and attempts, the redelivery's too
		t.Errorf("%d exported entries carry a delivery_id, want %d", withDeliveryID, want)
	}

	// Restore into a new directory, from stdin, without the key first.
	dst := filepath.Join(t.TempDir(), "restored")
	in, err := os.Open(backup)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	code, out, errOut := runHookdIn(t, time.Minute, in, nil, "log", "import", "--data", dst)
	want := verifyLine(t, src)
	if code != 0 || !strings.Contains(out, strings.TrimPrefix(want, "log verify: ")) {
		t.Fatalf("log import: exit %d, want a summary with %q:\n%s%s", code, want, out, errOut)
	}
	if !strings.Contains(errOut, "1 hook has a secret") || !strings.Contains(errOut, "copy secret.key") {
		t.Errorf("import without a key does not say the server needs the old one:\n%s", errOut)
	}
	if got := verifyLine(t, dst); got != want {
		t.Fatalf("restored log verifies as %q, the original as %q", got, want)
	}
	if mark, err := os.ReadFile(service.HeadFile(dst)); err != nil || !strings.Contains(string(mark), want[strings.LastIndex(want, " ")+1:]) {
		t.Errorf("the restored directory's head mark %s (%v) does not name the last hash", mark, err)
	}
	_, again, _ := runHookdSplit(t, time.Minute, nil, "log", "export", "--data", dst)
	if again != string(exported) {
		t.Fatalf("an export of the restored log differs from the backup")
	}

	// The key goes with the backup; then the views, rebuilt on each side,
	// are the same.
	key, err := os.ReadFile(filepath.Join(src, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "secret.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{src, dst} {
		if code, out := runHookd(t, time.Minute, nil, "rebuild", "--data", d); code != 0 || !strings.Contains(out, "rebuild: done") {
			t.Fatalf("rebuild --data %s: exit %d:\n%s", d, code, out)
		}
	}
	original := startServer(t, "original again", src)
	restored := startServer(t, "restored", dst)
	for _, slug := range hooks {
		path := "/v0.1/apps/" + e2eApp + "/outgoing-webhooks/" + slug
		l, _ := listItems(t, original, path)
		var slugs []string
		for _, it := range l.Data {
			slugs = append(slugs, it.Slug)
		}
		requireSameView(t, "hook "+slug+" on the restored server", readView(t, original, path, slugs), readView(t, restored, path, slugs))
	}
	original.stop(t)

	// The restored server signs with the restored secret.
	restored.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events", buildFinishedInput,
		map[string]string{"Bitrise-Event-Type": "build/finished"}, http.StatusAccepted, nil)
	got := recv.WaitForCount(t, sent+3, pollTimeout)
	for _, r := range got[sent+1:] {
		if r.Path == "/signed" && r.Header.Get("Bitrise-Hook-Signature") != sign(e2eSecret, string(r.Body)) {
			t.Errorf("the restored server's delivery is signed %q, want %q", r.Header.Get("Bitrise-Hook-Signature"), sign(e2eSecret, string(r.Body)))
		}
	}
	restored.stop(t)

	// Importing again, with the key in place, says it opens the secrets;
	// into the restored directory, it refuses.
	dst2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dst2, "secret.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runHookdSplit(t, time.Minute, nil, "log", "import", "--data", dst2, "--in", backup)
	if code != 0 || !strings.Contains(errOut, "opens the secrets of all 1 hooks") {
		t.Errorf("import with the key: exit %d:\n%s", code, errOut)
	}
	before := verifyLine(t, dst)
	code, _, errOut = runHookdSplit(t, time.Minute, nil, "log", "import", "--data", dst, "--in", backup)
	if code != 1 || !strings.Contains(errOut, "is not empty") || !strings.Contains(errOut, "new or empty data directory") {
		t.Errorf("import into a directory with a log: exit %d:\n%s", code, errOut)
	}
	if got := verifyLine(t, dst); got != before {
		t.Errorf("a refused import changed the restored log: %q, was %q", got, before)
	}
}

// TestLogImportRefusesExportsThatDoNotVerify feeds the binary tampered,
// partial and malformed exports, and checks each is refused naming the
// line and entry, with no log left in the target.
func TestLogImportRefusesExportsThatDoNotVerify(t *testing.T) {
	data := t.TempDir()
	store, err := badgerlog.Open(filepath.Join(data, "log"), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, store, 20)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	code, full, errOut := runHookdSplit(t, time.Minute, nil, "log", "export", "--data", data)
	if code != 0 {
		t.Fatalf("export: %d %s", code, errOut)
	}
	_, partial, _ := runHookdSplit(t, time.Minute, nil, "log", "export", "--data", data, "--from", "3")
	lines := strings.SplitAfter(full, "\n")
	lines = lines[:len(lines)-1]
	with := func(f func(ls []string) []string) string {
		return strings.Join(f(append([]string(nil), lines...)), "")
	}
	for _, c := range []struct {
		name, export string
		says         []string
	}{
		{"payload byte changed", with(func(ls []string) []string {
			ls[6] = strings.Replace(ls[6], `"build_slug":"b-6"`, `"build_slug":"b-7"`, 1)
			return ls
		}), []string{"line 7 ", "(seq 7)", "hash mismatch"}},
		{"line removed", with(func(ls []string) []string { return append(ls[:10], ls[11:]...) }), []string{"line 11 ", "(seq 12)", "entry 11 is missing"}},
		{"hash changed", with(func(ls []string) []string {
			var e map[string]any
			_ = json.Unmarshal([]byte(ls[14]), &e)
			e["hash"] = strings.Repeat("ab", 32)
			b, _ := json.Marshal(e)
			ls[14] = string(b) + "\n"
			return ls
		}), []string{"line 15 ", "(seq 15)", "hash mismatch"}},
		{"partial export", partial, []string{"line 1 ", "(seq 3)", "not 1", "--from"}},
		{"line cut short", with(func(ls []string) []string { ls[19] = ls[19][:40]; return ls }), []string{"line 20:", "not an exported entry"}},
		{"old export without metadata", with(func(ls []string) []string {
			ls[0] = strings.Replace(ls[0], `,"metadata":{}`, "", 1)
			return ls
		}), []string{"line 1:", "no metadata", "export the log again"}},
		{"empty", "", []string{"holds no entries"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "restored")
			code, out, errOut := runHookdIn(t, time.Minute, strings.NewReader(c.export), nil, "log", "import", "--data", target)
			for _, s := range c.says {
				if code != 1 || !strings.Contains(errOut, s) {
					t.Errorf("exit %d, want 1 and a message with %q:\n%s%s", code, s, out, errOut)
				}
			}
			if !strings.Contains(errOut, "nothing was restored") && c.export != "" {
				t.Errorf("the refusal does not say nothing was restored:\n%s", errOut)
			}
			requireNoLog(t, target)
			if _, err := os.Stat(target); !os.IsNotExist(err) {
				t.Errorf("a refused import left the data directory it created (%v)", err)
			}
		})
	}

	// A stale staging directory is removed; an existing key file and an
	// empty log/ are fine.
	target := t.TempDir()
	for _, d := range []string{".log.import-123", "log"} {
		if err := os.Mkdir(filepath.Join(target, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	code, _, errOut = runHookdIn(t, time.Minute, strings.NewReader(full), nil, "log", "import", "--data", target)
	if code != 0 || !strings.Contains(errOut, "removed "+filepath.Join(target, ".log.import-123")) {
		t.Fatalf("import beside a stale staging directory: exit %d:\n%s", code, errOut)
	}
	if left, _ := filepath.Glob(filepath.Join(target, ".log.import-*")); len(left) != 0 {
		t.Errorf("left %v", left)
	}
	// Views without a log are refused too.
	target = t.TempDir()
	if err := os.MkdirAll(filepath.Join(target, "views", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runHookdIn(t, time.Minute, strings.NewReader(full), nil, "log", "import", "--data", target)
	if code != 1 || !strings.Contains(errOut, "holds views") {
		t.Errorf("import beside views: exit %d:\n%s", code, errOut)
	}
}

// TestLogExportCarriesOddPayloadsAndMetadataExactly exports, in-process,
// entries whose bytes a JSON value cannot carry, and imports them back.
func TestLogExportCarriesOddPayloadsAndMetadataExactly(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	src := t.TempDir()
	store, err := badgerlog.Open(filepath.Join(src, "log"), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []eventlog.AppendMessage{
		{UUID: "canonical", Metadata: map[string]string{eventlog.MetaName: domain.NameDeliveryAttempted, eventlog.MetaDeliveryID: "d-1"}, Payload: []byte(`{"a":"\u003cb\u003e"}`)},
		{UUID: "html", Metadata: map[string]string{eventlog.MetaName: "x.v1"}, Payload: []byte(`{"a":"<b>&"}`)},
		{UUID: "separator", Metadata: map[string]string{eventlog.MetaName: "x.v1"}, Payload: []byte("{\"a\":\"\u2028\"}")},
		{UUID: "spaced", Metadata: map[string]string{eventlog.MetaName: "x.v1"}, Payload: []byte("{ \"a\" :\n1 }")},
		{UUID: "not-json", Metadata: map[string]string{eventlog.MetaName: "x.v1"}, Payload: []byte{0xff, '{', '\n'}},
		{UUID: "empty", Metadata: map[string]string{eventlog.MetaName: "x.v1"}, Payload: nil},
		{UUID: "odd-name", Metadata: map[string]string{eventlog.MetaName: "x.v01", "k": "v"}, Payload: []byte(`{}`)},
		{UUID: "no-version", Metadata: map[string]string{eventlog.MetaName: "plain"}, Payload: []byte(`{}`)},
		{UUID: "no-name", Payload: []byte(`{}`)},
		{UUID: "empty-name", Metadata: map[string]string{eventlog.MetaName: ""}, Payload: []byte(`{}`)},
	}
	if _, err := store.Append(ctx, eventlog.Topic, msgs...); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"log", "export", "--data", src}, noEnv, &out, &errOut); code != 0 {
		t.Fatalf("export: %d %s", code, &errOut)
	}
	entries := decodeEntryLines(t, out.String())
	for i, e := range entries {
		if (e.PayloadBase64 != nil) != (i >= 1 && i <= 5) {
			t.Errorf("entry %s: payload_base64 %v; want it only where the payload's bytes are not its JSON", msgs[i].UUID, e.PayloadBase64)
		}
		if _, named := e.Metadata[eventlog.MetaName]; named != (i >= 6 && msgs[i].UUID != "no-name") {
			t.Errorf("entry %s: metadata %v; want the name there only when type and version do not spell it", msgs[i].UUID, e.Metadata)
		}
	}
	if entries[0].Metadata[eventlog.MetaDeliveryID] != "d-1" || entries[6].Metadata["k"] != "v" {
		t.Errorf("metadata not exported: %v, %v", entries[0].Metadata, entries[6].Metadata)
	}

	dst := filepath.Join(t.TempDir(), "restored")
	var importOut, importErr bytes.Buffer
	if err := logImport(ctx, []string{"--data", dst}, noEnv, bytes.NewReader(out.Bytes()), &importOut, &importErr); err != nil {
		t.Fatalf("import: %v\n%s", err, &importErr)
	}
	restored, err := badgerlog.Open(filepath.Join(dst, "log"), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	r := eventlog.NewReader(restored, eventlog.Topic, 1)
	i := 0
	for ; r.Next(ctx); i++ {
		e := r.Entry()
		m := msgs[i]
		md := map[string]string{eventlog.MetaSeq: fmt.Sprint(i + 1)}
		for k, v := range m.Metadata {
			md[k] = v
		}
		if e.UUID != m.UUID || !bytes.Equal(e.Payload, m.Payload) || fmt.Sprint(e.Metadata) != fmt.Sprint(md) || !e.Time.Equal(entries[i].Time) {
			t.Errorf("restored entry %d: %q %q %v %v, want %q %q %v %v", i+1, e.UUID, e.Payload, e.Metadata, e.Time, m.UUID, m.Payload, md, entries[i].Time)
		}
	}
	if err := r.Err(); err != nil || i != len(msgs) {
		t.Fatalf("read %d restored entries (%v), want %d", i, err, len(msgs))
	}
}

func noEnv(string) string { return "" }
