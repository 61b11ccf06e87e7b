package badgerlog_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
)

// openMarked opens the log in dir/log with its head mark in dir/head, as
// serve does.
func openMarked(dir string) (*badgerlog.Store, error) {
	return badgerlog.Open(filepath.Join(dir, "log"), badgerlog.Options{HeadFile: filepath.Join(dir, "head"), CheckHead: true})
}

func appendN(t *testing.T, s *badgerlog.Store, prefix string, n int) {
	t.Helper()
	for i := range n {
		// Every 40th payload is over the value threshold, so it goes to the value log.
		p := []byte(fmt.Sprintf(`{"n":%d,"pad":%q}`, i, strings.Repeat("p", 200)))
		if i%40 == 0 {
			p = []byte(fmt.Sprintf(`{"n":%d,"big":%q}`, i, strings.Repeat("b", 40<<10)))
		}
		if _, err := s.Append(testContext(t), eventlog.Topic, eventlog.AppendMessage{UUID: fmt.Sprintf("%s-%d", prefix, i), Metadata: map[string]string{eventlog.MetaName: "test.appended.v1"}, Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
}

func mustOpenMarked(t *testing.T, dir string) *badgerlog.Store {
	t.Helper()
	s, err := openMarked(dir)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return s
}

func requireDamaged(t *testing.T, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, eventlog.ErrDamaged) {
		t.Fatalf("open: got %v, want an error wrapping eventlog.ErrDamaged", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// A log that comes back shorter than its head mark, or with another entry
// at the marked sequence, is refused; the same log with its own mark opens.
func TestHeadMarkCatchesShorterAndRewrittenLogs(t *testing.T) {
	dir := t.TempDir()
	s := mustOpenMarked(t, dir)
	appendN(t, s, "a", 50)
	s.Close()
	old := copyDir(t, filepath.Join(dir, "log"))

	s = mustOpenMarked(t, dir)
	appendN(t, s, "b", 50)
	s.Close()
	m, ok, err := badgerlog.ReadHeadMark(filepath.Join(dir, "head"))
	if err != nil || !ok || m.Seq != 100 {
		t.Fatalf("head mark after 100 appends: %+v, %v, %v", m, ok, err)
	}

	t.Run("shorter", func(t *testing.T) {
		d := t.TempDir()
		if err := os.CopyFS(filepath.Join(d, "log"), os.DirFS(old)); err != nil {
			t.Fatal(err)
		}
		copyFile(t, filepath.Join(dir, "head"), filepath.Join(d, "head"))
		_, err := openMarked(d)
		requireDamaged(t, err, "ends at entry 50", "held 100 entries", "50 entries were lost")
		// It stays refused: a failed open never lowers the mark.
		_, err = openMarked(d)
		requireDamaged(t, err, "ends at entry 50")
	})
	t.Run("rewritten", func(t *testing.T) {
		d := t.TempDir()
		if err := os.CopyFS(filepath.Join(d, "log"), os.DirFS(old)); err != nil {
			t.Fatal(err)
		}
		other, err := badgerlog.Open(filepath.Join(d, "log"), badgerlog.Options{})
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, other, "forged", 50)
		other.Close()
		copyFile(t, filepath.Join(dir, "head"), filepath.Join(d, "head"))
		_, err = openMarked(d)
		requireDamaged(t, err, "entry 100's hash is", "the log was rewritten")
	})
	t.Run("intact", func(t *testing.T) {
		s := mustOpenMarked(t, dir)
		defer s.Close()
		appendN(t, s, "c", 5)
	})
}

// Entries appended after the mark was last written (a crash before the
// next rewrite) are verified on open, from the marked hash on.
func TestHeadMarkVerifiesEntriesAfterIt(t *testing.T) {
	dir := t.TempDir()
	s := mustOpenMarked(t, dir)
	appendN(t, s, "a", 20)
	s.Close()
	mark := filepath.Join(dir, "head")
	saved, err := os.ReadFile(mark)
	if err != nil {
		t.Fatal(err)
	}
	// 20 more entries, then the mark as it was after the first 20.
	s = mustOpenMarked(t, dir)
	appendN(t, s, "b", 20)
	s.Close()
	if err := os.WriteFile(mark, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	intact := copyDir(t, dir)

	// Entry 30, after the mark, changed: the chain from the mark breaks.
	raw, err := badgerlog.Open(filepath.Join(dir, "log"), badgerlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.RewriteEntryForTest(eventlog.Topic, 30, flip(badgerlog.EntryBodyAtForTest+9)); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	_, err = openMarked(dir)
	requireDamaged(t, err, "hash chain breaks at entry 30")

	s = mustOpenMarked(t, intact)
	defer s.Close()
	if m, _, _ := badgerlog.ReadHeadMark(filepath.Join(intact, "head")); m.Seq != 40 {
		t.Fatalf("after verifying entries 21 to 40 the mark is at %d, want 40", m.Seq)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Each kind of damaged file is refused on open with an error naming the
// file, never a panic and never an emptier log.
func TestDamagedFilesAreRefused(t *testing.T) {
	src := t.TempDir()
	s := mustOpenMarked(t, src)
	appendN(t, s, "a", 600)
	s.Close()
	only := func(d, ext string) string {
		t.Helper()
		m, _ := filepath.Glob(filepath.Join(d, "log", "*"+ext))
		if len(m) == 0 {
			t.Fatalf("no %s file in %s", ext, d)
		}
		return m[0]
	}
	cut := func(p string) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, fi.Size()/2); err != nil {
			t.Fatal(err)
		}
	}
	flipFile := func(p string) {
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
		damage func(dir string)
		want   string
	}{
		{"MANIFEST deleted", func(d string) { os.Remove(filepath.Join(d, "log", "MANIFEST")) }, "MANIFEST: it is missing"},
		{"MANIFEST truncated", func(d string) { cut(filepath.Join(d, "log", "MANIFEST")) }, "MANIFEST: it does not list"},
		{"table flipped", func(d string) { flipFile(only(d, ".sst")) }, ".sst: the table file does not decode"},
		{"table truncated", func(d string) { cut(only(d, ".sst")) }, ".sst: the table file does not decode"},
		{"value log flipped", func(d string) { flipFile(only(d, ".vlog")) }, ".vlog: at offset"},
		{"value log truncated", func(d string) { cut(only(d, ".vlog")) }, "it was cut short"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := copyDir(t, src)
			c.damage(d)
			_, err := openMarked(d)
			requireDamaged(t, err, c.want)
			// The log tools open without the mark check; the files are
			// still refused, never a panic.
			_, err = badgerlog.Open(filepath.Join(d, "log"), badgerlog.Options{})
			requireDamaged(t, err, c.want)
		})
	}
}

// Admit refuses appends before anything is written, and they go on once
// it admits them again.
func TestAdmitHoldsAppends(t *testing.T) {
	full := errors.New("the disk is full")
	var refuse bool
	var asked []int
	s, err := badgerlog.Open(t.TempDir(), badgerlog.Options{Admit: func(n int) error {
		asked = append(asked, n)
		if refuse {
			return full
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	appendN(t, s, "a", 3)
	refuse = true
	_, err = s.Append(testContext(t), eventlog.Topic, eventlog.AppendMessage{UUID: "x", Payload: []byte(`{}`)})
	if !errors.Is(err, eventlog.ErrHeld) || !errors.Is(err, full) {
		t.Fatalf("append while refused: %v, want eventlog.ErrHeld wrapping the reason", err)
	}
	if h, _ := s.Head(eventlog.Topic); h != 3 {
		t.Fatalf("head after a refused append: %d, want 3", h)
	}
	if s.Err() != nil {
		t.Fatalf("a held append must not make the store fail: %v", s.Err())
	}
	refuse = false
	appendN(t, s, "b", 1)
	if h, _ := s.Head(eventlog.Topic); h != 4 {
		t.Fatalf("head after admitting again: %d, want 4", h)
	}
	if asked[0] < 200 {
		t.Fatalf("Admit was asked for %d bytes for a 200-byte payload", asked[0])
	}
}

// The background verification finds damage the check on open does not
// read (an entry before the head mark), and then the store takes no more
// appends.
func TestVerifierStopsAppendsOnABrokenLink(t *testing.T) {
	dir := t.TempDir()
	s := mustOpenMarked(t, dir)
	defer s.Close()
	appendN(t, s, "a", 50)
	v := eventlog.NewVerifier(s, s.Dir(), 0, nil)
	v.Run(testContext(t))
	if head, _, damage := v.Status(); damage != nil || head != 50 {
		t.Fatalf("intact log: verified head %d, damage %v", head, damage)
	}
	if err := s.RewriteEntryForTest(eventlog.Topic, 10, flip(badgerlog.EntryBodyAtForTest+9)); err != nil {
		t.Fatal(err)
	}
	v.Run(testContext(t))
	_, _, damage := v.Status()
	if !errors.Is(damage, eventlog.ErrDamaged) || !strings.Contains(damage.Error(), "breaks at entry 10") {
		t.Fatalf("damaged log: %v", damage)
	}
	_, err := s.Append(testContext(t), eventlog.Topic, eventlog.AppendMessage{UUID: "after", Payload: []byte(`{}`)})
	if !errors.Is(err, eventlog.ErrDamaged) {
		t.Fatalf("append after the damage was found: %v, want eventlog.ErrDamaged", err)
	}
}
