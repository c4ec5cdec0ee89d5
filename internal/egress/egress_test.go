package egress_test

import (
	"context"
	"net/netip"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/egress"
)

func TestCheckAddr(t *testing.T) {
	t.Parallel()
	refused := []string{"127.0.0.1", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
		"100.64.0.1", "0.0.0.0", "::", "fe80::1", "fc00::1", "224.0.0.1", "::ffff:10.0.0.1", "fd00:ec2::254"}
	for _, s := range refused {
		require.ErrorIs(t, egress.Policy{}.CheckAddr(netip.MustParseAddr(s)), egress.ErrForbidden, s)
	}
	for _, s := range []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"} {
		require.NoError(t, egress.Policy{}.CheckAddr(netip.MustParseAddr(s)), s)
	}
	dev := egress.Policy{AllowLoopback: true}
	require.NoError(t, dev.CheckAddr(netip.MustParseAddr("127.0.0.1")))
	require.Error(t, dev.CheckAddr(netip.MustParseAddr("10.0.0.1")))
	pre, err := egress.ParsePrefixes("10.1.0.0/16, fd00::/8")
	require.NoError(t, err)
	allow := egress.Policy{Allow: pre}
	require.NoError(t, allow.CheckAddr(netip.MustParseAddr("10.1.2.3")))
	require.Error(t, allow.CheckAddr(netip.MustParseAddr("10.2.0.1")))
	_, err = egress.ParsePrefixes("nope")
	require.Error(t, err)
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := egress.Policy{}
	for _, raw := range []string{"ftp://example.com/x", "http:///x", "http://user:pw@example.com/", "http://127.0.0.1:9000/", "http://localhost/", "http://[::1]/", "http://169.254.169.254/latest"} {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		require.Error(t, p.CheckURL(ctx, u), raw)
	}
	u, _ := url.Parse("https://8.8.8.8/hook")
	require.NoError(t, p.CheckURL(ctx, u))
	u, _ = url.Parse("http://localhost:9000/")
	require.NoError(t, egress.Policy{AllowLoopback: true}.CheckURL(ctx, u))
}
