package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/eventlog/badgerlog"
	"github.com/hookd/hookd/internal/badgerdb"
	"github.com/hookd/hookd/internal/service"
)

// openStoppedLog opens the log under data for reading by the log tools.
// Badger lets one process open a database: while hookd serve runs, this
// fails, and the error says what to do. (Badger's read-only mode does not
// help: it takes a shared lock that the server's exclusive one refuses,
// and it refuses a log whose write-ahead file is still open for writing.)
func openStoppedLog(data string) (*badgerlog.Store, error) {
	logDir, _ := service.DataDirs(data)
	if err := requireLog(data, logDir); err != nil {
		return nil, err
	}
	// With its head mark, so that a tool that appends (import) keeps it,
	// and the others can compare (CompareHeadMark); unchecked on open, so
	// they can still read and report on a damaged log.
	store, err := badgerlog.Open(logDir, badgerlog.Options{HeadFile: service.HeadFile(data)})
	if err != nil {
		if errors.Is(err, badgerdb.ErrInUse) {
			return nil, fmt.Errorf("the event log in %s is in use by a running hookd (one process at a time can open it): "+
				"stop the server first, or read a copy of the data directory taken while it was stopped", data)
		}
		return nil, err
	}
	return store, nil
}

// entryJSON is one log entry as the log tools print it, and as
// GET /v0.1/log/entries serves it.
type entryJSON = eventlog.ExportEntry

// parseLogFlags parses a log subcommand's flags and refuses arguments.
func parseLogFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hookd %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}
