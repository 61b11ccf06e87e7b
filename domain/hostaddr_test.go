package domain_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/hookd/hookd/domain"
)

func TestParseHostAddrReadsEverySpellingOfAnAddress(t *testing.T) {
	tests := []struct {
		host string
		want string
	}{
		// Dotted quads and IPv6 literals as netip reads them.
		{"127.0.0.1", "127.0.0.1"},
		{"8.8.8.8", "8.8.8.8"},
		{"[::1]", "::1"},
		{"::1", "::1"},
		{"[fe80::1%eth0]", "fe80::1%eth0"},
		{"[127.0.0.1]", "127.0.0.1"},
		// IPv4-mapped and IPv4-compatible IPv6.
		{"[::ffff:127.0.0.1]", "::ffff:127.0.0.1"},
		{"[::ffff:7f00:1]", "::ffff:127.0.0.1"},
		{"[::127.0.0.1]", "::7f00:1"},
		{"[0:0:0:0:0:ffff:a9fe:a9fe]", "::ffff:169.254.169.254"},
		// inet_aton: one part, 32 bits.
		{"2130706433", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"0X7F000001", "127.0.0.1"},
		{"017700000001", "127.0.0.1"},
		{"0", "0.0.0.0"},
		{"0x", "0.0.0.0"},
		{"4294967295", "255.255.255.255"},
		{"2852039166", "169.254.169.254"},
		// Two parts: 8 + 24 bits.
		{"127.1", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"10.65793", "10.1.1.1"},
		{"127.16777215", "127.255.255.255"},
		// Three parts: 8 + 8 + 16 bits.
		{"192.168.257", "192.168.1.1"},
		{"169.254.43518", "169.254.169.254"},
		// Four parts, each one byte in any base.
		{"0177.0.0.1", "127.0.0.1"},
		{"0x7f.0x0.0x0.0x1", "127.0.0.1"},
		{"0300.0250.01.01", "192.168.1.1"},
		{"0xa9.0xfe.0xa9.0xfe", "169.254.169.254"},
		{"010.0.0.1", "8.0.0.1"}, // octal: not 10.0.0.1
		// One trailing dot.
		{"127.0.0.1.", "127.0.0.1"},
		{"0x7f000001.", "127.0.0.1"},
		{"127.1.", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, ok := domain.ParseHostAddr(tt.host)
			if !ok {
				t.Fatalf("ParseHostAddr(%q) found no address, want %s", tt.host, tt.want)
			}
			if want := netip.MustParseAddr(tt.want); got != want {
				t.Errorf("ParseHostAddr(%q) = %s, want %s", tt.host, got, want)
			}
		})
	}
}

func TestParseHostAddrLeavesNamesAlone(t *testing.T) {
	for _, host := range []string{
		"",
		"example.com",
		"localhost",
		"localhost.",
		"127.0.0.1.nip.io",
		"1.2.3.4.5",
		"256.0.0.1",         // a byte part over 255
		"127.16777216",      // the last part over 24 bits
		"4294967296",        // over 32 bits
		"0x1ffffffff",       // over 32 bits
		"99999999999999999", // far over 32 bits
		"08.0.0.1",          // 8 is not an octal digit
		"0xg.0.0.1",
		"127..1",
		".127.0.0.1",
		"127.0.0.1..",
		"1.2.3.-4",
		"+1.2.3.4",
		"0x7f 000001",
		"[]",
		"[example.com]",
		":::",
		"fe80::1%",
		"１２７.0.0.1", // full-width digits
	} {
		t.Run(host, func(t *testing.T) {
			if a, ok := domain.ParseHostAddr(host); ok {
				t.Errorf("ParseHostAddr(%q) = %s, want no address", host, a)
			}
		})
	}
}

func TestOddSpellingsOfForbiddenAddressesAreRefused(t *testing.T) {
	for _, host := range []string{
		"0x7f000001", "2130706433", "017700000001", "127.1", "0x7f.1", "0177.0.0.1",
		"[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "127.0.0.1.",
		"0", "0x", "0xa9fea9fe", "10.1", "192.168.1", "0xac100001", "[::ffff:a00:1]",
	} {
		t.Run(host, func(t *testing.T) {
			a, ok := domain.ParseHostAddr(host)
			if !ok {
				t.Fatalf("ParseHostAddr(%q) found no address", host)
			}
			if err := domain.CheckTarget(a); !errors.Is(err, domain.ErrTargetForbidden) {
				t.Errorf("CheckTarget(%s from %q) = %v, want ErrTargetForbidden", a, host, err)
			}
		})
	}
}

func TestIsLocalhostName(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost":          true,
		"localhost.":         true,
		"LOCALHOST":          true,
		"LocalHost..":        true,
		"api.localhost":      true,
		"a.b.localhost.":     true,
		"localhost.com":      false,
		"notlocalhost":       false,
		"mylocalhost":        false,
		"localhost.example.": false,
		"example.com":        false,
		"":                   false,
	} {
		if got := domain.IsLocalhostName(host); got != want {
			t.Errorf("IsLocalhostName(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestHookAddrLiteralReadsOddSpellings(t *testing.T) {
	tests := []struct{ url, want string }{
		{"http://0x7f000001/", "127.0.0.1"},
		{"http://2130706433:8080/hook", "127.0.0.1"},
		{"http://017700000001/", "127.0.0.1"},
		{"http://127.1/", "127.0.0.1"},
		{"http://0x7f.1/", "127.0.0.1"},
		{"http://0177.0.0.1/", "127.0.0.1"},
		{"http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"},
		{"http://[::ffff:7f00:1]:80/", "::ffff:127.0.0.1"},
		{"http://[::127.0.0.1]/", "::7f00:1"},
		{"http://127.0.0.1./", "127.0.0.1"},
		{"http://0x7f000001.:8080/", "127.0.0.1"},
		{"http://[::ffff:127.0.0.1%25eth0]/", "::ffff:127.0.0.1%eth0"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, ok := domain.HookAddrLiteral(tt.url)
			if !ok {
				t.Fatalf("HookAddrLiteral(%q) found no address", tt.url)
			}
			if want := netip.MustParseAddr(tt.want); got != want {
				t.Errorf("HookAddrLiteral(%q) = %s, want %s", tt.url, got, want)
			}
		})
	}
}

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost":        true,
		"LOCALHOST":        true,
		"127.0.0.1":        true,
		"127.1":            true,
		"[::1]":            true,
		"::1":              true,
		"::ffff:127.0.0.1": true,
		"attacker.example": false,
		"127.0.0.1.nip.io": false,
		"10.0.0.1":         false,
		"":                 false,
	} {
		if got := domain.IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
