package domain

import (
	"net/netip"
	"strings"
)

// ParseHostAddr reports the IP address a URL host denotes when it is an
// address rather than a name, reading it the way resolvers and browsers
// do, so that an odd spelling cannot slip a forbidden address past a check
// that only knows dotted quads:
//
//   - IPv6 literals, with or without brackets and with a zone:
//     "[::1]", "::ffff:127.0.0.1", "[::ffff:7f00:1]", "fe80::1%eth0";
//   - IPv4 in every form inet_aton(3) accepts: one to four parts separated
//     by dots, each decimal, octal (leading 0) or hexadecimal (leading 0x),
//     the last part filling the remaining bytes: "0x7f000001",
//     "2130706433", "017700000001", "127.1", "0x7f.1", "0177.0.0.1";
//   - any of those IPv4 forms with one trailing dot: "127.0.0.1.".
//
// Anything else, such as "example.com" or "256.1.1.1", is a name (false).
func ParseHostAddr(host string) (netip.Addr, bool) {
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		return a, err == nil
	}
	if strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		return a, err == nil
	}
	host = strings.TrimSuffix(host, ".")
	if a, err := netip.ParseAddr(host); err == nil {
		return a, true
	}
	return parseInetAton(host)
}

// parseInetAton parses the IPv4 forms of inet_aton(3).
func parseInetAton(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, ok := parseInetAtonPart(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	// Every part but the last is one byte; the last fills the rest.
	var n uint64
	for _, v := range vals[:len(vals)-1] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n = n<<8 | v
	}
	restBits := 8 * uint(4-(len(vals)-1))
	last := vals[len(vals)-1]
	if last >= 1<<restBits {
		return netip.Addr{}, false
	}
	n = n<<restBits | last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// parseInetAtonPart parses one part: decimal, octal with a leading 0, or
// hexadecimal with a leading 0x or 0X ("0x" alone is 0, as in glibc).
// Values above 32 bits are rejected.
func parseInetAtonPart(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := uint64(10)
	digits := p
	switch {
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, digits = 16, p[2:]
	case len(p) >= 2 && p[0] == '0':
		base, digits = 8, p[1:]
	}
	var v uint64
	for i := 0; i < len(digits); i++ {
		d, ok := digitValue(digits[i])
		if !ok || d >= base {
			return 0, false
		}
		v = v*base + d
		if v > 0xffffffff {
			return 0, false
		}
	}
	return v, true
}

func digitValue(c byte) (uint64, bool) {
	switch {
	case c >= '0' && c <= '9':
		return uint64(c - '0'), true
	case c >= 'a' && c <= 'f':
		return uint64(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return uint64(c-'A') + 10, true
	}
	return 0, false
}

// IsLoopbackHost reports whether a host (of a URL or a Host header,
// without its port) names this machine's loopback: a localhost name or a
// loopback address in any spelling ParseHostAddr reads.
func IsLoopbackHost(host string) bool {
	if IsLocalhostName(host) {
		return true
	}
	a, ok := ParseHostAddr(host)
	return ok && a.Unmap().IsLoopback()
}

// IsLocalhostName reports whether host is "localhost" or a name under it
// ("api.localhost"), in any case and with or without a trailing dot.
// RFC 6761 reserves these for the loopback interface, so they are refused
// without asking DNS.
func IsLocalhostName(host string) bool {
	h := strings.ToLower(strings.TrimRight(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}
