package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"

	"github.com/hookstream/hookstream/internal/bench"
)

const benchUsage = `Usage: hookstream bench [flags]

Measures Hookstream on this machine: an embedded JetStream (file storage),
the router, the senders and an in-process HTTP receiver, in named scenarios,
against the bare HTTP client-to-receiver loop (ceiling) every other row is
divided by. Each run is a child process, so CPU time and peak RSS are its
own; every figure is the median of --runs runs. The runs go in rounds, every
scenario once a round, and each ratio (× ceiling; blackhole and
fanout-transformed to fanout, encrypted to single) is the median of the
rounds' ratios, so a machine whose
speed drifts compares runs made minutes apart; the table lists the rounds'
ratios too. On a shared VM one round's ratio moves by several points on its
own, so the default is five runs, not the three a median needs.

Scenarios:
  single     1 webhook, 100,000 events of ~1 KiB
  fanout     100 webhooks subscribed to "*", 2,000 events (200,000 deliveries)
  fanout-transformed
             as fanout, every webhook on the tartan profile (its jq transform)
  blackhole  as fanout, 10 webhooks accept connections and never answer
             (the figures are the 90 healthy webhooks')
  encrypted  as single, teal preset with AES-256-GCM
  latency    a steady 1,000 events/s for 30 s: publish-to-delivery percentiles
  ceiling    a bare Go HTTP client posting 1 KiB to the receiver, same concurrency

Only when named (about a minute a run):
  backlog    100 webhooks on "*", 10,000 events: a million deliveries, most
             waiting at once; also reports the peak backlog and goroutines

--senders N runs N sender replicas, each with its own NATS connection, HTTP
client and --workers, as N sender processes would.

Each run has a soft memory limit of 256 MiB (--memory-limit, as the other
commands take it): the Go runtime then collects garbage harder rather than
let the heap grow to twice what is live, which keeps peak RSS under the
300 MiB target. --memory-limit off measures without it.

Example:
  hookstream bench --scenario fanout,ceiling --runs 3 --json`

// benchMemoryLimit is the runs' default soft memory limit: the 300 MiB the
// targets allow, less what the Go runtime does not count (code, stacks,
// pages not yet returned).
const benchMemoryLimit = "256MiB"

func runBench(ctx context.Context, args []string, stdio IO) error {
	var scenarios, child, cpuProfile, memProfile, memoryLimit string
	var runs, workers, senders int
	var scale float64
	var asJSON, verify bool
	f := newFlags("bench", benchUsage, stdio.Stderr)
	f.str(&scenarios, "scenario", "", strings.Join(bench.Scenarios, ","), "scenarios to run, comma-separated")
	f.integer(&runs, "runs", "", bench.DefaultRuns, "runs of each scenario (figures are medians)")
	f.integer(&workers, "workers", "HOOKSTREAM_WORKERS", 0, "sender concurrency, and the ceiling's (0 = the sender's default)")
	f.integer(&senders, "senders", "", 1, "sender replicas, each with its own NATS connection, HTTP client and --workers")
	f.Float64Var(&scale, "scale", 1, "multiply the scenarios' sizes (0.01 for a quick look)")
	f.boolean(&asJSON, "json", "", false, "print a JSON array, one object per scenario")
	f.boolean(&verify, "verify", "", false, "the receiver verifies every signature (and decrypts)")
	f.str(&memoryLimit, "memory-limit", "", benchMemoryLimit,
		"each run's soft memory limit, as the other commands take it (off: none); the default keeps peak RSS near the 300 MiB target")
	f.StringVar(&child, "child", "", "run one scenario once in this process and print its sample (used by bench itself)")
	f.StringVar(&cpuProfile, "cpuprofile", "", "with --child: write a CPU profile of the run to this file (go tool pprof)")
	f.StringVar(&memProfile, "memprofile", "", "with --child: write an allocation profile of the run to this file")
	if err := f.parse(args); err != nil {
		return err
	}
	if senders < 1 {
		return badUsage("--senders must be at least 1")
	}
	opts := bench.Options{Scale: scale, Workers: workers, Verify: verify, MemoryLimit: memoryLimit, Senders: senders}
	if child != "" {
		if _, _, err := setMemoryLimit(memoryLimit); err != nil {
			return badUsage("--memory-limit: %v", err)
		}
		if cpuProfile != "" {
			fh, err := os.Create(cpuProfile)
			if err != nil {
				return err
			}
			defer fh.Close()
			if err := pprof.StartCPUProfile(fh); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		if memProfile != "" {
			runtime.MemProfileRate = 64 << 10
		}
		s, err := bench.RunOne(ctx, child, opts)
		if err != nil {
			return err
		}
		if memProfile != "" {
			fh, err := os.Create(memProfile)
			if err != nil {
				return err
			}
			defer fh.Close()
			if err := pprof.Lookup("allocs").WriteTo(fh, 0); err != nil {
				return err
			}
		}
		return json.NewEncoder(stdio.Stdout).Encode(s)
	}
	if _, err := parseMemoryLimit(memoryLimit); err != nil {
		return badUsage("--memory-limit: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: find the hookstream binary: %w", err)
	}
	var names []string
	for _, n := range strings.Split(scenarios, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	progress := stdio.Stderr
	results, err := bench.Run(ctx, bench.Config{Scenarios: names, Runs: runs, Options: opts, Exe: exe, Progress: progress})
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdio.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	return bench.WriteTable(stdio.Stdout, results, memoryLimit)
}
