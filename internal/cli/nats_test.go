package cli_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/cli"
)

// Three `hookstream nats` nodes form a JetStream cluster the roles can use
// with R3 streams.
func TestNATSCluster(t *testing.T) {
	t.Parallel()
	routes := []string{}
	clusterAddrs, clientAddrs := make([]string, 3), make([]string, 3)
	for i := range 3 {
		clusterAddrs[i], clientAddrs[i] = freeAddr(t), freeAddr(t)
		routes = append(routes, "nats-route://"+clusterAddrs[i])
	}
	for i := range 3 {
		line := role(t, "nats", "--data", t.TempDir(), "--server-name", fmt.Sprintf("n%d", i+1), "--listen", clientAddrs[i],
			"--cluster-name", "hs", "--cluster-listen", clusterAddrs[i], "--routes", strings.Join(routes, ","), "--log-level", "error")
		require.Contains(t, line, "(cluster hs)")
	}
	urls := make([]string, 3)
	for i, a := range clientAddrs {
		urls[i] = "nats://" + a
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := broker.Open(ctx, broker.Config{URLs: strings.Join(urls, ","), Topology: broker.Topology{Replicas: 3}})
	require.NoError(t, err)
	defer b.Close()
	s, err := b.JS.Stream(ctx, broker.StreamDeliveries)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, info.Config.Replicas)
	require.NotEmpty(t, info.Cluster.Leader)
}

func TestNATSStandaloneAndUsage(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	line := role(t, "nats", "--data", t.TempDir(), "--listen", addr, "--log-level", "error")
	require.Contains(t, line, "(standalone): clients at nats://"+addr)
	for _, args := range [][]string{
		{"nats", "--cluster-name", "hs"},
		{"nats", "--cluster-name", "hs", "--server-name", "n1"},
		{"nats", "--routes", "nats-route://x:6222"},
	} {
		require.Equal(t, 2, runQuiet(args...), "%v", args)
	}
}

// runQuiet runs a command that should fail fast and returns its exit code.
func runQuiet(args ...string) int {
	var sink strings.Builder
	return cli.Main(context.Background(), args, cli.IO{Stdout: &sink, Stderr: &sink})
}
