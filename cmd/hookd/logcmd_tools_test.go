package main

import (
	"bufio"
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
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/internal/service"
	"github.com/hookd/hookd/internal/testkit"
)

// runHookdSplit is runHookd with stdout and stderr kept apart.
func runHookdSplit(t *testing.T, timeout time.Duration, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, hookdBin, args...)
	cmd.Env = childEnv(env...)
	cmd.WaitDelay = 5 * time.Second
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

// decodeEntryLines parses JSON Lines of log entries.
func decodeEntryLines(t *testing.T, out string) []entryJSON {
	t.Helper()
	var entries []entryJSON
	for l := range strings.Lines(out) {
		var e entryJSON
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %q is not an entry: %v", l, err)
		}
		entries = append(entries, e)
	}
	return entries
}

func entrySeqs(entries []entryJSON) []uint64 {
	seqs := make([]uint64, len(entries))
	for i, e := range entries {
		seqs[i] = e.Seq
	}
	return seqs
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// TestLogTailExportStatsReadAStoppedServersLog runs the real binary: the
// tools refuse clearly while the server holds the log, and read it once
// it has stopped.
func TestLogTailExportStatsReadAStoppedServersLog(t *testing.T) {
	data := t.TempDir()
	recv := newReceiver(t)
	srv := startServer(t, "server", data)
	var created struct {
		Data struct{ Slug string } `json:"data"`
	}
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks",
		fmt.Sprintf(`{"url":%q,"events":["all"]}`, recv.URL()+"/hook"), nil, http.StatusOK, &created)
	const builds = 3
	for i := range builds {
		srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events",
			fmt.Sprintf(`{"build_slug":"tools-%d","build_number":%d,"build_status":1}`, i, i+1),
			map[string]string{"Bitrise-Event-Type": "build/finished"}, http.StatusAccepted, nil)
	}
	recv.WaitForCount(t, builds, pollTimeout)
	testkit.WaitUntil(t, pollTimeout, "every delivery to be recorded", func() bool {
		list, _ := listItems(t, srv, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks/"+created.Data.Slug)
		return len(list.Data) == builds
	})

	for _, tool := range [][]string{{"tail"}, {"tail", "--follow"}, {"export"}, {"stats"}} {
		args := append([]string{"log"}, tool...)
		code, out := runHookd(t, time.Minute, nil, append(args, "--data", data)...)
		if code != 1 || !strings.Contains(out, "in use by a running hookd") || !strings.Contains(out, "stop the server") {
			t.Fatalf("hookd %s beside a running server: exit %d, want 1 saying the log is in use:\n%s", strings.Join(args, " "), code, out)
		}
	}
	srv.stop(t)

	const head = 1 + 3*builds // hook configured, builds received, their requests and attempts
	// tail: the last 10 by default, which is all of them.
	code, stdout, stderr := runHookdSplit(t, time.Minute, nil, "log", "tail", "--data", data)
	if code != 0 || stderr != "" {
		t.Fatalf("log tail: exit %d, stderr %s", code, stderr)
	}
	all := decodeEntryLines(t, stdout)
	if got := entrySeqs(all); !equalSeqs(got, seqRange(1, head)) {
		t.Fatalf("log tail printed seqs %v, want 1..%d", got, head)
	}
	types := map[string]int{}
	for i, e := range all {
		types[fmt.Sprintf("%s.v%d", e.Type, e.Version)]++
		if e.ID == "" || e.Time.IsZero() || len(e.Hash) != 64 || len(e.PrevHash) != 64 {
			t.Errorf("entry %d lacks id, time or hashes: %+v", e.Seq, e)
		}
		if i > 0 && e.PrevHash != all[i-1].Hash {
			t.Errorf("entry %d prev_hash %s, want entry %d's hash %s", e.Seq, e.PrevHash, all[i-1].Seq, all[i-1].Hash)
		}
		if e.Type == "build_event.received" {
			var ev domain.BuildEventReceived
			if err := json.Unmarshal(e.Payload, &ev); err != nil || !strings.HasPrefix(ev.Build.BuildSlug, "tools-") {
				t.Errorf("entry %d payload %s is not the build event (%v)", e.Seq, e.Payload, err)
			}
		}
	}
	wantTypes := map[string]int{domain.NameHookConfigured: 1, domain.NameBuildEventReceived: builds, domain.NameDeliveryRequested: builds, domain.NameDeliveryAttempted: builds}
	if fmt.Sprint(types) != fmt.Sprint(wantTypes) {
		t.Errorf("entry types %v, want %v", types, wantTypes)
	}
	if all[0].PrevHash != strings.Repeat("0", 64) {
		t.Errorf("entry 1 prev_hash %s, want zeros", all[0].PrevHash)
	}
	_, out := runHookd(t, time.Minute, nil, "log", "verify", "--data", data)
	if m := verifyOK.FindStringSubmatch(out); m == nil || m[3] != all[head-1].Hash {
		t.Errorf("log verify's last hash is not the last tailed entry's %s:\n%s", all[head-1].Hash, out)
	}
	for _, c := range []struct {
		args     []string
		from, to uint64
	}{
		{[]string{"-n", "2"}, head - 1, head},
		{[]string{"--from", "5"}, 5, head},
		{[]string{"-n", "0"}, 1, 0},
		{[]string{"--from", "99"}, 1, 0},
	} {
		code, stdout, _ := runHookdSplit(t, time.Minute, nil, append([]string{"log", "tail", "--data", data}, c.args...)...)
		if got := entrySeqs(decodeEntryLines(t, stdout)); code != 0 || !equalSeqs(got, seqRange(c.from, c.to)) {
			t.Errorf("log tail %v: exit %d, seqs %v, want %d..%d", c.args, code, got, c.from, c.to)
		}
	}

	// export: a range to stdout, everything to a file, the same lines as tail.
	code, stdout, stderr = runHookdSplit(t, time.Minute, nil, "log", "export", "--data", data, "--from", "2", "--to", "4")
	if got := entrySeqs(decodeEntryLines(t, stdout)); code != 0 || !equalSeqs(got, seqRange(2, 4)) {
		t.Fatalf("log export --from 2 --to 4: exit %d, seqs %v; stderr %s", code, got, stderr)
	}
	if want := fmt.Sprintf("log export: 3 entries, seq 2 to 4, last hash %s, to stdout", all[3].Hash); !strings.Contains(stderr, want) {
		t.Errorf("log export summary %q, want %q", stderr, want)
	}
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	code, stdout, stderr = runHookdSplit(t, time.Minute, nil, "log", "export", "--data", data, "--out", file)
	if code != 0 || stdout != "" || !strings.Contains(stderr, fmt.Sprintf("log export: %d entries, seq 1 to %d", head, head)) {
		t.Fatalf("log export --out: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	exported, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, tailed, _ := runHookdSplit(t, time.Minute, nil, "log", "tail", "--data", data, "--from", "1")
	if string(exported) != tailed {
		t.Errorf("the export differs from tail --from 1:\n%s\n---\n%s", exported, tailed)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v (%v), want 0600", fi.Mode(), err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*partial*")); len(leftovers) != 0 {
		t.Errorf("export left %v", leftovers)
	}
	code, out = runHookd(t, time.Minute, nil, "log", "export", "--data", data, "--to", "99", "--out", file+".2")
	if code != 1 || !strings.Contains(out, fmt.Sprintf("--to 99 is past the log's head, %d", head)) {
		t.Errorf("export past the head: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(file + ".2"); !os.IsNotExist(err) {
		t.Errorf("a refused export wrote its file (%v)", err)
	}

	// stats, as text and as JSON.
	code, out = runHookd(t, time.Minute, nil, "log", "stats", "--data", data)
	for _, re := range []string{
		`(?m)^entries:\s+10$`, `(?m)^head sequence:\s+10$`, `(?m)^first entry:\s+\d{4}-`, `(?m)^last entry:\s+\d{4}-`,
		`(?m)^log/ on disk:\s+\d+\.\d (KiB|MiB)$`, `(?m)^views/ on disk:\s+\d+\.\d (KiB|MiB) \(applied up to 10\)$`,
		`(?m)^  delivery.attempted.v1\s+3\s+\(30.0%\)$`, `(?m)^  delivery.requested.v1\s+3\s+\(30.0%\)$`, `(?m)^  hook.configured.v1\s+1\s+\(10.0%\)$`,
	} {
		if code != 0 || !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("log stats: exit %d, no line like %s in:\n%s", code, re, out)
		}
	}
	code, stdout, _ = runHookdSplit(t, time.Minute, nil, "log", "stats", "--data", data, "--json")
	var rep logStatsReport
	if err := json.Unmarshal([]byte(stdout), &rep); code != 0 || err != nil {
		t.Fatalf("log stats --json: exit %d, %v:\n%s", code, err, stdout)
	}
	if rep.Entries != head || rep.Head != head || rep.ByType[domain.NameBuildEventReceived] != builds ||
		rep.First == nil || rep.Last == nil || rep.Last.Before(*rep.First) || !rep.First.Equal(all[0].Time) ||
		rep.LogBytes == nil || *rep.LogBytes <= 0 || rep.ViewsBytes == nil || *rep.ViewsBytes <= 0 || rep.ViewsCheckpoint == nil || *rep.ViewsCheckpoint != head {
		t.Errorf("log stats --json = %s", stdout)
	}
}

func equalSeqs(a, b []uint64) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// appendN appends n build events to store, in groups.
func appendN(t *testing.T, store *badgerlog.Store, n int) {
	t.Helper()
	pub := eventlog.NewPublisher(store)
	for done := 0; done < n; {
		var msgs []*message.Message
		for ; done < n && len(msgs) < 500; done++ {
			m, err := eventlog.EncodeEvent(fmt.Sprintf("id-%d", done), domain.BuildEventReceived{
				EventID: fmt.Sprintf("ev-%d", done), AppSlug: "app", EventType: "build/triggered",
				Build: domain.BuildPayload{BuildSlug: fmt.Sprintf("b-%d", done)}, ReceivedAt: time.Unix(int64(done), 0).UTC(),
			})
			if err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, m)
		}
		if _, err := pub.Append(t.Context(), eventlog.Topic, msgs...); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLogExportStreamsAcrossReadBatches exports a log longer than one of
// the Reader's batches, in-process, and checks every entry came once, in
// order.
func TestLogExportStreamsAcrossReadBatches(t *testing.T) {
	data := t.TempDir()
	logDir, _ := service.DataDirs(data)
	store, err := badgerlog.Open(logDir, badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2500
	appendN(t, store, n)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"log", "export", "--data", data, "--from", "3", "--to", "2400"}, func(string) string { return "" }, &stdout, &stderr); code != 0 {
		t.Fatalf("log export: exit %d: %s", code, &stderr)
	}
	got := decodeEntryLines(t, stdout.String())
	if !equalSeqs(entrySeqs(got), seqRange(3, 2400)) {
		t.Fatalf("exported %d entries from %d to %d, want 3..2400", len(got), got[0].Seq, got[len(got)-1].Seq)
	}
	for i := 1; i < len(got); i++ {
		if got[i].PrevHash != got[i-1].Hash {
			t.Fatalf("entry %d does not link to %d", got[i].Seq, got[i-1].Seq)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogTailFollowPrintsEntriesAsTheyAreAppended follows a store that
// this process appends to, which is the only way entries can be appended
// while tail holds the log.
func TestLogTailFollowPrintsEntriesAsTheyAreAppended(t *testing.T) {
	store, err := badgerlog.Open(t.TempDir(), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	appendN(t, store, 3)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &lockedBuffer{}
	atHead := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- tailEntries(ctx, &localLog{store: store}, 2, 0, true, out, func() { close(atHead) }) }()
	lines := func() []uint64 { return entrySeqs(decodeEntryLines(t, out.String())) }

	select {
	case <-atHead:
	case <-time.After(pollTimeout):
		t.Fatal("tail did not reach the head")
	}
	if got := lines(); !equalSeqs(got, []uint64{2, 3}) {
		t.Fatalf("before following: seqs %v, want 2 3", got)
	}
	appendN(t, store, 2)
	testkit.WaitUntil(t, pollTimeout, "the appended entries to be printed", func() bool { return len(lines()) == 4 })
	appendN(t, store, 1)
	testkit.WaitUntil(t, pollTimeout, "the next entry to be printed", func() bool { return len(lines()) == 5 })
	if got := lines(); !equalSeqs(got, seqRange(2, 6)) {
		t.Fatalf("following: seqs %v, want 2..6", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tail --follow stopped by its context returned %v, want nil", err)
		}
	case <-time.After(pollTimeout):
		t.Fatal("tail --follow did not stop when its context ended")
	}
}

// TestLogToolsUsageAndMissingLog runs the tools in-process on bad input.
func TestLogToolsUsageAndMissingLog(t *testing.T) {
	emptyData := t.TempDir()
	withEmptyLog := t.TempDir()
	logDir, _ := service.DataDirs(withEmptyLog)
	store, err := badgerlog.Open(logDir, badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"log", "tail", "--data", emptyData}, 1, "no event log in " + emptyData},
		{[]string{"log", "export", "--data", emptyData}, 1, "no event log in " + emptyData},
		{[]string{"log", "stats", "--data", emptyData}, 1, "no event log in " + emptyData},
		{[]string{"log", "tail", "--data", withEmptyLog}, 0, ""},
		{[]string{"log", "export", "--data", withEmptyLog}, 0, "log export: 0 entries (the log's head is 0) to stdout"},
		{[]string{"log", "stats", "--data", withEmptyLog}, 0, "none (hookd serve or hookd rebuild makes them)"},
		{[]string{"log", "tail", "--data", withEmptyLog, "--from", "1", "-n", "3"}, 2, "--from or -n, not both"},
		{[]string{"log", "tail", "--data", withEmptyLog, "-n", "-1"}, 2, "-n must not be negative"},
		{[]string{"log", "export", "--data", withEmptyLog, "--from", "5", "--to", "2"}, 2, "--to 2 is before --from 5"},
		{[]string{"log", "export", "--data", withEmptyLog, "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"log", "stats", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"log", "-h"}, 0, "hookd log export [SOURCE]"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tc.args, func(string) string { return "" }, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tc.wantCode || !strings.Contains(out, tc.wantOut) {
				t.Fatalf("exit %d, want %d with %q; output:\n%s", code, tc.wantCode, tc.wantOut, out)
			}
		})
	}
	if entries, err := os.ReadDir(emptyData); err != nil || len(entries) != 0 {
		t.Fatalf("reading a data dir without a log wrote %v (%v)", entries, err)
	}
}

// TestProgressReportsRateAndETA checks both forms of the rebuild's progress.
func TestProgressReportsRateAndETA(t *testing.T) {
	start := time.Unix(1000, 0)
	now := start
	clock := func() time.Time { return now }

	var plain bytes.Buffer
	p := newProgress(&plain, "rebuild", "events", false, clock)
	now = start.Add(time.Second)
	p.update(1000, 4000)
	now = now.Add(100 * time.Millisecond) // too soon for another line
	p.update(1100, 4000)
	now = start.Add(2 * time.Second)
	p.update(2000, 4000)
	now = start.Add(2100 * time.Millisecond)
	p.update(4000, 4000) // the end is always printed
	p.end()
	want := "rebuild: 1000/4000 events (25%), 1000 events/s, ETA 3s\n" +
		"rebuild: 2000/4000 events (50%), 1000 events/s, ETA 2s\n" +
		"rebuild: 4000/4000 events (100%), 1905 events/s, ETA 0s\n"
	if plain.String() != want {
		t.Errorf("plain progress:\n%s\nwant:\n%s", plain.String(), want)
	}

	var tty bytes.Buffer
	now = start
	p = newProgress(&tty, "rebuild", "events", true, clock)
	now = start.Add(time.Second)
	p.update(500, 1000)
	now = start.Add(2 * time.Second)
	p.update(1000, 1000)
	p.end()
	got := tty.String()
	frames := strings.Split(strings.TrimSuffix(got, "\n"), "\r")
	if !strings.HasSuffix(got, "\n") || len(frames) != 3 || frames[0] != "" {
		t.Fatalf("terminal progress %q: want two frames, each after \\r, and a final newline", got)
	}
	if !strings.Contains(frames[1], "rebuild "+strings.Repeat("█", 15)+strings.Repeat("░", 15)+"  50% 500/1000 events  500 events/s  ETA 1s") {
		t.Errorf("half-way frame %q", frames[1])
	}
	if !strings.Contains(frames[2], strings.Repeat("█", 30)+" 100% 1000/1000 events  500 events/s  ETA 0s") {
		t.Errorf("final frame %q", frames[2])
	}
	if isTerminal(&tty) {
		t.Error("a buffer is not a terminal")
	}
}

// startReceive runs `hookd receive` on a free port and collects its output.
type receiveProc struct {
	base  string
	lines *lines
}

func startReceive(t *testing.T, args ...string) *receiveProc {
	t.Helper()
	cmd := exec.Command(hookdBin, append([]string{"receive", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = childEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errs := &lines{}
	cmd.Stderr = &lineWriter{logs: errs, prefix: "stderr: "}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &receiveProc{lines: &lines{}}
	done := make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			l := sc.Text()
			p.lines.add(l)
			if rest, ok := strings.CutPrefix(l, "hookd receive: listening on http://"); ok {
				addr <- strings.SplitN(rest, "/", 2)[0]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		<-done
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("--- hookd receive output ---\n%s\n%s", p.lines, errs)
		}
	})
	select {
	case a := <-addr:
		p.base = "http://" + a
	case <-done:
		t.Fatalf("hookd receive exited before listening:\n%s", errs)
	case <-time.After(startTimeout):
		t.Fatal("hookd receive did not say it listens")
	}
	return p
}

// blocks waits until n requests were printed and returns each one's lines.
func (p *receiveProc) blocks(t *testing.T, n int) [][]string {
	t.Helper()
	var out [][]string
	testkit.WaitUntil(t, pollTimeout, fmt.Sprintf("%d requests printed by hookd receive", n), func() bool {
		out = nil
		p.lines.mu.Lock()
		defer p.lines.mu.Unlock()
		var cur []string
		for _, l := range p.lines.all {
			switch {
			case strings.HasPrefix(l, "── "):
				cur = []string{l}
			case cur != nil:
				cur = append(cur, l)
				if strings.HasPrefix(l, "   → answered") {
					out = append(out, cur)
					cur = nil
				}
			}
		}
		return len(out) >= n
	})
	return out
}

// field returns the text after prefix on the block's line that starts with it.
func blockLine(block []string, prefix string) (string, bool) {
	for _, l := range block {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			return strings.TrimSpace(rest), true
		}
	}
	return "", false
}
