package badgerdb

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/ristretto/v2/z"
	"github.com/hookd/hookd/eventlog"
)

// CheckFiles checks, before Badger opens it, that the database in dir is
// whole, because Badger does not fail cleanly on damaged files: it panics
// in its own goroutines on a truncated table (which no recover can catch),
// silently skips a table whose checksum fails, and, with its MANIFEST gone
// or cut short, deletes the table files it no longer lists and opens
// empty. So:
//
//   - table files (.sst) present and no MANIFEST, or a MANIFEST that is
//     empty, is damage;
//   - every table is opened and all its blocks' checksums verified;
//   - every value-log file (.vlog) is read entry by entry and each entry's
//     checksum verified; only the newest file may end in a torn entry
//     followed by nothing but zeros (a write cut short by a crash).
//
// It reads every table and value-log file once: its cost grows with the
// data (see README, Reliability). A dir that does not exist is fine.
func CheckFiles(dir, what string) (err error) {
	names, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s in %s: %w", what, dir, err)
	}
	var tables, vlogs []string
	manifest := int64(-1)
	for _, n := range names {
		switch name := n.Name(); {
		case strings.HasSuffix(name, ".sst"):
			tables = append(tables, name)
		case strings.HasSuffix(name, ".vlog"):
			vlogs = append(vlogs, name)
		case name == "MANIFEST":
			fi, err := n.Info()
			if err != nil {
				return fmt.Errorf("check %s in %s: %w", what, dir, err)
			}
			manifest = fi.Size()
		}
	}
	damaged := func(file, format string, args ...any) error {
		return &eventlog.DamageError{What: what, Dir: dir, File: file, Reason: fmt.Sprintf(format, args...)}
	}
	if len(tables) > 0 && manifest < 0 {
		return damaged("MANIFEST", "it is missing, but %d table files are there; Badger would delete them and open an empty database", len(tables))
	}
	listed := map[string]bool{}
	if manifest >= 0 {
		if listed, err = checkManifest(dir, tables); err != nil {
			return damaged("MANIFEST", "%v", err)
		}
	}
	// Tables are checked on every core: this is most of a start's time.
	var toCheck []string
	for _, name := range tables {
		if listed[name] { // an unlisted one a crash left behind: Badger deletes it
			toCheck = append(toCheck, name)
		}
	}
	errs := make([]error, len(toCheck))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(toCheck)) {
		wg.Go(func() {
			for i := range next {
				errs[i] = checkTable(filepath.Join(dir, toCheck[i]))
			}
		})
	}
	for i := range toCheck {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return damaged(toCheck[i], "%v", err)
		}
	}
	// File names are zero-padded ids: sorted by name is sorted by age.
	slices.Sort(vlogs)
	for i, name := range vlogs {
		if err := checkValueLog(filepath.Join(dir, name), i == len(vlogs)-1); err != nil {
			return damaged(name, "%v", err)
		}
	}
	return nil
}

// checkManifest replays the MANIFEST read-only and compares the tables it
// lists with the table files there. Badger deletes table files its
// MANIFEST does not list; that is right only for a table a crash left
// behind before it was recorded, which is newer than every listed one.
func checkManifest(dir string, tables []string) (listed map[string]bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("it does not decode (%s)", panicLine(r))
		}
	}()
	f, err := os.Open(filepath.Join(dir, "MANIFEST"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	m, end, err := badger.ReplayManifestFile(f, 0, badger.DefaultOptions(dir))
	if err != nil {
		return nil, fmt.Errorf("it does not decode: %w", err)
	}
	listed = map[string]bool{}
	var maxListed uint64
	for id := range m.Tables {
		maxListed = max(maxListed, id)
	}
	var unlisted []string
	for _, name := range tables {
		id, ok := table.ParseFileID(name)
		if !ok {
			continue
		}
		if _, listed := m.Tables[id]; !listed && (id < maxListed || end < fi.Size()) {
			unlisted = append(unlisted, name)
		}
	}
	if len(unlisted) > 0 {
		return nil, fmt.Errorf("it does not list %d table files that are there (%s); it has lost entries "+
			"(ends after %d of its %d bytes), and Badger would delete those tables", len(unlisted), strings.Join(unlisted, ", "), end, fi.Size())
	}
	for id := range m.Tables {
		name := table.IDToFilename(id)
		if !slices.Contains(tables, name) {
			return nil, fmt.Errorf("it lists table %s, which is missing", name)
		}
		listed[name] = true
	}
	return listed, nil
}

// panicLine is the first non-empty line of a recovered panic's value.
func panicLine(r any) string {
	for _, l := range strings.Split(fmt.Sprint(r), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return "panic"
}

// checkTable opens one table file read-only and verifies every block's
// checksum, turning Badger's panics on a damaged file into an error.
func checkTable(path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the table file does not decode: it was cut short or its bytes changed (Badger: %s)", panicLine(r))
		}
	}()
	mf, err := z.OpenMmapFile(path, os.O_RDONLY, 0)
	if err != nil && !errors.Is(err, z.NewFile) {
		return fmt.Errorf("open: %w", err)
	}
	// Close the mapping only: the table's DecrRef would delete the file.
	defer mf.Close(-1)
	opts := table.Options{ChkMode: options.OnTableRead, Compression: options.Snappy, BlockSize: 4 << 10, ReadOnly: true}
	if _, err := table.OpenTable(mf, opts); err != nil {
		return fmt.Errorf("the table file does not decode: a checksum or its index does not match its bytes: %w", err)
	}
	return nil
}

