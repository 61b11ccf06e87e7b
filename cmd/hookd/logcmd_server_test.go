package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/internal/testkit"
)

// The log tools against a running server (--server), with the real
// binary: they print what they print with --data.

const logToolsToken = "log-tools-token-do-not-print"

// authed is the header the test's own API calls send.
var authed = map[string]string{"Authorization": "Bearer " + logToolsToken}

// serverHistory gives srv a hook and builds, and waits until each
// delivery is recorded: afterwards nothing more is appended.
func serverHistory(t *testing.T, srv *server, builds int) {
	t.Helper()
	recv := newReceiver(t)
	var created struct {
		Data struct{ Slug string } `json:"data"`
	}
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks",
		fmt.Sprintf(`{"url":%q,"events":["all"]}`, recv.URL()+"/hook"), authed, http.StatusOK, &created)
	for i := range builds {
		srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events",
			fmt.Sprintf(`{"build_slug":"remote-%d","build_number":%d,"build_status":1}`, i, i+1),
			map[string]string{"Bitrise-Event-Type": "build/finished", "Authorization": "Bearer " + logToolsToken}, http.StatusAccepted, nil)
	}
	recv.WaitForCount(t, builds, pollTimeout)
	testkit.WaitUntil(t, pollTimeout, "every delivery to be recorded", func() bool {
		var head struct {
			Data struct{ Sequence uint64 } `json:"data"`
		}
		srv.mustCall(t, http.MethodGet, "/v0.1/log/head", "", authed, http.StatusOK, &head)
		return head.Data.Sequence == uint64(1+3*builds)
	})
}

