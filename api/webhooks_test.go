package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

func TestWebhookCreateListGetDelete(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

	created := tb.createWebhook(t, tokenA, map[string]any{
		"name": "payroll", "url": "https://receiver.example.com/in?x=1",
		"events": []string{"sync.completed", "employee.*", "sync.completed"}, "org_ids": []string{"org_1", "org_1", "org_2"},
		"encryption_key": key, "headers": map[string]string{"x-api-key": "k1"},
	})
	require.True(t, strings.HasPrefix(created.ID, "wh_"), created.ID)
	require.Equal(t, tenantA, created.TenantID)
	require.Equal(t, "payroll", created.Name)
	require.Equal(t, []string{"sync.completed", "employee.*"}, created.Events, "deduplicated, order kept")
	require.Equal(t, []string{"org_1", "org_2"}, created.OrgIDs)
	require.Equal(t, map[string]string{"preset": "standard"}, created.Signature)
	require.Equal(t, map[string]string{"X-Api-Key": "k1"}, created.Headers)
	require.True(t, created.IncludePayload, "include_payload defaults to true")
	require.True(t, created.Enabled, "enabled defaults to true")
	require.True(t, created.Encrypted)
	require.True(t, strings.HasPrefix(created.Secret, "whsec_"), "a standard secret is generated")
	require.False(t, created.CreatedAt.IsZero())

	// The secret and the key are stored…
	stored, err := tb.store.Get(context.Background(), tenantA, created.ID)
	require.NoError(t, err)
	require.Equal(t, schemas.Secrets{{Value: created.Secret}}, stored.Secrets)
	require.Equal(t, key, stored.EncryptionKey)

	// …but never shown again.
	list := tb.do(t, http.MethodGet, "/v1/webhooks", tokenA, nil)
	require.Equal(t, http.StatusOK, list.status)
	require.Equal(t, "application/json", list.header.Get("Content-Type"))
	require.NotContains(t, string(list.body), created.Secret)
	require.NotContains(t, string(list.body), key)
	require.NotContains(t, string(list.body), `"secret"`)
	var listed struct {
		Data []webhook `json:"data"`
	}
	list.json(t, &listed)
	require.Len(t, listed.Data, 1)
	require.Equal(t, created.ID, listed.Data[0].ID)
	require.True(t, listed.Data[0].Encrypted)

	get := tb.do(t, http.MethodGet, "/v1/webhooks/"+created.ID, tokenA, nil)
	require.Equal(t, http.StatusOK, get.status)
	require.NotContains(t, string(get.body), created.Secret)
	require.NotContains(t, string(get.body), key)
	var got webhook
	get.json(t, &got)
	require.Empty(t, got.Secret)
	created.Secret = ""
	require.Equal(t, created, got)

	del := tb.do(t, http.MethodDelete, "/v1/webhooks/"+created.ID, tokenA, nil)
	require.Equal(t, http.StatusNoContent, del.status)
	require.Empty(t, del.body)
	r := tb.do(t, http.MethodGet, "/v1/webhooks/"+created.ID, tokenA, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "not_found", r.errorOf(t).Code)
	require.Equal(t, http.StatusNotFound, tb.do(t, http.MethodDelete, "/v1/webhooks/"+created.ID, tokenA, nil).status)

	list = tb.do(t, http.MethodGet, "/v1/webhooks", tokenA, nil)
	require.JSONEq(t, `{"data":[]}`, string(list.body))
}

func TestWebhookGivenSecretAndPreset(t *testing.T) {
	t.Parallel()
	tb := setup(t)

	w := tb.createWebhook(t, tokenA, map[string]any{
		"signature": map[string]string{"preset": "tartan"}, "secret": "my-shared-secret",
		"include_payload": false, "enabled": false,
	})
	require.Equal(t, "my-shared-secret", w.Secret)
	require.Equal(t, map[string]string{"preset": "tartan"}, w.Signature)
	require.False(t, w.IncludePayload)
	require.False(t, w.Enabled)
	require.False(t, w.Encrypted)

	w = tb.createWebhook(t, tokenA, map[string]any{
		"signature": map[string]string{"algorithm": "sha512", "encoding": "base64", "header": "X-Sig", "prefix": "v="},
	})
	require.Len(t, w.Secret, 64, "a hex secret is generated for an HMAC scheme")
	require.Equal(t, map[string]string{"algorithm": "sha512", "encoding": "base64", "header": "X-Sig", "prefix": "v="}, w.Signature)
}

