package webhook

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/hookd/hookd/domain"
)

// Resolver looks up a host's addresses; *net.Resolver satisfies it, and
// tests stub it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// TargetGuard checks a hook URL when it is configured, so that a user
// learns at once that hookd will refuse its address. The dialer checks
// again at send time, after DNS, which is what DNS rebinding cannot pass.
type TargetGuard struct {
	AllowPrivate bool
	Resolver     Resolver // default net.DefaultResolver
}

// CheckURL returns a *domain.FieldError on "url", wrapping domain.ErrInvalid,
// if the URL's host is, or resolves to, an address hookd does not send to.
// Addresses are recognised in every spelling resolvers accept (see
// domain.ParseHostAddr: "0x7f000001", "127.1", "[::ffff:127.0.0.1]", a
// trailing dot), and "localhost" and names under it are refused without
// asking DNS. A name that does not resolve now is accepted: DNS may be
// down, and the send-time check still applies.
func (g TargetGuard) CheckURL(ctx context.Context, rawURL string) error {
	if g.AllowPrivate {
		return nil
	}
	if addr, ok := domain.HookAddrLiteral(rawURL); ok {
		return wrapURL(domain.CheckTarget(addr))
	}
	host := domain.HookHost(rawURL)
	if domain.IsLocalhostName(host) {
		return wrapURL(fmt.Errorf("%w: %s names the loopback interface", domain.ErrTargetForbidden, host))
	}
	resolver := g.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := domain.CheckTarget(a); err != nil {
			return wrapURL(fmt.Errorf("%w (%s resolves to it)", err, host))
		}
	}
	return nil
}

func wrapURL(err error) error {
	if err == nil {
		return nil
	}
	return &domain.FieldError{Field: "url", Message: err.Error() +
		"; hookd does not deliver to loopback, private or link-local addresses unless started with --allow-private-targets"}
}
