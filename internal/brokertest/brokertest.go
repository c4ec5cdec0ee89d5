package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/hookstream/hookstream/internal/broker"
)

// Server starts an embedded JetStream server storing under dir (t.TempDir()
// when empty) and shuts it down when the test ends.
func Server(t testing.TB, dir string) *server.Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: dir})
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Open connects to s with the topology ensured and closes the connection when
// the test ends.
func Open(t testing.TB, s *server.Server, topo broker.Topology) *broker.Broker {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Open(ctx, broker.Config{URLs: s.ClientURL(), Topology: topo, Name: t.Name()})
	if err != nil {
		t.Fatalf("brokertest: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// New starts a server and returns a broker connected to it.
func New(t testing.TB) *broker.Broker {
	t.Helper()
	return Open(t, Server(t, ""), broker.Topology{})
}
