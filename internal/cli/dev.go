package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/internal/pipeline"
	"github.com/hookstream/hookstream/sender"
)

const devUsage = `Usage: hookstream dev [flags]

Runs the whole pipeline in one process on an embedded JetStream server:
the REST API, the router, the sender pool and the scheduler that replays
dead letters at the end of each day (--replay-at in --replay-tz). Data is
kept under --data, so pending deliveries survive a restart. Ctrl-C stops
fetching, lets in-flight deliveries finish (bounded by --timeout) and leaves
the rest for redelivery.`

type devConfig struct {
	data, natsListen, httpAddr, token, adminToken string
	workers                                       int
	timeout                                       time.Duration
	retrySchedule                                 string
	logFormat, logLevel                           string
	egressAllow                                   string
	replay                                        replayFlags
}

func runDev(ctx context.Context, args []string, stdio IO) error {
	var c devConfig
	f := newFlags("dev", devUsage, stdio.Stderr)
	f.str(&c.data, "data", "HOOKSTREAM_DATA", "./hookstream-data", "directory for JetStream data")
	f.str(&c.natsListen, "nats-listen", "HOOKSTREAM_NATS_LISTEN", "127.0.0.1:4222", "address NATS clients connect to (\"-\" = in-process only)")
	f.str(&c.httpAddr, "http", "HOOKSTREAM_HTTP_ADDR", "127.0.0.1:8080", "address of the REST API")
	f.str(&c.token, "token", "HOOKSTREAM_TOKEN", "", "API token of tenant \"default\" (generated and kept under --data when empty)")
	f.str(&c.adminToken, "admin-token", "HOOKSTREAM_ADMIN_TOKEN", "", "admin token for POST /v1/tenants (admin routes off when empty)")
	f.integer(&c.workers, "workers", "HOOKSTREAM_WORKERS", 64, "concurrent deliveries")
	f.duration(&c.timeout, "timeout", "HOOKSTREAM_TIMEOUT", 15*time.Second, "timeout of one delivery attempt")
	f.str(&c.retrySchedule, "retry-schedule", "HOOKSTREAM_RETRY_SCHEDULE", "5s,30s,2m,10m", "waits before each retry, comma-separated")
	c.replay.register(f)
	f.str(&c.egressAllow, "egress-allow", "HOOKSTREAM_EGRESS_ALLOW", "", "CIDR ranges webhooks may target although not public, comma-separated (loopback is always allowed in dev)")
	f.str(&c.logFormat, "log-format", "HOOKSTREAM_LOG_FORMAT", "text", "log format: text or json")
	f.str(&c.logLevel, "log-level", "HOOKSTREAM_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	if err := f.parse(args); err != nil {
		return err
	}
	logger, err := newLogger(stdio.Stderr, c.logFormat, c.logLevel)
	if err != nil {
		return err
	}
	allow, err := egress.ParsePrefixes(c.egressAllow)
	if err != nil {
		return err
	}
	schedule, err := parseSchedule(c.retrySchedule)
	if err != nil {
		return err
	}
	replay, err := c.replay.config()
	if err != nil {
		return badUsage("%v", err)
	}
	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	token, err := devToken(c.data, c.token)
	if err != nil {
		return err
	}

	srv, err := broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: c.data, Listen: c.natsListen, Logger: logger})
	if err != nil {
		return err
	}
	defer func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	b, err := broker.Open(ctx, broker.Config{Server: srv, Name: "hookstream-dev", Logger: logger,
		Topology: broker.Topology{DeadLetterRetention: c.replay.retention}})
	if err != nil {
		return err
	}
	defer b.Close()

	sender.Version = Version
	p, err := pipeline.New(pipeline.Config{
		Broker:    b,
		Logger:    logger,
		API:       api.Config{Addr: c.httpAddr, AdminToken: c.adminToken},
		Sender:    sender.Config{Workers: c.workers, RetrySchedule: schedule},
		Scheduler: replay,
		Client:    sender.ClientConfig{Timeout: c.timeout},
		Egress:    egress.Policy{AllowLoopback: true, Allow: allow},
	})
	if err != nil {
		return err
	}
	if _, err := p.API.EnsureTenant(ctx, "default", "Default tenant", token); err != nil {
		return err
	}
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()
	apiAddr, err := waitForAddr(ctx, p.API.Addr, runErr)
	if err != nil {
		return err
	}
	natsURL := srv.ClientURL()
	if c.natsListen == "-" {
		natsURL = "(in-process only)"
	}
	fmt.Fprintf(stdio.Stdout, `Hookstream %s is running.
  API:    http://%s   (tenant "default")
  NATS:   %s
  Token:  %s
  Data:   %s
  Replay: %s
Try:
  curl -s -H "Authorization: Bearer %s" http://%s/v1/webhooks
Press Ctrl-C to stop.
`, Version, apiAddr, natsURL, token, c.data, c.replay.describe(p.Scheduler.Next()), token, apiAddr)
	err = <-runErr
	logger.Info("stopped")
	return err
}

// waitForAddr waits until the API is listening and returns its address, or
// returns the pipeline's error if it stopped first.
func waitForAddr(ctx context.Context, addr func() string, runErr <-chan error) (string, error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if a := addr(); a != "" {
			return a, nil
		}
		select {
		case err := <-runErr:
			if err == nil {
				err = errors.New("stopped before the API was listening")
			}
			return "", err
		case <-ctx.Done():
			return "", <-runErr
		case <-tick.C:
		}
	}
}

// devToken returns the explicit token, or the one kept in dir/dev-token,
// creating it on first start so restarts keep the same token.
func devToken(dir, explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	path := filepath.Join(dir, "dev-token")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	tok := "hs_" + base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("save dev token: %w", err)
	}
	return tok, nil
}
