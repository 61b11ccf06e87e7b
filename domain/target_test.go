package domain_test

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/hookd/hookd/domain"
)

func TestCheckTargetRefusesNonPublicAddresses(t *testing.T) {
	addrs := []string{
		"0.0.0.0",
		"0.1.2.3",
		"10.1.2.3",
		"10.255.255.255",
		"100.64.0.1",
		"100.127.255.254",
		"127.0.0.1",
		"127.255.255.254",
		"169.254.169.254",
		"172.16.0.1",
		"172.31.255.255",
		"192.0.0.8",
		"192.168.1.1",
		"198.18.0.1",
		"224.0.0.1",
		"239.255.255.250",
		"240.0.0.1",
		"255.255.255.255",
		"::",
		"::1",
		"fc00::1",
		"fd12::1",
		"fe80::1",
		"febf::1",
		"ff02::1",
		"::ffff:127.0.0.1",
		"::ffff:10.0.0.1",
		"::ffff:169.254.169.254",
		"::ffff:0.0.0.0",
		"64:ff9b::7f00:1",
		"64:ff9b::a9fe:a9fe",
		"64:ff9b::10.0.0.1",
		"64:ff9b:1::1",
		"fe80::1%eth0",
		"ff02::1%eth0",
		// IPv4-compatible (deprecated), whatever it carries.
		"::127.0.0.1",
		"::7f00:1",
		"::10.0.0.1",
		"::8.8.8.8",
		// IPv4-translated (SIIT) carrying a forbidden address.
		"::ffff:0:127.0.0.1",
		"::ffff:0:a9fe:a9fe",
		// 6to4 carrying a forbidden address in bits 16-47.
		"2002:7f00:1::1",
		"2002:a00:1::",
		"2002:a9fe:a9fe::1",
		"2002:c0a8:101::1",
		"2002:6440:1::1",
		"2002::1",
		// Teredo, whatever it carries.
		"2001::1",
		"2001:0:4136:e378:8000:63bf:3fff:fdd2",
	}
	for _, s := range addrs {
		t.Run(s, func(t *testing.T) {
			a := netip.MustParseAddr(s)
			err := domain.CheckTarget(a)
			if err == nil {
				t.Fatalf("CheckTarget(%s) allowed a non-public address", s)
			}
			if !errors.Is(err, domain.ErrTargetForbidden) {
				t.Errorf("CheckTarget(%s) error %q does not wrap ErrTargetForbidden", s, err)
			}
			if !errors.Is(err, domain.ErrInvalid) {
				t.Errorf("CheckTarget(%s) error %q does not wrap ErrInvalid", s, err)
			}
		})
	}
}

func TestCheckTargetAllowsPublicAddresses(t *testing.T) {
	addrs := []string{
		"8.8.8.8",
		"1.1.1.1",
		"9.255.255.255",
		"11.0.0.1",
		"100.63.255.255",
		"100.128.0.1",
		"126.255.255.255",
		"128.0.0.1",
		"172.15.255.255",
		"172.32.0.1",
		"192.167.255.255",
		"192.169.0.1",
		"223.255.255.255",
		"2606:4700::1111",
		"2001:4860:4860::8888",
		"::ffff:8.8.8.8",
		"64:ff9b::808:808",
		"::ffff:0:8.8.8.8", // IPv4-translated public address
		"2002:808:808::1",  // 6to4 carrying 8.8.8.8
		"2001:db9::1",      // next to documentation, not in it
		"2001:200::1",      // next to 2001::/23, not in it
		"2001:1::1",        // Port Control Protocol anycast: globally reachable
	}
	for _, s := range addrs {
		t.Run(s, func(t *testing.T) {
			if err := domain.CheckTarget(netip.MustParseAddr(s)); err != nil {
				t.Errorf("CheckTarget(%s) = %v, want nil for a public address", s, err)
			}
		})
	}
}

func TestCheckTargetRefusesInvalidAddress(t *testing.T) {
	err := domain.CheckTarget(netip.Addr{})
	if err == nil {
		t.Fatal("CheckTarget(zero Addr) allowed it")
	}
	if !errors.Is(err, domain.ErrTargetForbidden) || !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("CheckTarget(zero Addr) error %q does not wrap ErrTargetForbidden and ErrInvalid", err)
	}
}

