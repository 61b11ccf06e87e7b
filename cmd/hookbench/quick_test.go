package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// TestQuickRunReportsEveryScenario runs `hookbench --quick` against a
// freshly built hookd and checks that every scenario produced a row with
// positive numbers. It asserts no timing: it only shows the benchmark works.
// It takes about half a minute, so -short (make test) skips it.
func TestQuickRunReportsEveryScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every benchmark scenario in quick mode (~30 s); run without -short")
	}
	dir := t.TempDir()
	bin := buildHookd(t, dir)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := []string{"--quick", "--hookd", bin, "--tmp", dir}
	if raceEnabled() {
		// Everything runs several times slower under the race detector.
		args = append(args, "--events", "200", "--latency-duration", "1s", "--append-small", "2000",
			"--append-big", "1000", "--rebuild-events", "5000", "--query-items", "5000", "--query-samples", "50",
			"--timeout", "2m")
	}
	code := run(ctx, args, &stdout, &stderr)
	t.Logf("progress:\n%s", stderr.String())
	if code != 0 {
		t.Fatalf("hookbench --quick exited %d\nstdout:\n%s", code, stdout.String())
	}
	t.Logf("report:\n%s", stdout.String())

	rows := map[string]result{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("JSON line %q: %v", line, err)
		}
		rows[r.Scenario] = r
	}
	want := []string{"raw ×10 receivers", "raw ×1 receiver", "fan-out", "single", "latency",
		"append ~100 B", "append 2 KiB", "rebuild", "query first page", "query page "}
	for _, name := range want {
		r, ok := rows[name]
		if !ok {
			for n, row := range rows {
				if strings.HasPrefix(n, name) {
					r, ok = row, true
				}
			}
		}
		if !ok {
			t.Errorf("no row for %q; rows: %v", name, keys(rows))
			continue
		}
		raw := strings.HasPrefix(name, "raw")
		if !raw && !(r.Value > 0) {
			t.Errorf("%s: value %v, want > 0", r.Scenario, r.Value)
		}
		if !(r.Baseline > 0) {
			t.Errorf("%s: baseline %v, want > 0", r.Scenario, r.Baseline)
		}
		if !raw && !(r.Ratio > 0) {
			t.Errorf("%s: ratio %v, want > 0", r.Scenario, r.Ratio)
		}
		if r.Count <= 0 || r.PeakRSS <= 0 {
			t.Errorf("%s: count %d, peak RSS %d, want both > 0", r.Scenario, r.Count, r.PeakRSS)
		}
		if r.Unit == "ms" && !(r.P50 > 0 || r.P99 > 0) {
			t.Errorf("%s: no latency percentiles", r.Scenario)
		}
	}
}

// buildHookd builds the hookd binary into dir, with the race detector when
// this test has it (as cmd/hookd's end-to-end tests do).
func buildHookd(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "hookd")
	args := []string{"build", "-o", bin}
	if raceEnabled() {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(args, "github.com/hookd/hookd/cmd/hookd")...)
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
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

func keys(m map[string]result) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
