package connlimit

import (
	"container/list"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Listener.
type Config struct {
	// Max is the most connections open at once, counted from Accept until
	// the connection is closed. Required, at least 1.
	Max int
	// Name says which server this is in log lines, such as "api".
	Name string
	// Logger gets one WARN when the limit is first reached and then at
	// most one every WarnEvery while it keeps being reached, with the
	// numbers evicted and shed since the last one. Default: discard.
	Logger *slog.Logger
	// WarnEvery is the least time between two WARNs. Default 10 s.
	WarnEvery time.Duration
}

// Stats are a Listener's counters.
type Stats struct {
	Max      int    // Config.Max
	Open     int    // connections holding a slot now
	Idle     int    // of those, evictable: no byte of a request yet
	Partial  int    // of those, evictable: part of a request's headers read
	Accepted uint64 // connections accepted (given a slot), in all
	Evicted  uint64 // connections closed to make room for a new one
	Shed     uint64 // connections refused because none could be evicted
}

// shedResponse is what a shed connection gets before it is closed.
var shedResponse = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: application/json\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 56\r\n\r\n" +
	`{"message":"too many connections; try again in a while"}`)

// shedWriteTimeout bounds the write of shedResponse. A new connection's
// send buffer is empty, so the write does not block unless the peer
// advertised no window at all; the accept loop never waits longer.
const shedWriteTimeout = 5 * time.Millisecond

// Listener is a net.Listener that holds at most Config.Max connections
// open at once (see the package documentation). Set its ConnState method
// as the http.Server's ConnState, or it cannot tell idle connections from
// busy ones and evicts in accept order.
type Listener struct {
	inner  net.Listener
	cfg    Config
	logger *slog.Logger

	mu       sync.Mutex
	open     int
	idle     list.List // *Conn that have read nothing since they became new or idle, oldest first
	partial  list.List // *Conn part-way through a request's headers, oldest first
	accepted uint64
	evicted  uint64
	shed     uint64
	// For the rate-limited WARN.
	lastWarn              time.Time
	warnEvicted, warnShed uint64
}

// New returns a Listener accepting from inner. cfg.Max must be at least 1.
func New(inner net.Listener, cfg Config) (*Listener, error) {
	if cfg.Max < 1 {
		return nil, errors.New("connlimit: Max must be at least 1")
	}
	if cfg.WarnEvery <= 0 {
		cfg.WarnEvery = 10 * time.Second
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Listener{inner: inner, cfg: cfg, logger: logger}, nil
}

// Accept waits for a connection that may be admitted and returns it as a
// *Conn. Connections that find the limit reached with nothing to evict are
// shed here, and Accept waits for the next.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.inner.Accept()
		if err != nil {
			return nil, err
		}
		c, victim, warn := l.admit(nc)
		if victim != nil {
			// Its slot is already c's; closing it wakes the server's
			// goroutine, whose Close then finds nothing to release.
			_ = victim.Conn.Close()
		}
		if warn != nil {
			l.logger.Warn("connection limit reached: closing idle connections, shedding when none is idle",
				"server", l.cfg.Name, "max_connections", l.cfg.Max, "evicted", warn[0], "shed", warn[1])
		}
		if c != nil {
			return c, nil
		}
		_ = nc.SetWriteDeadline(time.Now().Add(shedWriteTimeout))
		_, _ = nc.Write(shedResponse)
		_ = nc.Close()
	}
}

// admit gives nc a slot, taking it from the longest-evictable connection
// (victim, to be closed by the caller) if the limit is reached; c is nil
// if nc is to be shed. warn, if not nil, holds the evicted and shed counts
// to log.
func (l *Listener) admit(nc net.Conn) (c, victim *Conn, warn *[2]uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.cfg.Max {
		front := l.idle.Front()
		if front == nil {
			front = l.partial.Front()
		}
		if front == nil {
			l.shed++
			l.warnShed++
			return nil, nil, l.dueWarn()
		}
		victim = front.Value.(*Conn)
		l.unlist(victim)
		victim.released = true // the slot passes to nc
		l.evicted++
		l.warnEvicted++
		warn = l.dueWarn()
	} else {
		l.open++
	}
	l.accepted++
	c = &Conn{Conn: nc, l: l}
	l.listIdle(c)
	return c, victim, warn
}

