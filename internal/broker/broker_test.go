package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A role declares the topology; a tool opening with CreateOnly leaves it as
// the role set it, where Ensure would reset it.
func TestCreateOnlyLeavesTheTopologyAlone(t *testing.T) {
	t.Parallel()
	srv := brokertest.Server(t, "")
	ctx := context.Background()
	role := brokertest.Open(t, srv, broker.Topology{DeadLetterRetention: 30 * 24 * time.Hour})
	maxAge := func() time.Duration {
		s, err := role.JS.Stream(ctx, broker.StreamDeadLetters)
		require.NoError(t, err)
		info, err := s.Info(ctx)
		require.NoError(t, err)
		return info.Config.MaxAge
	}
	require.Equal(t, 31*24*time.Hour, maxAge(), "kept a day past the retention")

	tool, err := broker.Open(ctx, broker.Config{URLs: srv.ClientURL(), CreateOnly: true})
	require.NoError(t, err)
	tool.Close()
	require.Equal(t, 31*24*time.Hour, maxAge(), "a tool with default settings changed nothing")

	require.NoError(t, broker.Ensure(ctx, role.JS, broker.Topology{}))
	require.Equal(t, 8*24*time.Hour, maxAge(), "Ensure applies the topology it is given")
}
