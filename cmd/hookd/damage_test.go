package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// damagedDataDir makes a real data directory through the real binary (a
// hook, build events with large payloads so the log has a value-log file,
// their deliveries), stops the server, and returns it with a copy taken
// after the first half of the events.
func damagedDataDir(t *testing.T) (data, half string) {
	t.Helper()
	data = filepath.Join(t.TempDir(), "data")
	srv := startServer(t, "build", data)
	recv := newReceiver(t)
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks", `{"url": "`+recv.URL()+`/hook", "events": ["all"]}`, nil, http.StatusOK, nil)
	post := func(from, to int) {
		for i := from; i < to; i++ {
			// Every tenth build event is over Badger's 32 KiB value threshold.
			pad := strings.Repeat("x", 100+(i%10/9)*40<<10)
			srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events",
				fmt.Sprintf(`{"build_slug":"b%d","build_number":%d,"build_status":1,"build_triggered_workflow":%q}`, i, i, pad),
				map[string]string{"Bitrise-Event-Type": "build/finished"}, http.StatusAccepted, nil)
		}
		recv.WaitForCount(t, to, pollTimeout)
	}
	post(0, 30)
	srv.stop(t)
	half = filepath.Join(t.TempDir(), "half")
	if err := os.CopyFS(half, os.DirFS(data)); err != nil {
		t.Fatal(err)
	}
	srv = startServer(t, "build-2", data)
	post(30, 60)
	srv.stop(t)
	return data, half
}

// Every kind of damage to the log is refused by serve with an exit code
// of 1 and a message saying what, where and what to do; the log tools say
// what is wrong without a panic; nothing starts on less data.
func TestServeRefusesADamagedLog(t *testing.T) {
	data, half := damagedDataDir(t)
	copyData := func(t *testing.T) string {
		d := filepath.Join(t.TempDir(), "data")
		if err := os.CopyFS(d, os.DirFS(data)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	logFile := func(t *testing.T, d, ext string) string {
		m, _ := filepath.Glob(filepath.Join(d, "log", "*"+ext))
		if len(m) == 0 {
			t.Fatalf("no %s file in %s/log", ext, d)
		}
		return m[0]
	}
	cut := func(t *testing.T, p string) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, fi.Size()/2); err != nil {
			t.Fatal(err)
		}
	}
	flip := func(t *testing.T, p string) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 16 {
			b[len(b)/3+i*7] ^= 0xff
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, d string)
		want   string
	}{
		{"MANIFEST deleted", func(t *testing.T, d string) { os.Remove(filepath.Join(d, "log", "MANIFEST")) }, "MANIFEST: it is missing"},
		{"MANIFEST truncated", func(t *testing.T, d string) { cut(t, filepath.Join(d, "log", "MANIFEST")) }, "MANIFEST"},
		{"table flipped", func(t *testing.T, d string) { flip(t, logFile(t, d, ".sst")) }, ".sst: the table file does not decode"},
		{"table truncated", func(t *testing.T, d string) { cut(t, logFile(t, d, ".sst")) }, ".sst: the table file does not decode"},
		{"value log flipped", func(t *testing.T, d string) { flip(t, logFile(t, d, ".vlog")) }, ".vlog: at offset"},
		{"value log truncated", func(t *testing.T, d string) { cut(t, logFile(t, d, ".vlog")) }, ".vlog: at offset"},
		{"older copy of the log", func(t *testing.T, d string) {
			os.RemoveAll(filepath.Join(d, "log"))
			if err := os.CopyFS(filepath.Join(d, "log"), os.DirFS(filepath.Join(half, "log"))); err != nil {
				t.Fatal(err)
			}
		}, "entries were lost"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := copyData(t)
			c.damage(t, d)
			code, out := runHookd(t, pollTimeout, nil, "serve", "--addr", "127.0.0.1:0", "--data", d, "--allow-private-targets")
			if code != 1 {
				t.Errorf("serve on a damaged log: exit %d, want 1\n%s", code, out)
			}
			for _, want := range []string{"the event log is damaged", c.want, "restore the data directory from a backup", "hookd log verify --data " + d} {
				if !strings.Contains(out, want) {
					t.Errorf("serve's refusal does not say %q:\n%s", want, out)
				}
			}
			for _, args := range [][]string{{"serve", "--addr", "127.0.0.1:0", "--data", d}, {"log", "verify", "--data", d}, {"rebuild", "--data", d}, {"log", "export", "--data", d}} {
				code, out := runHookd(t, pollTimeout, nil, args...)
				if strings.Contains(out, "panic:") || strings.Contains(out, "goroutine ") || strings.Contains(out, "hookd listening") {
					t.Errorf("hookd %s on a damaged log panicked or started:\n%s", strings.Join(args, " "), out)
				}
				// Only export may still print what it can read of a shorter log.
				if code == 0 && !(args[0] == "log" && args[1] == "export") {
					t.Errorf("hookd %s on a damaged log exited 0:\n%s", strings.Join(args, " "), out)
				}
			}
		})
	}
}

// Damaged views are rebuilt from the log as serve starts, swapped in
// whole, and serve the same items as before; the log says so.
func TestServeRepairsDamagedViews(t *testing.T) {
	data, _ := damagedDataDir(t)
	srv := startServer(t, "before", data)
	want := srv.mustCall(t, http.MethodGet, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks", "", nil, http.StatusOK, nil)
	srv.stop(t)
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, d string)
	}{
		{"table flipped", func(t *testing.T, d string) {
			m, _ := filepath.Glob(filepath.Join(d, "views", "*.sst"))
			if len(m) == 0 {
				t.Fatal("no table file in the views")
			}
			b, _ := os.ReadFile(m[0])
			for i := range 16 {
				b[len(b)/3+i*7] ^= 0xff
			}
			if err := os.WriteFile(m[0], b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"MANIFEST deleted", func(t *testing.T, d string) { os.Remove(filepath.Join(d, "views", "MANIFEST")) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "data")
			if err := os.CopyFS(d, os.DirFS(data)); err != nil {
				t.Fatal(err)
			}
			c.damage(t, d)
			srv := startServer(t, "repaired", d)
			got := srv.mustCall(t, http.MethodGet, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks", "", nil, http.StatusOK, nil)
			if string(got) != string(want) {
				t.Errorf("hooks after the repair:\n%s\nwant\n%s", got, want)
			}
			if !strings.Contains(srv.logs.String(), "damaged views rebuilt from the log and swapped in") {
				t.Errorf("serve did not log the repair:\n%s", srv.logs)
			}
			srv.stop(t)
			entries, _ := filepath.Glob(filepath.Join(d, "views.*"))
			if len(entries) > 0 {
				t.Errorf("staging directories left behind: %v", entries)
			}
		})
	}
}