func TestWebhookWildcardReplacesOtherEvents(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	w := tb.createWebhook(t, tokenA, map[string]any{"events": []string{"sync.started", "*", "employee.*"}})
	require.Equal(t, []string{"*"}, w.Events)
}

func TestCreateWebhookValidation(t *testing.T) {
	t.Parallel()
	tb := setup(t, func(c *api.Config) {
		c.CheckURL = func(_ context.Context, u *url.URL) error {
			if u.Hostname() == "forbidden.example.com" {
				return errors.New("private destination")
			}
			return nil
		}
	})
	valid := func() map[string]any {
		return map[string]any{"name": "n", "url": "https://receiver.example.com/", "events": []string{"sync.started"}}
	}
	with := func(k string, v any) map[string]any {
		b := valid()
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	manyHeaders := map[string]string{}
	for i := range 21 {
		manyHeaders["X-H"+strings.Repeat("a", i+1)] = "v"
	}
	b64 := base64.StdEncoding.EncodeToString

	tests := []struct {
		name  string
		body  any
		field string
	}{
		{"missing name", with("name", nil), "name"},
		{"blank name", with("name", "   "), "name"},
		{"long name", with("name", strings.Repeat("n", 201)), "name"},
		{"missing url", with("url", nil), "url"},
		{"bad url", with("url", "::not a url"), "url"},
		{"relative url", with("url", "/hooks"), "url"},
		{"ftp url", with("url", "ftp://receiver.example.com/"), "url"},
		{"url without host", with("url", "https:///path"), "url"},
		{"long url", with("url", "https://receiver.example.com/"+strings.Repeat("p", 2048)), "url"},
		{"url refused by policy", with("url", "https://forbidden.example.com/"), "url"},
		{"missing events", with("events", nil), "events"},
		{"empty events", with("events", []string{}), "events"},
		{"unknown type", with("events", []string{"sync.exploded"}), "events"},
		{"webhook.ping subscription", with("events", []string{"webhook.ping"}), "events"},
		{"webhook.test subscription", with("events", []string{"webhook.test"}), "events"},
		{"bad family", with("events", []string{"payrol.*"}), "events"},
		{"type as family", with("events", []string{"sync.started.*"}), "events"},
		{"empty org id", with("org_ids", []string{""}), "org_ids"},
		{"long org id", with("org_ids", []string{strings.Repeat("o", 129)}), "org_ids"},
		{"unknown preset", with("signature", map[string]string{"preset": "acme"}), "signature"},
		{"preset and options", with("signature", map[string]string{"preset": "tartan", "algorithm": "sha1"}), "signature"},
		{"bad algorithm", with("signature", map[string]string{"algorithm": "md5", "header": "X-Sig"}), "signature"},
		{"options without header", with("signature", map[string]string{"encoding": "base64"}), "signature"},
		{"bad standard secret", with("secret", "not-whsec"), "secret"},
		{"short hmac secret", map[string]any{"name": "n", "url": "https://r.example.com/", "events": []string{"*"},
			"signature": map[string]string{"preset": "bindbee"}, "secret": "short"}, "secret"},
		{"encryption key not base64", with("encryption_key", "%%%not-base64%%%"), "encryption_key"},
		{"encryption key of 31 bytes", with("encryption_key", b64(make([]byte, 31))), "encryption_key"},
		{"encryption key of 33 bytes", with("encryption_key", b64(make([]byte, 33))), "encryption_key"},
		{"reserved header", with("headers", map[string]string{"Content-Type": "text/plain"}), "headers"},
		{"reserved header any case", with("headers", map[string]string{"user-agent": "me"}), "headers"},
		{"webhook- header", with("headers", map[string]string{"Webhook-Id": "x"}), "headers"},
		{"signature header of the preset", map[string]any{"name": "n", "url": "https://r.example.com/", "events": []string{"*"},
			"signature": map[string]string{"preset": "tartan"}, "headers": map[string]string{"Tartan-Signature": "x"}}, "headers"},
		{"invalid header name", with("headers", map[string]string{"Bad Header": "x"}), "headers"},
		{"invalid header value", with("headers", map[string]string{"X-Ok": "a\r\nInjected: 1"}), "headers"},
		{"too many headers", with("headers", manyHeaders), "headers"},
		{"unknown JSON field", with("colour", "blue"), "colour"},
		{"unknown nested field", with("signature", map[string]string{"flavour": "x"}), "flavour"},
		{"wrong JSON type", with("events", "sync.started"), "events"},
		{"wrong JSON type of a flag", with("include_payload", "yes"), "include_payload"},
		{"malformed JSON", `{"name": "n", "url": `, ""},
		{"syntax error", `{"name": n}`, ""},
		{"trailing data", `{"name":"n","url":"https://r.example.com/","events":["*"]} {}`, ""},
		{"not an object", `["name"]`, ""},
		{"empty body", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := tb.do(t, http.MethodPost, "/v1/webhooks", tokenA, tt.body)
			require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
			e := r.errorOf(t)
			require.Equal(t, "invalid_request", e.Code)
			require.Equal(t, tt.field, e.Field, e.Message)
		})
	}

	// Nothing was stored.
	r := tb.do(t, http.MethodGet, "/v1/webhooks", tokenA, nil)
	require.JSONEq(t, `{"data":[]}`, string(r.body))
}

