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
	// PublishAsyncTimeout bounds the wait for the ack of an asynchronous
	// publish. Optional; default DefaultPublishAsyncTimeout.
	PublishAsyncTimeout time.Duration
	// WaitForServers keeps trying to reach a NATS server until Open's
	// context ends, for a role that starts beside its cluster (compose,
	// Kubernetes). Without it no reachable server fails Open at once.
	WaitForServers bool
}

// DefaultPublishAsyncTimeout is how long an asynchronous publish waits for
// its ack before it fails with jetstream.ErrAsyncPublishTimeout. Without a
// bound, a publish whose stream leader stopped before answering would wait
// forever (the connection, to another node, stays up, so nats.go never
// fails it), and so would whatever waits for it: the router's
// acknowledgement of an event, a sender's of a retry, a producer's batch.
const DefaultPublishAsyncTimeout = 10 * time.Second

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
	// SigningKeys holds tenants' organisation-wide signing keys.
	SigningKeys jetstream.KeyValue

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
		// Asynchronous errors (a slow consumer, a write to a broken
		// connection) go to the logger: nats.go's default prints them as
		// bare lines on stderr, outside the log format.
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				logger.Warn("nats async error", "err", err, "subject", sub.Subject)
				return
			}
			logger.Warn("nats async error", "err", err)
		}),
	}
	url := cfg.URLs
	if cfg.Server != nil {
		opts = append(opts, nats.InProcessServer(cfg.Server))
		url = cfg.Server.ClientURL()
	}
	if url == "" {
		return nil, errors.New("broker: no NATS URL and no embedded server")
	}
	nc, err := connect(ctx, strings.ReplaceAll(url, " ", ""), cfg.WaitForServers, logger, opts)
	if err != nil {
		return nil, fmt.Errorf("broker: connect %s: %w", url, err)
	}
	asyncTimeout := cfg.PublishAsyncTimeout
	if asyncTimeout <= 0 {
		asyncTimeout = DefaultPublishAsyncTimeout
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(asyncTimeout),
		// Asynchronous publishes whose futures nobody reads (the attempt
		// log) report their failures here.
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			logger.Warn("asynchronous publish failed", "subject", m.Subject, "err", err)
		}))
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
		{&b.Health, BucketHealth}, {&b.Scheduler, BucketScheduler}, {&b.SigningKeys, BucketSigningKeys},
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

// connect connects to url; with wait, it retries while no server answers,
// until ctx ends.
func connect(ctx context.Context, url string, wait bool, logger *slog.Logger, opts []nats.Option) (*nats.Conn, error) {
	for try := 1; ; try++ {
		nc, err := nats.Connect(url, opts...)
		if err == nil || !wait || !errors.Is(err, nats.ErrNoServers) {
			return nc, err
		}
		if try == 1 || try%10 == 0 {
			logger.Warn("waiting for a NATS server", "urls", url, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (still none after waiting: %w)", err, context.Cause(ctx))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// EmbeddedConfig configures an in-process nats-server with JetStream.
type EmbeddedConfig struct {
	// ConfigFile is a nats-server configuration file; the fields below,
	// when set, override it. Optional.
	ConfigFile string
	// StoreDir holds the JetStream data. Required unless ConfigFile sets
	// jetstream.store_dir.
	StoreDir string
	// Listen is the client address "host:port". Optional; empty listens on a
	// random loopback port (or as ConfigFile says), "-" does not listen
	// (in-process clients only).
	Listen string
	// ServerName. Optional; default "hookstream" (or ConfigFile's).
	ServerName string
	// Cluster makes the server one node of a JetStream cluster. Optional.
	// With a ConfigFile that has a cluster block and no Cluster.Name here,
	// a Cluster.Listen moves only the route listener.
	Cluster ClusterConfig
	// MonitorListen serves nats-server's monitoring endpoints (/healthz,
	// /varz, /jsz) on "host:port". Optional.
	MonitorListen string
	// Logger gets the server's warnings and errors. Optional; default silent.
	Logger *slog.Logger
}

// ClusterConfig joins an embedded server to a cluster.
type ClusterConfig struct {
	// Name of the cluster, the same on every node. Required to cluster.
	Name string
	// Listen is this node's route address, "host:port".
	Listen string
	// Routes are the route URLs of the nodes (this one may be among them),
	// e.g. nats-route://n1:6222.
	Routes []string
}

// StartEmbedded starts a JetStream server in this process and waits until it
// accepts connections. Stop it with Shutdown then WaitForShutdown. Signals are
// not trapped: the caller owns SIGINT/SIGTERM.
func StartEmbedded(cfg EmbeddedConfig) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "hookstream",
		Host:       "127.0.0.1",
		Port:       -1,
		MaxPayload: 8 << 20,
	}
	if cfg.ConfigFile != "" {
		fileOpts, err := server.ProcessConfigFile(cfg.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("broker: %s: %w", cfg.ConfigFile, err)
		}
		opts = fileOpts
		if opts.ServerName == "" {
			opts.ServerName = "hookstream"
		}
	}
	opts.JetStream, opts.NoSigs, opts.NoLog = true, true, cfg.Logger == nil
	if cfg.StoreDir != "" {
		opts.StoreDir = cfg.StoreDir
	}
	if opts.StoreDir == "" {
		return nil, errors.New("broker: embedded server needs a store dir")
	}
	if cfg.ServerName != "" {
		opts.ServerName = cfg.ServerName
	}
	if c := cfg.Cluster; c.Name != "" {
		host, port, err := splitHostPort(c.Listen)
		if err != nil {
			return nil, fmt.Errorf("broker: cluster listen: %w", err)
		}
		routes := server.RoutesFromStr(strings.Join(c.Routes, ","))
		if len(routes) == 0 {
			return nil, fmt.Errorf("broker: cluster routes %q: want nats-route://host:port, comma-separated", c.Routes)
		}
		opts.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: port}
		opts.Routes = routes
		// On shutdown, hand clients to the other nodes within a k8s grace period.
		opts.LameDuckDuration, opts.LameDuckGracePeriod = 5*time.Second, time.Second
	} else if c.Listen != "" && opts.Cluster.Name != "" {
		// A node clustered by ConfigFile, listening for routes elsewhere.
		host, port, err := splitHostPort(c.Listen)
		if err != nil {
			return nil, fmt.Errorf("broker: cluster listen: %w", err)
		}
		opts.Cluster.Host, opts.Cluster.Port = host, port
	}
	if cfg.MonitorListen != "" {
		host, port, err := splitHostPort(cfg.MonitorListen)
		if err != nil {
			return nil, fmt.Errorf("broker: monitor listen: %w", err)
		}
		opts.HTTPHost, opts.HTTPPort = host, port
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
