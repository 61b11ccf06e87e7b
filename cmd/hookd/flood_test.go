//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/service"
	"github.com/hookd/hookd/internal/testkit"
)

// The flood's size: about 85 % of this machine's 20,000 descriptors per
// process, all in this test process (the server gets as many as it
// admits).
const (
	floodIdle       = 14000 // connect and send nothing
	floodHalfSent   = 3000  // send a request line and 8 KiB of headers, never the end
	floodDescriptor = floodIdle + floodHalfSent + 500
	// floodDials bounds dials in progress, so the listen backlog does not
	// overflow into SYN retries.
	floodDials = 256
	// floodRedialEvery paces the flood's redials (a closed connection
	// comes back), at most one per tick in all: load shaping, not
	// synchronisation.
	floodRedialEvery = time.Millisecond
	// maxFloodRSS bounds the server's peak resident memory.
	maxFloodRSS = 512 << 20
)

// A connection flood — 14,000 idle connections and 3,000 holding
// half-sent headers open, from a process that has never been given a
// token — leaves hookd answering its API and delivering, within bounded
// memory: run once with --max-connections 10000, so that idle connections
// are evicted to make room, and once with the default, which fits the
// whole flood.
func TestConnectionFloodLeavesTheAPIAndDeliveriesWorking(t *testing.T) {
	soft, hard, err := service.RaiseOpenFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	if soft < floodDescriptor {
		t.Skipf("the open-file limit is %d (hard %d); the flood needs %d in this process", soft, hard, floodDescriptor)
	}
	// The server's memory is measured as shipped: built without -race,
	// which multiplies it. (Every other end-to-end test runs the -race
	// server, limiter included.) The tests of this package never run in
	// parallel, so the binary can be swapped for this test.
	if raceEnabled() {
		plain := buildPlainHookd(t)
		race := hookdBin
		hookdBin = plain
		t.Cleanup(func() { hookdBin = race })
	}
	for _, tc := range []struct {
		name  string
		env   []string
		evict bool
	}{
		{name: "max-connections 10000", env: []string{"HOOKD_MAX_CONNECTIONS=10000"}, evict: true},
		{name: "default max-connections"},
	} {
		t.Run(tc.name, func(t *testing.T) { runFlood(t, tc.env, tc.evict) })
	}
}

func runFlood(t *testing.T, env []string, evict bool) {
	recv := newReceiver(t)
	srv := startServer(t, "flood server", t.TempDir(), env...)
	plan := findLog(t, srv, "open-file limit")
	t.Logf("server: open-file limit %v, reserve %v, max_connections %v", plan["soft"], plan["reserve"], plan["max_connections"])

	var hook struct {
		Data struct {
			Slug string `json:"slug"`
		} `json:"data"`
	}
	srv.mustCall(t, http.MethodPost, "/v0.1/apps/"+e2eApp+"/outgoing-webhooks",
		`{"url":"`+recv.URL()+`/flood","events":["build/finished"]}`, nil, http.StatusOK, &hook)
	hookPath := "/v0.1/apps/" + e2eApp + "/outgoing-webhooks/" + hook.Data.Slug

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	addr := strings.TrimPrefix(srv.base, "http://")
	f := newFlood(ctx, addr)
	half := "GET /v0.1/apps/" + e2eApp + "/outgoing-webhooks HTTP/1.1\r\nHost: " + addr + "\r\n" +
		"X-Filler: " + strings.Repeat("h", 8<<10) + "\r\n" // and never the blank line
	f.start(floodHalfSent, []byte(half))
	f.start(floodIdle, nil)
	testkit.WaitUntil(t, time.Minute, "the flood to be dialled", func() bool {
		return f.dialled.Load() >= floodIdle+floodHalfSent
	})
	t.Logf("flood dialled: %d connections open (client side), %d closed by the server so far, %d dial errors",
		f.open.Load(), f.closed.Load(), f.dialErrs.Load())

	// The API answers, on fresh connections, as a new client would.
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	took := timedCall(t, client, http.MethodPost, srv.base+"/v0.1/apps/"+e2eApp+"/build-events", buildFinishedInput,
		map[string]string{"Bitrise-Event-Type": "build/finished"}, http.StatusAccepted)
	t.Logf("POST build event during the flood: %s", took)
	took = timedCall(t, client, http.MethodGet, srv.base+hookPath, "", nil, http.StatusOK)
	t.Logf("GET hook during the flood: %s", took)

	// The delivery reaches the receiver and is recorded with its 200.
	recv.WaitForCount(t, 1, pollTimeout)
	testkit.WaitUntil(t, pollTimeout, "the delivery item to be recorded with status 200", func() bool {
		var items itemList
		resp, err := client.Get(srv.base + hookPath + "/delivery-items")
		if err != nil {
			t.Fatalf("GET delivery items: %v", err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&items); err != nil {
			t.Fatalf("GET delivery items: %v", err)
		}
		return len(items.Data) == 1 && items.Data[0].ResponseHTTPStatus != nil && *items.Data[0].ResponseHTTPStatus == http.StatusOK
	})

	// A header block beyond 64 KiB gets 431.
	if got := oversizedHeaders(t, addr); got != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a request with 70 KiB of headers got %d, want 431", got)
	}

	status := procStatus(t, srv.cmd.Process.Pid)
	t.Logf("server memory during the flood: VmRSS %s, peak VmHWM %s; flood: %d open (client side), %d closed by the server, %d redials, %d dial errors",
		humanBytes(status["VmRSS"]), humanBytes(status["VmHWM"]), f.open.Load(), f.closed.Load(), f.redials.Load(), f.dialErrs.Load())
	if status["VmHWM"] > maxFloodRSS {
		t.Errorf("the server's peak RSS was %s, want under %s", humanBytes(status["VmHWM"]), humanBytes(maxFloodRSS))
	}
	if evict {
		// 17,000 connections to a limit of 10,000: the oldest idle ones
		// were closed to make room, and the server said so.
		findLog(t, srv, "connection limit reached: closing idle connections, shedding when none is idle")
	}
	cancel()
	f.wait()
	srv.stop(t)
}

