package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/pipeline"
	"github.com/hookstream/hookstream/scheduler"
	"github.com/hookstream/hookstream/scheduler/schedulertest"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/sender"
)

// deadLetters waits until n dead letters wait for the webhook and returns
// their delivery ids in the order they were dead-lettered.
func (e *env) deadLetters(webhookID string, n int) []string {
	e.t.Helper()
	ctx := context.Background()
	subject := broker.DeadLetterSubject("default", webhookID)
	require.Eventually(e.t, func() bool {
		s, err := e.b.JS.Stream(ctx, broker.StreamDeadLetters)
		require.NoError(e.t, err)
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
		require.NoError(e.t, err)
		return info.State.Subjects[subject] == uint64(n)
	}, 15*time.Second, 10*time.Millisecond, "%d dead letters for %s", n, webhookID)
	page, err := e.p.Replayer.List(ctx, scheduler.Query{TenantID: "default", WebhookID: webhookID, Limit: 200})
	require.NoError(e.t, err)
	var ids []string
	for _, l := range slices.Backward(page.Letters) {
		ids = append(ids, l.Delivery.ID)
	}
	return ids
}

// TestReceiverDownAllDayGetsEachDeliveryOnceAtTheEndOfTheDay: a receiver
// that fails every request during the day; what it missed is dead-lettered
// after the retry schedule, and the 23:59 run (Berlin time, on the
// scheduler's fake clock) re-delivers each once, with the same webhook-id,
// in the order dead-lettered.
func TestReceiverDownAllDayGetsEachDeliveryOnceAtTheEndOfTheDay(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	replayClock := schedulertest.NewClock(time.Date(2026, 11, 24, 8, 0, 0, 0, berlin))
	eod := time.Date(2026, 11, 24, 23, 59, 0, 0, berlin)
	e := start(t, options{replayClock: replayClock, tune: func(c *pipeline.Config) {
		c.Scheduler.Location = berlin
		c.Sender.Workers = 1 // deliveries are attempted in queue order
		// Keep the circuit closed so every delivery makes its attempts.
		c.Sender.Breaker = sender.BreakerConfig{Failures: 1000}
	}})
	var down atomic.Bool
	rc := newReceiver(t, func(_ int, r request) int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	wh := e.createWebhook(rc.URL, []string{"sync.*"}, nil)
	verifier, err := standardwebhooks.NewWebhook(wh.Secret)
	require.NoError(t, err)
	e.settle() // the ping arrived
	replayClock.WaitForTimer(t, eod)

	// The day: everything fails.
	down.Store(true)
	const events = 5
	var sent []string
	for i := range events {
		sent = append(sent, schemas.DeliveryID(e.publish(syncStarted(fmt.Sprintf("org_%d", i))), wh.ID))
	}
	order := e.deadLetters(wh.ID, events)
	require.ElementsMatch(t, sent, order)
	attempts := e.p.Sender.MaxAttempts()
	failedIDs := map[string]int{}
	for range events * attempts {
		r := rc.next(t)
		failedIDs[r.Header.Get("webhook-id")]++
	}
	for _, id := range sent {
		require.Equal(t, attempts, failedIDs[id], "each delivery made its attempts")
	}

	// The evening: the receiver is back; the end-of-day run replays.
	down.Store(false)
	replayClock.Set(eod)
	var replayed []string
	for range events {
		r := rc.next(t)
		require.NoError(t, verifier.Verify(r.Body, r.Header), "signed afresh")
		require.Equal(t, "sync.started", r.Event.Type)
		replayed = append(replayed, r.Header.Get("webhook-id"))
	}
	require.Equal(t, order, replayed, "once each, in the order dead-lettered, with the same webhook-id")
	e.settle()
	require.Equal(t, events*(attempts+1), rc.count("sync.started"), "nothing twice")
	require.Empty(t, e.deadLettersNow(wh.ID))

	// The next run is tomorrow's.
	replayClock.WaitForTimer(t, eod.AddDate(0, 0, 1))
}

// deadLettersNow returns the delivery ids of the webhook's dead letters.
func (e *env) deadLettersNow(webhookID string) []string {
	e.t.Helper()
	page, err := e.p.Replayer.List(context.Background(), scheduler.Query{TenantID: "default", WebhookID: webhookID, Limit: 200})
	require.NoError(e.t, err)
	var ids []string
	for _, l := range page.Letters {
		ids = append(ids, l.Delivery.ID)
	}
	return ids
}

// TestReenabledWebhookReplaysWhatItMissedOnDemand: deliveries for a
// disabled webhook wait as dead letters; re-enabling it says how many, and
// the replay route delivers them now.
func TestReenabledWebhookReplaysWhatItMissedOnDemand(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, nil)
	wh := e.createWebhook(rc.URL, []string{"sync.*"}, nil)
	e.settle()
	require.Equal(t, http.StatusOK, e.call(http.MethodPatch, "/v1/webhooks/"+wh.ID, map[string]any{"enabled": false}, nil))

	var missed []string
	for i := range 3 {
		missed = append(missed, schemas.DeliveryID(e.publish(syncStarted(fmt.Sprintf("org_%d", i))), wh.ID))
	}
	require.ElementsMatch(t, missed, e.deadLetters(wh.ID, len(missed)))
	var list struct {
		Data []struct {
			DeliveryID string `json:"delivery_id"`
			Replayable bool   `json:"replayable"`
			KeptReason string `json:"kept_reason"`
		} `json:"data"`
		NextReplayAt *time.Time `json:"next_replay_at"`
	}
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/v1/dead-letters?webhook_id="+wh.ID, nil, &list))
	require.Len(t, list.Data, 3)
	require.False(t, list.Data[0].Replayable)
	require.Equal(t, "webhook disabled: disabled through the API", list.Data[0].KeptReason)
	require.NotNil(t, list.NextReplayAt)
	require.Equal(t, "23:59", list.NextReplayAt.UTC().Format("15:04"))

	var patched struct {
		Enabled     bool   `json:"enabled"`
		DeadLetters *int   `json:"dead_letters"`
		ReplayHint  string `json:"replay_hint"`
	}
	require.Equal(t, http.StatusOK, e.call(http.MethodPatch, "/v1/webhooks/"+wh.ID, map[string]any{"enabled": true}, &patched))
	require.True(t, patched.Enabled)
	require.NotNil(t, patched.DeadLetters)
	require.Equal(t, 3, *patched.DeadLetters)
	require.Contains(t, patched.ReplayHint, "/v1/dead-letters/replay")

	var res struct {
		Replayed int `json:"replayed"`
		Kept     int `json:"kept"`
	}
	require.Equal(t, http.StatusOK, e.call(http.MethodPost, "/v1/dead-letters/replay", map[string]any{"webhook_id": wh.ID}, &res))
	require.Equal(t, 3, res.Replayed)
	var got []string
	for range missed {
		got = append(got, rc.next(t).Header.Get("webhook-id"))
	}
	require.ElementsMatch(t, missed, got)
	e.settle()
	require.Equal(t, 3, rc.count("sync.started"), "each once")
	require.Empty(t, e.deadLettersNow(wh.ID))
}