func TestLogToolsWithServerPrintWhatTheyPrintWithData(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, "server", data, "HOOKD_API_TOKEN="+logToolsToken)
	const builds = 4
	serverHistory(t, srv, builds)
	const head = 1 + 3*builds
	env := []string{"HOOKD_SERVER=" + srv.base, "HOOKD_API_TOKEN=" + logToolsToken}

	// export, with the flags and with the environment.
	code, remoteExport, stderr := runHookdSplit(t, time.Minute, nil, "log", "export", "--server", srv.base, "--token", logToolsToken)
	if code != 0 || !strings.Contains(stderr, fmt.Sprintf("log export: %d entries, seq 1 to %d, last hash ", head, head)) {
		t.Fatalf("log export --server: exit %d, stderr %s", code, stderr)
	}
	code, envExport, _ := runHookdSplit(t, time.Minute, env, "log", "export")
	if code != 0 || envExport != remoteExport {
		t.Fatalf("log export with HOOKD_SERVER: exit %d, and it differs from --server's", code)
	}
	_, part, _ := runHookdSplit(t, time.Minute, env, "log", "export", "--from", "3", "--to", "5")
	if got := entrySeqs(decodeEntryLines(t, part)); !equalSeqs(got, seqRange(3, 5)) {
		t.Errorf("log export --server --from 3 --to 5: seqs %v", got)
	}
	code, out := runHookd(t, time.Minute, env, "log", "export", "--to", fmt.Sprint(head+1))
	if code != 1 || !strings.Contains(out, "past the log's head") {
		t.Errorf("log export --server --to past the head: exit %d:\n%s", code, out)
	}

	// tail, stats and verify.
	code, remoteTail, _ := runHookdSplit(t, time.Minute, env, "log", "tail", "-n", "4")
	if lines := strings.SplitAfter(remoteExport, "\n"); code != 0 || remoteTail != strings.Join(lines[head-4:], "") {
		t.Errorf("log tail --server -n 4: exit %d:\n%s\nwant the last 4 lines of the export", code, remoteTail)
	}
	code, remoteStats, _ := runHookdSplit(t, time.Minute, env, "log", "stats", "--json")
	var rep logStatsReport
	if err := json.Unmarshal([]byte(remoteStats), &rep); code != 0 || err != nil {
		t.Fatalf("log stats --server --json: exit %d, %v:\n%s", code, err, remoteStats)
	}
	if rep.Entries != head || rep.Head != head || rep.ByType[domain.NameBuildEventReceived] != builds ||
		rep.LogBytes != nil || rep.ViewsBytes != nil || rep.ViewsCheckpoint != nil || strings.Contains(remoteStats, "bytes") {
		t.Errorf("log stats --server --json = %s, want the counts and no sizes", remoteStats)
	}
	code, text, _ := runHookdSplit(t, time.Minute, env, "log", "stats")
	if code != 0 || !strings.Contains(text, "not known over --server") || !regexp.MustCompile(fmt.Sprintf(`(?m)^entries:\s+%d$`, head)).MatchString(text) {
		t.Errorf("log stats --server:\n%s", text)
	}
	code, verify, _ := runHookdSplit(t, time.Minute, env, "log", "verify")
	m := verifyOK.FindStringSubmatch(verify)
	if code != 0 || m == nil || m[2] != fmt.Sprint(head) {
		t.Fatalf("log verify --server: exit %d:\n%s", code, verify)
	}
	lastHash := m[3]
	expect := fmt.Sprintf("%d:%s", head, lastHash)
	if !strings.Contains(verify, "--expect "+expect+"\n") {
		t.Errorf("log verify does not print the pair to keep (--expect %s):\n%s", expect, verify)
	}
	if code, out := runHookd(t, time.Minute, env, "log", "verify", "--expect", expect); code != 0 || !strings.Contains(out, "still has the expected hash") {
		t.Errorf("log verify --server --expect %s: exit %d:\n%s", expect, code, out)
	}
	wrong := fmt.Sprintf("%d:%s", head, strings.Repeat("ab", 32))
	if code, out := runHookd(t, time.Minute, env, "log", "verify", "--expect", wrong); code != 1 || !strings.Contains(out, "BROKEN") || !strings.Contains(out, "rewritten") {
		t.Errorf("log verify --server --expect with a wrong hash: exit %d, want 1:\n%s", code, out)
	}
	past := fmt.Sprintf("%d:%s", head+5, lastHash)
	if code, out := runHookd(t, time.Minute, env, "log", "verify", "--expect", past); code != 1 || !strings.Contains(out, "no longer holds entry") {
		t.Errorf("log verify --server --expect past the head: exit %d, want 1:\n%s", code, out)
	}

	// Refusals: a wrong token (never printed), both sources, a bad --expect.
	for _, args := range [][]string{{"export"}, {"tail"}, {"stats"}, {"verify"}} {
		code, out := runHookd(t, time.Minute, []string{"HOOKD_SERVER=" + srv.base, "HOOKD_API_TOKEN=wrong-token-value"}, append([]string{"log"}, args...)...)
		if code != 1 || !strings.Contains(out, "401") || strings.Contains(out, "wrong-token-value") {
			t.Errorf("log %s --server with a wrong token: exit %d, want 1 with the 401 and without the token:\n%s", args[0], code, out)
		}
		code, out = runHookd(t, time.Minute, env, append([]string{"log"}, append(args, "--data", data, "--server", srv.base)...)...)
		if code != 2 || !strings.Contains(out, "not both") || strings.Contains(out, logToolsToken) {
			t.Errorf("log %s --data and --server: exit %d, want 2:\n%s", args[0], code, out)
		}
		// --help must not show the token from the environment.
		_, out = runHookd(t, time.Minute, env, append([]string{"log"}, append(args, "--help")...)...)
		if strings.Contains(out, logToolsToken) {
			t.Errorf("log %s --help prints the token:\n%s", args[0], out)
		}
	}
	if code, out := runHookd(t, time.Minute, env, "log", "verify", "--expect", "12"); code != 2 || !strings.Contains(out, "SEQ:HASH") {
		t.Errorf("log verify --expect 12: exit %d, want 2:\n%s", code, out)
	}
	// With HOOKD_SERVER set, --data still reads the data directory: refused while the server runs.
	if code, out := runHookd(t, time.Minute, env, "log", "export", "--data", data); code != 1 || !strings.Contains(out, "in use by a running hookd") {
		t.Errorf("log export --data beside a running server: exit %d:\n%s", code, out)
	}

	// Stopped, the --data forms print the same.
	srv.stop(t)
	code, localExport, _ := runHookdSplit(t, time.Minute, nil, "log", "export", "--data", data)
	if code != 0 || localExport != remoteExport {
		t.Fatalf("log export --data of the stopped server (exit %d) differs from log export --server:\n%s\nwant:\n%s", code, localExport, remoteExport)
	}
	if _, localTail, _ := runHookdSplit(t, time.Minute, nil, "log", "tail", "-n", "4", "--data", data); localTail != remoteTail {
		t.Errorf("log tail --data differs from --server:\n%s\nwant:\n%s", localTail, remoteTail)
	}
	_, localStats, _ := runHookdSplit(t, time.Minute, nil, "log", "stats", "--json", "--data", data)
	var lrep logStatsReport
	if err := json.Unmarshal([]byte(localStats), &lrep); err != nil || lrep.Entries != rep.Entries || lrep.Head != rep.Head ||
		fmt.Sprint(lrep.ByType) != fmt.Sprint(rep.ByType) || !lrep.First.Equal(*rep.First) || !lrep.Last.Equal(*rep.Last) || lrep.LogBytes == nil {
		t.Errorf("log stats --data = %s, want the numbers of --server's %s and the sizes", localStats, remoteStats)
	}
	code, localVerify, _ := runHookdSplit(t, time.Minute, nil, "log", "verify", "--data", data, "--expect", expect)
	if code != 0 || !strings.Contains(localVerify, "ok, "+fmt.Sprint(head)+" entries, head "+fmt.Sprint(head)+", last hash "+lastHash) {
		t.Errorf("log verify --data --expect %s: exit %d:\n%s", expect, code, localVerify)
	}
	if code, out := runHookd(t, time.Minute, nil, "log", "verify", "--data", data, "--expect", wrong); code != 1 || !strings.Contains(out, "BROKEN") {
		t.Errorf("log verify --data --expect with a wrong hash: exit %d, want 1:\n%s", code, out)
	}
	if code, out := runHookd(t, time.Minute, nil, "log", "verify", "--data", data, "--expect", past); code != 1 || !strings.Contains(out, "no longer holds entry") {
		t.Errorf("log verify --data --expect past the head: exit %d, want 1:\n%s", code, out)
	}
}