func TestHookAddrLiteral(t *testing.T) {
	tests := []struct {
		url    string
		want   string
		wantOK bool
	}{
		{"http://127.0.0.1:8080/x", "127.0.0.1", true},
		{"http://[::1]/", "::1", true},
		{"https://[2606:4700::1111]:8443/hook", "2606:4700::1111", true},
		{"http://[fe80::1%25eth0]/", "fe80::1%eth0", true},
		{"http://10.0.0.1", "10.0.0.1", true},
		{"https://example.com/", "", false},
		{"https://127.0.0.1.nip.io/", "", false},
		{"https://localhost/", "", false},
		{"", "", false},
		{"::not a url", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, ok := domain.HookAddrLiteral(tt.url)
			if ok != tt.wantOK {
				t.Fatalf("HookAddrLiteral(%q) ok = %v, want %v (addr %v)", tt.url, ok, tt.wantOK, got)
			}
			if ok && got != netip.MustParseAddr(tt.want) {
				t.Errorf("HookAddrLiteral(%q) = %v, want %s", tt.url, got, tt.want)
			}
		})
	}
}

func TestHookAddrLiteralFeedsCheckTarget(t *testing.T) {
	tests := []struct {
		url       string
		forbidden bool
	}{
		{"http://127.0.0.1:8080/x", true},
		{"http://[::1]/", true},
		{"http://[::ffff:169.254.169.254]/latest/meta-data", true},
		{"http://8.8.8.8/hook", false},
	}
	for _, tt := range tests {
		a, ok := domain.HookAddrLiteral(tt.url)
		if !ok {
			t.Errorf("HookAddrLiteral(%q) found no address", tt.url)
			continue
		}
		err := domain.CheckTarget(a)
		if got := errors.Is(err, domain.ErrTargetForbidden); got != tt.forbidden {
			t.Errorf("CheckTarget(HookAddrLiteral(%q)) forbidden = %v, want %v (err %v)", tt.url, got, tt.forbidden, err)
		}
	}
}

// registryRow is one row of an IANA special-purpose address registry and
// what hookd does with it.
type registryRow struct {
	block     string
	name      string
	reachable string   // the registry's "Globally Reachable": "True", "False" or "N/A"
	carrier   bool     // decided by the IPv4 address it carries: first and last not checked
	refused   []string // more addresses in the block that hookd refuses
	allowed   []string // addresses in the block that hookd sends to
}

