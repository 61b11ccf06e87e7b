package main

// The harness for the end-to-end tests: it builds the real hookd binary
// once, runs it as a separate process, and provides a real local receiver
// that records what hookd sends.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testkit"
)

// hookdBin is the binary built once by TestMain.
var hookdBin string

// Bounds on every wait, generous for a loaded CI machine.
const (
	startTimeout = 20 * time.Second // until "hookd listening"
	stopTimeout  = 20 * time.Second // from SIGTERM to exit
	pollTimeout  = 15 * time.Second // for a delivery to show up
)

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hookd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	hookdBin = filepath.Join(dir, "hookd")
	args := []string{"build", "-o", hookdBin}
	if raceEnabled() {
		// A race in the running server then fails the test through its exit code.
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go %s: %v\n%s", strings.Join(args, " "), err, out)
		return 1
	}
	return m.Run()
}

// raceEnabled reports whether this test binary was built with -race.
func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// childEnv is the environment for hookd: this one without HOOKD_* (so a
// developer's settings do not leak in), plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOOKD_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// lines collects a process's output lines for failure reports.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) add(s string) {
	l.mu.Lock()
	l.all = append(l.all, s)
	l.mu.Unlock()
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

// server is one running `hookd serve` process.
type server struct {
	name string
	cmd  *exec.Cmd
	base string // http://host:port
	logs *lines
	done chan struct{} // closed once the process has exited and been waited for
}

// startServer runs `hookd serve` on dataDir and waits until it listens.
// The process is killed in t.Cleanup if the test has not stopped it.
func startServer(t *testing.T, name, dataDir string, env ...string) *server {
	t.Helper()
	cmd := exec.Command(hookdBin, "serve", "--addr", "127.0.0.1:0", "--data", dataDir,
		"--allow-private-targets", "--log-format", "json")
	cmd.Env = childEnv(env...)
	logs := &lines{}
	cmd.Stdout = &lineWriter{logs: logs, prefix: "stdout: "}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	s := &server{name: name, cmd: cmd, logs: logs, done: make(chan struct{})}
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			logs.add(line)
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "hookd listening" && rec.Addr != "" {
				select {
				case addrc <- rec.Addr:
				default:
				}
			}
		}
		// All output is read; now Wait may close the pipe.
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = cmd.Process.Kill()
			select {
			case <-s.done:
			case <-time.After(stopTimeout):
				t.Errorf("%s: still running after kill", name)
			}
		}
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, logs)
		}
	})
	select {
	case addr := <-addrc:
		s.base = "http://" + addr
	case <-s.done:
		t.Fatalf("%s exited before listening (%v)", name, cmd.ProcessState)
	case <-time.After(startTimeout):
		t.Fatalf("%s did not log \"hookd listening\" within %s", name, startTimeout)
	}
	return s
}

// stop sends SIGTERM and requires a clean exit (code 0) within stopTimeout.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("%s: SIGTERM: %v", s.name, err)
	}
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		t.Fatalf("%s did not exit within %s of SIGTERM", s.name, stopTimeout)
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("%s exited with code %d after SIGTERM, want 0", s.name, code)
	}
}

// lineWriter adds whatever is written to logs, a line at a time (roughly:
// it is only for failure reports).
type lineWriter struct {
	logs   *lines
	prefix string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	for l := range strings.Lines(string(p)) {
		w.logs.add(w.prefix + strings.TrimRight(l, "\n"))
	}
	return len(p), nil
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// call sends one request to the server and returns the status and body.
func (s *server) call(t *testing.T, method, path, body string, header map[string]string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// mustCall is call that requires status want and decodes the body into out.
func (s *server) mustCall(t *testing.T, method, path, body string, header map[string]string, want int, out any) []byte {
	t.Helper()
	status, b := s.call(t, method, path, body, header)
	if status != want {
		t.Fatalf("%s %s: status %d, want %d; body: %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return b
}

// What the e2e receiver answers; the tests find it again in delivery items.
const (
	receiverBody   = `{"ok":true,"from":"e2e-receiver"}`
	receiverHeader = "X-Receiver-Id"
	receiverValue  = "e2e-receiver-1"
)

// newReceiver is the kit's recording receiver, answering 200 with
// receiverBody and receiverHeader, which the tests find again in
// delivery items.
func newReceiver(t *testing.T) *testkit.Receiver {
	t.Helper()
	rc := testkit.NewReceiver(t)
	rc.SetReply(testkit.Reply{
		Status: http.StatusOK,
		Header: http.Header{receiverHeader: {receiverValue}, "Content-Type": {"application/json"}},
		Body:   receiverBody,
	})
	return rc
}

// runHookd runs hookd to completion (bounded by timeout) and returns its
// exit code and combined output.
func runHookd(t *testing.T, timeout time.Duration, env []string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, hookdBin, args...)
	cmd.Env = childEnv(env...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("hookd %s did not exit within %s; output:\n%s", strings.Join(args, " "), timeout, out)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("hookd %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}
