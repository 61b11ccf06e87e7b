package webhook_test

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/transport/webhook"
)

// publicResolver answers every name with one public address.
type publicResolver struct {
	mu    sync.Mutex
	hosts []string
}

func (r *publicResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hosts = append(r.hosts, host)
	return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
}

// FuzzCheckURL: the configuration-time guard never panics, and whatever
// it accepts names no forbidden address in any spelling: a host that reads
// as an address passes domain.CheckTarget (fuzzed on its own in domain),
// and localhost names are never accepted, nor sent to DNS.
// The seed corpus lives in testdata/fuzz/FuzzCheckURL/.
func FuzzCheckURL(f *testing.F) {
	f.Add("http://0x7f000001/")
	f.Fuzz(func(t *testing.T, rawURL string) {
		res := &publicResolver{}
		err := webhook.TargetGuard{Resolver: res}.CheckURL(t.Context(), rawURL)
		host := domain.HookHost(rawURL)
		a, literal := domain.ParseHostAddr(host)
		if literal || domain.IsLocalhostName(host) {
			if len(res.hosts) != 0 {
				t.Fatalf("CheckURL(%q) asked DNS for %q, want the host judged from the URL", rawURL, res.hosts)
			}
		}
		if err != nil {
			if !errors.Is(err, domain.ErrInvalid) {
				t.Fatalf("CheckURL(%q) error %v does not wrap ErrInvalid", rawURL, err)
			}
			return
		}
		if literal {
			if cerr := domain.CheckTarget(a); cerr != nil {
				t.Fatalf("CheckURL(%q) accepted host %q, which reads as %s: %v", rawURL, host, a, cerr)
			}
		}
		if domain.IsLocalhostName(host) {
			t.Fatalf("CheckURL(%q) accepted the localhost name %q", rawURL, host)
		}
	})
}