// TestLogTailFollowServerPrintsEachEntryAppendedAfterItStarted follows a
// live server: every entry appended later, in order, no gap, no repeat;
// stopping the server ends the stream (and does not wait for it).
func TestLogTailFollowServerPrintsEachEntryAppendedAfterItStarted(t *testing.T) {
	srv := startServer(t, "server", t.TempDir(), "HOOKD_API_TOKEN="+logToolsToken)
	addHook := func() {
		srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks",
			`{"url":"https://example.com/hook","events":["build/triggered"]}`, authed, http.StatusOK, nil)
	}
	addHook()
	addHook()

	cmd := exec.Command(hookdBin, "log", "tail", "--follow", "-n", "1", "--server", srv.base)
	cmd.Env = childEnv("HOOKD_API_TOKEN=" + logToolsToken)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	outLines := make(chan string, 100)
	go func() {
		defer close(outLines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			outLines <- sc.Text()
		}
	}()
	errLines := make(chan string, 10)
	errDone := make(chan string, 1)
	go func() {
		br := bufio.NewReader(stderr)
		first, _ := br.ReadString('\n')
		errLines <- first
		rest, _ := io.ReadAll(br)
		errDone <- string(rest)
	}()
	next := func() entryJSON {
		t.Helper()
		select {
		case l, ok := <-outLines:
			if !ok {
				t.Fatal("tail --follow --server stopped printing")
			}
			return decodeEntryLines(t, l+"\n")[0]
		case <-time.After(pollTimeout):
			t.Fatal("tail --follow --server printed nothing")
		}
		return entryJSON{}
	}
	if e := next(); e.Seq != 2 {
		t.Fatalf("tail -n 1 printed entry %d first, want 2", e.Seq)
	}
	select {
	case l := <-errLines:
		if !strings.Contains(l, "at the head; following") {
			t.Fatalf("stderr: %q, want the at-the-head notice", l)
		}
	case <-time.After(pollTimeout):
		t.Fatal("no at-the-head notice")
	}
	want := uint64(3)
	for round := range 4 {
		for range round + 1 {
			addHook()
		}
		for range round + 1 {
			if e := next(); e.Seq != want || e.Type != "hook.configured" {
				t.Fatalf("round %d: printed entry %d (%s), want %d", round, e.Seq, e.Type, want)
			}
			want++
		}
	}
	select {
	case l := <-outLines:
		t.Fatalf("tail printed more than was appended: %s", l)
	default:
	}

	// The server stops within its usual time though tail is attached,
	// and tail says its stream ended.
	srv.stop(t)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		t.Fatal("tail --follow did not end when the server stopped")
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("tail --follow after the server stopped: exit %d, want 1", code)
	}
	if rest := <-errDone; !strings.Contains(rest, "ended the stream after entry "+fmt.Sprint(want-1)) {
		t.Errorf("tail --follow's last words: %q", rest)
	}
}

// TestLogTailFollowServerStopsCleanlyOnInterrupt: Ctrl-C ends tail with 0.
func TestLogTailFollowServerStopsCleanlyOnInterrupt(t *testing.T) {
	srv := startServer(t, "server", t.TempDir())
	cmd := exec.Command(hookdBin, "log", "tail", "--follow", "--server", srv.base)
	cmd.Env = childEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	atHead := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(stderr).ReadString('\n')
		atHead <- l
	}()
	select {
	case l := <-atHead:
		if !strings.Contains(l, "at the head") {
			t.Fatalf("stderr %q", l)
		}
	case <-time.After(pollTimeout):
		t.Fatal("no at-the-head notice")
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		t.Fatal("tail --follow --server did not stop on SIGINT")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("tail --follow --server after SIGINT: exit %d, want 0", code)
	}
}
