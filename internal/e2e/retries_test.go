package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

// deadLetters returns the dead letters of a webhook, oldest first.
func deadLetters(t *testing.T, e *env, webhookID string) []schemas.DeadLetter {
	t.Helper()
	ctx := context.Background()
	s, err := e.b.JS.Stream(ctx, broker.StreamDeadLetters)
	require.NoError(t, err)
	var out []schemas.DeadLetter
	subject := broker.DeadLetterSubject("default", webhookID)
	for seq := uint64(1); ; seq++ {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if err != nil {
			require.ErrorIs(t, err, jetstream.ErrMsgNotFound)
			return out
		}
		var dl schemas.DeadLetter
		require.NoError(t, schemas.Unmarshal(m.Data, &dl))
		out = append(out, dl)
		seq = m.Sequence
	}
}

// storeWebhook saves a webhook straight to the store (for fields and events
// the test needs whatever the API allows) and waits until it is indexed.
func (e *env) storeWebhook(w *schemas.Webhook) {
	e.t.Helper()
	if w.TenantID == "" {
		w.TenantID = "default"
	}
	if len(w.Secrets) == 0 {
		w.Secrets = []schemas.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
	}
	w.IncludePayload, w.Enabled = true, true
	if w.Signature == (schemas.SignatureConfig{}) {
		for _, sec := range w.Secrets {
			expectSignedBy(e.t, w.URL, sec.Value)
		}
	}
	require.NoError(e.t, e.p.Store.Create(context.Background(), w))
	require.NoError(e.t, e.p.Index.Sync(context.Background()))
}

func senderPending(t *testing.T, e *env) (pending uint64, ackPending int) {
	t.Helper()
	c, err := e.b.JS.Consumer(context.Background(), broker.StreamDeliveries, broker.ConsumerSender)
	require.NoError(t, err)
	info, err := c.Info(context.Background())
	require.NoError(t, err)
	return info.NumPending, info.NumAckPending
}

