package router_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/router"
	"github.com/hookstream/hookstream/schemas"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hooks is a Matcher with a fixed list of webhooks for every event.
type hooks []*schemas.Webhook

func (h hooks) Match(dst []*schemas.Webhook, _, _, _ string) []*schemas.Webhook {
	return append(dst, h...)
}

func webhooks(n int, mutate func(i int, w *schemas.Webhook)) hooks {
	var out hooks
	for i := range n {
		w := &schemas.Webhook{ID: fmt.Sprintf("wh_%d", i), TenantID: "t1", Enabled: true, IncludePayload: true}
		if mutate != nil {
			mutate(i, w)
		}
		out = append(out, w)
	}
	return out
}

// route runs a router over one published event and returns what it wrote
// to DELIVERIES and DEADLETTERS.
func route(t *testing.T, m router.Matcher) (deliveries, deadLetters []schemas.Delivery, eventSeq uint64) {
	t.Helper()
	b := brokertest.New(t)
	ctx := context.Background()
	p, err := producer.New(producer.Config{JS: b.JS})
	require.NoError(t, err)
	res, err := p.Publish(ctx, &schemas.Event{TenantID: "t1", Type: schemas.TypeSyncStarted, OrgID: "o1",
		Data: json.RawMessage(`{"sync_session_id":"s1","hrms":"keka","record_count":7}`)})
	require.NoError(t, err)
	r, err := router.New(router.Config{JS: b.JS, Matcher: m})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	require.Eventually(t, func() bool { return r.Stats().Routed == 1 }, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	read := func(stream, filter string) []schemas.Delivery {
		s, err := b.JS.Stream(ctx, stream)
		require.NoError(t, err)
		var out []schemas.Delivery
		for seq := uint64(1); ; seq++ {
			msg, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
			if err != nil {
				return out
			}
			seq = msg.Sequence
			if stream == broker.StreamDeadLetters {
				var dl schemas.DeadLetter
				require.NoError(t, schemas.Unmarshal(msg.Data, &dl))
				out = append(out, dl.Delivery)
				continue
			}
			var d schemas.Delivery
			require.NoError(t, schemas.Unmarshal(msg.Data, &d))
			require.Equal(t, d.ID, msg.Header.Get(jetstream.MsgIDHeader), "deduplicated by the delivery id")
			out = append(out, d)
		}
	}
	return read(broker.StreamDeliveries, "deliveries.>"), read(broker.StreamDeadLetters, "deadletters.>"), res.Sequence
}

func TestSmallFanOutCarriesThePayload(t *testing.T) {
	t.Parallel()
	ds, dls, seq := route(t, webhooks(2, func(i int, w *schemas.Webhook) { w.IncludePayload = i == 0 }))
	require.Len(t, ds, 2)
	require.Empty(t, dls)
	require.Contains(t, string(ds[0].Payload), `"data":{"sync_session_id":"s1","hrms":"keka","record_count":7}`)
	require.Contains(t, string(ds[1].Payload), `"data":{"sync_session_id":"s1","hrms":"keka"}`,
		"thin for include_payload false: the identifying fields only")
	for _, d := range ds {
		require.Equal(t, seq, d.EventSeq, "where the event is, for the delivery log")
	}
}

func TestLargeFanOutRefersToTheEvent(t *testing.T) {
	t.Parallel()
	ds, _, seq := route(t, webhooks(5, nil))
	require.Len(t, ds, 5)
	for _, d := range ds {
		require.Empty(t, d.Payload, "the event is stored once, in EVENTS")
		require.Equal(t, seq, d.EventSeq)
		require.Equal(t, schemas.DeliveryID(d.EventID, d.WebhookID), d.ID)
	}
}

func TestDisabledWebhooksMissNothing(t *testing.T) {
	t.Parallel()
	ds, dls, _ := route(t, webhooks(5, func(i int, w *schemas.Webhook) {
		if i == 0 {
			w.Enabled, w.DisabledReason = false, "the receiver answered 410 Gone"
		}
	}))
	require.Len(t, ds, 4)
	require.Len(t, dls, 1, "kept as a dead letter for a replay")
	require.Equal(t, "wh_0", dls[0].WebhookID)
	require.NotEmpty(t, dls[0].Payload, "dead letters carry the payload, whatever the fan-out")
}

// Events without the producer's mark have their data checked against the
// schema; marked ones (the Go producer checked them) only their envelope.
func TestUnmarkedEventsAreValidatedWhole(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	ctx := context.Background()
	r, err := router.New(router.Config{JS: b.JS, Matcher: webhooks(1, nil)})
	require.NoError(t, err)
	bad := schemas.Event{ID: "evt_bad", Type: schemas.TypeSyncStarted, TenantID: "t1", OrgID: "o",
		OccurredAt: time.Now(), Data: json.RawMessage(`{"hrms":"keka"}`)} // no sync_session_id
	data, err := schemas.Marshal(nil, &bad)
	require.NoError(t, err)
	_, err = b.JS.Publish(ctx, broker.EventSubject("t1", schemas.TypeSyncStarted), data)
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	require.Eventually(t, func() bool { return r.Stats().Quarantined == 1 }, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
}

// An event no webhook subscribes to is acknowledged and counted, not kept
// pending, and nothing is written for it.
func TestUnmatchedEventsAreAckedAndCounted(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	ctx := context.Background()
	p, err := producer.New(producer.Config{JS: b.JS})
	require.NoError(t, err)
	for range 3 {
		_, err = p.Publish(ctx, &schemas.Event{TenantID: "t1", Type: schemas.TypeSyncStarted, OrgID: "o1",
			Data: json.RawMessage(`{"sync_session_id":"s1","hrms":"keka","record_count":7}`)})
		require.NoError(t, err)
	}
	r, err := router.New(router.Config{JS: b.JS, Matcher: hooks(nil)})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	brokertest.WaitConsumer(t, b.JS, broker.StreamEvents, broker.ConsumerRouter, "every event acknowledged",
		func(info *jetstream.ConsumerInfo) bool {
			return info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == 3
		})
	cancel()
	require.NoError(t, <-done)
	st := r.Stats()
	require.Equal(t, uint64(3), st.Unmatched)
	require.Zero(t, st.Routed)
	s, err := b.JS.Stream(ctx, broker.StreamDeliveries)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.State.Msgs, "no delivery written")
}

// A webhook whose senders are busy with it until some time (the hold they
// share in webhook_health) has its new deliveries held together in batches
// scheduled for then, not handed to senders that would only queue them or
// send them back; the other webhooks' go at once.
func TestHeldWebhooksGetScheduledBatches(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	ctx := context.Background()
	holdEnd := time.Now().Add(2 * time.Second).UTC()
	raw, err := schemas.Marshal(nil, &schemas.WebhookHealth{HoldUntil: holdEnd})
	require.NoError(t, err)
	_, err = b.Health.Put(ctx, "t1.wh_0", raw)
	require.NoError(t, err)

	const events = 50
	p, err := producer.New(producer.Config{JS: b.JS})
	require.NoError(t, err)
	var batch []schemas.Event
	for range events {
		batch = append(batch, schemas.Event{TenantID: "t1", Type: schemas.TypeSyncStarted, OrgID: "o1",
			Data: json.RawMessage(`{"sync_session_id":"s1","hrms":"keka","record_count":7}`)})
	}
	_, err = p.PublishBatch(ctx, batch)
	require.NoError(t, err)
	r, err := router.New(router.Config{JS: b.JS, Matcher: webhooks(2, nil), Health: b.Health})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	require.Eventually(t, func() bool { return r.Stats().Routed == events }, 10*time.Second, 5*time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	st := r.Stats()
	require.Equal(t, uint64(events), st.Held)
	require.Equal(t, uint64(2*events), st.Deliveries)
	brokertest.WaitConsumer(t, b.JS, broker.StreamEvents, broker.ConsumerRouter, "every event acknowledged once its batch is stored",
		func(info *jetstream.ConsumerInfo) bool { return info.AckFloor.Stream == uint64(events) })

	s, err := b.JS.Stream(ctx, broker.StreamDeliveries)
	require.NoError(t, err)
	all := func(filter string) []*jetstream.RawStreamMsg {
		var out []*jetstream.RawStreamMsg
		for seq := uint64(1); ; seq++ {
			msg, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
			if err != nil {
				return out
			}
			seq = msg.Sequence
			out = append(out, msg)
		}
	}
	require.Len(t, all(broker.DeliverySubject("t1", "wh_1")), events, "not held: stored at once")
	require.Empty(t, all(broker.DeliverySubject("t1", "wh_0")), "held: not for the senders yet")
	batches := len(all("retries.t1.wh_0.*"))
	require.NotZero(t, batches)
	t.Logf("%d held deliveries in %d batches", events, batches)

	var due []*jetstream.RawStreamMsg
	require.Eventually(t, func() bool {
		due = all(broker.DeliverySubject("t1", "wh_0"))
		return len(due) == batches
	}, 15*time.Second, 20*time.Millisecond, "every batch comes due")
	ids := map[string]bool{}
	for _, msg := range due {
		require.False(t, msg.Time.Before(holdEnd.Truncate(time.Second)), "stored for the senders when the hold ends")
		hb, ok, err := broker.HeldBatchOf(msg.Header)
		require.NoError(t, err)
		require.True(t, ok, "a held batch")
		require.Equal(t, "wh_0", hb.WebhookID)
		require.False(t, hb.WaitingSince.IsZero(), "counts towards MaxBroken like a delivery sent back")
		ds, err := broker.DecodeHeld(msg.Data, hb.N)
		require.NoError(t, err)
		for _, e := range ds {
			var d schemas.Delivery
			require.NoError(t, schemas.Unmarshal(e.Data, &d))
			require.Equal(t, schemas.DeliveryID(d.EventID, "wh_0"), d.ID)
			require.Equal(t, d.ID, e.ID)
			require.False(t, d.NotBefore.Before(holdEnd))
			require.False(t, d.WaitingSince.IsZero())
			ids[d.ID] = true
		}
	}
	require.Len(t, ids, events, "every held delivery in exactly one batch")
}

// A router whose consumer is deleted under it stops with an error that says
// so (its process exits, and the restart declares the consumer again)
// rather than stay up routing nothing.
func TestRunEndsWhenItsConsumerIsDeleted(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	ctx := context.Background()
	r, err := router.New(router.Config{JS: b.JS, Matcher: hooks(nil)})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	brokertest.WaitConsumer(t, b.JS, broker.StreamEvents, broker.ConsumerRouter, "the router waits on a pull request",
		func(info *jetstream.ConsumerInfo) bool { return info.NumWaiting > 0 })
	require.NoError(t, b.JS.DeleteConsumer(ctx, broker.StreamEvents, broker.ConsumerRouter))
	select {
	case err := <-done:
		require.ErrorContains(t, err, "consuming "+broker.ConsumerRouter+" ended")
		require.ErrorIs(t, err, jetstream.ErrConsumerDeleted)
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10s after its consumer was deleted")
	}
}
