package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

// scrape reads /metrics and returns the value of each sample by its full
// name with labels, as written.
func (e *env) scrape() map[string]float64 {
	e.t.Helper()
	resp, err := http.Get(e.api.URL + "/metrics")
	require.NoError(e.t, err)
	defer resp.Body.Close()
	require.Equal(e.t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	out := map[string]float64{}
	for _, m := range regexp.MustCompile(`(?m)^(hookstream_[^ ]+) ([0-9.e+-]+)$`).FindAllStringSubmatch(string(body), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		require.NoError(e.t, err)
		out[m[1]] = v
	}
	return out
}

// After a known run the counters add up: every delivery the router created
// was delivered, dead-lettered or is pending.
func TestMetricsAddUp(t *testing.T) {
	t.Parallel()
	e := start(t, options{schedule: []time.Duration{5 * time.Millisecond}})
	ok, failing := newReceiver(t, nil), newReceiver(t, func(int, request) int { return http.StatusInternalServerError })
	e.storeWebhook(&schemas.Webhook{ID: "wh_ok", Name: "ok", URL: ok.URL, Events: []string{"*"}})
	e.storeWebhook(&schemas.Webhook{ID: "wh_failing", Name: "failing", URL: failing.URL, Events: []string{"sync.*"}})
	const n = 10
	for range n {
		e.publish(syncStarted("org_1"))
	}
	for range 3 {
		e.publish(employeeCreated("org_1")) // only wh_ok wants these
	}
	e.settle()

	m := e.scrape()
	require.Equal(t, float64(n+3), m[`hookstream_events_published_total`])
	require.Equal(t, float64(n+3), m[`hookstream_events_routed_total{result="matched"}`])
	created := m[`hookstream_deliveries_created_total{state="queued"}`]
	require.Equal(t, float64(2*n+3), created)
	delivered := m[`hookstream_deliveries_delivered_total`]
	dead := m[`hookstream_dead_letters_total`]
	// What is neither delivered nor dead is still in DELIVERIES: pending,
	// in flight, or waiting as a scheduled retry or in a held batch (the
	// failing receiver's circuit may have opened).
	pending := e.waitingDeliveries()
	require.Equal(t, float64(n+3), delivered)
	require.Equal(t, created, delivered+dead+pending, "published = delivered + dead-lettered + pending")
	require.Equal(t, dead, m[`hookstream_stream_messages{stream="DEADLETTERS"}`])
	failedAttempts := m[`hookstream_attempts_total{class="5xx"}`]
	require.Equal(t, float64(n+3), m[`hookstream_attempts_total{class="2xx"}`])
	require.LessOrEqual(t, failedAttempts, float64(2*n), "at most two attempts per failing delivery")
	require.Equal(t, failedAttempts, m[`hookstream_retries_total`]+dead, "each failed attempt was retried or dead-lettered")
	require.Equal(t, float64(1), m[`hookstream_build_info{role="e2e",version="test"}`])
	require.Positive(t, m[`hookstream_attempt_duration_seconds_count`])
	// Everything routed: the router's consumer has nothing pending.
	require.Equal(t, float64(0), m[`hookstream_consumer_pending{consumer="router",stream="EVENTS"}`])
	require.Equal(t, float64(0), m[`hookstream_consumer_ack_pending{consumer="router",stream="EVENTS"}`])
	require.Contains(t, m, `hookstream_consumer_pending{consumer="sender",stream="DELIVERIES"}`)
	require.Contains(t, m, `hookstream_circuits_open`)
	require.LessOrEqual(t, m[`hookstream_circuits_open`], float64(1), "at most the failing receiver's")

	require.Contains(t, m, `hookstream_replayed_total`)
	require.Equal(t, float64(0), m[`hookstream_replayed_total`], "nothing replayed yet")
}

// waitingDeliveries counts the deliveries in DELIVERIES: one a message,
// but a held batch carries many.
func (e *env) waitingDeliveries() (deliveries float64) {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.b.JS.Stream(ctx, broker.StreamDeliveries)
	require.NoError(e.t, err)
	info, err := s.Info(ctx)
	require.NoError(e.t, err)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // acknowledged, or deleted
		}
		require.NoError(e.t, err)
		if b, ok, err := broker.HeldBatchOf(m.Header); ok {
			require.NoError(e.t, err)
			deliveries += float64(b.N)
			continue
		}
		deliveries++
	}
	return deliveries
}
