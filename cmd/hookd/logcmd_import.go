package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/internal/fsutil"
	"github.com/hookd/hookd/internal/sealer"
	"github.com/hookd/hookd/internal/service"
)

// importStagingPattern names the directory an import writes the log in,
// inside the data directory, before renaming it to log/.
const importStagingPattern = ".log.import-*"

// logImport restores an export (hookd log export) into an empty data
// directory: the same sequences, ids, times, metadata, payloads and
// hashes, each hash recomputed from the entry's fields and checked, so an
// export whose chain does not verify is refused. It writes the log in a
// staging directory and renames it to <data>/log only when every entry is
// in and fsynced: a refused or interrupted import leaves no log behind.
func logImport(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("log import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envDefault(getenv, "HOOKD_DATA", "./data"), "data directory to restore into: new or empty (env HOOKD_DATA)")
	inPath := fs.String("in", "-", `the export to read ("-": stdin)`)
	var logCfg service.LogConfig
	if err := addLogFlags(fs, getenv, &logCfg); err != nil {
		return err
	}
	if err := parseLogFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := logCfg.Validate(); err != nil {
		return err
	}
	if logCfg.NATS() && isFlagSet(fs, "data") {
		fmt.Fprintf(stderr, "hookd log import: give --log (an empty stream on NATS) or --data (an empty data directory), not both\n")
		return errUsage
	}
	in, where := stdin, "stdin"
	if *inPath != "-" {
		f, err := os.Open(*inPath)
		if err != nil {
			return fmt.Errorf("open the export: %w", err)
		}
		defer f.Close()
		in, where = f, *inPath
	} else if f, ok := stdin.(*os.File); ok && isTerminal(f) {
		fmt.Fprintf(stderr, "hookd log import: reads an export on stdin: hookd log import --data DIR < export.jsonl (or --in FILE)\n")
		return errUsage
	}

	if logCfg.NATS() {
		return importToNATS(ctx, logCfg, in, where, getenv, stdout, stderr)
	}
	if err := requireEmptyTarget(*data); err != nil {
		return err
	}
	created := false
	if _, err := os.Stat(*data); errors.Is(err, os.ErrNotExist) {
		created = true
	}
	if err := os.MkdirAll(*data, 0o700); err != nil {
		return fmt.Errorf("create the data directory: %w", err)
	}
	removeStaleStaging(*data, stderr)
	staging, err := os.MkdirTemp(*data, importStagingPattern)
	if err != nil {
		return fmt.Errorf("create a staging directory for the log: %w", err)
	}
	// Until the rename, failing removes everything this import made.
	committed := false
	defer func() {
		if committed {
			return
		}
		if err := os.RemoveAll(staging); err != nil {
			fmt.Fprintf(stderr, "hookd log import: could not remove %s (%v): delete it\n", staging, err)
		}
		_ = os.Remove(service.HeadFile(*data)) // written on Close, if the entries were all in
		if created {
			_ = os.Remove(*data) // only if still empty
		}
	}()

	// With the data directory's head mark, written once the import is in
	// (it names the last entry), so the restored server checks the log
	// against it from its first start.
	store, err := badgerlog.Open(staging, badgerlog.Options{ValueLogGCInterval: -1, HeadFile: service.HeadFile(*data)})
	if err != nil {
		return err
	}
	lines := &exportLines{r: bufio.NewReaderSize(in, 256<<10), secrets: map[string]string{}}
	rep, err := store.Import(ctx, eventlog.Topic, lines.entries())
	if cerr := store.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close the imported log: %w", cerr)
	}
	if err != nil {
		return lines.explain(ctx, err, where)
	}
	if rep.Entries == 0 {
		return fmt.Errorf("%s holds no entries: nothing to restore (an export of a log has at least one line)", where)
	}
	logDir, _ := service.DataDirs(*data)
	_ = os.Remove(logDir) // an empty log/ (requireEmptyTarget allows it)
	if err := os.Rename(staging, logDir); err != nil {
		return fmt.Errorf("move the imported log into place: %w", err)
	}
	committed = true
	if err := fsutil.SyncDir(*data); err != nil {
		return fmt.Errorf("the log is in %s, but fsyncing %s failed: %w (run hookd log verify before using it)", logDir, *data, err)
	}
	fmt.Fprintf(stdout, "log import: ok, %d entries, head %d, last hash %s, into %s\n",
		rep.Entries, rep.Head, hex.EncodeToString(rep.LastHash[:]), logDir)
	fmt.Fprintf(stdout, "log import: compare that head and last hash with the export's (hookd log export printed them); "+
		"hookd serve builds the views at start (or run hookd rebuild --data %s)\n", *data)
	checkSecretKey(getenv, *data, lines.secrets, stderr)
	return nil
}

