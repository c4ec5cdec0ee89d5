package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/hookstream/hookstream/internal/telemetry"
	"github.com/hookstream/hookstream/sender"
)

// Version is stamped at build time with -ldflags "-X ...cli.Version=v1.2.3".
var Version = "dev"

var senderVersion sync.Once

// setSenderVersion puts Version in the senders' User-Agent, once: commands
// running side by side in one process (tests) must not write it while a
// sender reads it.
func setSenderVersion() { senderVersion.Do(func() { sender.Version = Version }) }

const usage = `hookstream - webhook delivery on NATS JetStream

Usage:
  hookstream <command> [flags]

Commands:
  dev          run everything in one process on an embedded JetStream (API, router, sender, scheduler)
  api          run the REST API against external NATS
  router       run a router (events to deliveries) against external NATS
  sender       run a sender (deliveries to receivers) against external NATS
  scheduler    run the end-of-day replay of dead letters against external NATS
  nats         run an embedded NATS JetStream node (standalone or one of a cluster)
  receive      a webhook receiver that prints (and verifies) what it gets, for trying things out
  healthcheck  exit 0 if this container's role is healthy (the image's HEALTHCHECK)
  publish      publish one event (JSON from --data, --file or stdin)
  deadletters  list a tenant's dead letters, newest first
  replay       replay a tenant's dead letters now
  bench        measure deliveries/s, CPU per delivery, latency and memory on this machine
  version      print the version

Run 'hookstream <command> --help' for a command's flags.`

// IO is where a command reads and writes.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Main runs the command in args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, stdio IO) int {
	if len(args) == 0 {
		fmt.Fprintln(stdio.Stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "dev":
		err = runDev(ctx, rest, stdio)
	case "publish":
		err = runPublish(ctx, rest, stdio)
	case "nats":
		err = runNATS(ctx, rest, stdio)
	case "receive":
		err = runReceive(ctx, rest, stdio)
	case "healthcheck":
		err = runHealthcheck(ctx, rest, stdio)
	case "api", "router", "sender", "scheduler":
		err = runRole(ctx, roleCommands[cmd], rest, stdio)
	case "deadletters":
		err = runDeadletters(ctx, rest, stdio)
	case "replay":
		err = runReplay(ctx, rest, stdio)
	case "bench":
		err = runBench(ctx, rest, stdio)
	case "version", "--version", "-v":
		fmt.Fprintln(stdio.Stdout, "hookstream", Version)
	case "help", "--help", "-h":
		fmt.Fprintln(stdio.Stdout, usage)
	default:
		fmt.Fprintf(stdio.Stderr, "hookstream: unknown command %q\n\n%s\n", cmd, usage)
		return 2
	}
	var bad *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &bad):
		fmt.Fprintf(stdio.Stderr, "hookstream %s: %s (see --help)\n", args[0], bad.msg)
		return 2
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintln(stdio.Stderr, "hookstream:", err)
		return 1
	}
}

// errUsage marks an error already explained by the flag package.
var errUsage = errors.New("usage")

// usageError is a bad command line that Main explains, exiting with 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return "usage: " + e.msg }

func badUsage(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(telemetry.LogHandler(slog.NewTextHandler(w, opts))), nil
	case "json":
		return slog.New(telemetry.LogHandler(slog.NewJSONHandler(w, opts))), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
