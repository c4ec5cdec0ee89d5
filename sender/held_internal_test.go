package sender

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/schemas"
)

type oneWebhook struct{ w *schemas.Webhook }

func (o oneWebhook) Webhook(_ context.Context, tenantID, id string) (*schemas.Webhook, bool, error) {
	return o.w, tenantID == o.w.TenantID && id == o.w.ID, nil
}

// heldBatchDue runs a sender over a held batch of n deliveries to a webhook
// that came due, the deliveries waiting since waitingSince; hold, when set,
// makes the sender hold the webhook until then. It returns the sender, the
// receiver's delivery ids, and the broker once the batch is acknowledged.
func heldBatchDue(t *testing.T, n int, waitingSince time.Time, hold time.Time) (*Sender, func() map[string]int, *broker.Broker) {
	t.Helper()
	b := brokertest.New(t)
	ctx := context.Background()
	wh, got := countingReceiver(t, nil)

	var entries []byte
	for i := range n {
		d, data := testDelivery(t, wh, i, waitingSince)
		var err error
		entries, err = broker.AppendHeld(entries, &broker.HeldDelivery{ID: d.ID, Data: data})
		require.NoError(t, err)
	}
	m, _ := broker.HeldBatchMsg(broker.HeldBatch{TenantID: "t1", WebhookID: wh.ID, N: n, WaitingSince: waitingSince, Key: "k"},
		broker.HeldBatchBody(n, entries), time.Now())
	m.Subject = broker.DeliverySubject("t1", wh.ID) // as when its schedule fires
	_, err := b.JS.PublishMsg(ctx, m)
	require.NoError(t, err)

	s, err := New(Config{JS: b.JS, Webhooks: oneWebhook{wh}, MaxBroken: time.Hour,
		Client: NewClient(ClientConfig{Egress: egress.Policy{AllowLoopback: true}})})
	require.NoError(t, err)
	if !hold.IsZero() {
		s.eps.get("t1.wh_1").sharedHold = hold
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	brokertest.WaitConsumer(t, b.JS, broker.StreamDeliveries, broker.ConsumerSender, "the batch acknowledged",
		func(info *jetstream.ConsumerInfo) bool { return info.AckFloor.Stream >= 1 })
	return s, got, b
}

// testDelivery is delivery i of a sync.started event (evt_000, evt_001, …)
// to wh, waiting since waitingSince, and its encoding.
func testDelivery(t *testing.T, wh *schemas.Webhook, i int, waitingSince time.Time) (*schemas.Delivery, []byte) {
	t.Helper()
	ev := &schemas.Event{ID: fmt.Sprintf("evt_%03d", i), Type: schemas.TypeSyncStarted, TenantID: wh.TenantID, OrgID: "o1",
		Data: json.RawMessage(`{"sync_session_id":"s1","hrms":"keka"}`)}
	d := &schemas.Delivery{ID: schemas.DeliveryID(ev.ID, wh.ID), EventID: ev.ID, EventType: ev.Type, TenantID: wh.TenantID,
		OrgID: "o1", WebhookID: wh.ID, Payload: schemas.AppendJSON(nil, ev, true), WaitingSince: waitingSince}
	data, err := schemas.Marshal(nil, d)
	require.NoError(t, err)
	return d, data
}

// countingReceiver starts a receiver that counts the requests by delivery
// id, answering 503 while failing (when given) is set, and returns the
// webhook t1/wh_1 posting to it and a copy of the counts.
func countingReceiver(t *testing.T, failing *atomic.Bool) (*schemas.Webhook, func() map[string]int) {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing != nil && failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	wh := &schemas.Webhook{ID: "wh_1", TenantID: "t1", URL: rc.URL, Enabled: true, IncludePayload: true,
		Secrets: []schemas.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}}
	return wh, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(got)
	}
}