// The rows of the IANA IPv4 Special-Purpose Address Registry
// (https://www.iana.org/assignments/iana-ipv4-special-registry) and the
// IANA IPv6 Special-Purpose Address Registry
// (https://www.iana.org/assignments/iana-ipv6-special-registry), as they
// stood in 2025 (the IPv6 one with RFC 9602's 5f00::/16, RFC 9637's
// 3fff::/20, RFC 9665's 2001:1::3 and RFC 9780's 100:0:0:1::/64). A block
// is refused unless it is globally reachable; N/A blocks are refused
// unless they carry an IPv4 address hookd can check.
var ianaSpecialPurpose = []registryRow{
	{block: "0.0.0.0/8", name: `"This network"`, reachable: "False"},
	{block: "0.0.0.0/32", name: `"This host on this network"`, reachable: "False"},
	{block: "10.0.0.0/8", name: "Private-Use", reachable: "False"},
	{block: "100.64.0.0/10", name: "Shared Address Space", reachable: "False"},
	{block: "127.0.0.0/8", name: "Loopback", reachable: "False"},
	{block: "169.254.0.0/16", name: "Link Local", reachable: "False", refused: []string{"169.254.169.254"}},
	{block: "172.16.0.0/12", name: "Private-Use", reachable: "False"},
	{block: "192.0.0.0/24", name: "IETF Protocol Assignments", reachable: "False"},
	{block: "192.0.0.0/29", name: "IPv4 Service Continuity Prefix", reachable: "False"},
	{block: "192.0.0.8/32", name: "IPv4 dummy address", reachable: "False"},
	{block: "192.0.0.9/32", name: "Port Control Protocol Anycast", reachable: "True"},
	{block: "192.0.0.10/32", name: "Traversal Using Relays around NAT Anycast", reachable: "True"},
	{block: "192.0.0.170/32", name: "NAT64/DNS64 Discovery", reachable: "False"},
	{block: "192.0.0.171/32", name: "NAT64/DNS64 Discovery", reachable: "False"},
	{block: "192.0.2.0/24", name: "Documentation (TEST-NET-1)", reachable: "False"},
	{block: "192.31.196.0/24", name: "AS112-v4", reachable: "True"},
	{block: "192.52.193.0/24", name: "AMT", reachable: "True"},
	{block: "192.88.99.0/24", name: "Deprecated (6to4 Relay Anycast)", reachable: "N/A"},
	{block: "192.168.0.0/16", name: "Private-Use", reachable: "False"},
	{block: "192.175.48.0/24", name: "Direct Delegation AS112 Service", reachable: "True"},
	{block: "198.18.0.0/15", name: "Benchmarking", reachable: "False"},
	{block: "198.51.100.0/24", name: "Documentation (TEST-NET-2)", reachable: "False"},
	{block: "203.0.113.0/24", name: "Documentation (TEST-NET-3)", reachable: "False"},
	{block: "240.0.0.0/4", name: "Reserved", reachable: "False"},
	{block: "255.255.255.255/32", name: "Limited Broadcast", reachable: "False"},

	{block: "::1/128", name: "Loopback Address", reachable: "False"},
	{block: "::/128", name: "Unspecified Address", reachable: "False"},
	{block: "::ffff:0:0/96", name: "IPv4-mapped Address", reachable: "False", carrier: true,
		refused: []string{"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:192.0.2.1", "::ffff:0.0.0.0"},
		allowed: []string{"::ffff:8.8.8.8"}},
	{block: "64:ff9b::/96", name: "IPv4-IPv6 Translat.", reachable: "True", carrier: true,
		refused: []string{"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::c612:1", "64:ff9b::"},
		allowed: []string{"64:ff9b::808:808"}},
	{block: "64:ff9b:1::/48", name: "IPv4-IPv6 Translat.", reachable: "False", refused: []string{"64:ff9b:1::808:808"}},
	{block: "100::/64", name: "Discard-Only Address Block", reachable: "False"},
	{block: "100:0:0:1::/64", name: "Dummy IPv6 Prefix", reachable: "False"},
	{block: "2001::/23", name: "IETF Protocol Assignments", reachable: "False", refused: []string{"2001:1::4", "2001:5::1"}},
	{block: "2001::/32", name: "TEREDO", reachable: "N/A", refused: []string{"2001:0:4136:e378:8000:63bf:3fff:fdd2"}},
	{block: "2001:1::1/128", name: "Port Control Protocol Anycast", reachable: "True"},
	{block: "2001:1::2/128", name: "Traversal Using Relays around NAT Anycast", reachable: "True"},
	{block: "2001:1::3/128", name: "DNS-SD Service Registration Protocol Anycast Address", reachable: "True"},
	{block: "2001:2::/48", name: "Benchmarking", reachable: "False"},
	{block: "2001:3::/32", name: "AMT", reachable: "True"},
	{block: "2001:4:112::/48", name: "AS112-v6", reachable: "True"},
	{block: "2001:10::/28", name: "Deprecated (previously ORCHID)", reachable: "False"},
	{block: "2001:20::/28", name: "ORCHIDv2", reachable: "True"},
	{block: "2001:30::/28", name: "Drone Remote ID Protocol Entity Tags (DETs) Prefix", reachable: "True"},
	{block: "2001:db8::/32", name: "Documentation", reachable: "False"},
	{block: "2002::/16", name: "6to4", reachable: "N/A", carrier: true,
		refused: []string{"2002:7f00:1::1", "2002:a00:1::", "2002:c000:201::1", "2002::1", "2002:f000::1"},
		allowed: []string{"2002:808:808::1"}},
	{block: "2620:4f:8000::/48", name: "Direct Delegation AS112 Service", reachable: "True"},
	{block: "3fff::/20", name: "Documentation", reachable: "False"},
	{block: "5f00::/16", name: "Segment Routing (SRv6) SIDs", reachable: "False"},
	{block: "fc00::/7", name: "Unique-Local", reachable: "False"},
	{block: "fe80::/10", name: "Link-Local Unicast", reachable: "False", refused: []string{"fe80::1%eth0"}},
}

