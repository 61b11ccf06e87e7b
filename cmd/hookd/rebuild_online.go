package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hookd/hookd/projections"
)

// rebuildPoll is how often hookd rebuild --server asks how it goes.
const rebuildPoll = 100 * time.Millisecond

// rebuildOnline asks a running server to rebuild its views beside the live
// ones (POST /v0.1/admin/projections/rebuild) and follows it
// (GET /v0.1/admin/projections) with the offline rebuild's progress, until
// it is done (nil) or failed (an error: exit 1). A rebuild already running
// is followed instead.
func rebuildOnline(ctx context.Context, server, token string, stdout io.Writer) error {
	r, err := newRemoteLog(server, token)
	if err != nil {
		return err
	}
	defer r.close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/v0.1/admin/projections/rebuild", nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("could not reach the server: %w", err)
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted:
	case http.StatusConflict:
		fmt.Fprintln(stdout, "rebuild: a rebuild is already running on the server; following it")
	default:
		var out struct {
			Message string `json:"message"`
		}
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &out) == nil && out.Message != "" {
			msg = out.Message
		}
		return fmt.Errorf("the server answered %s to POST /v0.1/admin/projections/rebuild: %s", resp.Status, msg)
	}
	p := newProgress(stdout, "rebuild", "events", isTerminal(stdout), time.Now)
	var shown [2]uint64
	tick := time.NewTicker(rebuildPoll)
	defer tick.Stop()
	for {
		st, err := rebuildStatus(ctx, r)
		if err != nil {
			p.end()
			return err
		}
		if st == nil {
			p.end()
			return errors.New("the server shows no rebuild after starting one")
		}
		// update prints whenever done reaches total: only on news.
		if st.Total > 0 && [2]uint64{st.Processed, st.Total} != shown {
			p.update(st.Processed, st.Total)
			shown = [2]uint64{st.Processed, st.Total}
		}
		switch st.State {
		case projections.RebuildDone:
			p.end()
			elapsed := time.Duration(0)
			if st.FinishedAt != nil {
				elapsed = st.FinishedAt.Sub(st.StartedAt)
			}
			fmt.Fprintf(stdout, "rebuild: done, %d events in %s (%.0f events/s), swapped in online\n", st.Processed,
				elapsed.Round(time.Millisecond), st.EventsPerSecond)
			return nil
		case projections.RebuildFailed:
			p.end()
			msg := "no reason given"
			if st.Error != nil {
				msg = *st.Error
			}
			return fmt.Errorf("the online rebuild failed: %s; the server's views are left as they were", msg)
		}
		select {
		case <-ctx.Done():
			p.end()
			return fmt.Errorf("stopped following the rebuild, which goes on on the server: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// rebuildStatus reads the rebuild part of GET /v0.1/admin/projections.
func rebuildStatus(ctx context.Context, r *remoteLog) (*projections.RebuildStatus, error) {
	resp, err := r.get(ctx, "/v0.1/admin/projections", nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Data *projections.Projections `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil || out.Data == nil {
		return nil, fmt.Errorf("the server's answer to GET /v0.1/admin/projections is not what hookd sends (%v)", err)
	}
	return out.Data.Rebuild, nil
}
