package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hookd/hookd/eventlog"
)

// remoteLog reads the log of a running server through its API:
// GET /v0.1/log/head and the JSON Lines of GET /v0.1/log/entries.
type remoteLog struct {
	base   string // without a trailing slash
	token  string // never printed
	client *http.Client
}

// newRemoteLog checks the server's URL; nothing is sent yet.
func newRemoteLog(raw, token string) (*remoteLog, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("--server %q: want the server's base URL, such as http://127.0.0.1:8080", raw)
	}
	return &remoteLog{
		base:  strings.TrimRight(u.String(), "/"),
		token: token,
		// No overall timeout: a stream lasts as long as the log is long,
		// or, following, until interrupted.
		client: &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
		}},
	}, nil
}

func (r *remoteLog) where() string { return r.base }
func (r *remoteLog) close() error  { r.client.CloseIdleConnections(); return nil }

// get sends GET path?query and returns the response if it is a 200;
// otherwise an error with the server's message.
func (r *remoteLog) get(ctx context.Context, path string, query url.Values) (*http.Response, error) {
	u := r.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("could not reach the server: %w", err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var out struct {
		Message string `json:"message"`
	}
	msg := strings.TrimSpace(string(raw))
	if json.Unmarshal(raw, &out) == nil && out.Message != "" {
		msg = out.Message
	}
	if resp.StatusCode == http.StatusNotFound && path != "" {
		msg += " (is this a hookd that serves its log, at its base URL?)"
	}
	return nil, fmt.Errorf("the server answered %s: %s", resp.Status, msg)
}

// logHead is the answer of GET /v0.1/log/head.
type logHead struct {
	Sequence uint64     `json:"sequence"`
	Hash     string     `json:"hash"`
	Time     *time.Time `json:"time"`
}

// headInfo asks the server for its log's head.
func (r *remoteLog) headInfo(ctx context.Context) (logHead, error) {
	resp, err := r.get(ctx, "/v0.1/log/head", nil)
	if err != nil {
		return logHead{}, err
	}
	defer resp.Body.Close()
	var out struct {
		Data *logHead `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil || out.Data == nil {
		return logHead{}, fmt.Errorf("the server's answer to GET /v0.1/log/head is not what hookd sends (%v)", err)
	}
	if h, err := hex.DecodeString(out.Data.Hash); err != nil || len(h) != eventlog.HashSize {
		return logHead{}, fmt.Errorf("the server's answer to GET /v0.1/log/head has no valid hash: %q", out.Data.Hash)
	}
	return *out.Data, nil
}

func (r *remoteLog) head(ctx context.Context) (uint64, error) {
	h, err := r.headInfo(ctx)
	return h.Sequence, err
}

// errStreamEnded: the server ended a following stream (it is stopping).
var errStreamEnded = errors.New("the server ended the stream")

func (r *remoteLog) entries(ctx context.Context, from, to uint64, follow bool, atHead func(), pause func() error,
	fn func(e eventlog.Entry, line []byte) error) error {
	from = max(from, 1)
	q := url.Values{"from": {strconv.FormatUint(from, 10)}}
	var head uint64
	if follow {
		q.Set("follow", "true")
		if atHead != nil {
			h, err := r.head(ctx)
			if err != nil {
				return err
			}
			head = h
		}
	} else {
		if from > to {
			return nil // nothing to ask for (the server would refuse a from past its head)
		}
		q.Set("to", strconv.FormatUint(to, 10))
	}
	resp, err := r.get(ctx, "/v0.1/log/entries", q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-ndjson") {
		return fmt.Errorf("the server answered GET /v0.1/log/entries with Content-Type %q, not application/x-ndjson", ct)
	}
	notified := false
	notify := func(last uint64) {
		if follow && atHead != nil && !notified && last >= head {
			notified = true
			atHead()
		}
	}
	notify(from - 1)
	br := bufio.NewReaderSize(resp.Body, 256<<10)
	last := from - 1
	for {
		if br.Buffered() == 0 && pause != nil {
			if err := pause(); err != nil {
				return err
			}
		}
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			e, perr := eventlog.ParseExportJSON(bytes.TrimSuffix(line, []byte("\n")))
			if perr != nil {
				return fmt.Errorf("the server sent a line that is not an entry (after entry %d): %v", last, perr)
			}
			if ferr := fn(e, line); ferr != nil {
				return ferr
			}
			last = e.Seq
			notify(last)
			continue
		}
		switch {
		case ctx.Err() != nil && follow:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil || errors.Is(err, io.EOF) && len(line) == 0:
			if follow {
				return fmt.Errorf("%w after entry %d (is it shutting down?); to go on: hookd log tail --follow --from %d", errStreamEnded, last, last+1)
			}
			return nil // the caller checks that every entry came
		default:
			return fmt.Errorf("the stream from the server broke off after entry %d: %v", last, err)
		}
	}
}
