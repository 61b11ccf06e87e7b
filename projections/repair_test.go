package projections_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/projections"
)

// realViews is a log and the views the live runner built from it.
type realViews struct {
	store *badgerlog.Store
	dir   string // the views directory, closed
	want  []kv   // a fresh rebuild's views
	hist  *history
}

// buildRealViews appends a random history, with some bodies big enough
// to go to Badger's value log, applies it through the runner and closes
// the views.
func buildRealViews(t *testing.T) realViews {
	t.Helper()
	store := openStore(t)
	pub := eventlog.NewPublisher(store)
	hist := newHistory(9)
	dir := filepath.Join(t.TempDir(), "views")
	live := openViews(t, dir)
	run := startRunner(t, store, live)
	evs := hist.events(1500)
	for i := 0; i < 12; i++ {
		a := hist.attempt().(domain.DeliveryAttempted)
		a.Response = &domain.Response{Status: 200, Body: strings.Repeat("big body ", 5000)}
		evs = append(evs, a)
	}
	for rest := evs; len(rest) > 0; {
		n := min(len(rest), 200)
		appendEvents(t, pub, rest[:n]...)
		rest = rest[n:]
	}
	head, err := store.Head(eventlog.Topic)
	if err != nil {
		t.Fatal(err)
	}
	run.waitApplied(t, head)
	run.stop(t)
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	fresh := openViews(t, filepath.Join(t.TempDir(), "fresh"))
	defer fresh.Close()
	if err := projections.Rebuild(testContext(t), store, fresh, nil); err != nil {
		t.Fatal(err)
	}
	rv := realViews{store: store, dir: dir, want: dump(t, fresh), hist: hist}
	if !hasValueLogData(t, dir) {
		t.Fatal("the views hold nothing in the value log; the big bodies did not go there")
	}
	return rv
}

func hasValueLogData(t *testing.T, dir string) bool {
	for _, f := range globFiles(t, dir, "*.vlog") {
		if fi, err := os.Stat(f); err == nil && fi.Size() > 1000 {
			return true
		}
	}
	return false
}

// copyViews copies the views into a fresh data directory, returns where.
func (rv realViews) copyViews(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "views")
	copyDir(t, rv.dir, dst)
	return dst
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if e.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		if e.Name() == "LOCK" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

func globFiles(t *testing.T, dir, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// largest returns the biggest file in dir matching pattern.
func largest(t *testing.T, dir, pattern string) string {
	t.Helper()
	var best string
	var size int64 = -1
	for _, f := range globFiles(t, dir, pattern) {
		if fi, err := os.Stat(f); err == nil && fi.Size() > size {
			best, size = f, fi.Size()
		}
	}
	if best == "" {
		t.Fatalf("no %s in %s", pattern, dir)
	}
	return best
}

func flipBytes(t *testing.T, path string, at float64, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := int(float64(len(b)) * at)
	for i := off; i < off+n && i < len(b); i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func truncateTo(t *testing.T, path string, frac float64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, int64(float64(fi.Size())*frac)); err != nil {
		t.Fatal(err)
	}
}

// logBuffer collects log lines, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// assertOnlyLive fails unless dir's parent holds the live views alone.
func assertOnlyLive(t *testing.T, dir string) {
	t.Helper()
	for _, suffix := range []string{".rebuild", ".rebuild.bulk", ".new", ".old"} {
		if _, err := os.Stat(dir + suffix); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is left behind (stat: %v)", dir+suffix, err)
		}
	}
}

// caughtUp opens dir with OpenViewsDir, lets the runner catch up with
// the log, and returns the views' contents.
func caughtUp(t *testing.T, rv realViews, dir string, logger *slog.Logger) []kv {
	t.Helper()
	v, err := projections.OpenViewsDir(testContext(t), dir, rv.store, logger)
	if err != nil {
		t.Fatalf("OpenViewsDir: %v", err)
	}
	defer v.Close()
	head, _ := rv.store.Head(eventlog.Topic)
	run := startRunner(t, rv.store, v)
	run.waitApplied(t, head)
	run.stop(t)
	if err := v.Damaged(); err != nil {
		t.Errorf("repaired views report damage: %v", err)
	}
	return dump(t, v)
}

