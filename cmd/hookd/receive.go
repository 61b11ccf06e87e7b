package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookd/hookd/domain"
)

// receiveTolerance is how old (or how far ahead) a Webhook-Timestamp may
// be before receive warns: what Standard Webhooks libraries accept.
const receiveTolerance = 5 * time.Minute

// receiveMaxBody bounds one request's body.
const receiveMaxBody = 10 << 20

// receive runs a local webhook receiver for integrators: it prints each
// request it gets and whether its signatures verify, and answers --status.
func receive(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("receive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9000", "address to listen on")
	// Not the flag's default: the usage text would print it.
	secret := fs.String("secret", "", "the hook's secret, to check signatures (env HOOKD_RECEIVE_SECRET)")
	status := fs.Int("status", http.StatusOK, "status to answer every webhook with (try 500 to see failed deliveries)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if !isFlagSet(fs, "secret") {
		*secret = getenv("HOOKD_RECEIVE_SECRET")
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hookd receive: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *status < 200 || *status > 599 {
		return fmt.Errorf("--status %d: want an HTTP status from 200 to 599", *status)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	rv := &webhookPrinter{out: stdout, secret: *secret, status: *status, now: time.Now}
	srv := &http.Server{Handler: rv, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	checks := "signatures are not checked (no --secret)"
	if *secret != "" {
		checks = "signatures are checked with the given secret"
	}
	rv.printf("hookd receive: listening on http://%s/ (any path); %s; answering %d. Ctrl-C stops.\n", ln.Addr(), checks, *status)

	failed := make(chan error, 1)
	go func() { failed <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-failed:
		return fmt.Errorf("serve: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// webhookPrinter prints each webhook as one block, one request at a time.
type webhookPrinter struct {
	out    io.Writer
	secret string
	status int
	now    func() time.Time
	mu     sync.Mutex
}

func (rv *webhookPrinter) printf(format string, args ...any) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	fmt.Fprintf(rv.out, format, args...)
}

// Headers hookd sets, printed first and in this order; other headers follow
// sorted, without the transport's own.
var (
	receiveFirstHeaders = []string{
		"Bitrise-Event-Type", "Bitrise-App-Id", "Webhook-Id", "Webhook-Timestamp",
		"Bitrise-Hook-Signature", "Webhook-Signature", "Content-Type", "User-Agent",
	}
	receiveSkipHeaders = []string{"Accept-Encoding", "Content-Length", "Connection"}
)

func (rv *webhookPrinter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := rv.now().UTC()
	if r.Method != http.MethodPost {
		rv.printf("%s  %s %s: not a webhook (hookd POSTs), answered 405\n", at.Format(time.RFC3339), r.Method, r.URL.RequestURI())
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "hookd receive: POST webhooks here", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, receiveMaxBody))
	if err != nil {
		rv.printf("%s  POST %s: could not read the body: %v\n", at.Format(time.RFC3339), r.URL.RequestURI(), err)
		http.Error(w, "could not read the body", http.StatusBadRequest)
		return
	}
	var b strings.Builder
	event := r.Header.Get("Bitrise-Event-Type")
	if event == "" {
		event = "(no Bitrise-Event-Type)"
	}
	fmt.Fprintf(&b, "── %s  POST %s  %s  (%d bytes)\n", at.Format(time.RFC3339), r.URL.RequestURI(), event, len(body))
	for _, name := range receiveFirstHeaders {
		for _, v := range r.Header.Values(name) {
			fmt.Fprintf(&b, "   %s: %s%s\n", name, v, rv.timestampNote(name, v, at))
		}
	}
	var others []string
	for name := range r.Header {
		if !slices.Contains(receiveFirstHeaders, name) && !slices.Contains(receiveSkipHeaders, name) {
			others = append(others, name)
		}
	}
	slices.Sort(others)
	for _, name := range others {
		for _, v := range r.Header[name] {
			fmt.Fprintf(&b, "   %s: %s\n", name, v)
		}
	}
	fmt.Fprintf(&b, "   signature Bitrise-Hook-Signature: %s\n", checkBitriseSignature(rv.secret, r.Header, body))
	fmt.Fprintf(&b, "   signature Webhook-Signature:      %s\n", checkStandardSignature(rv.secret, r.Header, body, at))
	b.WriteString(indentBody(body))
	fmt.Fprintf(&b, "   → answered %d\n", rv.status)

	rv.printf("%s", b.String())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(rv.status)
	_, _ = io.WriteString(w, `{"received":true}`+"\n")
}

// timestampNote says how old a Webhook-Timestamp is.
func (rv *webhookPrinter) timestampNote(name, v string, now time.Time) string {
	if name != "Webhook-Timestamp" {
		return ""
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return "  (not unix seconds)"
	}
	age := now.Sub(time.Unix(secs, 0)).Round(time.Second)
	if age < 0 {
		return fmt.Sprintf("  (%s in the future)", -age)
	}
	return fmt.Sprintf("  (%s ago)", age)
}

// Outcomes of a signature check.
const (
	sigOK        = "ok"
	sigMismatch  = "MISMATCH"
	sigNotSigned = "not signed"
	sigUnchecked = "present, not checked (give --secret)"
)

// checkBitriseSignature checks Bitrise-Hook-Signature: "sha256=" and the
// hex HMAC-SHA256 of the body keyed with the secret string.
func checkBitriseSignature(secret string, h http.Header, body []byte) string {
	sig := h.Get("Bitrise-Hook-Signature")
	switch {
	case sig == "":
		return sigNotSigned
	case secret == "":
		return sigUnchecked
	case domain.VerifySignature(secret, body, sig):
		return sigOK
	default:
		return sigMismatch + " (not the HMAC of this body with this secret)"
	}
}

// checkStandardSignature checks Webhook-Signature by the Standard Webhooks
// scheme, with hookd's key rule: a "whsec_" secret's decoded bytes, any
// other secret's UTF-8 bytes. Any one of its space-separated "v1,"
// signatures may match (during a secret rotation there are two).
func checkStandardSignature(secret string, h http.Header, body []byte, now time.Time) string {
	sigs := h.Get("Webhook-Signature")
	id, ts := h.Get("Webhook-Id"), h.Get("Webhook-Timestamp")
	switch {
	case sigs == "":
		return sigNotSigned
	case secret == "":
		return sigUnchecked
	case id == "" || ts == "":
		return sigMismatch + " (Webhook-Id or Webhook-Timestamp is missing)"
	}
	secs, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return sigMismatch + " (Webhook-Timestamp is not unix seconds)"
	}
	at := time.Unix(secs, 0)
	want := domain.SignStandardWebhooks(secret, id, at, body)
	list := strings.Fields(sigs)
	matched := slices.ContainsFunc(list, func(s string) bool { return hmac.Equal([]byte(s), []byte(want)) })
	if !matched {
		return sigMismatch + " (no v1 signature matches this id, timestamp and body with this secret)"
	}
	out := sigOK
	if len(list) > 1 {
		out += fmt.Sprintf(" (1 of %d signatures matched: a secret rotation is in its grace period)", len(list))
	}
	if age := now.Sub(at); age > receiveTolerance || age < -receiveTolerance {
		out += fmt.Sprintf(", but the timestamp is %s off: Standard Webhooks libraries reject more than %s", age.Round(time.Second), receiveTolerance)
	}
	return out
}

// indentBody pretty-prints a JSON body, or quotes another one as is.
func indentBody(body []byte) string {
	if len(body) == 0 {
		return "   (empty body)\n"
	}
	var buf bytes.Buffer
	if json.Valid(body) && json.Indent(&buf, body, "   ", "  ") == nil {
		return "   " + buf.String() + "\n"
	}
	var b strings.Builder
	b.WriteString("   (not JSON)\n")
	for l := range strings.Lines(string(body)) {
		b.WriteString("   " + strings.TrimRight(l, "\n") + "\n")
	}
	return b.String()
}
