package httpapi

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/eventlog"
)

// LogReader reads the log itself, for the log stream endpoints;
// eventlog.Log is one.
type LogReader interface {
	// Head is the sequence of the last durable entry (0: empty).
	Head(topic string) (uint64, error)
	// ReadEntry returns the entry at seq (at most the head).
	ReadEntry(ctx context.Context, topic string, seq uint64) (eventlog.Entry, error)
	// ReadBatch returns up to limit entries from from on, bounded in
	// bytes; none when from is past the head. It never waits.
	ReadBatch(ctx context.Context, topic string, from uint64, limit int) ([]eventlog.Entry, error)
	// WaitFor blocks until the head is past seq, ctx ends or the log closes.
	WaitFor(ctx context.Context, topic string, seq uint64) error
}

// Tuning of the log stream.
const (
	// streamBatch is how many entries one read takes (ReadBatch bounds
	// them in bytes too), and so at most what is written between flushes.
	streamBatch = 256
	// streamWriteTimeout is how long one write of a stream may take: a
	// stream outlives the server's WriteTimeout, so it sets its own
	// deadline before each write. A client that reads nothing for that
	// long is dropped; one that reads slowly holds the server back by
	// the TCP window, never by a queue.
	streamWriteTimeout = 30 * time.Second
	// sseKeepAlive is how often an idle SSE stream sends a comment, so
	// proxies do not close it and a vanished client is noticed.
	sseKeepAlive = 15 * time.Second
)

// errNoLogReader answers the log endpoints of a router built without one.
var errNoLogReader = errors.New("httpapi: the router has no LogReader")

// logHead answers GET /v0.1/log/head: the head's sequence, hash and time.
// An empty log has sequence 0, the hash of 32 zero bytes (what entry 1
// links to) and time null.
func (a *api) logHead(w http.ResponseWriter, r *http.Request) error {
	if a.LogReader == nil {
		return errNoLogReader
	}
	head, err := a.LogReader.Head(eventlog.Topic)
	if err != nil {
		return err
	}
	var hash [eventlog.HashSize]byte
	var at *time.Time
	if head > 0 {
		e, err := a.LogReader.ReadEntry(r.Context(), eventlog.Topic, head)
		if err != nil {
			return err
		}
		hash = e.Hash
		t := e.Time.UTC()
		at = &t
	}
	writeJSON(w, http.StatusOK, dataResponse{Data: struct {
		Sequence uint64     `json:"sequence"`
		Hash     string     `json:"hash"`
		Time     *time.Time `json:"time"`
	}{head, hex.EncodeToString(hash[:]), at}})
	return nil
}

// streamRange is what a GET /v0.1/log/entries asks for.
type streamRange struct {
	from, to uint64 // to is meaningless with follow
	follow   bool
	sse      bool
}

// parseStreamRange reads ?from, ?to, ?follow, the Accept header and, for
// SSE, Last-Event-ID, against the head at the time of the request.
func parseStreamRange(r *http.Request, head uint64) (streamRange, error) {
	q := r.URL.Query()
	sr := streamRange{from: 1, to: head, sse: acceptsEventStream(r.Header.Values("Accept"))}
	// An EventSource reconnects when a stream ends: SSE follows unless
	// follow=false or a to is given.
	sr.follow = sr.sse && q.Get("to") == ""
	if s := q.Get("follow"); s != "" {
		f, err := strconv.ParseBool(s)
		if err != nil {
			return sr, &domain.FieldError{Field: "follow", Message: fmt.Sprintf("must be true or false, not %q", s)}
		}
		sr.follow = f
	}
	if s := q.Get("from"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil || n < 1 {
			return sr, &domain.FieldError{Field: "from", Message: fmt.Sprintf("must be a sequence number, 1 or more (the first entry is 1), not %q", s)}
		}
		sr.from = n
	}
	if s := r.Header.Get("Last-Event-ID"); s != "" && sr.sse {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err != nil || n == ^uint64(0) {
			return sr, &domain.FieldError{Field: "Last-Event-ID", Message: fmt.Sprintf("must be the sequence of the last entry received, not %q", s)}
		}
		sr.from = n + 1 // resume after it, whatever ?from says
	}
	if s := q.Get("to"); s != "" {
		if sr.follow {
			return sr, &domain.FieldError{Field: "to", Message: "a stream that follows the log has no end: give to or follow=true, not both"}
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return sr, &domain.FieldError{Field: "to", Message: fmt.Sprintf("must be a sequence number, not %q", s)}
		}
		if n > head {
			return sr, &domain.FieldError{Field: "to", Message: fmt.Sprintf("%d is past the log's head, %d", n, head)}
		}
		if n+1 < sr.from {
			return sr, &domain.FieldError{Field: "to", Message: fmt.Sprintf("%d is before from %d", n, sr.from)}
		}
		sr.to = n
	}
	if sr.from > head+1 {
		field := "from"
		if r.Header.Get("Last-Event-ID") != "" && sr.sse {
			field = "Last-Event-ID"
		}
		return sr, &domain.FieldError{Field: field, Message: fmt.Sprintf("entry %d is past the log's head, %d: the log holds fewer entries than that", sr.from, head)}
	}
	return sr, nil
}

