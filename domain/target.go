package domain

import (
	"fmt"
	"net/netip"
)

// ErrTargetForbidden marks a hook address hookd refuses to send to.
var ErrTargetForbidden = fmt.Errorf("%w: target address not allowed", ErrInvalid)

// addressBlock is one row of the address guard's table. The most specific
// block that contains an address decides whether hookd sends to it; an
// address in no block is sent to.
type addressBlock struct {
	prefix netip.Prefix
	allow  bool
	name   string
}

func refuse(prefix, name string) addressBlock {
	return addressBlock{prefix: netip.MustParsePrefix(prefix), name: name}
}

func allow(prefix, name string) addressBlock {
	return addressBlock{prefix: netip.MustParsePrefix(prefix), allow: true, name: name}
}

// addressBlocks follows the IANA IPv4 and IPv6 Special-Purpose Address
// Registries (https://www.iana.org/assignments/iana-ipv4-special-registry,
// https://www.iana.org/assignments/iana-ipv6-special-registry): a block
// whose "Globally Reachable" is False is refused, and a block marked True
// inside a refused one is allowed again. Blocks marked N/A, and blocks
// from other registries, say why in their comment. domain/target_test.go
// checks one address of every registry row.
var addressBlocks = []addressBlock{
	// IPv4 Special-Purpose Address Registry.
	refuse("0.0.0.0/8", `"this network"`),
	refuse("10.0.0.0/8", "private use"),
	refuse("100.64.0.0/10", "shared address space, carrier-grade NAT"),
	refuse("127.0.0.0/8", "loopback"),
	refuse("169.254.0.0/16", "link-local, cloud metadata"),
	refuse("172.16.0.0/12", "private use"),
	refuse("192.0.0.0/24", "IETF protocol assignments"),
	allow("192.0.0.9/32", "Port Control Protocol anycast"),
	allow("192.0.0.10/32", "TURN anycast"),
	refuse("192.0.2.0/24", "documentation, TEST-NET-1"),
	// N/A in the registry: the deprecated 6to4 relay anycast (RFC 7526).
	refuse("192.88.99.0/24", "deprecated 6to4 relay anycast"),
	refuse("192.168.0.0/16", "private use"),
	refuse("198.18.0.0/15", "benchmarking"),
	refuse("198.51.100.0/24", "documentation, TEST-NET-2"),
	refuse("203.0.113.0/24", "documentation, TEST-NET-3"),
	refuse("240.0.0.0/4", "reserved"),
	refuse("255.255.255.255/32", "limited broadcast"),
	// IPv4 Multicast Address Space Registry.
	refuse("224.0.0.0/4", "multicast"),

	// IPv6: the IANA IPv6 Address Space registry reserves everything
	// outside 2000::/3 (global unicast) for the IETF; nothing there is a
	// public receiver. The rows below name the parts that have a purpose.
	refuse("::/0", "reserved by the IETF: outside 2000::/3"),
	allow("2000::/3", "global unicast"),
	// IPv6 Special-Purpose Address Registry.
	refuse("::/128", "unspecified"),
	refuse("::1/128", "loopback"),
	// ::ffff:0:0/96 (IPv4-mapped) is checked as the IPv4 address it maps.
	// IPv4-compatible (deprecated, RFC 4291): refused whatever it carries.
	refuse("::/96", "IPv4-compatible, deprecated"),
	// IPv4-translated (SIIT, RFC 2765): checked as the IPv4 it carries.
	allow("::ffff:0:0:0/96", "IPv4-translated"),
	// Well-known NAT64 prefix, globally reachable: checked as the IPv4 it carries.
	allow("64:ff9b::/96", "IPv4-IPv6 translation"),
	refuse("64:ff9b:1::/48", "local-use IPv4-IPv6 translation"),
	refuse("100::/64", "discard-only"),
	refuse("100:0:0:1::/64", "dummy prefix"),
	refuse("2001::/23", "IETF protocol assignments"),
	// Teredo is N/A in the registry: the IPv4 it tunnels to is obfuscated,
	// so it is refused whatever it carries.
	refuse("2001::/32", "Teredo"),
	allow("2001:1::1/128", "Port Control Protocol anycast"),
	allow("2001:1::2/128", "TURN anycast"),
	allow("2001:1::3/128", "DNS-SD service registration protocol anycast"),
	refuse("2001:2::/48", "benchmarking"),
	allow("2001:3::/32", "AMT"),
	allow("2001:4:112::/48", "AS112-v6"),
	refuse("2001:10::/28", "deprecated ORCHID"),
	allow("2001:20::/28", "ORCHIDv2"),
	allow("2001:30::/28", "drone remote ID entity tags"),
	refuse("2001:db8::/32", "documentation"),
	// 6to4 is N/A in the registry: checked as the IPv4 it carries.
	allow("2002::/16", "6to4"),
	refuse("3fff::/20", "documentation"),
	refuse("5f00::/16", "segment routing (SRv6) SIDs"),
	refuse("fc00::/7", "unique local"),
	refuse("fe80::/10", "link-local"),
	// From the IPv6 Address Space registry and RFC 4291.
	refuse("fec0::/10", "site-local, deprecated by RFC 3879"),
	refuse("ff00::/8", "multicast"),
}

// Prefixes whose addresses carry an IPv4 address, which is what a packet
// to them reaches in the end: it is checked as if dialled directly.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")    // NAT64: IPv4 in the last 32 bits
	siit      = netip.MustParsePrefix("::ffff:0:0:0/96") // IPv4-translated: last 32 bits
	sixToFour = netip.MustParsePrefix("2002::/16")       // 6to4: IPv4 in bits 16-47
)

// CheckTarget returns an error wrapping ErrTargetForbidden when addr is not
// a globally reachable unicast address: every block of the IANA
// special-purpose registries that is not globally reachable (loopback,
// private, link-local, CGNAT, documentation, benchmarking, reserved, ...),
// multicast, IPv6 space outside 2000::/3, in any IPv4-mapped form too, and
// IPv6 forms that carry a forbidden IPv4 address (NAT64, IPv4-translated,
// 6to4). IPv4-compatible addresses (::a.b.c.d) and Teredo (2001::/32) are
// refused whatever they carry.
func CheckTarget(addr netip.Addr) error {
	if !addr.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrTargetForbidden)
	}
	a := addr.Unmap().WithZone("")
	if err := checkBlocks(addr, a); err != nil {
		return err
	}
	if v4, ok := embeddedIPv4(a); ok {
		if err := checkBlocks(addr, v4); err != nil {
			return fmt.Errorf("%w (it carries %s)", err, v4)
		}
	}
	return nil
}

// checkBlocks applies the most specific block containing a; addr is the
// address as given, for the message.
func checkBlocks(addr, a netip.Addr) error {
	var best *addressBlock
	for i := range addressBlocks {
		b := &addressBlocks[i]
		if b.prefix.Contains(a) && (best == nil || b.prefix.Bits() > best.prefix.Bits()) {
			best = b
		}
	}
	if best == nil || best.allow {
		return nil
	}
	return fmt.Errorf("%w: %s is in %s (%s)", ErrTargetForbidden, addr, best.prefix, best.name)
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
