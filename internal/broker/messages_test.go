package broker_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

func TestDecodeEventTakesWhatIsMissingFromTheSubject(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, subject   string
		ev              schemas.Event
		tenant, typ     string
		wantErrContains string
	}{
		{"fills both", "events.t1.sync.started", schemas.Event{}, "t1", "sync.started", ""},
		{"agrees", "events.t1.sync.started", schemas.Event{TenantID: "t1", Type: "sync.started"}, "t1", "sync.started", ""},
		{"tenant mismatch", "events.t1.sync.started", schemas.Event{TenantID: "t2"}, "", "", "do not match"},
		{"type mismatch", "events.t1.sync.started", schemas.Event{Type: "sync.failed"}, "", "", "do not match"},
		{"bad subject", "events.t1", schemas.Event{}, "", "", "not events.<tenant>.<type>"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev := tc.ev
			ev.ID = "e1"
			data, err := schemas.Marshal(nil, &ev)
			require.NoError(t, err)
			ev = schemas.Event{}
			err = broker.DecodeEvent(tc.subject, nats.Header{}, data, &ev)
			if tc.wantErrContains != "" {
				require.ErrorContains(t, err, tc.wantErrContains)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.tenant, ev.TenantID)
			require.Equal(t, tc.typ, ev.Type)
		})
	}
}

func TestDecodeEventJSONAndIDFromHeader(t *testing.T) {
	t.Parallel()
	h := nats.Header{broker.HeaderContentType: {"application/json"}, "Nats-Msg-Id": {"evt_from_header"}}
	var ev schemas.Event
	require.NoError(t, broker.DecodeEvent("events.t1.sync.started", h, []byte(`{"org_id":"o","data":{"a":1}}`), &ev))
	require.Equal(t, "evt_from_header", ev.ID)
	require.Equal(t, "t1", ev.TenantID)
	require.Equal(t, "sync.started", ev.Type)

	err := broker.DecodeEvent("events.t1.sync.started", nats.Header{}, []byte(`{"org_id":"o"}`), &schemas.Event{})
	require.ErrorIs(t, err, broker.ErrUndecodable, "JSON without its Content-Type is not msgpack")
}

// A held batch carries its deliveries and says in its headers whose they
// are, how many, and since when they wait; a sender reads both back.
func TestHeldBatchRoundTrip(t *testing.T) {
	t.Parallel()
	var entries []byte
	var err error
	for _, id := range []string{"d1", "d2"} {
		entries, err = broker.AppendHeld(entries, &broker.HeldDelivery{ID: id, Header: nats.Header{"traceparent": {"00-" + id}}, Data: []byte(id)})
		require.NoError(t, err)
	}
	since := time.Date(2026, 11, 24, 10, 0, 0, 123, time.UTC)
	at := since.Add(time.Minute)
	m, opts := broker.HeldBatchMsg(broker.HeldBatch{TenantID: "t1", WebhookID: "wh_1", N: 2, WaitingSince: since, Key: "k1"},
		broker.HeldBatchBody(2, entries), at)
	require.Equal(t, broker.RetrySubject("t1", "wh_1", "k1"), m.Subject)
	require.Len(t, opts, 2, "scheduled for at, onto the webhook's delivery subject")

	b, ok, err := broker.HeldBatchOf(m.Header)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, broker.HeldBatch{TenantID: "t1", WebhookID: "wh_1", N: 2, WaitingSince: since}, b)
	ds, err := broker.DecodeHeld(m.Data, b.N)
	require.NoError(t, err)
	require.Equal(t, []broker.HeldDelivery{
		{ID: "d1", Header: nats.Header{"traceparent": {"00-d1"}}, Data: []byte("d1")},
		{ID: "d2", Header: nats.Header{"traceparent": {"00-d2"}}, Data: []byte("d2")},
	}, ds)
	_, err = broker.DecodeHeld(m.Data, 3)
	require.ErrorContains(t, err, "2 deliveries, Hookstream-Held says 3")
	_, err = broker.DecodeHeld([]byte("not msgpack"), 1)
	require.Error(t, err)

	_, ok, err = broker.HeldBatchOf(nats.Header{})
	require.False(t, ok, "a plain delivery")
	require.NoError(t, err)
	for name, h := range map[string]nats.Header{
		"count":   {broker.HeaderHeld: {"x"}, broker.HeaderTenant: {"t1"}, broker.HeaderWebhook: {"w"}, broker.HeaderWaitingSince: {since.Format(time.RFC3339Nano)}},
		"webhook": {broker.HeaderHeld: {"1"}, broker.HeaderTenant: {"t1"}, broker.HeaderWaitingSince: {since.Format(time.RFC3339Nano)}},
		"since":   {broker.HeaderHeld: {"1"}, broker.HeaderTenant: {"t1"}, broker.HeaderWebhook: {"w"}},
	} {
		_, ok, err := broker.HeldBatchOf(h)
		require.True(t, ok, name)
		require.Error(t, err, name)
	}
}

// What a hold kept comes back spread over half the hold again, at most 30 s
// after its end; a hold already over is not spread.
func TestSpreadHold(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for range 100 {
		at := broker.SpreadHold(now.Add(10*time.Second), now)
		require.False(t, at.Before(now.Add(10*time.Second)))
		require.True(t, at.Before(now.Add(15*time.Second)), "half the hold again")
		at = broker.SpreadHold(now.Add(time.Hour), now)
		require.True(t, at.Before(now.Add(time.Hour+30*time.Second)), "at most 30 s")
	}
	require.Equal(t, now, broker.SpreadHold(now, now))
	require.Equal(t, now, broker.SpreadHold(now, now.Add(time.Second)))
}
