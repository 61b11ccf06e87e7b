package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/internal/service"
	"github.com/hookd/hookd/internal/testkit"
)

var verifyOK = regexp.MustCompile(`(?m)^log verify: ok, (\d+) entries, head (\d+), last hash ([0-9a-f]{64})$`)

// TestLogVerifyPassesOnServedLogAndCatchesTampering runs the real binary:
// a served log verifies clean (and not while the server holds it); a copy
// with one entry's payload byte changed on disk is reported broken at that
// entry with exit code 1.
func TestLogVerifyPassesOnServedLogAndCatchesTampering(t *testing.T) {
	data := t.TempDir()
	recv := newReceiver(t)
	srv := startServer(t, "server", data)

	var created struct {
		Data struct {
			Slug string `json:"slug"`
		} `json:"data"`
	}
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks",
		fmt.Sprintf(`{"url":%q,"events":["all"]}`, recv.URL()+"/hook"), nil, http.StatusOK, &created)
	hookPath := "/v0.1/apps/" + e2eApp + "/outgoing-webhooks/" + created.Data.Slug
	const builds = 3
	for i := range builds {
		body := fmt.Sprintf(`{"build_slug":"verify-%d","build_number":%d,"build_status":1}`, i, i+1)
		srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events", body,
			map[string]string{"Bitrise-Event-Type": "build/finished"}, http.StatusAccepted, nil)
	}
	recv.WaitForCount(t, builds, pollTimeout)
	testkit.WaitUntil(t, pollTimeout, "every delivery to be recorded", func() bool {
		list, _ := listItems(t, srv, hookPath)
		return len(list.Data) == builds
	})

	// While the server holds the log, verify refuses clearly.
	code, out := runHookd(t, time.Minute, nil, "log", "verify", "--data", data)
	if code != 1 || !strings.Contains(out, "in use") {
		t.Fatalf("log verify beside a running server: exit %d, want 1 saying the log is in use:\n%s", code, out)
	}
	srv.stop(t)

	// 1 hook configured + 3 build events + their 3 requests + 3 attempts.
	const want = 1 + 3*builds
	code, out = runHookd(t, time.Minute, nil, "log", "verify", "--data", data)
	m := verifyOK.FindStringSubmatch(out)
	if code != 0 || m == nil {
		t.Fatalf("log verify: exit %d, want 0 and an ok line:\n%s", code, out)
	}
	if m[1] != strconv.Itoa(want) || m[2] != strconv.Itoa(want) {
		t.Fatalf("log verify: %s entries, head %s; want %d and %d:\n%s", m[1], m[2], want, want, out)
	}
	if !strings.Contains(out, fmt.Sprintf("log verify: %d/%d entries (100%%)", want, want)) {
		t.Errorf("no final progress line in:\n%s", out)
	}

	// A copy with entry 3's last payload byte changed.
	tampered := t.TempDir()
	if err := os.CopyFS(tampered, os.DirFS(data)); err != nil {
		t.Fatal(err)
	}
	flipLastByte(t, filepath.Join(tampered, "log"), 3)
	code, out = runHookd(t, time.Minute, nil, "log", "verify", "--data", tampered)
	if code != 1 || !strings.Contains(out, "log verify: BROKEN at seq 3: hash mismatch") {
		t.Fatalf("log verify of a tampered copy: exit %d, want 1 and BROKEN at seq 3:\n%s", code, out)
	}
	if verifyOK.MatchString(out) {
		t.Fatalf("log verify of a tampered copy also says ok:\n%s", out)
	}

	// The original is untouched.
	code, out = runHookd(t, time.Minute, nil, "log", "verify", "--data", data)
	if again := verifyOK.FindStringSubmatch(out); code != 0 || again == nil || again[3] != m[3] {
		t.Fatalf("log verify of the original after tampering with a copy: exit %d, want 0 and last hash %s:\n%s", code, m[3], out)
	}
}

// flipLastByte changes the last byte of entry seq of the hookd topic
// straight in Badger, by the key layout documented in eventlog's doc.go:
// 'e' <topic> 0x00 <seq big-endian>.
func flipLastByte(t *testing.T, logDir string, seq uint64) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(logDir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := binary.BigEndian.AppendUint64(append([]byte("e"+eventlog.Topic), 0), seq)
	err = db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		v[len(v)-1] ^= 0x01
		return txn.Set(key, v)
	})
	if err != nil {
		t.Fatalf("tamper with entry %d: %v", seq, err)
	}
}

// TestLogVerifyUsageAndMissingLog runs the command in-process: a data
// directory without a log is a clear error (and is not turned into an
// empty log), an empty log verifies, and bad usage exits 2.
func TestLogVerifyUsageAndMissingLog(t *testing.T) {
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
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"data dir without a log", []string{"log", "verify", "--data", emptyData}, 1, "no event log in " + emptyData},
		{"missing data dir", []string{"log", "verify", "--data", filepath.Join(emptyData, "nope")}, 1, "no event log in"},
		{"the log dir itself", []string{"log", "verify", "--data", logDir}, 1, "--data " + withEmptyLog},
		{"empty log", []string{"log", "verify", "--data", withEmptyLog}, 0, "log verify: ok, 0 entries, head 0, last hash " + strings.Repeat("0", 64)},
		{"no subcommand", []string{"log"}, 2, "hookd log verify [SOURCE]"},
		{"unknown subcommand", []string{"log", "check"}, 2, `unknown command "check"`},
		{"extra argument", []string{"log", "verify", "--data", withEmptyLog, "more"}, 2, `unexpected argument "more"`},
		{"unknown flag", []string{"log", "verify", "--topic", "x"}, 2, "flag provided but not defined"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			code := run(ctx, tc.args, func(string) string { return "" }, &stdout, &stderr)
			out := stdout.String() + stderr.String()
			if code != tc.wantCode || !strings.Contains(out, tc.wantOut) {
				t.Fatalf("hookd %s: exit %d, want %d with %q; output:\n%s", strings.Join(tc.args, " "), code, tc.wantCode, tc.wantOut, out)
			}
		})
	}
	if entries, err := os.ReadDir(emptyData); err != nil || len(entries) != 0 {
		t.Fatalf("verifying a data dir without a log wrote %v (%v)", entries, err)
	}
}
