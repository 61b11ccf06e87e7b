package domain_test

import (
	"errors"
	"net/netip"
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
		"203.0.113.7",
		"223.255.255.255",
		"2606:4700::1111",
		"2001:4860:4860::8888",
		"::ffff:8.8.8.8",
		"64:ff9b::808:808",
		"::ffff:0:8.8.8.8", // IPv4-translated public address
		"2002:808:808::1",  // 6to4 carrying 8.8.8.8
		"2001:db9::1",      // next to Teredo and documentation, not in them
		"2001:1::1",        // outside Teredo's 2001::/32
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