// A receiver answering 429 with Retry-After: 2 is not called again before
// 2 s — neither for that delivery nor for any other — and the waiting
// retry holds no consumer slot meanwhile.
func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	e := start(t, options{schedule: []time.Duration{10 * time.Millisecond}})
	var calls atomic.Int32
	rc := newReceiver(t, func(_ int, r request) int {
		if r.Event.Type == "sync.started" && calls.Add(1) == 1 {
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	rc.headers = http.Header{"Retry-After": {"2"}}
	e.createWebhook(rc.URL, []string{"sync.*"}, nil)
	e.publish(syncStarted("org_1"))

	first := rc.next(t)
	require.Eventually(t, func() bool { return e.p.Sender.Stats().Retried == 1 }, 10*time.Second, time.Millisecond,
		"the sender has the 429")
	const more = 4
	for range more {
		e.publish(syncStarted("org_1"))
	}
	require.Eventually(t, func() bool {
		pending, ackPending := senderPending(t, e)
		return pending == 0 && ackPending == 0
	}, 10*time.Second, 5*time.Millisecond, "what waits, waits outside the consumer")
	ids := map[string]bool{}
	for range 1 + more {
		r := rc.next(t)
		ids[r.Header.Get("webhook-id")] = true
		require.GreaterOrEqual(t, r.At.Sub(first.At), 2*time.Second, "not called again before Retry-After")
	}
	require.Len(t, ids, 1+more, "the retry and every other delivery")
	require.True(t, ids[first.Header.Get("webhook-id")], "the 429'd delivery retried")
}

// Every attempt's outcome ends up in the dead letter.
func TestDeadLetterKeepsEveryAttempt(t *testing.T) {
	t.Parallel()
	e := start(t, options{schedule: []time.Duration{5 * time.Millisecond, 5 * time.Millisecond}})
	var n atomic.Int32
	rc := newReceiver(t, func(_ int, r request) int {
		if r.Event.Type != "sync.started" {
			return http.StatusOK
		}
		return 500 + int(n.Add(1)) // 501, 502, 503
	})
	wh := e.createWebhook(rc.URL, []string{"sync.*"}, nil)
	id := e.publish(syncStarted("org_1"))
	e.settle()
	dls := deadLetters(t, e, wh.ID)
	require.Len(t, dls, 1)
	dl := dls[0]
	require.Equal(t, id, dl.Delivery.EventID)
	require.Equal(t, 3, dl.Attempts)
	require.Equal(t, 503, dl.LastStatus)
	require.Contains(t, dl.Reason, "gave up after 3 attempts: HTTP 503")
	require.Len(t, dl.Delivery.History, 3)
	for i, h := range dl.Delivery.History {
		require.Equal(t, i+1, h.Attempt)
		require.Equal(t, 501+i, h.StatusCode)
		require.Equal(t, schemas.OutcomeFailed, h.Outcome)
	}
}

// 410 Gone disables the webhook, says why, tells the tenant, and keeps what
// the webhook misses from then on as dead letters.
func TestGoneDisablesTheWebhook(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	gone := newReceiver(t, func(_ int, r request) int {
		if r.Event.Type == "sync.started" {
			return http.StatusGone
		}
		return http.StatusOK
	})
	observer := newReceiver(t, nil)
	wh := e.createWebhook(gone.URL, []string{"sync.*"}, nil)
	e.storeWebhook(&schemas.Webhook{ID: "wh_observer", Name: "ops", URL: observer.URL, Events: []string{"webhook.disabled"}})

	e.publish(syncStarted("org_1"))
	requireDisabledNote(t, observer, wh.ID, "410 Gone")

	var got struct {
		Enabled        bool   `json:"enabled"`
		DisabledReason string `json:"disabled_reason"`
	}
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/v1/webhooks/"+wh.ID, nil, &got))
	require.False(t, got.Enabled)
	require.Contains(t, got.DisabledReason, "410 Gone")

	// Missed from now on: kept as dead letters, not sent.
	e.publish(syncStarted("org_2"))
	e.settle()
	require.Equal(t, 1, gone.count("sync.started"), "one attempt, then disabled")
	dls := deadLetters(t, e, wh.ID)
	require.Len(t, dls, 2)
	reasons := map[string]string{} // org -> reason
	for _, dl := range dls {
		reasons[dl.Delivery.OrgID] = dl.Reason
	}
	require.Contains(t, reasons["org_1"], "410 Gone")
	require.Contains(t, reasons["org_2"], "webhook disabled")
	require.Equal(t, uint64(1), e.p.Sender.Stats().Disabled)
}

// 4xx answers are retried unless the webhook dead-letters client errors.
func TestClientErrorsFollowTheWebhooksPolicy(t *testing.T) {
	t.Parallel()
	e := start(t, options{schedule: []time.Duration{5 * time.Millisecond, 5 * time.Millisecond}})
	bad := func(int, request) int { return http.StatusUnprocessableEntity }
	retrying, strict := newReceiver(t, bad), newReceiver(t, bad)
	e.storeWebhook(&schemas.Webhook{ID: "wh_retrying", Name: "r", URL: retrying.URL, Events: []string{"*"}})
	e.storeWebhook(&schemas.Webhook{ID: "wh_strict", Name: "s", URL: strict.URL, Events: []string{"*"}, DeadLetterClientErrors: true})
	e.publish(syncStarted("org_1"))
	e.settle()
	require.Equal(t, 3, retrying.count("sync.started"), "retried to the end of the schedule")
	require.Equal(t, 1, strict.count("sync.started"), "dead-lettered at once")
	dls := deadLetters(t, e, "wh_strict")
	require.Len(t, dls, 1)
	require.Contains(t, dls[0].Reason, "HTTP 422")
	require.Equal(t, 1, dls[0].Attempts)
}

// A webhook failing for longer than DisableAfter is disabled and its
// deliveries wait as dead letters.
func TestAutoDisableAfterFailingTooLong(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	e := start(t, options{clock: clk, disableAfter: time.Hour, schedule: []time.Duration{5 * time.Millisecond}})
	var healed atomic.Bool
	rc := newReceiver(t, func(_ int, r request) int {
		if r.Event.Type == "webhook.ping" || healed.Load() {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	})
	observer := newReceiver(t, nil)
	wh := e.createWebhook(rc.URL, []string{"sync.*"}, nil)
	e.storeWebhook(&schemas.Webhook{ID: "wh_observer", Name: "ops", URL: observer.URL, Events: []string{"webhook.disabled"}})
	e.publish(syncStarted("org_1"))
	e.settle()
	var got struct {
		Enabled bool `json:"enabled"`
	}
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/v1/webhooks/"+wh.ID, nil, &got))
	require.True(t, got.Enabled, "failing for less than an hour")

	clk.advance(2 * time.Hour)
	e.publish(syncStarted("org_2"))
	e.settle()
	var after struct {
		Enabled        bool   `json:"enabled"`
		DisabledReason string `json:"disabled_reason"`
	}
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/v1/webhooks/"+wh.ID, nil, &after))
	require.False(t, after.Enabled)
	require.Contains(t, after.DisabledReason, "every attempt failed for 1h0m0s")

	e.publish(syncStarted("org_3"))
	e.settle()
	dls := deadLetters(t, e, wh.ID)
	orgs := map[string]bool{}
	for _, dl := range dls {
		orgs[dl.Delivery.OrgID] = true
	}
	require.Equal(t, map[string]bool{"org_1": true, "org_2": true, "org_3": true}, orgs, "nothing it would have received is lost")
	require.Equal(t, 3, len(dls), strconv.Itoa(len(dls))+" dead letters")

	// The tenant was told, with a webhook.disabled event.
	requireDisabledNote(t, observer, wh.ID, "every attempt failed")

	// Fixed and re-enabled, it is offered what it missed, and gets it.
	healed.Store(true)
	healedAt := time.Now()
	var patched struct {
		DeadLetters *int `json:"dead_letters"`
	}
	require.Equal(t, http.StatusOK, e.call(http.MethodPatch, "/v1/webhooks/"+wh.ID, map[string]any{"enabled": true}, &patched))
	require.NotNil(t, patched.DeadLetters)
	require.Equal(t, 3, *patched.DeadLetters)
	var res struct {
		Replayed int `json:"replayed"`
	}
	require.Equal(t, http.StatusOK, e.call(http.MethodPost, "/v1/dead-letters/replay", map[string]any{"webhook_id": wh.ID}, &res))
	require.Equal(t, 3, res.Replayed)
	replayedOrgs := map[string]bool{}
	for len(replayedOrgs) < 3 {
		r := rc.next(t) // the failed attempts first, still in line; then the replays
		if r.At.After(healedAt) {
			require.False(t, replayedOrgs[r.Event.OrgID], "each once: %s", r.Event.OrgID)
			replayedOrgs[r.Event.OrgID] = true
		}
	}
	require.Equal(t, orgs, replayedOrgs, "each missed delivery, after the re-enable")
}

// requireDisabledNote takes the next event the observer got and requires it
// to be the webhook.disabled event for webhookID, its reason containing
// reason.
func requireDisabledNote(t *testing.T, observer *receiver, webhookID, reason string) {
	t.Helper()
	note := observer.next(t)
	require.Equal(t, "webhook.disabled", note.Event.Type)
	var data schemas.WebhookDisabledData
	require.NoError(t, json.Unmarshal(note.Event.Data, &data))
	require.Equal(t, webhookID, data.WebhookID)
	require.Contains(t, data.Reason, reason)
}
