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
	netip.MustParsePrefix("::/96"),          // IPv4-compatible (deprecated): ::127.0.0.1
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001::/32"),      // Teredo: tunnels to an obfuscated IPv4
	netip.MustParsePrefix("fc00::/7"),       // unique local
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("ff00::/8"),       // multicast
}

// Prefixes whose addresses carry an IPv4 address, which is what a packet
// to them reaches in the end: it is checked as if dialled directly.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")    // NAT64: IPv4 in the last 32 bits
	siit      = netip.MustParsePrefix("::ffff:0:0:0/96") // IPv4-translated: last 32 bits
	sixToFour = netip.MustParsePrefix("2002::/16")       // 6to4: IPv4 in bits 16-47
)

// CheckTarget returns an error wrapping ErrTargetForbidden when addr is not
// a public unicast address: loopback, private, link-local, CGNAT,
// unspecified, multicast or reserved, in any IPv4-mapped form too, and
// IPv6 forms that carry a forbidden IPv4 address (NAT64, IPv4-translated,
// 6to4). IPv4-compatible addresses (::a.b.c.d) and Teredo (2001::/32) are
// refused whatever they carry.
func CheckTarget(addr netip.Addr) error {
	if !addr.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrTargetForbidden)
	}
	a := addr.Unmap().WithZone("")
	if err := checkPrefixes(addr, a); err != nil {
		return err
	}
	if v4, ok := embeddedIPv4(a); ok {
		if err := checkPrefixes(addr, v4); err != nil {
			return fmt.Errorf("%w (it carries %s)", err, v4)
		}
	}
	return nil
}

func checkPrefixes(addr, a netip.Addr) error {
	for _, p := range forbiddenPrefixes {
		if p.Contains(a) {
			return fmt.Errorf("%w: %s is in %s", ErrTargetForbidden, addr, p)
		}
	}
	return nil
}

// embeddedIPv4 returns the IPv4 address an IPv6 address carries, if any.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case nat64.Contains(a), siit.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}