func TestDamagedViewsAreRebuiltFromTheLogAtOpen(t *testing.T) {
	rv := buildRealViews(t)
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"flipped bytes in a table", func(t *testing.T, dir string) { flipBytes(t, largest(t, dir, "*.sst"), 0.5, 16) }},
		{"truncated table", func(t *testing.T, dir string) { truncateTo(t, largest(t, dir, "*.sst"), 0.5) }},
		{"deleted MANIFEST", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "MANIFEST")); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated MANIFEST", func(t *testing.T, dir string) { truncateTo(t, filepath.Join(dir, "MANIFEST"), 0.5) }},
		{"flipped bytes in the value log", func(t *testing.T, dir string) { flipBytes(t, largest(t, dir, "*.vlog"), 0.5, 16) }},
		{"truncated value log", func(t *testing.T, dir string) { truncateTo(t, largest(t, dir, "*.vlog"), 0.5) }},
		{"marked damaged by a read", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "hookd-views-damaged"), []byte("checksum mismatch\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := rv.copyViews(t)
			tc.damage(t, dir)
			var logs logBuffer
			got := caughtUp(t, rv, dir, newLogger(&logs))
			assertSameViews(t, "views after repair vs a fresh rebuild", rv.want, got)
			assertOnlyLive(t, dir)
			// Every case is either repaired by a rebuild (and says so) or,
			// for a MANIFEST cut at a record boundary, opens as older
			// views the runner caught up; a repair must name the directory.
			if s := logs.String(); strings.Contains(s, "rebuilt") && !strings.Contains(s, dir) {
				t.Errorf("the repair's log lines do not name %s:\n%s", dir, s)
			}
			t.Logf("log:\n%s", logs.String())
		})
	}
}

func TestViewsRepairIsLoggedWithDirectoryAndReason(t *testing.T) {
	rv := buildRealViews(t)
	dir := rv.copyViews(t)
	flipBytes(t, largest(t, dir, "*.sst"), 0.5, 16)
	var logs logBuffer
	caughtUp(t, rv, dir, newLogger(&logs))
	s := logs.String()
	for _, want := range []string{"level=ERROR", "views damaged", "level=WARN", "rebuilt from the log", dir} {
		if !strings.Contains(s, want) {
			t.Errorf("the log does not say %q:\n%s", want, s)
		}
	}
}

