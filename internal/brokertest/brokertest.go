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
	return Start(t, broker.EmbeddedConfig{StoreDir: dir})
}

// Start starts an embedded JetStream server as cfg says (storing under
// t.TempDir() when cfg.StoreDir is empty) and shuts it down when the test
// ends.
func Start(t testing.TB, cfg broker.EmbeddedConfig) *server.Server {
	t.Helper()
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	s, err := broker.StartEmbedded(cfg)
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

// ConsumerReaches returns a channel closed once ok holds of the info of the
// durable consumer on stream (which may not exist yet), polled every 10 ms
// until then or until the test ends.
func ConsumerReaches(t testing.TB, js jetstream.JetStream, stream, consumer string, ok func(*jetstream.ConsumerInfo) bool) <-chan struct{} {
	ctx, cancel := context.WithCancel(context.Background())
	reached, exited := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	go func() {
		defer close(exited)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if c, err := js.Consumer(ctx, stream, consumer); err == nil {
				if info, err := c.Info(ctx); err == nil && ok(info) {
					close(reached)
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return reached
}

// WaitConsumer waits, at most 10 s, until ok holds of the info of the
// durable consumer on stream (which may not exist yet), and fails the test
// with what if it does not.
func WaitConsumer(t testing.TB, js jetstream.JetStream, stream, consumer string, what string, ok func(*jetstream.ConsumerInfo) bool) {
	t.Helper()
	select {
	case <-ConsumerReaches(t, js, stream, consumer, ok):
	case <-time.After(10 * time.Second):
		t.Fatalf("brokertest: waited 10s: %s", what)
	}
}