// acceptsEventStream reports whether an Accept header asks for SSE.
func acceptsEventStream(accept []string) bool {
	for _, h := range accept {
		for part := range strings.SplitSeq(h, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err == nil && mt == "text/event-stream" && params["q"] != "0" {
				return true
			}
		}
	}
	return false
}

// logEntries answers GET /v0.1/log/entries: the entries from ?from to ?to
// as JSON Lines (each line eventlog.AppendExportJSON's, as hookd log export
// writes it), or as Server-Sent Events with Accept: text/event-stream;
// with follow, it then writes each entry appended later, until the client
// goes away or the server stops (Config.Stopping). It reads the log a batch
// at a time and flushes after each, so memory stays flat.
func (a *api) logEntries(w http.ResponseWriter, r *http.Request) error {
	if a.LogReader == nil {
		return errNoLogReader
	}
	head, err := a.LogReader.Head(eventlog.Topic)
	if err != nil {
		return err
	}
	sr, err := parseStreamRange(r, head)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// The caller's token stops opening the log when it expires or is
	// revoked, in the middle of a stream too.
	caller := who(r)
	if caller.expiresAt != nil {
		var cancelAt context.CancelFunc
		ctx, cancelAt = context.WithDeadline(ctx, *caller.expiresAt)
		defer cancelAt()
	}
	if a.Stopping != nil {
		go func() {
			select {
			case <-a.Stopping:
				cancel()
			case <-ctx.Done():
			}
		}()
	}

	h := w.Header()
	if sr.sse {
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/x-ndjson")
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)

	rc := http.NewResponseController(w)
	write := func(b []byte) error {
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		_, err := w.Write(b)
		return err
	}
	flush := func() error {
		if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}
	if err := flush(); err != nil { // the header now, so a follower knows it is connected
		return nil
	}

	next := sr.from
	var buf []byte
	for {
		if !sr.follow && next > sr.to {
			return nil
		}
		limit := streamBatch
		if !sr.follow {
			limit = int(min(uint64(streamBatch), sr.to-next+1))
		}
		batch, err := a.LogReader.ReadBatch(ctx, eventlog.Topic, next, limit)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// The answer has begun: cut it off, so the client cannot take
			// what it got for the whole range.
			a.Logger.Error("log stream: read failed", "from", next, "err", err)
			panic(http.ErrAbortHandler)
		}
		if len(batch) == 0 {
			if !sr.follow {
				// Before the head a read never comes back empty.
				a.Logger.Error("log stream: entries missing before the head", "from", next, "to", sr.to)
				panic(http.ErrAbortHandler)
			}
			if err := a.waitForEntry(ctx, next, sr.sse, write, flush); err != nil {
				return nil // the client went away, the server stops, or the log closed
			}
			continue
		}
		if !a.stillAdmitted(r) {
			return nil // revoked or expired since the stream began (or views damaged): end it cleanly
		}
		for _, e := range batch {
			if e.Seq != next {
				a.Logger.Error("log stream: entry missing", "want", next, "got", e.Seq)
				panic(http.ErrAbortHandler)
			}
			buf = buf[:0]
			if sr.sse {
				buf = fmt.Appendf(buf, "id: %d\nevent: entry\ndata: ", e.Seq)
			}
			if buf, err = eventlog.AppendExportJSON(buf, e); err != nil {
				a.Logger.Error("log stream: encode failed", "seq", e.Seq, "err", err)
				panic(http.ErrAbortHandler)
			}
			if sr.sse {
				buf = append(buf, '\n')
			}
			if err := write(buf); err != nil {
				return nil
			}
			next++
			if revokes(e, caller.actor.TokenID) {
				// Nothing after its own revocation, even before the views
				// apply it.
				_ = flush()
				return nil
			}
		}
		if err := flush(); err != nil {
			return nil
		}
	}
}

// waitForEntry waits until entry next is in the log; an SSE stream sends
// a comment every sseKeepAlive meanwhile. Any error ends the stream.
func (a *api) waitForEntry(ctx context.Context, next uint64, sse bool, write func([]byte) error, flush func() error) error {
	if !sse {
		return a.LogReader.WaitFor(ctx, eventlog.Topic, next-1)
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, sseKeepAlive)
		err := a.LogReader.WaitFor(wctx, eventlog.Topic, next-1)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if err := write([]byte(": keep-alive\n\n")); err != nil {
			return err
		}
		if err := flush(); err != nil {
			return err
		}
	}
}

// stillAdmitted reports whether the request's token still opens it: a
// long stream asks again before each batch.
func (a *api) stillAdmitted(r *http.Request) bool {
	_, err := a.principalOf(r, []byte(a.APIToken))
	return err == nil
}

// revokes reports whether e revokes the issued token id.
func revokes(e eventlog.Entry, id string) bool {
	if e.Name() != domain.NameTokenRevoked || id == domain.BootstrapID || id == domain.AnonymousID {
		return false
	}
	ev, err := eventlog.DecodeEntry(e)
	if err != nil {
		return true // cannot tell: end the stream rather than risk it
	}
	rev, ok := ev.(domain.TokenRevoked)
	return ok && rev.TokenID == id
}