func TestFailedRepairLeavesDamagedViewsInPlace(t *testing.T) {
	rv := buildRealViews(t)
	dir := rv.copyViews(t)
	if err := os.WriteFile(filepath.Join(dir, "hookd-views-damaged"), []byte("test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := plainDump(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var logs logBuffer
	_, err := projections.OpenViewsDir(ctx, dir, rv.store, newLogger(&logs))
	if err == nil || !errors.Is(err, projections.ErrViewsDamaged) || !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenViewsDir with a failing rebuild: %v; want the damage and the rebuild's error", err)
	}
	if !strings.Contains(err.Error(), "left in place") {
		t.Errorf("the error does not say the views were left in place: %v", err)
	}
	assertSameViews(t, "damaged views after a failed repair vs before", before, plainDump(t, dir))
	assertOnlyLive(t, dir)
	if !strings.Contains(logs.String(), "rebuilding the damaged views failed") {
		t.Errorf("the failure is not logged:\n%s", logs.String())
	}
}

// plainDump opens dir without checks or repair and dumps it.
func plainDump(t *testing.T, dir string) []kv {
	t.Helper()
	v := openViews(t, dir)
	defer v.Close()
	return dump(t, v)
}

func TestOfflineRebuildThatFailsLeavesTheOldViews(t *testing.T) {
	rv := buildRealViews(t)
	dir := rv.copyViews(t)
	v := openViews(t, dir)
	want := dump(t, v)
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	// A rebuild cancelled after its first batch, of a log longer than one.
	long := openStore(t)
	longPub := eventlog.NewPublisher(long)
	hist := newHistory(3)
	for range 10 {
		appendEvents(t, longPub, hist.events(1000)...)
	}
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	batches := 0
	err := projections.RebuildViewsDir(ctx, dir, long, nil, func(done, total uint64) { batches++; cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("RebuildViewsDir cancelled part way: %v, want context.Canceled", err)
	}
	if batches != 1 {
		t.Fatalf("%d batches applied before the cancel took effect, want 1", batches)
	}
	assertOnlyLive(t, dir)
	v = openViews(t, dir)
	assertSameViews(t, "views after a failed rebuild vs before", want, dump(t, v))
	_ = v.Close()

	// A log entry the views cannot apply.
	store := openStore(t)
	pub := eventlog.NewPublisher(store)
	appendEvents(t, pub, newHistory(1).events(50)...)
	if _, err := store.Append(testContext(t), eventlog.Topic, eventlog.AppendMessage{
		UUID: "bad-entry", Metadata: map[string]string{eventlog.MetaName: domain.NameDeliveryAttempted}, Payload: []byte("{not json"),
	}); err != nil {
		t.Fatal(err)
	}
	err = projections.RebuildViewsDir(testContext(t), dir, store, nil, nil)
	if err == nil {
		t.Fatal("RebuildViewsDir over a log with an entry the views cannot apply succeeded")
	}
	if !strings.Contains(err.Error(), "left as they were") {
		t.Errorf("the error does not say the old views stay: %v", err)
	}
	assertOnlyLive(t, dir)
	v = openViews(t, dir)
	assertSameViews(t, "views after a rebuild that met a bad entry vs before", want, dump(t, v))
	_ = v.Close()
}

func TestOfflineRebuildReplacesViewsWithFreshOnes(t *testing.T) {
	rv := buildRealViews(t)
	dir := rv.copyViews(t)
	v := openViews(t, dir)
	if err := v.DB().Update(func(txn *badger.Txn) error { return txn.Set([]byte("zz-stray"), []byte("left over")) }); err != nil {
		t.Fatal(err)
	}
	_ = v.Close()
	var calls int
	if err := projections.RebuildViewsDir(testContext(t), dir, rv.store, nil, func(done, total uint64) { calls++ }); err != nil {
		t.Fatalf("RebuildViewsDir: %v", err)
	}
	if calls == 0 {
		t.Error("no progress reported")
	}
	assertOnlyLive(t, dir)
	v = openViews(t, dir)
	defer v.Close()
	assertSameViews(t, "views rebuilt beside vs a fresh rebuild", rv.want, dump(t, v))
}

func TestInterruptedRebuildIsTidiedAtOpen(t *testing.T) {
	rv := buildRealViews(t)
	t.Run("partial rebuild beside intact views", func(t *testing.T) {
		dir := rv.copyViews(t)
		copyDir(t, rv.dir, dir+".rebuild")
		truncateTo(t, largest(t, dir+".rebuild", "*.sst"), 0.3)
		assertSameViews(t, "views after a crash mid-rebuild", rv.want, caughtUp(t, rv, dir, nil))
		assertOnlyLive(t, dir)
	})
	t.Run("rebuild interrupted in its first pass", func(t *testing.T) {
		dir := rv.copyViews(t)
		copyDir(t, rv.dir, dir+".rebuild.bulk")
		assertSameViews(t, "views after a crash in a rebuild's first pass", rv.want, caughtUp(t, rv, dir, nil))
		assertOnlyLive(t, dir)
	})
	t.Run("complete rebuild not yet swapped in", func(t *testing.T) {
		dir := rv.copyViews(t)
		stale := openViews(t, dir)
		if err := stale.DB().Update(func(txn *badger.Txn) error { return txn.Set([]byte("zz-stale"), []byte("old views")) }); err != nil {
			t.Fatal(err)
		}
		_ = stale.Close()
		copyDir(t, rv.dir, dir+".new")
		assertSameViews(t, "views after a crash before the swap", rv.want, caughtUp(t, rv, dir, nil))
		assertOnlyLive(t, dir)
	})
	t.Run("crash between the swap's renames", func(t *testing.T) {
		dir := rv.copyViews(t)
		if err := os.Rename(dir, dir+".old"); err != nil {
			t.Fatal(err)
		}
		copyDir(t, rv.dir, dir+".new")
		assertSameViews(t, "views after a crash mid-swap", rv.want, caughtUp(t, rv, dir, nil))
		assertOnlyLive(t, dir)
	})
	t.Run("crash while removing the old views", func(t *testing.T) {
		dir := rv.copyViews(t)
		copyDir(t, rv.dir, dir+".old")
		_ = os.Remove(filepath.Join(dir+".old", "MANIFEST"))
		assertSameViews(t, "views after a crash removing the old ones", rv.want, caughtUp(t, rv, dir, nil))
		assertOnlyLive(t, dir)
	})
}

func TestViewsAheadOfTheLogAreRefusedNotRebuilt(t *testing.T) {
	rv := buildRealViews(t)
	short := openStore(t)
	appendEvents(t, eventlog.NewPublisher(short), newHistory(2).events(100)...)
	head, _ := rv.store.Head(eventlog.Topic)
	for _, damaged := range []bool{false, true} {
		dir := rv.copyViews(t)
		if damaged {
			if err := os.WriteFile(filepath.Join(dir, "hookd-views-damaged"), []byte("test\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		before := plainDump(t, dir)
		_, err := projections.OpenViewsDir(testContext(t), dir, short, nil)
		if !errors.Is(err, projections.ErrViewsAheadOfLog) {
			t.Fatalf("damaged %t: OpenViewsDir on a shorter log: %v, want ErrViewsAheadOfLog", damaged, err)
		}
		for _, want := range []string{fmt.Sprintf("reflect %d entries", head) + " but the log has only 100", "restore the data directory from a backup", "hookd log verify"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("damaged %t: the error does not say %q: %v", damaged, want, err)
			}
		}
		assertSameViews(t, "views refused vs before", before, plainDump(t, dir))
		assertOnlyLive(t, dir)
	}
}

func TestReadOfDamagedViewsIsReportedAndRepairedAtNextOpen(t *testing.T) {
	rv := buildRealViews(t)
	dir := rv.copyViews(t)
	var logs logBuffer
	v, err := projections.OpenViews(dir, newLogger(&logs))
	if err != nil {
		t.Fatal(err)
	}
	// Damage the value log under the open views (the first file: the
	// open made a new, empty, one to write to).
	f, err := os.OpenFile(globFiles(t, dir, "*.vlog")[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	for i := int64(1); i < 10; i++ {
		if _, err := f.WriteAt(bytes.Repeat([]byte{0xff}, 64), fi.Size()*i/10); err != nil {
			t.Fatal(err)
		}
	}
	_ = f.Close()
	failed := 0
	for _, ref := range rv.hist.hooks {
		if _, err := v.ListDeliveryItems(ref.slug, "", 1000); err != nil {
			failed++
		}
	}
	if failed == 0 {
		t.Fatal("no read failed on the damaged value log")
	}
	err = v.Damaged()
	if !errors.Is(err, projections.ErrViewsDamaged) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Damaged() = %v, want ErrViewsDamaged naming %s", err, dir)
	}
	if n := strings.Count(logs.String(), "views damaged"); n != 1 {
		t.Errorf("%d lines say the views are damaged, for %d failed reads; want 1:\n%s", n, failed, logs.String())
	}
	_ = v.Close()
	assertSameViews(t, "views repaired after a damaged read", rv.want, caughtUp(t, rv, dir, nil))
}
