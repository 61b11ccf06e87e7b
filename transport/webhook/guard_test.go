package webhook_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/hookd/hookd/domain"
	"github.com/hookd/hookd/transport/webhook"
)

// stubResolver answers from a table; names not in it fail to resolve.
type stubResolver struct {
	addrs   map[string][]string
	lookups []string
}

func (r *stubResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.lookups = append(r.lookups, host)
	list, ok := r.addrs[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, a := range list {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func TestTargetGuardChecksWhereAHookURLResolves(t *testing.T) {
	addrs := map[string][]string{
		"private.example":    {"10.1.2.3"},
		"loopback.example":   {"127.0.0.1"},
		"loopback6.example":  {"::1"},
		"metadata.example":   {"169.254.169.254"},
		"linklocal6.example": {"fe80::1"},
		"mixed.example":      {"93.184.216.34", "192.168.1.10"},
		"public.example":     {"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"},
	}
	for _, c := range []struct {
		url       string
		forbidden bool
		lookup    bool // whether DNS is asked
	}{
		{"https://private.example/hook", true, true},
		{"https://loopback.example:8443/hook", true, true},
		{"https://loopback6.example/hook", true, true},
		{"http://metadata.example/latest/meta-data", true, true},
		{"https://linklocal6.example/hook", true, true},
		{"https://mixed.example/hook", true, true},
		{"https://public.example/hook", false, true},
		{"https://unresolvable.example/hook", false, true}, // DNS may be down; the dialer checks again
		{"http://127.0.0.1:8080/hook", true, false},
		{"http://10.0.0.1/hook", true, false},
		{"http://[::1]:8080/hook", true, false},
		{"http://[fe80::1%25eth0]/hook", true, false},
		{"http://169.254.169.254/", true, false},
		{"http://[::ffff:127.0.0.1]/hook", true, false},
		{"https://93.184.216.34/hook", false, false},
		{"https://[2606:4700:4700::1111]/hook", false, false},
	} {
		res := &stubResolver{addrs: addrs}
		err := webhook.TargetGuard{Resolver: res}.CheckURL(t.Context(), c.url)
		if c.forbidden && !errors.Is(err, domain.ErrInvalid) {
			t.Errorf("%s: error %v, want one wrapping domain.ErrInvalid", c.url, err)
		}
		if !c.forbidden && err != nil {
			t.Errorf("%s: error %v, want none", c.url, err)
		}
		if asked := len(res.lookups) > 0; asked != c.lookup {
			t.Errorf("%s: DNS lookups %q, want lookup %v", c.url, res.lookups, c.lookup)
		}
	}
}

func TestTargetGuardNamesTheURLField(t *testing.T) {
	err := webhook.TargetGuard{Resolver: &stubResolver{}}.CheckURL(t.Context(), "http://192.168.0.1/")
	var fe *domain.FieldError
	if !errors.As(err, &fe) || fe.Field != "url" {
		t.Errorf("error %v, want a *domain.FieldError on url", err)
	}
}

func TestTargetGuardAllowingPrivateTargetsAcceptsEverything(t *testing.T) {
	res := &stubResolver{addrs: map[string][]string{"private.example": {"10.1.2.3"}}}
	g := webhook.TargetGuard{AllowPrivate: true, Resolver: res}
	for _, url := range []string{"https://private.example/hook", "http://127.0.0.1:8080/", "http://[::1]/", "https://93.184.216.34/"} {
		if err := g.CheckURL(t.Context(), url); err != nil {
			t.Errorf("%s: error %v, want none with private targets allowed", url, err)
		}
	}
	if len(res.lookups) != 0 {
		t.Errorf("DNS asked for %q, want no lookups with private targets allowed", res.lookups)
	}
}
