package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/hookd/hookd/domain"
)

// SenderConfig configures a Sender. Zero fields take the defaults.
type SenderConfig struct {
	// ConnectTimeout bounds DNS and TCP connect. Default 5 s.
	ConnectTimeout time.Duration
	// Timeout bounds a whole delivery, from dial to the last byte kept.
	// Default 10 s.
	Timeout time.Duration
	// AllowPrivateTargets lets deliveries reach loopback, private and
	// link-local addresses (local development and tests).
	AllowPrivateTargets bool
	// MaxIdlePerHost is how many idle connections to keep per receiver
	// host:port; as many as may be sent to one receiver at once, so that
	// they are reused rather than dialled again. Default 16.
	MaxIdlePerHost int
	// MaxIdleConns is how many idle connections to keep in all; as many as
	// may be sent at once. Never less than MaxIdlePerHost. Default 1024.
	MaxIdleConns int
	// Resolver, if set, looks up the host names the sender dials, in place
	// of the dialer's own resolver (tests stub it to play DNS rebinding).
	// Every address it answers is checked before it is dialled, as always.
	Resolver Resolver
}

func (c *SenderConfig) setDefaults() {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxIdlePerHost <= 0 {
		c.MaxIdlePerHost = 16
	}
	if c.MaxIdleConns <= 0 {
		c.MaxIdleConns = 1024
	}
	// A smaller total would close connections the per-host pool keeps.
	c.MaxIdleConns = max(c.MaxIdleConns, c.MaxIdlePerHost)
}

// Sender POSTs outgoing requests and reports what came back.
type Sender struct {
	cfg    SenderConfig
	client *http.Client
}

// NewSender returns a Sender. Every dial is checked against the address
// guard after DNS resolution, so a name that resolves (or rebinds) to a
// forbidden address is refused; proxies from the environment are not used,
// since a proxy would dial on our behalf unchecked.
func NewSender(cfg SenderConfig) *Sender {
	cfg.setDefaults()
	dialer := &net.Dialer{
		Timeout:   cfg.ConnectTimeout,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			if cfg.AllowPrivateTargets {
				return nil
			}
			return checkDialAddress(address)
		},
	}
	dial := dialer.DialContext
	if cfg.Resolver != nil {
		dial = resolvingDial(dialer, cfg.Resolver)
	}
	transport := &http.Transport{
		Proxy:             nil,
		DialContext:       dial,
		ForceAttemptHTTP2: true,
		// Record the body exactly as the receiver sent it.
		DisableCompression:    true,
		MaxIdleConns:          cfg.MaxIdleConns,
		MaxIdleConnsPerHost:   cfg.MaxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.ConnectTimeout,
		ResponseHeaderTimeout: cfg.Timeout,
		// Bounds the memory one response's headers (and any 1xx before
		// them) can take; the default would allow 10 MiB per delivery.
		MaxResponseHeaderBytes: domain.MaxResponseHeaderBytes,
	}
	return &Sender{cfg: cfg, client: &http.Client{
		Transport: transport,
		// A redirect is the receiver's answer: it is recorded, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// resolvingDial returns a DialContext that looks names up with resolver
// and dials the addresses in turn with dialer, whose Control checks each.
func resolvingDial(dialer *net.Dialer, resolver Resolver) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		if _, err := netip.ParseAddr(host); err == nil {
			return dialer.DialContext(ctx, network, address)
		}
		lookupNet := "ip"
		switch network {
		case "tcp4":
			lookupNet = "ip4"
		case "tcp6":
			lookupNet = "ip6"
		}
		addrs, err := resolver.LookupNetIP(ctx, lookupNet, host)
		if err == nil && len(addrs) == 0 {
			err = errors.New("no addresses")
		}
		if err != nil {
			var dnsErr *net.DNSError
			if errors.As(err, &dnsErr) {
				return nil, err
			}
			return nil, &net.DNSError{Err: err.Error(), Name: host}
		}
		var first error
		for _, a := range addrs {
			conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return conn, nil
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	}
}

// errForbiddenAddress is what the dialer's guard returns.
type errForbiddenAddress struct{ err error }

func (e errForbiddenAddress) Error() string { return e.err.Error() }
func (e errForbiddenAddress) Unwrap() error { return e.err }

func checkDialAddress(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return errForbiddenAddress{fmt.Errorf("%w: cannot parse dialed address %q", domain.ErrTargetForbidden, address)}
	}
	if err := domain.CheckTarget(ap.Addr()); err != nil {
		return errForbiddenAddress{err}
	}
	return nil
}

