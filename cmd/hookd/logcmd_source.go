package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/hookd/hookd/eventlog"
	"github.com/hookd/hookd/internal/service"
)

// logSource is where a log tool reads the log: the data directory of a
// stopped server (--data, localLog) or a running server's API (--server,
// remoteLog). Both give the same entries and the same lines.
type logSource interface {
	// head is the sequence of the log's last entry (0: empty).
	head(ctx context.Context) (uint64, error)
	// entries calls fn, in order, with each entry from from to to and its
	// exported line (eventlog.AppendExportJSON's); it stops at the first
	// error fn returns. With follow, to is ignored: after the head it
	// waits for entries appended later and passes each on as it comes,
	// calling atHead (if not nil) once when it first reaches the head,
	// until ctx ends (nil) or the log goes away (an error). pause, if not
	// nil, is called whenever it is about to wait for more. It does not
	// check the entries: each caller checks what it needs.
	entries(ctx context.Context, from, to uint64, follow bool, atHead func(), pause func() error,
		fn func(e eventlog.Entry, line []byte) error) error
	// where names the log for people: "./data" or the server's URL.
	where() string
	close() error
}

// sourceFlags are the flags that choose a log tool's source.
type sourceFlags struct {
	fs                  *flag.FlagSet
	getenv              func(string) string
	data, server, token *string
	log                 service.LogConfig // --log nats://...: the shared log on JetStream
	logErr              error             // a bad HOOKD_NATS_* value, reported by check
}

// addSourceFlags adds --data, --server and --token to fs. Their
// environment equivalents are read after parsing (open), so that no usage
// text ever shows a token.
func addSourceFlags(fs *flag.FlagSet, getenv func(string) string) *sourceFlags {
	f := &sourceFlags{
		fs: fs, getenv: getenv,
		data:   fs.String("data", envDefault(getenv, "HOOKD_DATA", "./data"), "data directory of a stopped server (env HOOKD_DATA; the default unless HOOKD_SERVER is set)"),
		server: fs.String("server", "", "read the log of the running hookd at this base URL, such as http://127.0.0.1:8080 (env HOOKD_SERVER)"),
		token:  fs.String("token", "", "with --server: the API token, if the server requires one (env HOOKD_API_TOKEN)"),
	}
	f.logErr = addLogFlags(fs, getenv, &f.log)
	return f
}

// serverURL is the server to read from, or "" to read --data: --server,
// else HOOKD_SERVER unless --data was given.
func (f *sourceFlags) serverURL() string {
	switch {
	case f.log.NATS():
		return ""
	case isFlagSet(f.fs, "server"):
		return *f.server
	case isFlagSet(f.fs, "data"):
		return ""
	default:
		return f.getenv("HOOKD_SERVER")
	}
}

// check refuses --data with --server, and --token without a server.
func (f *sourceFlags) check(stderr io.Writer) error {
	if f.logErr != nil {
		fmt.Fprintf(stderr, "hookd %s: %v\n", f.fs.Name(), f.logErr)
		return errUsage
	}
	if f.log.NATS() && (isFlagSet(f.fs, "server") || isFlagSet(f.fs, "data")) {
		fmt.Fprintf(stderr, "hookd %s: give --log (the shared log on NATS), --data (a stopped server's directory) or --server (a running server), one of them\n", f.fs.Name())
		return errUsage
	}
	if err := f.log.Validate(); err != nil {
		fmt.Fprintf(stderr, "hookd %s: %v\n", f.fs.Name(), err)
		return errUsage
	}
	if isFlagSet(f.fs, "server") && isFlagSet(f.fs, "data") {
		fmt.Fprintf(stderr, "hookd %s: give --data (a stopped server's directory) or --server (a running server), not both\n", f.fs.Name())
		return errUsage
	}
	if isFlagSet(f.fs, "token") && f.serverURL() == "" {
		fmt.Fprintf(stderr, "hookd %s: --token goes with --server (or HOOKD_SERVER)\n", f.fs.Name())
		return errUsage
	}
	return nil
}

// remote returns the server to read, or nil to read --data.
func (f *sourceFlags) remote() (*remoteLog, error) {
	u := f.serverURL()
	if u == "" {
		return nil, nil
	}
	token := *f.token
	if !isFlagSet(f.fs, "token") {
		token = f.getenv("HOOKD_API_TOKEN")
	}
	return newRemoteLog(u, token)
}

// open returns the source the flags name; check them first.
func (f *sourceFlags) open(ctx context.Context) (logSource, error) {
	r, err := f.remote()
	if err != nil || r != nil {
		return r, err
	}
	if f.log.NATS() {
		nl, err := service.OpenNATS(ctx, f.log, nil)
		if err != nil {
			return nil, err
		}
		return &localLog{store: nl, name: "the JetStream stream " + f.log.Stream}, nil
	}
	store, err := openStoppedLog(*f.data)
	if err != nil {
		return nil, err
	}
	return &localLog{store: store, name: *f.data, data: *f.data}, nil
}

// localLog reads the log itself: the data directory of a stopped server,
// or the shared log on NATS.
type localLog struct {
	store eventlog.Log
	name  string
	data  string // the data directory; "" for the shared log
}

func (l *localLog) head(context.Context) (uint64, error) { return l.store.Head(eventlog.Topic) }
func (l *localLog) where() string                        { return l.name }
func (l *localLog) close() error                         { return l.store.Close() }

func (l *localLog) entries(ctx context.Context, from, to uint64, follow bool, atHead func(), pause func() error,
	fn func(e eventlog.Entry, line []byte) error) error {
	next := max(from, 1)
	var line []byte
	for first := true; ; first = false {
		r := eventlog.NewReader(l.store, eventlog.Topic, next)
		for (follow || next <= to) && r.Next(ctx) {
			e := r.Entry()
			if !follow && e.Seq > to {
				break
			}
			var err error
			if line, err = eventlog.AppendExportJSON(line[:0], e); err != nil {
				return err
			}
			if err := fn(e, line); err != nil {
				return err
			}
			next = e.Seq + 1
		}
		if err := r.Err(); err != nil {
			if follow && errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		if !follow {
			return nil
		}
		if pause != nil {
			if err := pause(); err != nil {
				return err
			}
		}
		if first && atHead != nil {
			atHead()
		}
		if err := l.store.WaitFor(ctx, eventlog.Topic, next-1); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}
