package connlimit

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/internal/testkit"
)

// waitTimeout bounds every wait; generous for a loaded machine.
const waitTimeout = 10 * time.Second

// serve runs an http.Server with handler on a loopback Listener of max
// connections and returns the listener.
func serve(t *testing.T, max int, handler http.Handler) *Listener {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(inner, Config{Max: max, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: handler, ConnState: l.ConnState, ReadHeaderTimeout: time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return l
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })

// dial connects to l and waits until l has accepted the connection (its
// Accepted count reaches accepted).
func dial(t *testing.T, l *Listener, accepted uint64) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	testkit.WaitUntil(t, waitTimeout, "the connection to be accepted", func() bool { return l.Stats().Accepted+l.Stats().Shed >= accepted })
	return c
}

// closedByServer reports whether the server closed c: a read returns EOF
// or a reset (not a timeout) within waitTimeout.
func closedByServer(t *testing.T, c net.Conn) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// get sends a GET on c and returns the response status.
func get(t *testing.T, c net.Conn) int {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestAtTheLimitTheOldestIdleConnectionIsClosedFirst(t *testing.T) {
	l := serve(t, 3, ok)
	c1 := dial(t, l, 1)
	c2 := dial(t, l, 2)
	c3 := dial(t, l, 3)
	// c2 makes a request and is then idle between keep-alive requests:
	// idle since after c3 became idle, so now younger than c3.
	if got := get(t, c2); got != http.StatusOK {
		t.Fatalf("GET on c2: %d", got)
	}
	testkit.WaitUntil(t, waitTimeout, "c2 to be idle again", func() bool { return l.Stats().Idle == 3 })

	c4 := dial(t, l, 4)
	if !closedByServer(t, c1) {
		t.Fatal("c1, the oldest idle connection, is still open")
	}
	c5 := dial(t, l, 5)
	if !closedByServer(t, c3) {
		t.Fatal("c3, then the oldest idle connection, is still open")
	}
	for name, c := range map[string]net.Conn{"c2": c2, "c4": c4, "c5": c5} {
		if got := get(t, c); got != http.StatusOK {
			t.Errorf("GET on %s: %d, want 200", name, got)
		}
	}
	if s := l.Stats(); s.Open != 3 || s.Evicted != 2 || s.Shed != 0 {
		t.Errorf("stats %+v, want 3 open, 2 evicted, none shed", s)
	}
}

func TestConnectionsWithoutRequestBytesAreClosedBeforeHalfSentHeaders(t *testing.T) {
	l := serve(t, 2, ok)
	partial := dial(t, l, 1)
	if _, err := io.WriteString(partial, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, waitTimeout, "the half-sent request to be seen", func() bool { return l.Stats().Partial == 1 })
	idle := dial(t, l, 2)
	// partial is older, but idle has sent nothing: idle goes first.
	_ = dial(t, l, 3)
	if !closedByServer(t, idle) {
		t.Fatal("the idle connection is still open")
	}
	if s := l.Stats(); s.Partial != 1 || s.Idle != 1 {
		t.Fatalf("stats %+v, want the half-sent connection kept", s)
	}
	// Now the newest idle one and the half-sent one: a connection that
	// starts its request too moves out of the idle list...
	second := dial(t, l, 4) // evicts the idle one dialled third
	if _, err := io.WriteString(second, "GET / HTTP/1.1\r\n"); err != nil {
		t.Fatal(err)
	}
	testkit.WaitUntil(t, waitTimeout, "both half-sent requests to be seen", func() bool { return l.Stats().Partial == 2 })
	// ...and with nothing idle, the oldest half-sent one is closed.
	_ = dial(t, l, 5)
	if !closedByServer(t, partial) {
		t.Fatal("the oldest half-sent connection is still open")
	}
	if _, err := io.WriteString(second, "Host: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(second), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the younger half-sent request: %v, %v", resp, err)
	}
}

