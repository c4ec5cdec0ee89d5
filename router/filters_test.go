package router_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/router"
	"github.com/hookstream/hookstream/schemas"
)

// runFiltered publishes events of these HRMS to a router over m, and waits
// until cond holds of its stats.
func runFiltered(t *testing.T, cfg router.Config, hrms []string, cond func(router.Stats) bool) router.Stats {
	t.Helper()
	b := brokertest.New(t)
	p, err := producer.New(producer.Config{JS: b.JS})
	require.NoError(t, err)
	for _, h := range hrms {
		_, err := p.Publish(t.Context(), &schemas.Event{TenantID: "t1", Type: schemas.TypeSyncStarted, OrgID: "o1",
			Data: json.RawMessage(`{"sync_session_id":"s1","hrms":"` + h + `"}`)})
		require.NoError(t, err)
	}
	cfg.JS = b.JS
	r, err := router.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	require.Eventually(t, func() bool { return cond(r.Stats()) }, 15*time.Second, 5*time.Millisecond, "%+v", r.Stats())
	cancel()
	require.NoError(t, <-done)
	return r.Stats()
}

func TestFilterKeepsOutWhatItDoesNotMatch(t *testing.T) {
	t.Parallel()
	m := webhooks(3, func(i int, w *schemas.Webhook) {
		switch i {
		case 0:
			w.Filter = `.event.data.hrms == "keka"`
		case 1:
			w.Filter = `.event.data.nope | error`
		}
	})
	st := runFiltered(t, router.Config{Matcher: m}, []string{"keka", "darwinbox"},
		func(st router.Stats) bool { return st.Routed+st.Unmatched == 2 })
	// keka: webhooks 0 and 2; darwinbox: webhook 2.
	require.EqualValues(t, 3, st.Deliveries)
	require.EqualValues(t, 3, st.Filtered, "webhook 0 once, webhook 1 twice")
	require.EqualValues(t, 2, st.FilterErrors, "webhook 1's filter fails on both")
}

// A tenant whose filters have used their share of the router's time has
// its events put off, not its filters skipped; they are routed once it has
// saved up again.
func TestASpentFilterBudgetPutsEventsOff(t *testing.T) {
	t.Parallel()
	m := webhooks(1, func(_ int, w *schemas.Webhook) { w.Filter = `.event.data.hrms == "keka"` })
	// A hundredth of a core, saved up to nothing: each run puts the next
	// event off for a hundred times as long as it took.
	budget := dialect.NewBudget(0.01, time.Nanosecond, nil)
	st := runFiltered(t, router.Config{Matcher: m, Budget: budget}, []string{"keka", "keka", "keka", "darwinbox"},
		func(st router.Stats) bool { return st.Routed+st.Unmatched == 4 })
	require.EqualValues(t, 3, st.Deliveries, "every keka event, none lost")
	require.EqualValues(t, 1, st.Filtered)
	require.Zero(t, st.FilterErrors)
	require.Positive(t, st.Deferred)
}
