package domain

import (
	"fmt"
	"net/netip"
)

// ErrTargetForbidden marks a hook address hookd refuses to send to.
var ErrTargetForbidden = fmt.Errorf("%w: target address not allowed", ErrInvalid)

var forbiddenPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("10.0.0.0/8"),     // private
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("127.0.0.0/8"),    // loopback
	netip.MustParsePrefix("169.254.0.0/16"), // link-local, cloud metadata
	netip.MustParsePrefix("172.16.0.0/12"),  // private
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("192.168.0.0/16"), // private
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("224.0.0.0/4"),    // multicast
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("::/128"),         // unspecified
	netip.MustParsePrefix("::1/128"),        // loopback
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("fc00::/7"),       // unique local
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("ff00::/8"),       // multicast
}

var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// CheckTarget returns an error wrapping ErrTargetForbidden when addr is not
// a public unicast address: loopback, private, link-local, CGNAT,
// unspecified, multicast or reserved, in any IPv4-mapped form too.
func CheckTarget(addr netip.Addr) error {
	if !addr.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrTargetForbidden)
	}
	a := addr.Unmap().WithZone("")
	if nat64.Contains(a) {
		// 64:ff9b::/96 embeds an IPv4 address in its last 32 bits.
		b := a.As16()
		a = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	for _, p := range forbiddenPrefixes {
		if p.Contains(a) {
			return fmt.Errorf("%w: %s is in %s", ErrTargetForbidden, addr, p)
		}
	}
	return nil
}
