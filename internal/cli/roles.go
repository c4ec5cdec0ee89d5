package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/internal/metrics"
	"github.com/hookstream/hookstream/internal/pipeline"
	"github.com/hookstream/hookstream/internal/telemetry"
	"github.com/hookstream/hookstream/scheduler"
	"github.com/hookstream/hookstream/sender"
)

// topoFlags declare the streams; every role gives the same values (set them
// in the environment every role shares), since each role makes the streams
// match at start.
type topoFlags struct {
	replicas          int
	deadLetters       time.Duration
	attempts          time.Duration
	attemptsPerHook   int
	events            time.Duration
	senderAckWait     time.Duration
	senderMaxAckPends int
}

func (t *topoFlags) register(f *flags) {
	f.integer(&t.replicas, "replicas", "HOOKSTREAM_REPLICAS", 1, "replicas of every stream and bucket (3 in a NATS cluster)")
	f.duration(&t.deadLetters, "dead-letter-retention", "HOOKSTREAM_DEAD_LETTER_RETENTION", scheduler.DefaultRetention,
		"how long dead letters wait for a replay; each end-of-day run removes older ones, with an audit record")
	f.duration(&t.attempts, "attempts-retention", "HOOKSTREAM_ATTEMPTS_RETENTION", 14*24*time.Hour, "how long the delivery log keeps attempts")
	f.integer(&t.attemptsPerHook, "attempts-per-webhook", "HOOKSTREAM_ATTEMPTS_PER_WEBHOOK", 10_000,
		"how many messages of the delivery log are kept per webhook (the oldest go first); a message holds a sender's attempts to the webhook within 0.1 s (up to 64), so at least this many attempts are kept")
	f.duration(&t.events, "events-retention", "HOOKSTREAM_EVENTS_RETENTION", 7*24*time.Hour,
		"how long events are kept (the delivery log shows and resends their bodies from them)")
	f.duration(&t.senderAckWait, "sender-ack-wait", "HOOKSTREAM_SENDER_ACK_WAIT", 60*time.Second,
		"how long a sender may hold a delivery before it goes to another sender: what a crashed sender held waits this long; must exceed --timeout")
	f.integer(&t.senderMaxAckPends, "sender-max-ack-pending", "HOOKSTREAM_SENDER_MAX_ACK_PENDING", 20_000,
		"deliveries held at once by all the senders together")
}

func (t *topoFlags) topology() (broker.Topology, error) {
	switch {
	case t.replicas < 1 || t.replicas > 5:
		return broker.Topology{}, fmt.Errorf("--replicas %d: want 1 to 5", t.replicas)
	case t.deadLetters < time.Hour:
		return broker.Topology{}, fmt.Errorf("--dead-letter-retention %s: want an hour or more", t.deadLetters)
	case t.attempts < time.Hour:
		return broker.Topology{}, fmt.Errorf("--attempts-retention %s: want an hour or more", t.attempts)
	case t.attemptsPerHook < 100:
		return broker.Topology{}, fmt.Errorf("--attempts-per-webhook %d: want 100 or more", t.attemptsPerHook)
	case t.events < time.Hour:
		return broker.Topology{}, fmt.Errorf("--events-retention %s: want an hour or more", t.events)
	case t.senderAckWait < time.Second:
		return broker.Topology{}, fmt.Errorf("--sender-ack-wait %s: want a second or more", t.senderAckWait)
	case t.senderMaxAckPends < 1:
		return broker.Topology{}, fmt.Errorf("--sender-max-ack-pending %d: want 1 or more", t.senderMaxAckPends)
	}
	return broker.Topology{Replicas: t.replicas, DeadLetterRetention: t.deadLetters, AttemptsMaxAge: t.attempts,
		AttemptsPerWebhook: int64(t.attemptsPerHook), EventsMaxAge: t.events,
		SenderAckWait: t.senderAckWait, SenderMaxAckPending: t.senderMaxAckPends}, nil
}

