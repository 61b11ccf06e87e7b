package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
)

// bigLog writes n entries of about 64 KiB each into data's log.
func bigLog(t *testing.T, data string, n int) {
	t.Helper()
	store, err := badgerlog.Open(filepath.Join(data, "log"), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	payload := []byte(`{"pad":"` + strings.Repeat("p", 64<<10) + `"}`)
	for i := 0; i < n; i += 10 {
		var msgs []eventlog.AppendMessage
		for j := i; j < min(i+10, n); j++ {
			msgs = append(msgs, eventlog.AppendMessage{UUID: fmt.Sprintf("big-%d", j), Metadata: map[string]string{eventlog.MetaName: "test.big.v1"}, Payload: payload})
		}
		if _, err := store.Append(t.Context(), eventlog.Topic, msgs...); err != nil {
			t.Fatal(err)
		}
	}
}

func partials(t *testing.T, out string) []string {
	t.Helper()
	p, err := filepath.Glob(filepath.Join(filepath.Dir(out), partialPattern(out)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLogExportInterruptedRemovesItsPartialFile runs the real binary: an
// export to a file, sent SIGTERM once its partial file has data, exits 1,
// says so, and leaves neither the partial file nor the output.
func TestLogExportInterruptedRemovesItsPartialFile(t *testing.T) {
	data := t.TempDir()
	bigLog(t, data, 1500) // about 96 MiB of export
	out := filepath.Join(t.TempDir(), "backup.jsonl")

	cmd := exec.Command(hookdBin, "log", "export", "--data", data, "--out", out)
	cmd.Env = childEnv()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	// Wait until the export has written into its partial file.
	deadline := time.After(time.Minute)
	for found := false; !found; {
		select {
		case <-done:
			t.Fatalf("export exited (%v) before its partial file had data; output:\n%s", cmd.ProcessState, &stderr)
		case <-deadline:
			t.Fatalf("no partial file with data beside %s within a minute", out)
		case <-time.After(5 * time.Millisecond):
		}
		for _, p := range partials(t, out) {
			if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
				found = true
			}
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("export did not exit within a minute of SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "interrupted after") ||
		!strings.Contains(stderr.String(), "removed the partial file") {
		t.Fatalf("interrupted export: exit %d, want 1 saying it was interrupted and removed its partial file:\n%s", code, &stderr)
	}
	if left := partials(t, out); len(left) != 0 {
		t.Errorf("interrupted export left %v", left)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("interrupted export wrote %s (%v)", out, err)
	}
}

// TestLogExportRemovesStalePartialFiles: partial files that a killed
// export left beside the output are removed and named by the next export
// to it; one that a running export holds is left alone.
func TestLogExportRemovesStalePartialFiles(t *testing.T) {
	data := t.TempDir()
	store, err := badgerlog.Open(filepath.Join(data, "log"), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, store, 5)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "audit.jsonl")
	stale := filepath.Join(filepath.Dir(out), ".audit.jsonl.partial-4242")
	if err := os.WriteFile(stale, bytes.Repeat([]byte("x"), 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(filepath.Dir(out), ".other.jsonl.partial-1")
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var held string
	if runtime.GOOS == "linux" {
		f, err := os.CreateTemp(filepath.Dir(out), partialPattern(out))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := lockPartial(f); err != nil {
			t.Fatal(err)
		}
		held = f.Name()
	}

	code, stdout, stderr := runHookdSplit(t, time.Minute, nil, "log", "export", "--data", data, "--out", out)
	if code != 0 || stdout != "" {
		t.Fatalf("export: exit %d:\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "removed "+stale+", a partial file left by an export that did not finish") {
		t.Errorf("export does not name the stale partial file it removed:\n%s", stderr)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale partial file is still there (%v)", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("export removed another file's partial file: %v", err)
	}
	if held != "" {
		if _, err := os.Stat(held); err != nil || !strings.Contains(stderr, held+" belongs to an export of "+out+" still running") {
			t.Errorf("a partial file held by a running export: %v, stderr:\n%s", err, stderr)
		}
	}
	if b, err := os.ReadFile(out); err != nil || strings.Count(string(b), "\n") != 5 {
		t.Errorf("export wrote %d lines (%v), want 5", strings.Count(string(b), "\n"), err)
	}
}