// A held batch that comes due while nothing holds its webhook is unpacked
// into plain deliveries, each delivered once.
func TestAHeldBatchDueIsUnpacked(t *testing.T) {
	t.Parallel()
	s, got, _ := heldBatchDue(t, 3, time.Now(), time.Time{})
	require.Eventually(t, func() bool { return len(got()) == 3 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, uint64(3), s.Stats().Released)
	for id, n := range got() {
		require.Equal(t, 1, n, id)
	}
}

// While the sender still holds the webhook, a batch that comes due is
// scheduled again whole, for the end of that hold, and nothing is sent.
func TestAHeldBatchDueWhileHeldIsHeldAgain(t *testing.T) {
	t.Parallel()
	hold := time.Now().Add(time.Hour)
	s, got, b := heldBatchDue(t, 3, time.Now(), hold)
	st, err := b.JS.Stream(context.Background(), broker.StreamDeliveries)
	require.NoError(t, err)
	msg, err := st.GetLastMsgForSubject(context.Background(), "retries.t1.wh_1.*")
	require.NoError(t, err, "scheduled again")
	require.Equal(t, "3", msg.Header.Get(broker.HeaderHeld))
	when, ok := strings.CutPrefix(msg.Header.Get(jetstream.ScheduleHeader), "@at ")
	require.True(t, ok)
	at, err := time.Parse(time.RFC3339, when)
	require.NoError(t, err)
	require.False(t, at.Before(hold.Truncate(time.Second)), "for the end of the hold")
	require.Equal(t, broker.DeliverySubject("t1", "wh_1"), msg.Header.Get(jetstream.ScheduleTargetHeader))
	ds, err := broker.DecodeHeld(msg.Data, 3)
	require.NoError(t, err)
	require.Len(t, ds, 3)
	require.Zero(t, s.Stats().Released)
	require.Empty(t, got())
}

// Deliveries that have waited past MaxBroken are unpacked even while held,
// to be dead-lettered or delivered one by one.
func TestAHeldBatchPastMaxBrokenIsUnpackedAnyway(t *testing.T) {
	t.Parallel()
	s, got, _ := heldBatchDue(t, 2, time.Now().Add(-2*time.Hour), time.Now().Add(time.Hour))
	require.Eventually(t, func() bool { return s.Stats().Released == 2 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(got()) == 2 }, 10*time.Second, 10*time.Millisecond)
}

// A failing receiver's backlog, already in DELIVERIES when its circuit
// opens, goes back in held batches rather than a scheduled message each.
// Each time a batch comes due while the receiver still fails, the half-open
// probe fails and what the batch unpacked goes back again, in new batches
// under new ids (the same ids would be deduplicated away); once the receiver
// answers, every delivery arrives, once.
func TestABacklogSentBackTravelsInBatches(t *testing.T) {
	t.Parallel()
	const n = 200
	b := brokertest.New(t)
	ctx := context.Background()
	var failing atomic.Bool
	failing.Store(true)
	wh, got := countingReceiver(t, &failing)

	// Every scheduled write for the webhook, as the stream takes it.
	var batches, entries, alone atomic.Int64
	sub, err := b.Conn.Subscribe("retries.t1.wh_1.*", func(m *nats.Msg) {
		if h, ok, err := broker.HeldBatchOf(m.Header); ok && err == nil {
			batches.Add(1)
			entries.Add(int64(h.N))
			return
		}
		alone.Add(1)
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, b.Conn.Flush())

	for i := range n {
		d, data := testDelivery(t, wh, i, time.Time{})
		_, err = b.JS.PublishMsg(ctx, &nats.Msg{Subject: broker.DeliverySubject("t1", wh.ID), Data: data,
			Header: nats.Header{jetstream.MsgIDHeader: []string{d.ID}}})
		require.NoError(t, err)
	}

	// One attempt at a time, and its retry rarely: the probes are what the
	// batches unpack.
	s, err := New(Config{JS: b.JS, Webhooks: oneWebhook{wh}, MaxBroken: time.Hour, Workers: 8, MaxPerEndpoint: 1,
		Breaker:       BreakerConfig{Failures: 1, Cooldown: 2 * time.Second, MaxCooldown: 2 * time.Second},
		RetrySchedule: []time.Duration{5 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second},
		Client:        NewClient(ClientConfig{Egress: egress.Policy{AllowLoopback: true}})})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(rctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	// Two rounds of the backlog going back and coming due, then recovery.
	require.Eventually(t, func() bool { return s.Stats().Released >= 2*n-10 }, 30*time.Second, 10*time.Millisecond,
		"the backlog came back twice: %+v", s.Stats())
	failing.Store(false)
	require.Eventually(t, func() bool { return len(got()) == n }, 30*time.Second, 10*time.Millisecond, "every delivery arrives")
	time.Sleep(100 * time.Millisecond) // a duplicate would be on its way
	for id, k := range got() {
		require.Equal(t, 1, k, id)
	}
	st := s.Stats()
	t.Logf("%d sent back: %d in %d batches, %d scheduled alone; %d released, %d attempts",
		st.SentBack, entries.Load(), batches.Load(), alone.Load(), st.Released, st.Attempts)
	require.GreaterOrEqual(t, entries.Load(), int64(2*n-10), "sent back in batches")
	require.Less(t, batches.Load(), entries.Load()/2, "batches, not one message each")
}
