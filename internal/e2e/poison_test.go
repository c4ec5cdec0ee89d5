package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

// Random bytes and invalid events interleaved with valid ones on the events
// subject: every valid one is delivered, every bad one quarantined with a
// reason, and the router never stalls.
func TestPoisonInterleavedWithValidEvents(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, nil)
	e.createWebhook(rc.URL, []string{"*"}, nil)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))

	invalid := []func(i int) *nats.Msg{
		func(i int) *nats.Msg { // random bytes
			b := make([]byte, 1+rng.IntN(300))
			for j := range b {
				b[j] = byte(rng.IntN(256))
			}
			m := nats.NewMsg(broker.EventSubject("default", "sync.started"))
			m.Data = b
			return m
		},
		func(i int) *nats.Msg { // JSON that says it is JSON, but is not
			m := natsMsg{subject: broker.EventSubject("default", "sync.started"), data: `{"id": "x", "type": `, json: true}.msg()
			return m
		},
		func(i int) *nats.Msg { // valid envelope, data against the schema
			ev := schemas.Event{ID: fmt.Sprintf("bad_%d", i), Type: "employee.created", TenantID: "default", OrgID: "o",
				OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Data: json.RawMessage(`{"records":"not a list"}`)}
			b, err := schemas.Marshal(nil, &ev)
			require.NoError(t, err)
			m := nats.NewMsg(broker.EventSubject("default", "employee.created"))
			m.Data = b
			return m
		},
		func(i int) *nats.Msg { // unknown type
			m := natsMsg{subject: broker.EventSubject("default", "nope.nothing"),
				data: fmt.Sprintf(`{"id":"unk_%d","org_id":"o","occurred_at":"2026-01-01T00:00:00Z","data":{}}`, i), json: true}.msg()
			return m
		},
		func(i int) *nats.Msg { // envelope contradicting its subject
			m := natsMsg{subject: broker.EventSubject("default", "sync.started"),
				data: fmt.Sprintf(`{"id":"lie_%d","tenant_id":"other","org_id":"o","occurred_at":"2026-01-01T00:00:00Z","data":{"sync_session_id":"s","hrms":"h"}}`, i), json: true}.msg()
			return m
		},
	}
	var valid []string
	bad := 0
	for i := range 200 {
		if i%3 == 0 {
			valid = append(valid, e.publish(syncStarted("org_1")))
			continue
		}
		_, err := e.b.JS.PublishMsg(ctx, invalid[i%len(invalid)](i))
		require.NoError(t, err)
		bad++
	}
	got := map[string]bool{}
	for range valid {
		got[rc.next(t).Event.ID] = true
	}
	for _, id := range valid {
		require.True(t, got[id], "valid event %s delivered", id)
	}
	e.settle()
	require.Equal(t, uint64(bad), e.p.Router.Stats().Quarantined)

	qs, err := e.b.JS.Stream(ctx, broker.StreamQuarantine)
	require.NoError(t, err)
	info, err := qs.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, bad, info.State.Msgs)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := qs.GetMsg(ctx, seq)
		require.NoError(t, err)
		require.NotEmpty(t, m.Header.Get(broker.HeaderReason), "seq %d has a reason", seq)
		require.NotEmpty(t, m.Header.Get(broker.HeaderOrigSubject))
	}
}

// Undecodable bytes on a deliveries subject (a broken or hostile writer) are
// quarantined by the sender with the reason and the raw bytes, counted, and
// the deliveries around them still arrive.
func TestUndecodableDeliveriesAreQuarantined(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, nil)
	e.createWebhook(rc.URL, []string{"*"}, nil)
	ctx := context.Background()
	garbage := []byte{0xc1, 0xff, 0x00, 'n', 'o', 't', ' ', 'm', 's', 'g', 'p', 'a', 'c', 'k'}
	_, err := e.b.JS.Publish(ctx, broker.DeliverySubject("default", "wh_nowhere"), garbage)
	require.NoError(t, err)
	id := e.publish(syncStarted("org_1"))
	require.Equal(t, id, rc.next(t).Event.ID)
	e.settle()
	require.Equal(t, uint64(1), e.p.Sender.Stats().Quarantined)

	qs, err := e.b.JS.Stream(ctx, broker.StreamQuarantine)
	require.NoError(t, err)
	m, err := qs.GetLastMsgForSubject(ctx, broker.QuarantineSubject(broker.StreamDeliveries))
	require.NoError(t, err)
	require.Equal(t, garbage, m.Data, "the raw bytes")
	require.Contains(t, m.Header.Get(broker.HeaderReason), "undecodable delivery")
	require.Equal(t, broker.DeliverySubject("default", "wh_nowhere"), m.Header.Get(broker.HeaderOrigSubject))
}

// A held batch that cannot be read (forged headers, or a body that does not
// match them) is quarantined with the reason, not dropped or retried
// forever.
func TestUndecodableHeldBatchesAreQuarantined(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	ctx := context.Background()
	bad := []*nats.Msg{
		{Subject: broker.DeliverySubject("default", "wh_x"), Data: []byte("x"),
			Header: nats.Header{broker.HeaderHeld: {"many"}, broker.HeaderTenant: {"default"}, broker.HeaderWebhook: {"wh_x"}}},
		{Subject: broker.DeliverySubject("default", "wh_x"), Data: []byte{0xc1},
			Header: nats.Header{broker.HeaderHeld: {"2"}, broker.HeaderTenant: {"default"}, broker.HeaderWebhook: {"wh_x"},
				broker.HeaderWaitingSince: {time.Now().UTC().Format(time.RFC3339Nano)}}},
	}
	for _, m := range bad {
		_, err := e.b.JS.PublishMsg(ctx, m)
		require.NoError(t, err)
	}
	e.settle()
	require.Equal(t, uint64(2), e.p.Sender.Stats().Quarantined)
	qs, err := e.b.JS.Stream(ctx, broker.StreamQuarantine)
	require.NoError(t, err)
	var reasons []string
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := qs.GetMsg(ctx, seq)
		require.NoError(t, err)
		reasons = append(reasons, m.Header.Get(broker.HeaderReason))
	}
	require.Contains(t, reasons[0], `bad Hookstream-Held "many"`)
	require.Contains(t, reasons[1], "undecodable held deliveries")
}