// Outcome is the result of one send.
type Outcome struct {
	Response *domain.Response
	Duration time.Duration
	// Error is a short reason when no response was received, or when one
	// was but its body was cut off (the delivery then failed, whatever the
	// status).
	Error string
}

// Send POSTs req and returns the outcome; it never returns a Go error,
// since a failed delivery is a fact to record, not a failure of hookd.
func (s *Sender) Send(ctx context.Context, req domain.OutgoingRequest) Outcome {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	start := time.Now()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		return Outcome{Error: "invalid request: " + err.Error()}
	}
	for k, v := range req.Headers {
		httpReq.Header.Set(k, v)
	}
	resp, err := s.client.Do(httpReq)
	if err != nil {
		return Outcome{Duration: time.Since(start), Error: s.describe(err)}
	}
	defer resp.Body.Close()
	body, truncated, readErr := readCapped(resp.Body, domain.MaxResponseBody)
	headers, headersTruncated := domain.CapResponseHeaders(resp.Header, domain.MaxStoredResponseHeaders)
	r := &domain.Response{
		Status:           resp.StatusCode,
		Headers:          headers,
		HeadersTruncated: headersTruncated,
		Truncated:        truncated,
	}
	kept := r.SetBody(body, truncated || readErr != nil)
	out := Outcome{Duration: time.Since(start), Response: r}
	if readErr != nil {
		// The status and headers came, the whole body did not: the
		// receiver may not have finished handling it, so it failed.
		out.Error = s.describeCutOff(readErr, kept, resp.ContentLength)
	}
	return out
}

// drainLimit is how much of a body past the kept part is read (and
// discarded) so that the connection can be reused.
const drainLimit = 1 << 20

// readCapped reads up to limit bytes and discards (a bounded amount of)
// the rest; truncated says whether bytes past limit came. err is any error
// reading, the discarded part included: the body was cut off.
func readCapped(r io.Reader, limit int) (body []byte, truncated bool, err error) {
	body, err = io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil || len(body) <= limit {
		return body, false, err
	}
	if _, err := io.CopyN(io.Discard, r, drainLimit); err != nil && !errors.Is(err, io.EOF) {
		return body[:limit], true, err
	}
	return body[:limit], true, nil
}

// describeCutOff says why a body stopped before its end, and how much of
// it is kept (of how much the receiver announced, if it did).
func (s *Sender) describeCutOff(err error, kept int, contentLength int64) string {
	var why string
	switch {
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		why = fmt.Sprintf("timeout after %s", s.cfg.Timeout)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		why = "connection closed before the body was complete"
	case errors.Is(err, syscall.ECONNRESET):
		why = "connection reset by peer"
	case errors.Is(err, context.Canceled):
		why = "canceled: hookd was shutting down"
	default:
		why = err.Error()
	}
	if contentLength >= 0 {
		return fmt.Sprintf("response body cut off: %s (kept %d of %d bytes)", why, kept, contentLength)
	}
	return fmt.Sprintf("response body cut off: %s (kept %d bytes)", why, kept)
}

// headersTooLarge reports whether err is the client refusing a response
// whose headers passed MaxResponseHeaderBytes. net/http has no sentinel
// for it, only these messages (HTTP/1 and HTTP/2); a test pins them.
func headersTooLarge(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "server response headers exceeded") ||
		strings.Contains(msg, "response header list larger than")
}

// describe turns a client error into the short reason users read.
func (s *Sender) describe(err error) string {
	var forbidden errForbiddenAddress
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &forbidden):
		// Say which flag allows it: the operator reading the item needs to know.
		return "refused: " + strings.TrimPrefix(forbidden.Error(), domain.ErrInvalid.Error()+": ") +
			" (hookd serve --allow-private-targets allows it)"
	case headersTooLarge(err):
		return fmt.Sprintf("response headers larger than %d KiB", domain.MaxResponseHeaderBytes>>10)
	case errors.Is(err, context.DeadlineExceeded) || os.IsTimeout(err):
		return fmt.Sprintf("timeout: no complete response within %s", s.cfg.Timeout)
	case errors.As(err, &dnsErr):
		return "dns lookup failed: " + dnsErr.Error()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before a response was received"
	case errors.Is(err, context.Canceled):
		return "canceled: hookd was shutting down"
	case errors.As(err, &opErr):
		return opErr.Op + " failed: " + opErr.Err.Error()
	default:
		return err.Error()
	}
}
