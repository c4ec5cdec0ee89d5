package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

// A large fan-out stores the event once: deliveries refer to it and each
// sender renders it for its webhook, full or thin — for events published
// with the Go producer and for JSON events published by other languages.
func TestLargeFanOutRendersTheEventPerWebhook(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	full, thin := newReceiver(t, nil), newReceiver(t, nil)
	for i := range 6 {
		rc, include := full, true
		if i%2 == 1 {
			rc, include = thin, false
		}
		e.storeWebhook(&schemas.Webhook{ID: fmt.Sprintf("wh_fan_%d", i), Name: "fan", URL: rc.URL, Events: []string{"*"}})
		if !include {
			_, err := e.p.Store.Update(context.Background(), "default", fmt.Sprintf("wh_fan_%d", i), func(w *schemas.Webhook) error {
				w.IncludePayload = false
				return nil
			})
			require.NoError(t, err)
		}
	}
	require.NoError(t, e.p.Index.Sync(context.Background()))

	goID := e.publish(syncStarted("org_1"))
	_, err := e.b.JS.PublishMsg(context.Background(), natsMsg{subject: broker.EventSubject("default", "sync.completed"),
		data: `{"org_id":"org_2","occurred_at":"2026-01-01T00:00:00Z","data":{"sync_session_id":"s","hrms":"keka","record_count":3}}`,
		json: true, id: "evt_from_python"}.msg())
	require.NoError(t, err)
	e.settle()

	// No delivery carried the payload: they refer to the event.
	ds, err := e.b.JS.Stream(context.Background(), broker.StreamDeliveries)
	require.NoError(t, err)
	require.Zero(t, e.p.Router.Stats().Parked)
	info, err := ds.Info(context.Background())
	require.NoError(t, err)
	require.Zero(t, info.State.Msgs, "all delivered")

	for _, id := range []string{goID, "evt_from_python"} {
		var fulls, thins int
		for _, r := range full.all() {
			if r.Event.ID == id {
				fulls++
				require.NotEmpty(t, r.Event.Data, "full body has data")
			}
		}
		for _, r := range thin.all() {
			if r.Event.ID == id {
				thins++
				var m map[string]json.RawMessage
				require.NoError(t, json.Unmarshal(r.Body, &m))
				var data map[string]json.RawMessage
				require.NoError(t, json.Unmarshal(m["data"], &data))
				et, _ := schemas.LookupType(r.Event.Type)
				for k := range data {
					require.Contains(t, et.ThinFields, k, "thin body has only the identifying fields")
				}
				require.Equal(t, `"default"`, string(m["tenant_id"]))
			}
		}
		require.Equal(t, 3, fulls, id)
		require.Equal(t, 3, thins, id)
	}
}
