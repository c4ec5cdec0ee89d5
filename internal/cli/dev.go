package cli

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/demo"
	"github.com/hookstream/hookstream/internal/pipeline"
	"github.com/hookstream/hookstream/sender"
)

const devUsage = `Usage: hookstream dev [flags]

Runs the whole pipeline in one process on an embedded JetStream server:
the REST API and the web console (http://<--http>/console/, sign in with the
printed token), the router, the sender pool and the scheduler that replays
dead letters at the end of each day (--replay-at in --replay-tz). Data is
kept under --data, so pending deliveries survive a restart. Ctrl-C stops
fetching, lets in-flight deliveries finish (bounded by --timeout) and leaves
the rest for redelivery.

With --demo it also plays an HRMS sync service and two of your customers'
endpoints, so the console has something to show: a loop of sync sessions
(sync.started, pages of employee.created/updated, sync.completed or now and
then sync.failed; a few events a second) for three organisations, a sample
receiver on a loopback port that verifies every signature (webhook "Demo:
sample receiver", every event), and an endpoint that always answers 503
(webhook "Demo: failing endpoint", sync.*), whose deliveries are retried and
end in the dead letters. Unless --retry-schedule is given, the demo retries
after 2s,5s,10s (every webhook of this process). A restart with --demo takes
its two webhooks over again.`

func runDev(ctx context.Context, args []string, stdio IO) error {
	var data, natsListen, token string
	var demoMode bool
	var topo topoFlags
	var delivery deliveryFlags
	var replay replayFlags
	var logs logFlags
	var mem memoryFlags
	var apiCfg api.Config
	f := newFlags("dev", devUsage, stdio.Stderr)
	f.str(&data, "data", "HOOKSTREAM_DATA", "./hookstream-data", "directory for JetStream data")
	f.str(&natsListen, "nats-listen", "HOOKSTREAM_NATS_LISTEN", "127.0.0.1:4222", "address NATS clients connect to (\"-\" = in-process only)")
	f.str(&apiCfg.Addr, "http", "HOOKSTREAM_HTTP_ADDR", "127.0.0.1:8080", "address of the REST API (and of /metrics)")
	f.str(&token, "token", "HOOKSTREAM_TOKEN", "", "API token of tenant \"default\" (generated and kept under --data when empty)")
	registerAPI(f, &apiCfg)
	f.boolean(&demoMode, "demo", "HOOKSTREAM_DEMO", false, "also run a simulated HRMS sync, a sample receiver and a failing endpoint, each with a webhook (see above)")
	topo.register(f)
	delivery.register(f, true)
	replay.register(f)
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
	cfg := pipeline.Config{Logger: logger, API: apiCfg}
	if demoMode && !f.isSet("retry-schedule", "HOOKSTREAM_RETRY_SCHEDULE") {
		delivery.schedule = sender.FormatRetrySchedule(demo.RetrySchedule)
	}
	if err := delivery.apply(&cfg); err != nil {
		return badUsage("%v", err)
	}
	if err := checkAckWait(topo, delivery); err != nil {
		return badUsage("%v", err)
	}
	cfg.Egress.AllowLoopback = true // a receiver on this machine works
	if cfg.Scheduler, err = replay.config(topo.deadLetters); err != nil {
		return badUsage("%v", err)
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	token, err = devToken(data, token)
	if err != nil {
		return err
	}
	flush := setupTelemetry(ctx, "dev", logger)
	defer flush()

	srv, err := broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: data, Listen: natsListen, Logger: logger})
	if err != nil {
		return err
	}
	defer func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	b, err := broker.Open(ctx, broker.Config{Server: srv, Name: "hookstream-dev", Logger: logger, Topology: topology})
	if err != nil {
		return err
	}
	defer b.Close()
	cfg.Broker = b

	setSenderVersion()
	var metricsHandler http.Handler
	cfg.API.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { metricsHandler.ServeHTTP(w, r) })
	p, err := pipeline.New(cfg)
	if err != nil {
		return err
	}
	metricsHandler = metricsOf("dev", b, p)
	if _, err := p.API.EnsureTenant(ctx, "default", "Default tenant", token); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()
	apiAddr, err := waitForAddr(ctx, p.API.Addr, runErr)
	if err != nil {
		return err
	}
	demoDone := make(chan error, 1)
	var demoInfo *demo.Info
	if demoMode {
		if demoInfo, err = startDemo(ctx, p, "http://"+loopback(apiAddr), token, logger, demoDone); err != nil {
			cancel()
			<-runErr
			return err
		}
	} else {
		demoDone <- nil
	}
	natsURL := srv.ClientURL()
	if natsListen == "-" {
		natsURL = "(in-process only)"
	}
	fmt.Fprintf(stdio.Stdout, `Hookstream %s is running.
  Console: http://%s/console/   (sign in with the token)
  API:    http://%s   (tenant "default"; metrics at /metrics)
  NATS:   %s
  Token:  %s
  Data:   %s
  Replay: %s
`, Version, apiAddr, apiAddr, natsURL, token, data, replay.describe(p.Scheduler.Next(), topo.deadLetters))
	if demoInfo != nil {
		fmt.Fprintf(stdio.Stdout, `Demo (--demo):
  Syncs:    simulated HRMS sync sessions for %s, a few events a second
  Receiver: %s   webhook %s, every event, verifies signatures
  Failing:  %s   webhook %s, sync.*, always 503: retried after %s, then dead-lettered
  Open the console to watch the deliveries, the failures and the dead letters.
`, strings.Join(demoInfo.Orgs, ", "), demoInfo.ReceiverURL, demoInfo.ReceiverWebhookID,
			demoInfo.FailingURL, demoInfo.FailingWebhookID, delivery.schedule)
	}
	fmt.Fprintf(stdio.Stdout, `Try:
  curl -s -H "Authorization: Bearer %s" http://%s/v1/webhooks
Press Ctrl-C to stop.
`, token, apiAddr)
	err = <-runErr
	if derr := <-demoDone; err == nil {
		err = derr
	}
	logger.Info("stopped")
	return err
}

// startDemo runs the --demo simulation against the API at apiURL once the
// pipeline has loaded, and returns what it set up; Run's result goes to
// done when ctx ends.
func startDemo(ctx context.Context, p *pipeline.Pipeline, apiURL, token string, logger *slog.Logger, done chan<- error) (*demo.Info, error) {
	d, err := demo.New(demo.Config{API: apiURL, Token: token, TenantID: "default", Producer: p.Producer, Logger: logger})
	if err != nil {
		return nil, err
	}
	select {
	case <-p.Ready():
	case <-ctx.Done(): // stopped while starting: no demo, no error
		done <- nil
		return nil, nil
	}
	runErr := make(chan error, 1)
	go func() { runErr <- d.Run(ctx) }()
	select {
	case <-d.Ready():
		go func() { done <- <-runErr }()
		info := d.Info()
		return &info, nil
	case err := <-runErr:
		if ctx.Err() != nil {
			done <- nil
			return nil, nil
		}
		return nil, err
	}
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