// checkAckWait refuses an attempt timeout that the senders' ack wait does
// not exceed: JetStream would give a delivery still being attempted to
// another sender, and the receiver would get it twice.
func checkAckWait(t topoFlags, d deliveryFlags) error {
	if d.timeout >= t.senderAckWait {
		return fmt.Errorf("--timeout %s must be shorter than --sender-ack-wait %s", d.timeout, t.senderAckWait)
	}
	return nil
}

// deliveryFlags configure how senders deliver (and how the API's test
// sends go out).
type deliveryFlags struct {
	workers, perEndpoint            int
	timeout, maxRetryAfter, disable time.Duration
	schedule, egressAllow           string
	allowLoopback                   bool
}

func (d *deliveryFlags) register(f *flags, withSender bool) {
	if withSender {
		f.integer(&d.workers, "workers", "HOOKSTREAM_WORKERS", sender.DefaultWorkers, "attempts in flight at once (goroutines)")
		f.integer(&d.perEndpoint, "max-per-endpoint", "HOOKSTREAM_MAX_PER_ENDPOINT", 32, "attempts in flight at once to one webhook")
		f.str(&d.schedule, "retry-schedule", "HOOKSTREAM_RETRY_SCHEDULE", sender.FormatRetrySchedule(sender.DefaultRetrySchedule),
			"waits before each retry, comma-separated (±20% jitter); a delivery is tried once more than it has entries")
		f.duration(&d.maxRetryAfter, "max-retry-after", "HOOKSTREAM_MAX_RETRY_AFTER", sender.DefaultMaxRetryAfter,
			"longest wait a receiver's Retry-After (on 429 and 503) may impose")
		f.duration(&d.disable, "disable-after", "HOOKSTREAM_DISABLE_AFTER", 5*24*time.Hour,
			"disable a webhook whose every attempt has failed for this long (0 = never)")
	}
	f.duration(&d.timeout, "timeout", "HOOKSTREAM_TIMEOUT", 15*time.Second, "timeout of one delivery attempt")
	f.str(&d.egressAllow, "egress-allow", "HOOKSTREAM_EGRESS_ALLOW", "", "CIDR ranges webhooks may target although not public, comma-separated")
	f.boolean(&d.allowLoopback, "egress-allow-loopback", "HOOKSTREAM_EGRESS_ALLOW_LOOPBACK", false, "let webhooks target loopback addresses (dev always does)")
}

func (d *deliveryFlags) apply(cfg *pipeline.Config) error {
	allow, err := egress.ParsePrefixes(d.egressAllow)
	if err != nil {
		return err
	}
	cfg.Egress = egress.Policy{AllowLoopback: d.allowLoopback, Allow: allow}
	cfg.Client = sender.ClientConfig{Timeout: d.timeout}
	if d.timeout <= 0 {
		return fmt.Errorf("--timeout %s: want a positive duration", d.timeout)
	}
	if d.workers == 0 && d.schedule == "" {
		return nil // no sender flags
	}
	schedule, err := sender.ParseRetrySchedule(d.schedule)
	if err != nil {
		return err
	}
	if d.workers < 1 || d.perEndpoint < 1 {
		return errors.New("--workers and --max-per-endpoint must be at least 1")
	}
	if d.disable < 0 {
		return fmt.Errorf("--disable-after %s: want 0 (never) or a positive duration", d.disable)
	}
	cfg.Sender = sender.Config{Workers: d.workers, MaxPerEndpoint: d.perEndpoint, RetrySchedule: schedule,
		MaxRetryAfter: d.maxRetryAfter, DisableAfter: d.disable}
	return nil
}

// logFlags choose the log format and level.
// registerAPI adds the API's flags that dev and the api role share.
func registerAPI(f *flags, cfg *api.Config) {
	f.str(&cfg.AdminToken, "admin-token", "HOOKSTREAM_ADMIN_TOKEN", "", "admin token for POST /v1/tenants and /v1/event-types (admin routes off when empty)")
	f.integer(&cfg.MaxConnections, "max-connections", "HOOKSTREAM_MAX_CONNECTIONS", api.DefaultMaxConnections,
		"connections the API serves at once; more wait to be accepted")
}

