package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

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

// WaitConsumer waits, at most 10 s, until ok holds of the info of the
// durable consumer on stream (which may not exist yet), and fails the test
// with what if it does not.
func WaitConsumer(t testing.TB, js jetstream.JetStream, stream, consumer string, what string, ok func(*jetstream.ConsumerInfo) bool) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := js.Consumer(ctx, stream, consumer); err == nil {
			if info, err := c.Info(ctx); err == nil && ok(info) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("brokertest: waited 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