func TestCreateWebhookQueuesPingForItAlone(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	w := tb.createWebhook(t, tokenA, map[string]any{"events": []string{"*"}})

	ds, err := tb.b.JS.Stream(ctx, broker.StreamDeliveries)
	require.NoError(t, err)
	m, err := ds.GetLastMsgForSubject(ctx, broker.DeliverySubject(tenantA, w.ID))
	require.NoError(t, err)
	var d schemas.Delivery
	require.NoError(t, schemas.Unmarshal(m.Data, &d))
	require.Equal(t, schemas.TypeWebhookPing, d.EventType)
	require.Equal(t, tenantA, d.TenantID)
	require.Equal(t, w.ID, d.WebhookID)
	require.Equal(t, schemas.DeliveryID(d.EventID, w.ID), d.ID)
	require.Equal(t, d.ID, m.Header.Get(jetstream.MsgIDHeader))

	var body struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		TenantID string `json:"tenant_id"`
		Data     struct {
			WebhookID string `json:"webhook_id"`
			Message   string `json:"message"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(d.Payload, &body), string(d.Payload))
	require.Equal(t, d.EventID, body.ID)
	require.Equal(t, "webhook.ping", body.Type)
	require.Equal(t, tenantA, body.TenantID)
	require.Equal(t, w.ID, body.Data.WebhookID)
	require.NotEmpty(t, body.Data.Message)

	// The ping is a valid catalog event…
	ev := schemas.Event{ID: d.EventID, Type: d.EventType, TenantID: tenantA, OccurredAt: d.CreatedAt, Data: json.RawMessage(mustField(t, d.Payload, "data"))}
	require.NoError(t, schemas.Validate(&ev))
	// …that never went through EVENTS, where every "*" webhook would get it.
	es, err := tb.b.JS.Stream(ctx, broker.StreamEvents)
	require.NoError(t, err)
	info, err := es.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.State.Msgs)

	// A disabled webhook gets no ping.
	off := tb.createWebhook(t, tokenA, map[string]any{"enabled": false})
	_, err = ds.GetLastMsgForSubject(ctx, broker.DeliverySubject(tenantA, off.ID))
	require.ErrorIs(t, err, jetstream.ErrMsgNotFound)
}

func mustField(t *testing.T, raw []byte, field string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	return m[field]
}

func TestWebhookOperationalEventsAndClientErrorPolicy(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	w := tb.createWebhook(t, tokenA, map[string]any{"events": []string{"webhook.disabled"}, "dead_letter_client_errors": true})
	require.Equal(t, []string{"webhook.disabled"}, w.Events, "tenants may hear about their webhooks being disabled")
	stored, err := tb.store.Get(t.Context(), tenantA, w.ID)
	require.NoError(t, err)
	require.True(t, stored.DeadLetterClientErrors)
	tb.createWebhook(t, tokenA, map[string]any{"events": []string{"webhook.*"}})

	r := tb.do(t, http.MethodPatch, "/v1/webhooks/"+w.ID, tokenA, map[string]any{"dead_letter_client_errors": false})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	stored, err = tb.store.Get(t.Context(), tenantA, w.ID)
	require.NoError(t, err)
	require.False(t, stored.DeadLetterClientErrors)
}