type logFlags struct{ format, level string }

func (l *logFlags) register(f *flags) {
	f.str(&l.format, "log-format", "HOOKSTREAM_LOG_FORMAT", "text", "log format: text or json")
	f.str(&l.level, "log-level", "HOOKSTREAM_LOG_LEVEL", "info", "log level: debug, info, warn, error")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	lg, err := newLogger(w, l.format, l.level)
	if err != nil {
		return nil, badUsage("%v", err)
	}
	return lg, nil
}

// setupTelemetry installs trace export as OTEL_* asks and returns its flush.
func setupTelemetry(ctx context.Context, role string, logger *slog.Logger) func() {
	shutdown, err := telemetry.Setup(ctx, role, Version)
	if err != nil {
		logger.Warn("tracing off", "err", err)
		return func() {}
	}
	if telemetry.Enabled() {
		logger.Info("tracing on: exporting as OTEL_* says")
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = shutdown(sctx)
	}
}

// metricsOf is the Prometheus registry of a pipeline's components.
func metricsOf(role string, b *broker.Broker, p *pipeline.Pipeline) http.Handler {
	return metrics.Handler(metrics.NewRegistry(metrics.Sources{Role: role, Version: Version,
		Producer: p.Producer, Router: p.Router, Sender: p.Sender, Replayer: p.Replayer, JS: b.JS}))
}