// dueWarn returns the counts to log if a WARN is due, and resets them.
func (l *Listener) dueWarn() *[2]uint64 {
	now := time.Now()
	if !l.lastWarn.IsZero() && now.Sub(l.lastWarn) < l.cfg.WarnEvery {
		return nil
	}
	l.lastWarn = now
	w := &[2]uint64{l.warnEvicted, l.warnShed}
	l.warnEvicted, l.warnShed = 0, 0
	return w
}

// listIdle puts c at the back of the idle list. Caller holds l.mu.
func (l *Listener) listIdle(c *Conn) {
	l.unlist(c)
	c.in = &l.idle
	c.elem = l.idle.PushBack(c)
	c.waiting.Store(true)
}

// unlist takes c off whichever list it is on. Caller holds l.mu.
func (l *Listener) unlist(c *Conn) {
	if c.elem != nil {
		c.in.Remove(c.elem)
		c.in, c.elem = nil, nil
	}
	c.waiting.Store(false)
}

// ConnState is the http.Server ConnState hook: it tracks which
// connections are evictable and releases a slot when the server closes a
// connection. Connections not accepted by l are ignored.
func (l *Listener) ConnState(nc net.Conn, state http.ConnState) {
	c, ok := nc.(*Conn)
	if !ok || c.l != l {
		return
	}
	switch state {
	case http.StateNew:
		// Listed as idle by Accept already.
	case http.StateIdle:
		l.mu.Lock()
		if !c.released {
			l.listIdle(c)
		}
		l.mu.Unlock()
	case http.StateActive, http.StateHijacked:
		// Busy with a request, or owned by a handler that closes it (the
		// slot is released then): not evictable.
		l.mu.Lock()
		l.unlist(c)
		l.mu.Unlock()
	case http.StateClosed:
		l.release(c)
	}
}

// started moves c from the idle list to the partial one: it has read the
// first bytes of a request.
func (l *Listener) started(c *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.released || c.in != &l.idle {
		return
	}
	l.unlist(c)
	c.in = &l.partial
	c.elem = l.partial.PushBack(c)
}

// release gives c's slot back, once.
func (l *Listener) release(c *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.released {
		return
	}
	c.released = true
	l.unlist(c)
	l.open--
}

// Stats returns the current counts.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{
		Max: l.cfg.Max, Open: l.open, Idle: l.idle.Len(), Partial: l.partial.Len(),
		Accepted: l.accepted, Evicted: l.evicted, Shed: l.shed,
	}
}

// Close closes the underlying listener; connections already accepted stay
// open (http.Server closes them).
func (l *Listener) Close() error { return l.inner.Close() }

// Addr is the underlying listener's address.
func (l *Listener) Addr() net.Addr { return l.inner.Addr() }

// Conn is a connection accepted by a Listener; it holds a slot until it is
// closed.
type Conn struct {
	net.Conn
	l *Listener
	// waiting is true while c is on the idle list, so Read knows cheaply
	// when a request starts.
	waiting atomic.Bool
	// Under l.mu:
	released bool
	in       *list.List // the list c is on, nil if none
	elem     *list.Element
}

// Read reads from the connection, noting the first bytes of a request.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.waiting.Load() {
		c.l.started(c)
	}
	return n, err
}

// Close closes the connection and releases its slot (once, however often
// Close is called and whoever else closes it).
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.l.release(c)
	return err
}

// CloseWrite shuts down the writing side if the connection supports it,
// as http.Server does before it closes a connection after an error such
// as 431.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
