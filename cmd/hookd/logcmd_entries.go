package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hookd/hookd/eventlog"
)

// openStoppedLog opens the log under data for reading by the log tools.
// Badger lets one process open a database: while hookd serve runs, this
// fails, and the error says what to do. (Badger's read-only mode does not
// help: it takes a shared lock that the server's exclusive one refuses,
// and it refuses a log whose write-ahead file is still open for writing.)
func openStoppedLog(data string) (*eventlog.Store, error) {
	logDir, _ := dataDirs(data)
	if err := requireLog(data, logDir); err != nil {
		return nil, err
	}
	// With its head mark, so that a tool that appends (import) keeps it,
	// and the others can compare (CompareHeadMark); unchecked on open, so
	// they can still read and report on a damaged log.
	store, err := eventlog.Open(logDir, eventlog.Options{HeadFile: headFile(data)})
	if err != nil {
		if errors.Is(err, eventlog.ErrInUse) {
			return nil, fmt.Errorf("the event log in %s is in use by a running hookd (one process at a time can open it): "+
				"stop the server first, or read a copy of the data directory taken while it was stopped", data)
		}
		return nil, err
	}
	return store, nil
}

// entryJSON is one log entry as the log tools print it.
type entryJSON struct {
	Seq     uint64          `json:"seq"`
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Version int             `json:"version"`
	Time    time.Time       `json:"time"`
	Payload json.RawMessage `json:"payload"`
	// Hash and PrevHash are the entry's link in the log's hash chain.
	Hash     string `json:"hash"`
	PrevHash string `json:"prev_hash"`
	// Metadata and PayloadBase64 complete what the hash covers, so that
	// hookd log import can restore the entry (see exportExtras).
	Metadata      map[string]string `json:"metadata"`
	PayloadBase64 *string           `json:"payload_base64,omitempty"`
}

// writeEntry writes e as one line of JSON. A payload that is not JSON
// (no hookd event is) is written as a JSON string, so the line still parses;
// one whose bytes the line cannot carry exactly also gets payload_base64.
func writeEntry(w io.Writer, e eventlog.Entry) error {
	payload, md, payloadBase64 := exportExtras(e)
	b, err := json.Marshal(entryJSON{
		Seq: e.Seq, ID: e.UUID, Type: e.Type(), Version: e.Version(), Time: e.Time.UTC(), Payload: payload,
		Hash: hex.EncodeToString(e.Hash[:]), PrevHash: hex.EncodeToString(e.PrevHash[:]),
		Metadata: md, PayloadBase64: payloadBase64,
	})
	if err != nil {
		return fmt.Errorf("encode entry %d: %w", e.Seq, err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

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