// Blocks from other IANA registries: the IPv4 Multicast Address Space
// Registry and the IPv6 Address Space registry (which reserves everything
// outside 2000::/3 for the IETF).
var ianaOtherBlocks = []registryRow{
	{block: "224.0.0.0/4", name: "IPv4 multicast", reachable: "False"},
	{block: "ff00::/8", name: "IPv6 multicast", reachable: "False", refused: []string{"ff02::1%eth0"}},
	{block: "fec0::/10", name: "site-local (deprecated, RFC 3879)", reachable: "False"},
	{block: "::/96", name: "IPv4-compatible (deprecated, RFC 4291)", reachable: "False", refused: []string{"::8.8.8.8"}},
	{block: "::ffff:0:0:0/96", name: "IPv4-translated (RFC 2765)", reachable: "N/A", carrier: true,
		refused: []string{"::ffff:0:127.0.0.1", "::ffff:0:203.0.113.1"}, allowed: []string{"::ffff:0:8.8.8.8"}},
	{block: "::/8", name: "reserved by the IETF", reachable: "False", refused: []string{"::1:0:0:1", "64:ff9c::1"}},
	{block: "400::/6", name: "reserved by the IETF", reachable: "False"},
	{block: "4000::/3", name: "reserved by the IETF", reachable: "False"},
	{block: "e000::/4", name: "reserved by the IETF", reachable: "False"},
	{block: "fe00::/9", name: "reserved by the IETF", reachable: "False"},
	{block: "2000::/3", name: "global unicast", reachable: "True",
		allowed: []string{"2606:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001::1"}},
}

func TestCheckTargetFollowsTheIANASpecialPurposeRegistries(t *testing.T) {
	rows := append(append([]registryRow(nil), ianaSpecialPurpose...), ianaOtherBlocks...)
	for _, r := range rows {
		t.Run(r.block, func(t *testing.T) {
			p := netip.MustParsePrefix(r.block)
			refused, allowed := r.refused, r.allowed
			if !r.carrier {
				edges := []string{p.Addr().String(), lastAddr(p).String()}
				if r.reachable == "True" {
					allowed = append(edges, allowed...)
				} else {
					refused = append(edges, refused...)
				}
			}
			for _, s := range refused {
				a := netip.MustParseAddr(s)
				if !p.Contains(a.WithZone("")) {
					t.Fatalf("test row: %s is not in %s", s, p)
				}
				err := domain.CheckTarget(a)
				if !errors.Is(err, domain.ErrTargetForbidden) || !errors.Is(err, domain.ErrInvalid) {
					t.Errorf("CheckTarget(%s) = %v, want it refused: %s (%s) is globally reachable: %s",
						s, err, p, r.name, r.reachable)
				}
			}
			for _, s := range allowed {
				a := netip.MustParseAddr(s)
				if !p.Contains(a) {
					t.Fatalf("test row: %s is not in %s", s, p)
				}
				if err := domain.CheckTarget(a); err != nil {
					t.Errorf("CheckTarget(%s) = %v, want it allowed: %s (%s) is globally reachable: %s",
						s, err, p, r.name, r.reachable)
				}
			}
		})
	}
}

func TestCheckTargetNamesTheRefusedBlock(t *testing.T) {
	for addr, want := range map[string]string{
		"fec0::1":         "fec0::/10 (site-local, deprecated",
		"100::1":          "100::/64 (discard-only)",
		"2001:db8::1":     "2001:db8::/32 (documentation)",
		"192.0.0.8":       "192.0.0.0/24 (IETF protocol assignments)",
		"198.19.0.1":      "198.18.0.0/15 (benchmarking)",
		"240.0.0.1":       "240.0.0.0/4 (reserved)",
		"2002:c000:201::": "192.0.2.0/24 (documentation, TEST-NET-1) (it carries 192.0.2.1)",
	} {
		err := domain.CheckTarget(netip.MustParseAddr(addr))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckTarget(%s) = %v, want an error naming %q", addr, err, want)
		}
	}
}

// lastAddr is the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