// vlogHeaderSize is the value-log file header Badger writes first (a key
// id and an IV, used with encryption).
const vlogHeaderSize = 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkValueLog reads a value-log file entry by entry. Each entry is a
// header (meta byte, user-meta byte, key length, value length and expiry as
// uvarints), the key, the value, and a big-endian CRC-32C of all of it.
// The written part ends at an all-zero header or at the end of the file.
func checkValueLog(path string, newest bool) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < vlogHeaderSize {
		return fmt.Errorf("it is %d bytes, shorter than its %d-byte header", fi.Size(), vlogHeaderSize)
	}
	r := bufio.NewReaderSize(f, 1<<20)
	if _, err := r.Discard(vlogHeaderSize); err != nil {
		return err
	}
	offset := int64(vlogHeaderSize)
	var buf []byte
	for {
		start := offset
		h := crc32.New(castagnoli)
		tee := &byteCounter{r: r, h: h}
		meta, err1 := tee.ReadByte()
		user, err2 := tee.ReadByte()
		klen, err3 := binary.ReadUvarint(tee)
		vlen, err4 := binary.ReadUvarint(tee)
		exp, err5 := binary.ReadUvarint(tee)
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
			if errors.Is(err1, io.EOF) {
				return nil // the file ends between entries
			}
			return tornOrDamaged(r, newest, start, "an entry's header is cut short")
		}
		if meta == 0 && user == 0 && klen == 0 && vlen == 0 && exp == 0 {
			return nil // the end of what was written
		}
		if klen > 1<<16 || int64(klen+vlen) > fi.Size() {
			return tornOrDamaged(r, newest, start, fmt.Sprintf("an entry's header gives impossible lengths (key %d, value %d bytes)", klen, vlen))
		}
		n := int(klen + vlen)
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		if _, err := io.ReadFull(tee, buf[:n]); err != nil {
			return tornOrDamaged(r, newest, start, "an entry is cut short")
		}
		var sum [4]byte
		if _, err := io.ReadFull(r, sum[:]); err != nil {
			return tornOrDamaged(r, newest, start, "an entry's checksum is cut short")
		}
		if binary.BigEndian.Uint32(sum[:]) != h.Sum32() {
			return tornOrDamaged(r, newest, start, "an entry's checksum does not match its bytes")
		}
		offset += tee.n + 4
	}
}

// tornOrDamaged decides about a bad entry at offset. Badger maps the
// value-log file it writes at twice its size, zero-filled, and cuts it to
// what it wrote only on a clean close. So in the newest file a bad entry
// followed by zeros (and only zeros) is a write a crash cut short, which
// Badger drops on open (what it held was never acknowledged). A bad entry
// anywhere else, or one the end of the file cuts, means damage.
func tornOrDamaged(r *bufio.Reader, newest bool, offset int64, reason string) error {
	if newest {
		zeros, other := 0, false
		buf := make([]byte, 64<<10)
		for !other {
			n, err := r.Read(buf)
			for _, c := range buf[:n] {
				if c != 0 {
					other = true
					break
				}
			}
			zeros += n
			if err != nil {
				break
			}
		}
		if zeros > 0 && !other {
			return nil
		}
		if !other {
			reason += ", and the file ends there (it was cut short)"
		}
	}
	return fmt.Errorf("at offset %d %s", offset, reason)
}

// byteCounter reads through r, hashing and counting what it reads.
type byteCounter struct {
	r *bufio.Reader
	h io.Writer
	n int64
}

func (b *byteCounter) ReadByte() (byte, error) {
	c, err := b.r.ReadByte()
	if err == nil {
		b.h.Write([]byte{c})
		b.n++
	}
	return c, err
}

func (b *byteCounter) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	return n, err
}
