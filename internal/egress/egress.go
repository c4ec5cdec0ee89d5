package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrForbidden means the destination is in a refused range.
var ErrForbidden = errors.New("destination not allowed")

// Policy says which destinations are refused. The zero Policy refuses
// loopback, private, link-local (including cloud metadata), unspecified,
// multicast and other non-global addresses.
type Policy struct {
	// AllowLoopback admits 127.0.0.0/8 and ::1 (hookstream dev sets it so a
	// local receiver works). Optional.
	AllowLoopback bool
	// Allow lists ranges admitted although they are not global. Optional.
	Allow []netip.Prefix
}

// ParsePrefixes reads comma-separated CIDRs ("10.1.0.0/16,fd00::/8").
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("egress: %q is not a CIDR range: %w", part, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// CheckAddr reports whether ip may be dialed.
func (p Policy) CheckAddr(ip netip.Addr) error {
	ip = ip.Unmap()
	for _, pre := range p.Allow {
		if pre.Contains(ip) {
			return nil
		}
	}
	if ip.IsLoopback() {
		if p.AllowLoopback {
			return nil
		}
		return fmt.Errorf("%w: %s is a loopback address", ErrForbidden, ip)
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || isSharedOrReserved(ip) {
		return fmt.Errorf("%w: %s is not a public address", ErrForbidden, ip)
	}
	return nil
}

var reserved = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64 can reach private IPv4
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("fec0::/10"),      // site-local
	netip.MustParsePrefix("169.254.0.0/16"), // link-local, incl. 169.254.169.254 metadata
	netip.MustParsePrefix("fd00:ec2::/32"),  // AWS IPv6 metadata
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("255.255.255.255/32"),
}

func isSharedOrReserved(ip netip.Addr) bool {
	for _, p := range reserved {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// CheckURL validates a webhook URL's shape and, when its host is an IP
// literal or resolves, every address it resolves to.
func (p Policy) CheckURL(ctx context.Context, u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be an http or https URL")
	}
	host := u.Hostname()
	if host == "" {
		return errors.New("must have a host")
	}
	if u.User != nil {
		return errors.New("must not carry credentials; use custom headers")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.CheckAddr(ip)
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		if p.AllowLoopback {
			return nil
		}
		return fmt.Errorf("%w: %s is a loopback name", ErrForbidden, host)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		// An unresolvable host is accepted at save time (DNS may come later);
		// the dialer checks the address at delivery time.
		return nil
	}
	for _, a := range addrs {
		if err := p.CheckAddr(a); err != nil {
			return err
		}
	}
	return nil
}

// Control is a net.Dialer Control function that refuses forbidden
// addresses at connect time, after DNS resolution.
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrForbidden, address)
	}
	return p.CheckAddr(ap.Addr())
}
