package broker_test

import (
	"testing"

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
