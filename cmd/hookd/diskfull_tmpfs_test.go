//go:build linux

package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hookd/hookd/internal/testkit"
)

// The real binary on a real, small filesystem (a 256 MiB tmpfs, so the
// test needs root): filling it past the reserve turns writes into 503s,
// the process stays up (Badger's value-log writes would fault on a really
// full disk), and once the filler is removed it takes writes again; the
// log is whole afterwards.
func TestAFullTmpfsKeepsTheServerUpAndLosesNothing(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=256m,mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): run as root (as .ci/run does) to test a really full disk; the injected-probe test covers the logic", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	data := filepath.Join(mnt, "data")
	srv := startServer(t, "tmpfs", data, "HOOKD_MIN_FREE_DISK=64MiB")
	recv := newReceiver(t)
	hooks := "/v0.1/apps/" + e2eApp + "/outgoing-webhooks"
	srv.mustCall(t, http.MethodPost, hooks, `{"url": "`+recv.URL()+`/hook", "events": ["all"]}`, nil, http.StatusOK, nil)
	event := func(slug string) (int, []byte) {
		return srv.call(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/build-events",
			`{"build_slug":"`+slug+`","build_number":1,"build_status":1}`, map[string]string{"Bitrise-Event-Type": "build/finished"})
	}
	if code, body := event("before"); code != http.StatusAccepted {
		t.Fatalf("build event: %d %s", code, body)
	}
	recv.WaitForCount(t, 1, pollTimeout)

	// Fill the filesystem to 32 MiB free: below the 64 MiB reserve, but
	// not full, so what Badger has already mapped can still be written.
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for left := free - 32<<20; left > 0; left -= int64(len(chunk)) {
		if _, err := f.Write(chunk[:min(int64(len(chunk)), left)]); err != nil {
			t.Fatalf("fill the tmpfs: %v", err)
		}
	}
	f.Close()
	testkit.WaitUntil(t, pollTimeout, "/readyz to say the disk is full", func() bool {
		code, body := srv.call(t, http.MethodGet, "/readyz", "", nil)
		return code == http.StatusServiceUnavailable && strings.Contains(string(body), "the disk is full")
	})
	for i := range 20 {
		if code, body := event("refused"); code != http.StatusServiceUnavailable || !strings.Contains(string(body), "the disk is full") {
			t.Fatalf("build event #%d on a full disk: %d %s; want 503", i, code, body)
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, pollTimeout, "a build event to be taken again", func() bool {
		code, _ := event("after")
		return code == http.StatusAccepted
	})
	recv.WaitForCount(t, 2, pollTimeout)
	srv.stop(t)
	if code, out := runHookd(t, pollTimeout, nil, "log", "verify", "--data", data); code != 0 || !strings.Contains(out, "log verify: ok") {
		t.Fatalf("log verify after the full disk: exit %d\n%s", code, out)
	}
}
