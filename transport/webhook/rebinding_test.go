package webhook_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/internal/testkit"
	"github.com/hookd/hookd/transport/webhook"
)

// rebindingResolver plays a DNS rebinding attack: its first answer for a
// name is a public address, every later one a local address.
type rebindingResolver struct {
	first, then []netip.Addr

	mu      sync.Mutex
	lookups int
}

func newRebindingResolver(first, then string) *rebindingResolver {
	return &rebindingResolver{first: []netip.Addr{netip.MustParseAddr(first)}, then: []netip.Addr{netip.MustParseAddr(then)}}
}

func (r *rebindingResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !strings.HasSuffix(host, ".example") {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	r.lookups++
	if r.lookups == 1 {
		return r.first, nil
	}
	return r.then, nil
}

func (r *rebindingResolver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lookups
}

// rebindURL is a URL on a name that a rebindingResolver points, in the
// end, at the receiver's port on loopback.
func rebindURL(rc *testkit.Receiver) string {
	return fmt.Sprintf("http://rebind.example:%d/hook", rc.Addr().(*net.TCPAddr).Port)
}

func TestSenderRefusesDNSRebindingToLoopbackAtDialTime(t *testing.T) {
	rc := testkit.NewReceiver(t)
	res := newRebindingResolver("93.184.216.34", "127.0.0.1")
	url := rebindURL(rc)

	// When the hook is configured the name is public: the guard accepts it.
	if err := (webhook.TargetGuard{Resolver: res}).CheckURL(t.Context(), url); err != nil {
		t.Fatalf("configuration-time check refused %s: %v; the test needs it to pass", url, err)
	}
	// When it is sent the name points at loopback: the dial is refused.
	s := webhook.NewSender(webhook.SenderConfig{Timeout: 2 * time.Second, Resolver: res})
	out := s.Send(t.Context(), domain.OutgoingRequest{URL: url, Body: []byte(`{}`)})
	if out.Response != nil || !strings.HasPrefix(out.Error, "refused") || !strings.Contains(out.Error, "127.0.0.1") {
		t.Errorf("outcome response %v error %q, want no response and an error starting \"refused\" naming 127.0.0.1", out.Response, out.Error)
	}
	if n := rc.Count(); n != 0 {
		t.Errorf("the loopback receiver got %d requests, want none", n)
	}
	if n := res.count(); n != 2 {
		t.Errorf("%d lookups, want 2 (configuration, then dial)", n)
	}
}

func TestSenderRefusesEveryLocalAddressARebindingNameAnswers(t *testing.T) {
	rc := testkit.NewReceiver(t)
	for _, local := range []string{"127.0.0.1", "::1", "10.0.0.1", "169.254.169.254", "::ffff:127.0.0.1", "0.0.0.0"} {
		res := newRebindingResolver(local, local)
		s := webhook.NewSender(webhook.SenderConfig{Timeout: 2 * time.Second, Resolver: res})
		out := s.Send(t.Context(), domain.OutgoingRequest{URL: rebindURL(rc), Body: []byte(`{}`)})
		if out.Response != nil || !strings.HasPrefix(out.Error, "refused") {
			t.Errorf("%s: outcome response %v error %q, want refused", local, out.Response, out.Error)
		}
	}
	if n := rc.Count(); n != 0 {
		t.Errorf("the loopback receiver got %d requests, want none", n)
	}
}

// The control: the stub resolver really routes the dial to the receiver,
// so the refusals above come from the address check, not a failed lookup.
func TestSenderResolverReachesTheReceiverWhenPrivateTargetsAreAllowed(t *testing.T) {
	rc := testkit.NewReceiver(t)
	res := newRebindingResolver("127.0.0.1", "127.0.0.1")
	s := webhook.NewSender(webhook.SenderConfig{Timeout: 2 * time.Second, Resolver: res, AllowPrivateTargets: true})
	out := s.Send(t.Context(), domain.OutgoingRequest{URL: rebindURL(rc), Body: []byte(`{}`)})
	if out.Error != "" || out.Response == nil || out.Response.Status != 200 {
		t.Fatalf("outcome response %v error %q, want 200", out.Response, out.Error)
	}
	if n := rc.Count(); n != 1 {
		t.Errorf("the receiver got %d requests, want 1", n)
	}
}

func TestSenderReportsANameThatDoesNotResolve(t *testing.T) {
	s := webhook.NewSender(webhook.SenderConfig{Timeout: 2 * time.Second, Resolver: &stubResolver{}})
	out := s.Send(t.Context(), domain.OutgoingRequest{URL: "https://nowhere.invalid/hook", Body: []byte(`{}`)})
	if out.Response != nil || !strings.HasPrefix(out.Error, "dns lookup failed") {
		t.Errorf("outcome response %v error %q, want a dns lookup failure", out.Response, out.Error)
	}
}

func TestDispatcherRecordsARebindingDeliveryAsRefused(t *testing.T) {
	e := newLogEnv(t)
	rc := testkit.NewReceiver(t)
	res := newRebindingResolver("93.184.216.34", "127.0.0.1")
	url := rebindURL(rc)
	if err := (webhook.TargetGuard{Resolver: res}).CheckURL(t.Context(), url); err != nil {
		t.Fatalf("configuration-time check refused %s: %v", url, err)
	}
	e.append(hookConfigured("app-1", "h1", url))
	e.append(buildEvent("app-1", "e1"))
	sender := webhook.NewSender(webhook.SenderConfig{Timeout: 2 * time.Second, Resolver: res})
	startDispatcherWith(e, sender, webhook.DispatcherConfig{Workers: 2})

	a := e.waitAttempts(1)[0]
	if a.HookSlug != "h1" || a.BuildEventID != "e1" {
		t.Fatalf("attempt %+v, want e1 to h1", a)
	}
	if a.Response != nil || !strings.HasPrefix(a.Error, "refused") {
		t.Errorf("recorded response %v error %q, want no response and an error starting \"refused\"", a.Response, a.Error)
	}
	if a.Request.URL != url {
		t.Errorf("recorded request URL %q, want %q", a.Request.URL, url)
	}
	if n := rc.Count(); n != 0 {
		t.Errorf("the loopback receiver got %d requests, want none", n)
	}
}

func TestSenderSpeaksOnlyHTTPAndHTTPS(t *testing.T) {
	s := webhook.NewSender(webhook.SenderConfig{Timeout: 2 * time.Second, Resolver: &stubResolver{}})
	for _, url := range []string{"ftp://example.com/", "file:///etc/passwd", "gopher://example.com:70/", "unix:///var/run/docker.sock"} {
		out := s.Send(t.Context(), domain.OutgoingRequest{URL: url, Body: []byte(`{}`)})
		if out.Response != nil || !strings.Contains(out.Error, "unsupported protocol scheme") {
			t.Errorf("%s: outcome response %v error %q, want no response and an unsupported scheme", url, out.Response, out.Error)
		}
	}
}
