package router

import (
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/schemas"
)

// An event put off maxDeferrals times has its filters count as failed, so
// it is not redelivered for ever; before that it is put off, and a verdict
// reached once per event is reused for the webhooks that share the filter.
func TestFiltersPutOffThenGiveUp(t *testing.T) {
	t.Parallel()
	f := &filters{dialects: dialect.NewCompiler(), budget: dialect.NewBudget(1e-9, time.Nanosecond, nil),
		logger: slog.New(slog.DiscardHandler), now: time.Now}
	ev := &schemas.Event{ID: "evt_1", Type: schemas.TypeSyncStarted, TenantID: "t1", Data: []byte(`{"hrms":"keka"}`)}
	body := func() []byte { return schemas.AppendJSON(nil, ev, true) }
	hook := func(id string) *schemas.Webhook {
		return &schemas.Webhook{ID: id, TenantID: "t1", Filter: `.event.data.hrms == "keka"`, Enabled: true}
	}
	f.next()
	ok, later := f.pass(t.Context(), hook("wh_a"), ev, body, true)
	require.True(t, ok, "the first run is within the budget")
	require.Zero(t, later)
	ok, later = f.pass(t.Context(), hook("wh_b"), ev, body, true)
	require.True(t, ok, "the same filter's verdict for this event, at no cost")
	require.Zero(t, later)

	f.next()
	ok, later = f.pass(t.Context(), hook("wh_a"), ev, body, true)
	require.False(t, ok)
	require.Equal(t, maxDeferral, later, "spent: put off, at most this long")
	ok, later = f.pass(t.Context(), hook("wh_a"), ev, body, false)
	require.False(t, ok, "put off too often: it counts as failed")
	require.Zero(t, later)
	require.EqualValues(t, 1, f.errored.Load())
	require.EqualValues(t, 1, f.counts.take()["t1"]["wh_a"].Errors)
}
