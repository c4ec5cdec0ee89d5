package dialect_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/dialect"
)

const lateProgram = `.event as $e | {requestId: .delivery.id, id: $e.id, n: .event_name}`

var body = []byte(`{"id":"evt_1","type":"sync.started","tenant_id":"t","org_id":"o","occurred_at":"2026-03-14T09:26:53Z","data":{}}`)

func inputFor(webhookID string) dialect.Input {
	return dialect.Input{EventName: "x", Webhook: dialect.WebhookInput{ID: webhookID},
		Delivery: dialect.DeliveryInput{ID: "evt_1:" + webhookID, Attempt: 1}}
}

// Every delivery gets its own late values, whether the event is shared
// (a sequence in EVENTS) or not (Hookstream's pings).
func TestRenderFillsLateValues(t *testing.T) {
	t.Parallel()
	p, err := dialect.Compile(dialect.KindTransform, lateProgram)
	require.NoError(t, err)
	r := dialect.NewRenderer(1 << 20)
	for _, seq := range []uint64{0, 7} {
		for _, wh := range []string{"wh_a", "wh_b"} {
			out, err := r.Render(context.Background(), p, dialect.Source{Seq: seq, Body: body}, inputFor(wh), nil, "")
			require.NoError(t, err)
			require.JSONEq(t, `{"requestId":"evt_1:`+wh+`","id":"evt_1","n":"x"}`, string(out), "seq %d", seq)
		}
	}
}

// A per-event program runs once for an event however many deliveries of it
// are rendered at once.
func TestRenderRunsAPerEventProgramOnce(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	p, err := dialect.Compile(dialect.KindTransform, lateProgram)
	require.NoError(t, err)
	require.True(t, p.PerEvent())
	r := dialect.NewRenderer(1 << 20)
	counting := dialect.Source{Seq: 42, Body: body}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			out, err := r.Render(context.Background(), p, counting, inputFor("wh_"+string(rune('a'+i%26))), nil, "")
			require.NoError(t, err)
			require.Contains(t, string(out), `"requestId":"evt_1:wh_`)
			runs.Add(1)
		})
	}
	wg.Wait()
	require.EqualValues(t, 50, runs.Load())
	require.EqualValues(t, 1, dialect.Runs(p), "one run for the event")
}

// A tenant's budget pays for runs only: the deliveries that take an output
// already made are neither charged nor refused; a new run is refused once
// the budget is spent.
func TestRenderChargesTheBudgetForRunsOnly(t *testing.T) {
	t.Parallel()
	p, err := dialect.Compile(dialect.KindTransform, lateProgram)
	require.NoError(t, err)
	r := dialect.NewRenderer(1 << 20)
	budget := dialect.NewBudget(1e-9, time.Nanosecond, nil) // one run, then next to nothing
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			_, err := r.Render(context.Background(), p, dialect.Source{Seq: 1, Body: body}, inputFor("wh_"+string(rune('a'+i%26))), budget, "t")
			require.NoError(t, err)
		})
	}
	wg.Wait()
	_, err = r.Render(context.Background(), p, dialect.Source{Seq: 2, Body: body}, inputFor("wh_a"), budget, "t")
	var over *dialect.OverBudgetError
	require.ErrorAs(t, err, &over)
	_, err = r.Render(context.Background(), p, dialect.Source{Seq: 2, Body: body}, inputFor("wh_a"), budget, "other")
	require.NoError(t, err, "another tenant's budget is its own")
}
