package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config says how to reach JetStream. Exactly one of URLs and Server is set.
type Config struct {
	// URLs are NATS server URLs, comma-separated. Optional when Server is set.
	URLs string
	// Server is an embedded server to connect to in-process. Optional.
	Server *server.Server
	// Name is the client connection name seen in NATS monitoring. Optional.
	Name string
	// Topology configures streams and consumers. Optional.
	Topology Topology
	// CreateOnly creates what is missing of the topology but leaves what
	// exists as it is: for tools (publish, replay) that must not reconfigure
	// the streams the roles declared. Optional.
	CreateOnly bool
	// Logger receives connection events. Optional; default slog.Default().
	Logger *slog.Logger
}

// Broker is a connection to JetStream with the topology ensured and the KV
// buckets bound.
type Broker struct {
	Conn       *nats.Conn
	JS         jetstream.JetStream
	Webhooks   jetstream.KeyValue
	Tenants    jetstream.KeyValue
	EventTypes jetstream.KeyValue
	Health     jetstream.KeyValue
	Scheduler  jetstream.KeyValue

	closed chan struct{}
}

// Open connects, ensures the topology and binds the buckets. The connection
// reconnects forever with backoff; Close releases it.
func Open(ctx context.Context, cfg Config) (*Broker, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	closed := make(chan struct{})
	opts := []nats.Option{
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.Name(cmpOr(cfg.Name, "hookstream")),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	url := cfg.URLs
	if cfg.Server != nil {
		opts = append(opts, nats.InProcessServer(cfg.Server))
		url = cfg.Server.ClientURL()
	}
	if url == "" {
		return nil, errors.New("broker: no NATS URL and no embedded server")
	}
	nc, err := nats.Connect(strings.ReplaceAll(url, " ", ""), opts...)
	if err != nil {
		return nil, fmt.Errorf("broker: connect %s: %w", url, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("broker: jetstream: %w", err)
	}
	if err := ensure(ctx, js, cfg.Topology, cfg.CreateOnly); err != nil {
		nc.Close()
		return nil, err
	}
	b := &Broker{Conn: nc, JS: js, closed: closed}
	for _, bind := range []struct {
		kv   *jetstream.KeyValue
		name string
	}{
		{&b.Webhooks, BucketWebhooks}, {&b.Tenants, BucketTenants}, {&b.EventTypes, BucketEventTypes},
		{&b.Health, BucketHealth}, {&b.Scheduler, BucketScheduler},
	} {
		if *bind.kv, err = js.KeyValue(ctx, bind.name); err != nil {
			break
		}
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("broker: bind buckets: %w", err)
	}
	return b, nil
}

// Close flushes pending publishes and closes the connection.
func (b *Broker) Close() {
	if b == nil || b.Conn == nil {
		return
	}
	if err := b.Conn.Drain(); err != nil {
		b.Conn.Close()
	}
	<-b.closed
}

// Ready reports whether the connection is up and JetStream answers.
func (b *Broker) Ready(ctx context.Context) error {
	if !b.Conn.IsConnected() {
		return errors.New("nats: not connected")
	}
	_, err := b.JS.AccountInfo(ctx)
	return err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// EmbeddedConfig configures an in-process nats-server with JetStream.
type EmbeddedConfig struct {
	// StoreDir holds the JetStream data. Required.
	StoreDir string
	// Listen is the client address "host:port". Optional; empty listens on a
	// random loopback port, "-" does not listen (in-process clients only).
	Listen string
	// ServerName. Optional; default "hookstream".
	ServerName string
	// Logger gets the server's warnings and errors. Optional; default silent.
	Logger *slog.Logger
}

// StartEmbedded starts a JetStream server in this process and waits until it
// accepts connections. Stop it with Shutdown then WaitForShutdown. Signals are
// not trapped: the caller owns SIGINT/SIGTERM.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("broker: embedded server needs a store dir")
	}
	opts := &server.Options{
		ServerName: cmpOr(cfg.ServerName, "hookstream"),
		Host:       "127.0.0.1",
		Port:       -1,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		NoLog:      cfg.Logger == nil,
		MaxPayload: 8 << 20,
	}
	switch cfg.Listen {
	case "":
	case "-":
		opts.DontListen = true
	default:
		host, port, err := splitHostPort(cfg.Listen)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("broker: embedded server: %w", err)
	}
	if cfg.Logger != nil {
		s.SetLoggerV2(&slogAdapter{l: cfg.Logger}, false, false, false)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("broker: embedded server not ready after 30s (is the port taken?)")
	}
	return s, nil
}
