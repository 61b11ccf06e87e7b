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
// positive numbers, fan-out and single also on JetStream with one and two
// hookd processes (on a nats-server built from go.mod's module), each
// delivery received once. It asserts no timing: it only shows the
// benchmark works. It takes about 50 s, so -short skips it (make test runs
// it on its own, without -race).
func TestQuickRunReportsEveryScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every benchmark scenario in quick mode (~20 s); run without -short")
	}
	dir := t.TempDir()
	bin := buildHookd(t, dir)

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	args := []string{"--quick", "--hookd", bin, "--tmp", dir, "--log-backends", "badger,nats", "--nats-processes", "1,2"}
	if raceEnabled() {
		// Everything runs several times slower under the race detector.
		args = append(args, "--events", "200", "--latency-duration", "1s", "--append-small", "2000",
			"--append-big", "1000", "--rebuild-events", "5000", "--query-items", "5000", "--query-samples", "50",
			"--isolation-events", "100", "--restart-entries", "5000", "--restart-burst", "100", "--timeout", "2m")
	}
	code := run(ctx, args, &stdout, &stderr)
	t.Logf("progress:\n%s", stderr.String())
	if code != 0 {
		t.Fatalf("hookbench --quick exited %d\nstdout:\n%s", code, stdout.String())
	}
	report := stdout.String()
	t.Logf("report:\n%s", report)

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
	jetStream := []string{"fan-out (JetStream, 1 process)", "fan-out (JetStream, 2 processes)",
		"single (JetStream, 1 process)", "single (JetStream, 2 processes)"}
	want := []string{"raw ×10 receivers", "raw ×1 receiver", "fan-out", "single", "latency", "isolation",
		"append ~100 B", "append 2 KiB", "rebuild", "query first page", "query page ",
		"restart (SIGTERM) ready", "restart (SIGTERM) delivered", "restart (SIGKILL) ready", "restart (SIGKILL) delivered"}
	want = append(want, jetStream...)
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
		// The restart rows are times of hookd alone, without a baseline.
		noBaseline := strings.HasPrefix(name, "restart")
		if !raw && !(r.Value > 0) {
			t.Errorf("%s: value %v, want > 0", r.Scenario, r.Value)
		}
		if !noBaseline && !(r.Baseline > 0) {
			t.Errorf("%s: baseline %v, want > 0", r.Scenario, r.Baseline)
		}
		if !raw && !noBaseline && !(r.Ratio > 0) {
			t.Errorf("%s: ratio %v, want > 0", r.Scenario, r.Ratio)
		}
		if r.Count <= 0 || r.PeakRSS <= 0 {
			t.Errorf("%s: count %d, peak RSS %d, want both > 0", r.Scenario, r.Count, r.PeakRSS)
		}
		if (r.Unit == "ms" && !noBaseline || name == "isolation") && !(r.P50 > 0 || r.P99 > 0) {
			t.Errorf("%s: no latency percentiles", r.Scenario)
		}
	}
	// On JetStream: every delivery once, the memory of each hookd process
	// and of nats-server measured, the sends shared by the processes.
	for i, name := range jetStream {
		r, ok := rows[name]
		if !ok {
			continue // reported above
		}
		procs := 1 + i%2
		if r.Duplicates != 0 || r.Lost != 0 || r.Errors != 0 {
			t.Errorf("%s: %d duplicates, %d lost, %d failed requests; want none", name, r.Duplicates, r.Lost, r.Errors)
		}
		if len(r.PeakRSSEach) != procs || r.NATSPeakRSS <= 0 {
			t.Errorf("%s: peak RSS of each hookd %v, of nats-server %d; want %d and > 0", name, r.PeakRSSEach, r.NATSPeakRSS, procs)
		}
		if sent, _ := r.Extra["deliveries_sent_by_process"].([]any); len(sent) != procs {
			t.Errorf("%s: deliveries_sent_by_process %v, want %d counts", name, r.Extra["deliveries_sent_by_process"], procs)
		}
	}
	if !strings.Contains(report, "Duplicates (a Webhook-Id received again): fan-out 0,") {
		t.Errorf("no line of duplicates below the table")
	}
	// The hanging receiver was sent to: the isolation scenario measured
	// the fast hook beside one that hangs.
	if r, ok := rows["isolation"]; ok {
		if n, _ := r.Extra["hanging_requests"].(float64); !(n > 0) {
			t.Errorf("isolation: hanging_requests %v, want > 0", r.Extra["hanging_requests"])
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
