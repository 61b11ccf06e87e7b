package webhook_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
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

// forbiddenRanges has one or more addresses in every range hookd refuses,
// in every form that reaches it.
var forbiddenRanges = []struct {
	rng   string
	addrs []string
}{
	{"loopback 127/8", []string{"127.0.0.1", "127.0.0.2", "127.255.255.254"}},
	{"loopback ::1", []string{"::1"}},
	{"private 10/8", []string{"10.0.0.1", "10.255.255.255"}},
	{"private 172.16/12", []string{"172.16.0.1", "172.31.255.254"}},
	{"private 192.168/16", []string{"192.168.0.1", "192.168.255.254"}},
	{"unique local fc00::/7", []string{"fc00::1", "fd00:ec2::254"}},
	{"link-local 169.254/16", []string{"169.254.0.1", "169.254.169.254", "169.254.170.2"}},
	{"link-local fe80::/10", []string{"fe80::1", "febf::ffff"}},
	{"CGNAT 100.64/10", []string{"100.64.0.1", "100.127.255.254"}},
	{"unspecified", []string{"0.0.0.0", "::", "0.1.2.3"}},
	{"multicast", []string{"224.0.0.1", "239.255.255.250", "ff02::1", "ff05::1:3"}},
	{"broadcast and reserved", []string{"255.255.255.255", "240.0.0.1"}},
	{"IPv4-mapped", []string{"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:192.168.1.1", "::ffff:100.64.0.1"}},
	{"IPv4-compatible", []string{"::127.0.0.1", "::10.0.0.1"}},
	{"NAT64 of a forbidden IPv4", []string{"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe"}},
	{"6to4 of a forbidden IPv4", []string{"2002:7f00:1::1", "2002:a9fe:a9fe::"}},
	{"Teredo", []string{"2001:0:4136:e378:8000:63bf:3fff:fdd2"}},
}

func TestTargetGuardRefusesEveryForbiddenRangeByNameAndByLiteral(t *testing.T) {
	for _, r := range forbiddenRanges {
		for _, a := range r.addrs {
			addr := netip.MustParseAddr(a)
			literal := "http://" + netip.AddrPortFrom(addr, 8080).String() + "/hook"
			res := &stubResolver{addrs: map[string][]string{
				"target.example":     {a},
				"dual.example":       {"93.184.216.34", a}, // one bad address is enough
				"public-v6.example":  {"2606:2800:220:1:248:1893:25c8:1946"},
				"public-mix.example": {"93.184.216.34", "2606:4700::1111"},
			}}
			g := webhook.TargetGuard{Resolver: res}
			for _, u := range []string{literal, "https://target.example/hook", "https://dual.example:8443/hook"} {
				if err := g.CheckURL(t.Context(), u); !isRefusal(err) {
					t.Errorf("%s (%s): %s: error %v, want the address refused", r.rng, a, u, err)
				}
			}
			for _, u := range []string{"https://public-v6.example/", "https://public-mix.example/"} {
				if err := g.CheckURL(t.Context(), u); err != nil {
					t.Errorf("%s: error %v, want none for public addresses", u, err)
				}
			}
		}
	}
}

func TestTargetGuardRefusesOddSpellingsWithoutDNS(t *testing.T) {
	for _, u := range []string{
		"http://0x7f000001/",
		"http://0X7F000001:8080/hook",
		"http://2130706433/",
		"http://017700000001/",
		"http://127.1/",
		"http://0x7f.1/",
		"http://0177.0.0.1/",
		"http://0x7f.0.0.1/",
		"http://127.0.0.1./",
		"http://0/",
		"http://0xa9fea9fe/latest/meta-data",
		"http://169.254.43518/",
		"http://10.1/",
		"http://[::ffff:127.0.0.1]/",
		"http://[::ffff:7f00:1]/",
		"http://[::127.0.0.1]/",
		"http://[0:0:0:0:0:ffff:127.0.0.1]/",
		"http://[::ffff:a9fe:a9fe]/",
		"http://[64:ff9b::127.0.0.1]/",
		"http://[2002:7f00:1::]/",
		"http://localhost/",
		"http://localhost./",
		"http://LOCALHOST:8080/",
		"http://api.localhost/",
		"http://api.localhost./",
	} {
		// The resolver would call every name public: the guard must not need it.
		res := &stubResolver{addrs: map[string][]string{
			"localhost": {"93.184.216.34"}, "localhost.": {"93.184.216.34"}, "api.localhost": {"93.184.216.34"},
		}}
		if err := (webhook.TargetGuard{Resolver: res}).CheckURL(t.Context(), u); !isRefusal(err) {
			t.Errorf("%s: error %v, want the address refused", u, err)
		}
		if len(res.lookups) != 0 {
			t.Errorf("%s: DNS asked for %q, want the address read from the URL", u, res.lookups)
		}
	}
}

func TestTargetGuardAcceptsOddSpellingsOfPublicAddresses(t *testing.T) {
	for _, u := range []string{
		"http://0x5db8d822/", // 93.184.216.34
		"http://1572395042/",
		"http://93.184.55330/",
		"http://[::ffff:93.184.216.34]/",
		"http://[2002:5db8:d822::1]/", // 6to4 of 93.184.216.34
		"http://93.184.216.34./",
	} {
		res := &stubResolver{}
		if err := (webhook.TargetGuard{Resolver: res}).CheckURL(t.Context(), u); err != nil {
			t.Errorf("%s: error %v, want none", u, err)
		}
		if len(res.lookups) != 0 {
			t.Errorf("%s: DNS asked for %q", u, res.lookups)
		}
	}
}

// isRefusal reports whether err is the guard's refusal: a 400 on the url
// field saying the address is not allowed.
func isRefusal(err error) bool {
	var fe *domain.FieldError
	return errors.Is(err, domain.ErrInvalid) && errors.As(err, &fe) && fe.Field == "url" &&
		strings.Contains(fe.Message, "not allowed")
}
