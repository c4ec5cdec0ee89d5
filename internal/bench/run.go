package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Config configures a benchmark: which scenarios, how many runs of each.
type Config struct {
	// Scenarios to run, in Scenarios' order. Optional; default all.
	Scenarios []string
	// Runs of each scenario; figures are the medians. Optional; default
	// DefaultRuns.
	Runs int
	// Options size each run.
	Options Options
	// Exe is the hookstream binary to run each run in (a child process, so
	// its CPU time and peak RSS are its own). Required.
	Exe string
	// Progress, when set, gets a line per run.
	Progress io.Writer
}

// DefaultRuns is how many runs of each scenario a bench makes unless told:
// on a shared 2-core VM one round's ratio between two scenarios moves by
// 8–10 points (one standard deviation) on its own (docs/BENCHMARKS.md),
// and the median of five rounds is steadier than that of three.
const DefaultRuns = 5

// Result is a scenario's medians, as `hookstream bench --json` prints them.
type Result struct {
	Scenario         string  `json:"scenario"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	CPUMicros        float64 `json:"cpu_us_per_delivery"`
	P50              float64 `json:"p50_ms"`
	P95              float64 `json:"p95_ms"`
	P99              float64 `json:"p99_ms"`
	Max              float64 `json:"max_ms"`
	PeakRSSMiB       float64 `json:"peak_rss_mib"`
	// RatioToCeiling is the median of the rounds' rate / ceiling's rate.
	RatioToCeiling float64 `json:"ratio_to_ceiling"`
	Runs           int     `json:"runs"`
	Deliveries     int     `json:"deliveries"`
	Cores          int     `json:"cores"`
	// MemoryLimit is each run's soft memory limit, as given ("256MiB", "off").
	MemoryLimit string `json:"memory_limit"`
	// Senders is how many sender replicas ran (ceiling: none).
	Senders int `json:"senders"`
	// Base is the scenario this one's target is set against (blackhole:
	// fanout; encrypted: single), RatioToBase the median of the rounds'
	// rate / base's rate, P99RatioToBase the same for p99; RatiosToBase
	// are the rounds' rate ratios, in round order, so the spread the median
	// was taken from shows.
	Base           string    `json:"base_scenario,omitempty"`
	RatioToBase    float64   `json:"ratio_to_base,omitempty"`
	RatiosToBase   []float64 `json:"ratios_to_base,omitempty"`
	P99RatioToBase float64   `json:"p99_ratio_to_base,omitempty"`
	// Blackhole only: the healthy webhooks' rate and p99 (equal to the
	// above, which count the healthy webhooks only).
	HealthyPerSec float64 `json:"healthy_deliveries_per_sec,omitempty"`
	HealthyP99    float64 `json:"healthy_p99_ms,omitempty"`
	// Backlog only: the most deliveries waiting at once, and the most
	// goroutines the process had.
	PeakBacklog   float64 `json:"peak_backlog,omitempty"`
	MaxGoroutines float64 `json:"max_goroutines,omitempty"`
}

// baseOf is the scenario each one's target is set against: blackhole's
// healthy webhooks against fanout, encrypted against single.
var baseOf = map[string]string{"blackhole": "fanout", "encrypted": "single", "fanout-transformed": "fanout"}

// Run runs every scenario Runs times, each run in a child process, and
// returns the medians. The runs go in rounds, every scenario once a round
// (each right after its base, in reverse every other round: runSequence,
// roundOrder), so that a ratio between two scenarios (to the ceiling, to the base) is
// taken between runs made minutes apart, not tens of minutes: each ratio is
// the median of the rounds' ratios, which the drift of a shared machine
// moves far less than it moves the rates themselves.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	if cfg.Runs <= 0 {
		cfg.Runs = DefaultRuns
	}
	names := cfg.Scenarios
	if len(names) == 0 {
		names = Scenarios
	}
	for _, n := range names {
		if _, err := shapeOf(n, 1); err != nil {
			return nil, err
		}
	}
	var order []string // the documented order
	for _, name := range append(slices.Clone(Scenarios), Extra...) {
		if slices.Contains(names, name) {
			order = append(order, name)
		}
	}
	samples := map[string][]Sample{}
	sequence := runSequence(order)
	for round := range cfg.Runs {
		for _, name := range roundOrder(sequence, round) {
			s, err := runChild(ctx, cfg, name)
			if err != nil {
				return nil, err
			}
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "%s run %d/%d: %.0f deliveries/s, %.1f µs CPU each, p99 %.1f ms, peak RSS %.0f MiB",
					name, round+1, cfg.Runs, s.PerSec, s.CPUMicros, s.LatencyMS.P99, s.PeakRSSMiB)
				if s.PeakBacklog > 0 {
					fmt.Fprintf(cfg.Progress, ", peak backlog %d, at most %d goroutines", s.PeakBacklog, s.MaxGoroutines)
				}
				fmt.Fprintln(cfg.Progress)
			}
			samples[name] = append(samples[name], s)
		}
	}
	out := make([]Result, 0, len(order))
	for _, name := range order {
		r := medianOf(name, samples[name])
		r.MemoryLimit = cfg.Options.MemoryLimit
		if ceiling := samples["ceiling"]; ceiling != nil {
			r.RatioToCeiling = median(roundRatios(samples[name], ceiling, perSec))
		}
		if base := baseOf[name]; samples[base] != nil {
			r.Base = base
			r.RatiosToBase = roundRatios(samples[name], samples[base], perSec)
			r.RatioToBase = median(r.RatiosToBase)
			r.P99RatioToBase = median(roundRatios(samples[name], samples[base], func(s Sample) float64 { return s.LatencyMS.P99 }))
		}
		out = append(out, r)
	}
	return out, nil
}

// runSequence is the order a round runs the scenarios in: the documented
// order, but with each scenario right after the one it is compared with
// (baseOf), so the two runs of a ratio are seconds apart, not minutes.
func runSequence(order []string) []string {
	var seq []string
	for _, name := range order {
		if base, ok := baseOf[name]; ok && slices.Contains(order, base) {
			continue // it runs after its base
		}
		seq = append(seq, name)
		for _, other := range order {
			if baseOf[other] == name {
				seq = append(seq, other)
			}
		}
	}
	return seq
}

// roundOrder is the order of a round's runs: the sequence (runSequence) in
// the odd rounds, its reverse in the even ones, so each of two scenarios
// compared goes first in half of the rounds and a ratio is not biased by
// which of them always ran first (into a machine that had just warmed, or
// slowed, between the two).
func roundOrder(order []string, round int) []string {
	if round%2 == 0 {
		return order
	}
	r := slices.Clone(order)
	slices.Reverse(r)
	return r
}

func perSec(s Sample) float64 { return s.PerSec }

// roundRatios are f(a)/f(b) round by round, a and b being the samples of
// two scenarios, one per round; rounds where f(b) is zero have none.
func roundRatios(a, b []Sample, f func(Sample) float64) []float64 {
	ratios := make([]float64, 0, len(a))
	for i := range min(len(a), len(b)) {
		if d := f(b[i]); d > 0 {
			ratios = append(ratios, f(a[i])/d)
		}
	}
	return ratios
}

func runChild(ctx context.Context, cfg Config, name string) (Sample, error) {
	args := []string{"bench", "--child", name, "--scale", strconv.FormatFloat(cfg.Options.Scale, 'g', -1, 64),
		"--workers", strconv.Itoa(cfg.Options.Workers)}
	if cfg.Options.Verify {
		args = append(args, "--verify")
	}
	if cfg.Options.Senders > 1 {
		args = append(args, "--senders", strconv.Itoa(cfg.Options.Senders))
	}
	if cfg.Options.MemoryLimit != "" {
		args = append(args, "--memory-limit", cfg.Options.MemoryLimit)
	}
	cmd := exec.CommandContext(ctx, cfg.Exe, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Sample{}, fmt.Errorf("bench: %s: %w: %s", name, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var s Sample
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		return Sample{}, fmt.Errorf("bench: %s: reading the run's result: %w", name, err)
	}
	return s, nil
}

// median is the median of xs; zero if there are none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianOf(name string, samples []Sample) Result {
	pick := func(f func(Sample) float64) float64 {
		xs := make([]float64, len(samples))
		for i, s := range samples {
			xs[i] = f(s)
		}
		return median(xs)
	}
	r := Result{
		Scenario:         name,
		DeliveriesPerSec: pick(func(s Sample) float64 { return s.PerSec }),
		CPUMicros:        pick(func(s Sample) float64 { return s.CPUMicros }),
		P50:              pick(func(s Sample) float64 { return s.LatencyMS.P50 }),
		P95:              pick(func(s Sample) float64 { return s.LatencyMS.P95 }),
		P99:              pick(func(s Sample) float64 { return s.LatencyMS.P99 }),
		Max:              pick(func(s Sample) float64 { return s.LatencyMS.Max }),
		PeakRSSMiB:       pick(func(s Sample) float64 { return s.PeakRSSMiB }),
		Runs:             len(samples),
		Deliveries:       samples[0].Deliveries,
		Cores:            runtime.NumCPU(),
		Senders:          samples[0].Senders,
	}
	if name == "blackhole" {
		r.HealthyPerSec, r.HealthyP99 = r.DeliveriesPerSec, r.P99
	}
	if name == "backlog" {
		r.PeakBacklog = pick(func(s Sample) float64 { return float64(s.PeakBacklog) })
		r.MaxGoroutines = pick(func(s Sample) float64 { return float64(s.MaxGoroutines) })
	}
	return r
}

// WriteTable prints results as a table; memoryLimit is the runs' soft
// memory limit, as given.
func WriteTable(w io.Writer, results []Result, memoryLimit string) error {
	cores := runtime.NumCPU()
	fmt.Fprintf(w, "hookstream bench: %d cores (GOMAXPROCS %d), %s/%s, soft memory limit %s; medians of the runs\n\n",
		cores, runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, memoryLimit)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tsenders\tdeliveries/s\tCPU µs/delivery\tCPU s/1k\tp50 ms\tp95 ms\tp99 ms\tpeak RSS MiB\t× ceiling\truns\t")
	for _, r := range results {
		ratio := "-"
		if r.RatioToCeiling > 0 {
			ratio = fmt.Sprintf("%.2f", r.RatioToCeiling)
		}
		senders := "-"
		if r.Senders > 0 {
			senders = strconv.Itoa(r.Senders)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.1f\t%.3f\t%.2f\t%.2f\t%.2f\t%.0f\t%s\t%d\t\n", r.Scenario, senders, r.DeliveriesPerSec, r.CPUMicros,
			r.CPUMicros/1000, r.P50, r.P95, r.P99, r.PeakRSSMiB, ratio, r.Runs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	sep := "\n"
	for _, r := range results {
		if r.Base != "" {
			rounds := make([]string, len(r.RatiosToBase))
			for i, x := range r.RatiosToBase {
				rounds[i] = fmt.Sprintf("%.0f", 100*x)
			}
			fmt.Fprintf(w, "%s%s: %.0f %% of %s's rate (rounds: %s), p99 %.2f× (medians of the rounds' ratios)\n", sep, r.Scenario,
				100*r.RatioToBase, r.Base, strings.Join(rounds, ", "), r.P99RatioToBase)
			sep = ""
		}
	}
	for _, r := range results {
		if r.PeakBacklog > 0 {
			fmt.Fprintf(w, "\n%s: at most %.0f deliveries waiting in DELIVERIES at once, at most %.0f goroutines, peak RSS %.0f MiB\n",
				r.Scenario, r.PeakBacklog, r.MaxGoroutines, r.PeakRSSMiB)
		}
	}
	return nil
}