// requireEmptyTarget refuses a data directory that already holds a log
// or views: a restore never merges into, or replaces, existing state.
func requireEmptyTarget(data string) error {
	fi, err := os.Stat(data)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("the data directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("--data %s is not a directory: pass a new or empty data directory", data)
	}
	if _, err := os.Stat(service.HeadFile(data)); err == nil {
		return fmt.Errorf("%s is not empty: it holds %s, the head mark of a log that was there: "+
			"hookd log import restores into a new or empty data directory only: pass another --data", data, service.HeadFile(data))
	}
	logDir, viewsDir := service.DataDirs(data)
	for _, d := range []string{logDir, viewsDir} {
		ents, err := os.ReadDir(d)
		if errors.Is(err, os.ErrNotExist) || err == nil && len(ents) == 0 {
			continue
		}
		if err != nil {
			return fmt.Errorf("check %s: %w", d, err)
		}
		what := "views"
		if d == logDir {
			what = "an event log"
		}
		return fmt.Errorf("%s is not empty: %s holds %s; hookd log import restores into a new or empty data directory only: "+
			"pass another --data (and move that one away if it is to be replaced)", data, d, what)
	}
	return nil
}

// removeStaleStaging removes staging directories that imports killed
// before they could clean up left in data.
func removeStaleStaging(data string, stderr io.Writer) {
	stale, _ := filepath.Glob(filepath.Join(data, importStagingPattern))
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			fmt.Fprintf(stderr, "log import: %s was left by an import that did not finish, and could not be removed (%v): delete it\n", p, err)
			continue
		}
		fmt.Fprintf(stderr, "log import: removed %s, left by an import that did not finish\n", p)
	}
}

// exportLines reads an export a line at a time, in constant memory (one
// line at a time), and remembers where it is for error messages and the
// hooks' sealed secrets for checkSecretKey.
type exportLines struct {
	r       *bufio.Reader
	line    int               // the line last read
	seq     uint64            // its entry's sequence
	secrets map[string]string // hook slug → sealed secret, as of the last entry
}

// lineError is a line that is not an exported entry.
type lineError struct {
	line   int
	reason string
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.reason) }

// entries yields the export's entries.
func (l *exportLines) entries() iter.Seq2[eventlog.Entry, error] {
	return func(yield func(eventlog.Entry, error) bool) {
		for {
			b, err := l.r.ReadBytes('\n')
			if len(b) == 0 && errors.Is(err, io.EOF) {
				return
			}
			if err != nil && !errors.Is(err, io.EOF) {
				yield(eventlog.Entry{}, fmt.Errorf("read line %d: %w", l.line+1, err))
				return
			}
			l.line++
			e, perr := l.parse(bytes.TrimSuffix(b, []byte("\n")))
			if perr != nil {
				yield(eventlog.Entry{}, perr)
				return
			}
			l.seq = e.Seq
			l.noteSecret(e)
			if !yield(e, nil) {
				return
			}
		}
	}
}

// parse turns one line into an entry, refusing anything it cannot
// restore exactly (eventlog.ParseExportJSON).
func (l *exportLines) parse(b []byte) (eventlog.Entry, error) {
	e, err := eventlog.ParseExportJSON(b)
	if err != nil {
		return eventlog.Entry{}, &lineError{line: l.line, reason: err.Error()}
	}
	return e, nil
}

// noteSecret keeps track of each hook's current sealed secret.
func (l *exportLines) noteSecret(e eventlog.Entry) {
	name := e.Metadata[eventlog.MetaName]
	if name != domain.NameHookConfigured && name != domain.NameHookRemoved {
		return
	}
	ev, err := eventlog.DecodeEvent(name, e.Payload)
	if err != nil {
		return // the hash check decides; the views will say
	}
	switch ev := ev.(type) {
	case domain.HookConfigured:
		switch {
		case ev.SealedSecret == nil: // secret left as it was
		case *ev.SealedSecret == "":
			delete(l.secrets, ev.HookSlug)
		default:
			l.secrets[ev.HookSlug] = *ev.SealedSecret
		}
	case domain.HookRemoved:
		delete(l.secrets, ev.HookSlug)
	}
}

// explain turns an import failure into a message naming the line and
// entry, and saying that nothing was restored.
func (l *exportLines) explain(ctx context.Context, err error, where string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted at line %d of %s: nothing was restored (the data directory holds no log)", l.line, where)
	}
	var ie *eventlog.ImportError
	if errors.As(err, &ie) {
		return fmt.Errorf("refused: line %d of %s (seq %d): %s; nothing was restored (the data directory holds no log)",
			l.line, where, ie.Seq, ie.Reason)
	}
	var le *lineError
	if errors.As(err, &le) {
		return fmt.Errorf("refused: %s: %s; nothing was restored (the data directory holds no log)", where, le)
	}
	return fmt.Errorf("%w; nothing was restored (the data directory holds no log)", err)
}

