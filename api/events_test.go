package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

func syncStarted(id string) map[string]any {
	return map[string]any{
		"id": id, "type": "sync.started", "org_id": "org_1", "occurred_at": "2024-05-01T12:00:00Z",
		"data": map[string]any{"sync_session_id": "ss_1", "hrms": "darwinbox"},
	}
}

type published struct {
	ID        string `json:"id"`
	Duplicate bool   `json:"duplicate"`
}

func TestPublishEvent(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()

	r := tb.do(t, http.MethodPost, "/v1/events", tokenA, syncStarted("evt_api_1"))
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	var out published
	r.json(t, &out)
	require.Equal(t, published{ID: "evt_api_1"}, out)

	s, err := tb.b.JS.Stream(ctx, broker.StreamEvents)
	require.NoError(t, err)
	m, err := s.GetLastMsgForSubject(ctx, broker.EventSubject(tenantA, "sync.started"))
	require.NoError(t, err)
	require.Equal(t, "evt_api_1", m.Header.Get(jetstream.MsgIDHeader))
	var ev schemas.Event
	require.NoError(t, schemas.Unmarshal(m.Data, &ev))
	require.Equal(t, tenantA, ev.TenantID, "the tenant comes from the token")
	require.Equal(t, "org_1", ev.OrgID)
	require.True(t, ev.OccurredAt.Equal(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)))

	// The same id again is a duplicate.
	r = tb.do(t, http.MethodPost, "/v1/events", tokenA, syncStarted("evt_api_1"))
	require.Equal(t, http.StatusAccepted, r.status)
	r.json(t, &out)
	require.Equal(t, published{ID: "evt_api_1", Duplicate: true}, out)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.State.Msgs)

	// Without an id, one is generated; a tenant_id equal to the token's is fine.
	body := syncStarted("")
	delete(body, "id")
	body["tenant_id"] = tenantA
	r = tb.do(t, http.MethodPost, "/v1/events", tokenA, body)
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))
	r.json(t, &out)
	require.NotEmpty(t, out.ID)
	require.False(t, out.Duplicate)
}

func TestPublishEventValidation(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	with := func(k string, v any) map[string]any {
		b := syncStarted("evt_bad")
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	tests := []struct {
		name  string
		body  any
		field string
	}{
		{"missing data field", with("data", map[string]any{"hrms": "darwinbox"}), "data.sync_session_id"},
		{"missing type", with("type", nil), "type"},
		{"unknown type", with("type", "sync.exploded"), "type"},
		{"reserved ping", with("type", "webhook.ping"), "type"},
		{"reserved test", with("type", "webhook.test"), "type"},
		{"other tenant", with("tenant_id", "globex"), "tenant_id"},
		{"bad id", with("id", "has spaces in it"), "id"},
		{"bad occurred_at", with("occurred_at", "yesterday"), "occurred_at"},
		{"unknown field", with("colour", "blue"), "colour"},
		{"malformed JSON", `{"type":`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tb.do(t, http.MethodPost, "/v1/events", tokenA, tt.body)
			require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
			e := r.errorOf(t)
			require.Equal(t, "invalid_request", e.Code)
			require.Equal(t, tt.field, e.Field, e.Message)
		})
	}
}

func TestPublishEventTooLarge(t *testing.T) {
	t.Parallel()

	t.Run("body over MaxBodyBytes", func(t *testing.T) {
		t.Parallel()
		tb := setup(t, func(c *api.Config) { c.MaxBodyBytes = 1024 })
		body := syncStarted("evt_big")
		body["data"] = map[string]any{"sync_session_id": "ss_1", "hrms": "darwinbox", "padding": strings.Repeat("x", 2000)}
		r := tb.do(t, http.MethodPost, "/v1/events", tokenA, body)
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status, string(r.body))
		require.Equal(t, "too_large", r.errorOf(t).Code)

		// Every route that reads a body has the same bound.
		r = tb.do(t, http.MethodPost, "/v1/webhooks", tokenA, map[string]any{"name": strings.Repeat("n", 2000)})
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status, string(r.body))
	})

	t.Run("event over the producer's limit", func(t *testing.T) {
		t.Parallel()
		tb := setup(t)
		records := make([]map[string]any, 0, 4000)
		for i := range cap(records) {
			records = append(records, map[string]any{"id": strings.Repeat("e", 10) + string(rune('a'+i%26)), "first_name": strings.Repeat("A", 60)})
		}
		body := map[string]any{"type": "employee.created", "org_id": "org_1", "data": map[string]any{
			"sync_session_id": "ss_1", "hrms": "darwinbox", "webhook_counter": 1, "record_count": len(records), "records": records,
		}}
		r := tb.do(t, http.MethodPost, "/v1/events", tokenA, body)
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status, string(r.body))
		require.Equal(t, "too_large", r.errorOf(t).Code)
	})
}