// flood holds many connections to one address open, dialling again each
// one the server closes, until its context ends.
type flood struct {
	ctx      context.Context
	addr     string
	dials    chan struct{} // a semaphore of floodDials
	redial   *time.Ticker
	wg       sync.WaitGroup
	dialled  atomic.Int64 // first dials done (either way)
	open     atomic.Int64 // connected now
	closed   atomic.Int64 // closed by the server
	redials  atomic.Int64
	dialErrs atomic.Int64
}

func newFlood(ctx context.Context, addr string) *flood {
	return &flood{ctx: ctx, addr: addr, dials: make(chan struct{}, floodDials), redial: time.NewTicker(floodRedialEvery)}
}

// start adds n connections, each sending prefix (if any) after it connects.
func (f *flood) start(n int, prefix []byte) {
	for range n {
		f.wg.Go(func() { f.hold(prefix) })
	}
}

func (f *flood) hold(prefix []byte) {
	var d net.Dialer
	for first := true; f.ctx.Err() == nil; first = false {
		if !first {
			select {
			case <-f.ctx.Done():
				return
			case <-f.redial.C:
			}
			f.redials.Add(1)
		}
		f.dials <- struct{}{}
		c, err := d.DialContext(f.ctx, "tcp", f.addr)
		if err == nil && prefix != nil {
			_, err = c.Write(prefix)
		}
		<-f.dials
		if first {
			f.dialled.Add(1)
		}
		if err != nil {
			if c != nil {
				_ = c.Close()
			}
			if f.ctx.Err() == nil {
				f.dialErrs.Add(1)
			}
			continue
		}
		f.open.Add(1)
		stop := context.AfterFunc(f.ctx, func() { _ = c.Close() })
		_, _ = io.Copy(io.Discard, c) // until the server closes it (or a shed 503 ends)
		if stop() {
			f.closed.Add(1)
		}
		f.open.Add(-1)
		_ = c.Close()
	}
}

func (f *flood) wait() {
	f.wg.Wait()
	f.redial.Stop()
}

// timedCall makes one request that must answer want and returns how long
// it took (measured, not asserted).
func timedCall(t *testing.T, client *http.Client, method, url, body string, header map[string]string, want int) time.Duration {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s during the flood: %v", method, url, err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	took := time.Since(start)
	if err != nil || resp.StatusCode != want {
		t.Fatalf("%s %s during the flood: %d (%v), want %d; body %s", method, url, resp.StatusCode, err, want, b)
	}
	return took
}

// oversizedHeaders sends a request with 70 KiB of headers and returns the
// status of the answer.
func oversizedHeaders(t *testing.T, addr string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	b.WriteString("GET /healthz HTTP/1.1\r\nHost: " + addr + "\r\n")
	for i := range 70 {
		fmt.Fprintf(&b, "X-Big-%d: %s\r\n", i, strings.Repeat("b", 1010))
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatalf("send 70 KiB of headers: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read the answer to 70 KiB of headers: %v", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// procStatus returns the byte-sized fields (kB in the file) of
// /proc/<pid>/status, such as VmRSS and VmHWM.
func procStatus(t *testing.T, pid int) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		fields := strings.Fields(rest)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			out[name] = n << 10
		}
	}
	return out
}

// findLog returns the server's first JSON log line with message msg,
// failing if there is none.
func findLog(t *testing.T, s *server, msg string) map[string]any {
	t.Helper()
	for _, line := range strings.Split(s.logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			return rec
		}
	}
	t.Fatalf("the server did not log %q", msg)
	return nil
}

// buildPlainHookd builds hookd without -race into a temporary directory.
func buildPlainHookd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hookd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build -o %s .: %v\n%s", bin, err, out)
	}
	return bin
}