// checkSecretKey says what the restored server needs to open the hooks'
// sealed secrets: the key of the server the export came from, as
// <data>/secret.key or HOOKD_SECRET_KEY. Without it, hookd serve would
// create a new key, and deliveries of hooks with a secret would be
// recorded as not sent.
func checkSecretKey(getenv func(string) string, data string, secrets map[string]string, stderr io.Writer) {
	if len(secrets) == 0 {
		return
	}
	keyPath := filepath.Join(data, sealer.KeyFileName)
	var key []byte
	var source string
	switch env := getenv("HOOKD_SECRET_KEY"); {
	case env != "":
		k, err := sealer.ParseKey(env)
		if err != nil {
			fmt.Fprintf(stderr, "log import: warning: HOOKD_SECRET_KEY: %v\n", err)
			return
		}
		key, source = k, "HOOKD_SECRET_KEY"
	default:
		b, err := os.ReadFile(keyPath)
		if err != nil {
			fmt.Fprintf(stderr, "log import: warning: %s a secret, sealed with the old server's key, and there is no key here "+
				"(no HOOKD_SECRET_KEY, no %s): copy secret.key from the backed-up data directory to %s (mode 0600), "+
				"or set HOOKD_SECRET_KEY as the old server had it, before starting hookd serve; without it, the server creates a new key "+
				"and deliveries of those hooks are recorded as not sent\n", hooksHave(len(secrets)), keyPath, keyPath)
			return
		}
		k, err := sealer.ParseKey(string(b))
		if err != nil {
			fmt.Fprintf(stderr, "log import: warning: key file %s: %v\n", keyPath, err)
			return
		}
		key, source = k, keyPath
	}
	s, err := sealer.New(key)
	if err != nil {
		fmt.Fprintf(stderr, "log import: warning: %s: %v\n", source, err)
		return
	}
	var wrong []string
	for slug, sealed := range secrets {
		if _, err := s.Open(sealed, slug); err != nil {
			wrong = append(wrong, slug)
		}
	}
	if len(wrong) > 0 {
		slices.Sort(wrong)
		fmt.Fprintf(stderr, "log import: warning: the key from %s does not open the secrets of %d of %d hooks (%s): "+
			"it is not the key of the server the export came from; use that server's secret.key or HOOKD_SECRET_KEY\n",
			source, len(wrong), len(secrets), strings.Join(firstN(wrong, 5), ", "))
		return
	}
	fmt.Fprintf(stderr, "log import: the key from %s opens the secrets of all %d hooks that have one\n", source, len(secrets))
}

func hooksHave(n int) string {
	if n == 1 {
		return "1 hook has"
	}
	return fmt.Sprintf("%d hooks have", n)
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}

// importToNATS restores an export into an empty JetStream stream: the
// move from the embedded log to several processes (README, Running
// several instances). The stream keeps every sequence, id, time and hash.
// JetStream does not let entries be deleted, so an import refused half
// way leaves the stream with the entries before the refusal: the error
// says so.
func importToNATS(ctx context.Context, c service.LogConfig, in io.Reader, where string, getenv func(string) string, stdout, stderr io.Writer) error {
	nl, err := service.OpenNATS(ctx, c, nil)
	if err != nil {
		return err
	}
	defer nl.Close()
	lines := &exportLines{r: bufio.NewReaderSize(in, 256<<10), secrets: map[string]string{}}
	rep, err := nl.Import(ctx, eventlog.Topic, lines.entries())
	if err != nil {
		return lines.explain(ctx, err, where)
	}
	if rep.Entries == 0 {
		return fmt.Errorf("%s holds no entries: nothing to restore (an export of a log has at least one line)", where)
	}
	fmt.Fprintf(stdout, "log import: ok, %d entries, head %d, last hash %s, into the JetStream stream %s\n",
		rep.Entries, rep.Head, hex.EncodeToString(rep.LastHash[:]), c.Stream)
	fmt.Fprintf(stdout, "log import: compare that head and last hash with the export's (hookd log verify --log %s prints them); "+
		"each hookd serve --log builds its views at start\n", c.URL)
	if len(lines.secrets) > 0 && getenv("HOOKD_SECRET_KEY") == "" {
		fmt.Fprintf(stderr, "log import: warning: %s a secret, sealed with the old server's key: start every hookd serve --log "+
			"with HOOKD_SECRET_KEY set to that key (the old data directory's secret.key holds it)\n", hooksHave(len(lines.secrets)))
	} else if len(lines.secrets) > 0 {
		checkSecretKey(getenv, "", lines.secrets, stderr)
	}
	return nil
}
