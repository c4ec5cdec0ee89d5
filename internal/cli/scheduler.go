package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/pipeline"
)

const schedulerUsage = `Usage: hookstream scheduler [flags]

Runs the end-of-day replay of dead letters against an external NATS cluster:
every day at --replay-at in --replay-tz it re-enqueues every dead letter
whose webhook exists and is enabled, with a fresh attempt budget, and removes
dead letters older than --dead-letter-retention. Run as many replicas as you
like: one acts per run (a lease in the KV bucket "scheduler"), and a run
interrupted halfway is resumed by the next start or by another replica.
A run due while every replica was down is made on the next start.
SIGINT or SIGTERM stops it; an interrupted run is released to be resumed.

The DEADLETTERS stream keeps dead letters a day past --dead-letter-retention
(this command declares it so); the other roles declare it with the default
of 7 days.`

func runScheduler(ctx context.Context, args []string, stdio IO) error {
	var natsURL, logFormat, logLevel string
	var rf replayFlags
	f := newFlags("scheduler", schedulerUsage, stdio.Stderr)
	f.str(&natsURL, "nats", "HOOKSTREAM_NATS_URL", "nats://127.0.0.1:4222", "NATS server URLs, comma-separated")
	rf.register(f)
	f.str(&logFormat, "log-format", "HOOKSTREAM_LOG_FORMAT", "text", "log format: text or json")
	f.str(&logLevel, "log-level", "HOOKSTREAM_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	if err := f.parse(args); err != nil {
		return err
	}
	sc, err := rf.config()
	if err != nil {
		return badUsage("%v", err)
	}
	logger, err := newLogger(stdio.Stderr, logFormat, logLevel)
	if err != nil {
		return badUsage("%v", err)
	}

	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	b, err := broker.Open(octx, broker.Config{URLs: natsURL, Name: "hookstream-scheduler", Logger: logger,
		Topology: broker.Topology{DeadLetterRetention: rf.retention}})
	if err != nil {
		return err
	}
	defer b.Close()
	p, err := pipeline.New(pipeline.Config{Broker: b, Roles: pipeline.Roles{Scheduler: true}, Scheduler: sc, Logger: logger})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdio.Stdout, "Hookstream %s scheduler %s: replays dead letters %s.\n", Version, p.Scheduler.Owner(), rf.describe(p.Scheduler.Next()))
	err = p.Run(ctx)
	logger.Info("stopped")
	return err
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
