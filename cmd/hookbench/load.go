package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// newClient returns an HTTP client that keeps up to conns connections per
// host open, so a run reuses them as hookd's sender does.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4 * conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// closeClient drops the client's idle connections.
func closeClient(c *http.Client) { c.CloseIdleConnections() }

// runID is a short random tag that keeps build slugs unique across runs.
func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// slugOf is the build_slug of event i of a run.
func slugOf(prefix string, i int) string { return prefix + "-" + strconv.Itoa(i) }

// buildBody is the body a CI reports for event i (and, field for field,
// what hookd sends to receivers).
func buildBody(dst []byte, app, slug string, i int) []byte {
	return fmt.Appendf(dst, `{"build_slug":%q,"build_number":%d,"app_slug":%q,"build_status":1,`+
		`"build_triggered_workflow":"primary","git":{"provider":"github","src_branch":"feature/bench-%d",`+
		`"dst_branch":"main","pull_request_id":%d}}`, slug, i+1, app, i%997, i%5000+1)
}

// createHook configures a hook for app over hookd's API and returns its slug.
func createHook(ctx context.Context, c *http.Client, base, app, url string) (string, error) {
	body, _ := json.Marshal(map[string]any{"url": url, "events": []string{"all"}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v0.1/apps/"+app+"/outgoing-webhooks", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("create hook: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("create hook: %s: %s", resp.Status, b)
	}
	var out struct {
		Data struct {
			Slug string `json:"slug"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.Data.Slug == "" {
		return "", fmt.Errorf("create hook: no slug in %s", b)
	}
	return out.Data.Slug, nil
}

// postBuildEvent reports build event i to hookd; nil once it answered 202.
func postBuildEvent(ctx context.Context, c *http.Client, base, app, slug string, i int, buf *[]byte) error {
	*buf = buildBody((*buf)[:0], app, slug, i)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v0.1/apps/"+app+"/build-events", bytes.NewReader(*buf))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Bitrise-Event-Type", "build/finished")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("build event: %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// postDelivery is what the raw baseline does in hookd's place: POST the
// same body with the same headers to a receiver.
func postDelivery(ctx context.Context, c *http.Client, url, app, webhookID string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Bitrise-Event-Type", "build/finished")
	req.Header.Set("Bitrise-App-Id", app)
	req.Header.Set("Webhook-Id", webhookID)
	req.Header.Set("Webhook-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	req.Header.Set("User-Agent", "hookd/1")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("receiver: %s", resp.Status)
	}
	return nil
}

// errorCount counts failures and keeps the first.
type errorCount struct {
	n     atomic.Int64
	mu    sync.Mutex
	first error
}

func (e *errorCount) add(err error) {
	if e.n.Add(1) == 1 {
		e.mu.Lock()
		e.first = err
		e.mu.Unlock()
	}
}

func (e *errorCount) firstErr() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.first
}

// parallel runs n jobs on conc goroutines; job gets its index and the
// worker's number. It stops handing out jobs when ctx ends.
func parallel(ctx context.Context, n, conc int, job func(i, worker int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range min(conc, max(n, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				job(i, w)
			}
		}()
	}
	wg.Wait()
}