// opsServer serves /healthz, /readyz and /metrics for a role without the
// API, on addr (empty: not served).
func opsServer(ctx context.Context, addr string, b *broker.Broker, metricsHandler http.Handler, logger *slog.Logger) (func(), error) {
	if addr == "" {
		return func() {}, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		rctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if err := b.Ready(rctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"status":"not ready: JetStream does not answer"}`+"\n")
			return
		}
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	mux.Handle("GET /metrics", metricsHandler)
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--ops-addr %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	logger.Info("serving /healthz, /readyz and /metrics", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}

// roleCommand describes one of the single-role commands.
type roleCommand struct {
	name, usage string
	roles       pipeline.Roles
}

var roleCommands = map[string]roleCommand{
	"api": {name: "api", roles: pipeline.Roles{API: true}, usage: `Usage: hookstream api --nats URLs [flags]

Runs the REST API against an external NATS cluster: webhooks, events,
the delivery log, dead letters. Run as many replicas as you like behind a
load balancer. /metrics is served on --ops-addr.`},
	"router": {name: "router", roles: pipeline.Roles{Router: true}, usage: `Usage: hookstream router --nats URLs [flags]

Runs the router against an external NATS cluster: it consumes EVENTS and
fans each event out to the matching webhooks' DELIVERIES. Replicas share the
durable consumer "router"; adding one shares the work, removing one loses
nothing. SIGTERM stops it cleanly: events whose deliveries are stored are
acknowledged, the rest are redelivered to another replica.`},
	"sender": {name: "sender", roles: pipeline.Roles{Sender: true}, usage: `Usage: hookstream sender --nats URLs [flags]

Runs a sender against an external NATS cluster: it consumes DELIVERIES,
signs each delivery for its webhook and POSTs it, retries on a schedule and
dead-letters what keeps failing. Replicas share the durable consumer
"sender"; add replicas when load grows. SIGTERM drains: it stops fetching,
lets the attempts in flight finish (within --timeout), gives the rest back
for redelivery and exits 0.`},
	"scheduler": {name: "scheduler", roles: pipeline.Roles{Scheduler: true}, usage: `Usage: hookstream scheduler --nats URLs [flags]

Runs the end-of-day replay of dead letters against an external NATS cluster:
every day at --replay-at in --replay-tz it re-enqueues every dead letter
whose webhook exists and is enabled, with a fresh attempt budget, and removes
dead letters older than --dead-letter-retention. Run as many replicas as you
like: one acts per run (a lease in the KV bucket "scheduler"), and a run
interrupted halfway is resumed by the next start or by another replica.
A run due while every replica was down is made on the next start.
SIGINT or SIGTERM stops it; an interrupted run is released to be resumed.`},
}

// runRole runs one role (or, for dev's sake, several) against external NATS.
func runRole(ctx context.Context, rc roleCommand, args []string, stdio IO) error {
	var natsURL, opsAddr string
	var topo topoFlags
	var delivery deliveryFlags
	var replay replayFlags
	var logs logFlags
	var mem memoryFlags
	var apiCfg api.Config
	f := newFlags(rc.name, rc.usage, stdio.Stderr)
	f.str(&natsURL, "nats", "HOOKSTREAM_NATS_URL", "nats://127.0.0.1:4222", "NATS server URLs, comma-separated")
	topo.register(f)
	if rc.roles.Sender || rc.roles.API {
		delivery.register(f, rc.roles.Sender)
	}
	if rc.roles.Scheduler || rc.roles.API {
		replay.register(f)
	}
	if rc.roles.API {
		f.str(&apiCfg.Addr, "http", "HOOKSTREAM_HTTP_ADDR", "127.0.0.1:8080", "address of the REST API")
		registerAPI(f, &apiCfg)
	}
	f.str(&opsAddr, "ops-addr", "HOOKSTREAM_OPS_ADDR", "", "address serving /healthz, /readyz and /metrics (off when empty; :9090 in a container)")
	logs.register(f)
	mem.register(f)
	if err := f.parse(args); err != nil {
		return err
	}
	logger, err := logs.logger(stdio.Stderr)
	if err != nil {
		return err
	}
	if err := mem.apply(logger); err != nil {
		return err
	}
	topology, err := topo.topology()
	if err != nil {
		return badUsage("%v", err)
	}
	cfg := pipeline.Config{Roles: rc.roles, Logger: logger, API: apiCfg}
	if rc.roles.Sender || rc.roles.API {
		if err := delivery.apply(&cfg); err != nil {
			return badUsage("%v", err)
		}
	}
	if rc.roles.Sender {
		if err := checkAckWait(topo, delivery); err != nil {
			return badUsage("%v", err)
		}
	}
	if rc.roles.Scheduler || rc.roles.API {
		if cfg.Scheduler, err = replay.config(topo.deadLetters); err != nil {
			return badUsage("%v", err)
		}
	}
	flush := setupTelemetry(ctx, rc.name, logger)
	defer flush()

	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, err := broker.Open(octx, broker.Config{URLs: natsURL, Name: "hookstream-" + rc.name, Logger: logger, Topology: topology, WaitForServers: true})
	if err != nil {
		return err
	}
	defer b.Close()
	cfg.Broker = b
	setSenderVersion()
	p, err := pipeline.New(cfg)
	if err != nil {
		return err
	}
	stopOps, err := opsServer(ctx, opsAddr, b, metricsOf(rc.name, b, p), logger)
	if err != nil {
		return err
	}
	defer stopOps()
	switch {
	case p.Scheduler != nil:
		fmt.Fprintf(stdio.Stdout, "Hookstream %s scheduler %s: replays dead letters %s.\n", Version, p.Scheduler.Owner(),
			replay.describe(p.Scheduler.Next(), topo.deadLetters))
	case p.API != nil:
		fmt.Fprintf(stdio.Stdout, "Hookstream %s api on http://%s, NATS %s.\n", Version, apiCfg.Addr, b.Conn.ConnectedUrlRedacted())
	default:
		fmt.Fprintf(stdio.Stdout, "Hookstream %s %s, NATS %s.\n", Version, rc.name, b.Conn.ConnectedUrlRedacted())
	}
	err = p.Run(ctx)
	logger.Info("stopped", "role", rc.name)
	return err
}