func TestWhenEveryConnectionIsBusyANewOneGets503AndIsClosed(t *testing.T) {
	entered := make(chan struct{}, 2)
	unblock := make(chan struct{})
	l := serve(t, 2, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-unblock
		_, _ = io.WriteString(w, "ok")
	}))
	busy := []net.Conn{dial(t, l, 1), dial(t, l, 2)}
	for _, c := range busy {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		<-entered
	}
	shed := dial(t, l, 3)
	_ = shed.SetReadDeadline(time.Now().Add(waitTimeout))
	b, err := io.ReadAll(shed)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read the shed connection: %v", err)
	}
	if !strings.HasPrefix(string(b), "HTTP/1.1 503 ") || !strings.Contains(string(b), "Connection: close") {
		t.Errorf("a shed connection got %q, want a 503 with Connection: close", b)
	}
	if s := l.Stats(); s.Shed != 1 || s.Open != 2 || s.Evicted != 0 {
		t.Errorf("stats %+v, want 1 shed, 2 open, none evicted", s)
	}
	close(unblock)
	for _, c := range busy {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("a busy request: %v, %v", resp, err)
		}
	}
	// Idle again after their responses, so now evictable.
	testkit.WaitUntil(t, waitTimeout, "both to be idle", func() bool { return l.Stats().Idle == 2 })
	c := dial(t, l, 4)
	if got := get(t, c); got != http.StatusOK {
		t.Errorf("after the busy requests ended, a new connection got %d", got)
	}
}

// Connections closed every way at once (by the client, by the server
// after a response, by a hijacking handler that closes twice, by eviction,
// by server shutdown) release their slots exactly once: run under -race.
func TestEverySlotIsReleasedExactlyOnce(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(inner, Config{Max: 8, Name: "test"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/close", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close")
		_, _ = io.WriteString(w, "bye")
	})
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, _ *http.Request) {
		c, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		_ = c.Close()
		_ = c.Close()
	})
	mux.Handle("/", ok)
	srv := &http.Server{Handler: mux, ConnState: l.ConnState, ReadHeaderTimeout: time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	paths := []string{"/", "/close", "/hijack", ""}
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			for j := range 10 {
				c, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					t.Error(err)
					return
				}
				_ = c.SetDeadline(time.Now().Add(waitTimeout))
				if p := paths[(i+j)%len(paths)]; p != "" {
					_, _ = io.WriteString(c, "GET "+p+" HTTP/1.1\r\nHost: x\r\n\r\n")
					if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
						_ = resp.Body.Close()
					}
				}
				_ = c.Close()
			}
		})
	}
	wg.Wait()
	testkit.WaitUntil(t, waitTimeout, "every slot to be released", func() bool {
		s := l.Stats()
		if s.Open < 0 {
			t.Fatalf("open went below zero: %+v", s)
		}
		return s.Open == 0
	})
	// Idle connections left open by clients are closed by the server.
	for range 4 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	testkit.WaitUntil(t, waitTimeout, "4 open", func() bool { return l.Stats().Open == 4 })
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	testkit.WaitUntil(t, waitTimeout, "every slot to be released after Close", func() bool { return l.Stats().Open == 0 })
	if s := l.Stats(); s.Idle != 0 || s.Partial != 0 {
		t.Errorf("stats %+v: nothing should be listed", s)
	}
}

// A connection closed by its user and again by the server, with the
// server's StateClosed after both, gives back one slot.
func TestCloseTwiceThenStateClosedReleasesOnce(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(inner, Config{Max: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted []net.Conn
	for range 2 {
		client, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		c, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		accepted = append(accepted, c)
	}
	_ = accepted[0].Close()
	_ = accepted[0].Close()
	l.ConnState(accepted[0], http.StateClosed)
	l.ConnState(accepted[0], http.StateIdle) // late: must not list it again
	if s := l.Stats(); s.Open != 1 || s.Idle != 1 {
		t.Fatalf("stats %+v, want 1 open and listed", s)
	}
	_ = accepted[1].Close()
	if s := l.Stats(); s.Open != 0 || s.Idle != 0 {
		t.Fatalf("stats %+v, want none", s)
	}
}

func TestNewRefusesAMaxBelowOne(t *testing.T) {
	if _, err := New(nil, Config{Max: 0}); err == nil {
		t.Fatal("New accepted Max 0")
	}
}
