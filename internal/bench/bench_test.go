package bench

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/hookstream/hookstream/internal/testproc"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testproc.LeakOptions...) }

// TestScenariosSmoke runs every scenario at a small scale and checks the
// counts: every healthy delivery arrived, verified. No timing is asserted.
func TestScenariosSmoke(t *testing.T) {
	t.Parallel()
	for _, name := range append(slices.Clone(Scenarios), Extra...) {
		t.Run(name, func(t *testing.T) {
			if name != "backlog" { // it counts the process's goroutines: alone
				t.Parallel()
			}
			const scale = 0.005
			sh, err := shapeOf(name, scale)
			require.NoError(t, err)
			s, err := RunOne(context.Background(), name, Options{Scale: scale, Verify: true, Workers: 32, Dir: t.TempDir()})
			require.NoError(t, err)
			want := sh.events * max(sh.webhooks-sh.blackholes, 1)
			if sh.rate > 0 {
				want = int(sh.duration.Seconds() * float64(sh.rate))
			}
			require.Equal(t, want, s.Deliveries)
			require.Positive(t, s.PerSec)
			require.Positive(t, s.CPUMicros)
			if name == "backlog" {
				require.Positive(t, s.PeakBacklog)
				// Set by configuration (32 workers here: about 220 in all),
				// not by the thousands of deliveries waiting.
				require.Less(t, s.MaxGoroutines, 32*4+250, "goroutines with %d deliveries waiting", s.PeakBacklog)
			}
		})
	}
}

// TestSenderReplicas: with --senders 2 the deliveries are shared by two
// sender replicas, each on its own connection, and each arrives once. Not
// parallel: the backlog smoke run counts the process's goroutines.
func TestSenderReplicas(t *testing.T) {
	const scale = 0.02
	sh, err := shapeOf("fanout", scale)
	require.NoError(t, err)
	s, err := RunOne(context.Background(), "fanout", Options{Scale: scale, Verify: true, Workers: 16, Senders: 2, Dir: t.TempDir()})
	require.NoError(t, err)
	require.Equal(t, sh.events*sh.webhooks, s.Deliveries)
	require.Equal(t, 2, s.Senders)
	require.Len(t, s.AttemptsBySender, 2)
	for i, n := range s.AttemptsBySender {
		require.Positive(t, n, "replica %d attempted nothing", i+1)
	}
}

func TestEventNumber(t *testing.T) {
	t.Parallel()
	require.Equal(t, 42, eventNumber(eventID(42)+":wh_bench_001"))
	require.Equal(t, -1, eventNumber("evt_other:wh"))
}

func TestMedian(t *testing.T) {
	t.Parallel()
	require.InDelta(t, 2.0, median([]float64{3, 1, 2}), 1e-9)
	require.InDelta(t, 2.5, median([]float64{4, 1, 2, 3}), 1e-9)
	require.Zero(t, median(nil))
}

// Ratios pair the runs of one round: a ratio of medians would compare runs
// made in different minutes of a drifting machine.
func TestRoundRatios(t *testing.T) {
	t.Parallel()
	a := []Sample{{PerSec: 10}, {PerSec: 20}, {PerSec: 30}}
	b := []Sample{{PerSec: 5}, {PerSec: 40}, {PerSec: 15}}
	require.Equal(t, []float64{2, 0.5, 2}, roundRatios(a, b, perSec))
	require.Empty(t, roundRatios(a, []Sample{{}}, perSec), "no ratio without a base")
}

func TestRoundOrderAlternates(t *testing.T) {
	t.Parallel()
	order := []string{"single", "fanout", "blackhole", "ceiling"}
	require.Equal(t, order, roundOrder(order, 0))
	require.Equal(t, []string{"ceiling", "blackhole", "fanout", "single"}, roundOrder(order, 1))
	require.Equal(t, order, roundOrder(order, 2))
	require.Equal(t, []string{"single", "fanout", "blackhole", "ceiling"}, order, "the documented order is left as it is")
}

func TestRunSequencePutsEachScenarioNextToItsBase(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"single", "encrypted", "fanout", "fanout-transformed", "blackhole", "latency", "ceiling"}, runSequence(Scenarios))
	require.Equal(t, []string{"blackhole", "ceiling"}, runSequence([]string{"blackhole", "ceiling"}), "without its base it keeps its place")
	require.Equal(t, []string{"single", "encrypted", "backlog"}, runSequence([]string{"single", "encrypted", "backlog"}))
}

// The table shows the rounds' ratios the median was taken from.
func TestWriteTableListsTheRoundsRatios(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	require.NoError(t, WriteTable(&out, []Result{
		{Scenario: "fanout", DeliveriesPerSec: 20000, Runs: 3},
		{Scenario: "blackhole", DeliveriesPerSec: 19000, Runs: 3, Base: "fanout",
			RatiosToBase: []float64{0.93, 1.01, 0.96}, RatioToBase: 0.96, P99RatioToBase: 1.02},
	}, "256MiB"))
	require.Contains(t, out.String(), "blackhole: 96 % of fanout's rate (rounds: 93, 101, 96), p99 1.02×")
}
