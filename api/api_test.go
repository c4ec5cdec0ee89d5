package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/internal/testproc"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/sender"
	"github.com/hookstream/hookstream/subscription"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testproc.LeakOptions...) }

const (
	adminToken = "admin-secret-token"
	tenantA    = "acme"
	tokenA     = "hs_token_of_tenant_acme_for_tests"
)

// testBundle is one API on its own embedded JetStream, with tenant "acme".
type testBundle struct {
	b      *broker.Broker
	store  *subscription.KVStore
	srv    *api.Server
	http   *httptest.Server
	client *http.Client
}

// setup starts an API; opts adjust its Config.
func setup(t *testing.T, opts ...func(*api.Config)) *testBundle {
	t.Helper()
	b := brokertest.New(t)
	p, err := producer.New(producer.Config{JS: b.JS})
	require.NoError(t, err)
	store := subscription.NewKVStore(b.Webhooks)
	cfg := api.Config{
		Broker:     b,
		Store:      store,
		Producer:   p,
		AdminToken: adminToken,
		Logger:     slog.New(slog.DiscardHandler),
		// Test receivers are httptest servers on loopback.
		Client: sender.NewClient(sender.ClientConfig{Timeout: 5 * time.Second, Egress: egress.Policy{AllowLoopback: true}}),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := api.New(cfg)
	require.NoError(t, err)
	created, err := srv.EnsureTenant(context.Background(), tenantA, "Acme", tokenA)
	require.NoError(t, err)
	require.True(t, created)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &testBundle{b: b, store: store, srv: srv, http: ts, client: ts.Client()}
}

// response is an answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into v.
func (r response) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), string(r.body))
}

// apiError is the error object of an error answer.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

// errorOf decodes an error answer, checking its shape.
func (r response) errorOf(t *testing.T) apiError {
	t.Helper()
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	var body struct {
		Error *apiError `json:"error"`
	}
	r.json(t, &body)
	require.NotNil(t, body.Error, string(r.body))
	require.NotEmpty(t, body.Error.Code)
	require.NotEmpty(t, body.Error.Message)
	return *body.Error
}

// do sends a request with token (none when empty). body is sent as is when
// it is a string or []byte, else encoded as JSON.
func (tb *testBundle) do(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, tb.http.URL+path, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := tb.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

// newTenant creates a tenant through the admin route and returns its token.
func (tb *testBundle) newTenant(t *testing.T, id string) string {
	t.Helper()
	r := tb.do(t, http.MethodPost, "/v1/tenants", adminToken, map[string]any{"name": "Tenant " + id, "id": id})
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var out struct {
		Token string `json:"token"`
	}
	r.json(t, &out)
	return out.Token
}

// webhook is the API's view of a webhook.
type webhook struct {
	ID             string            `json:"id"`
	TenantID       string            `json:"tenant_id"`
	Name           string            `json:"name"`
	URL            string            `json:"url"`
	Events         []string          `json:"events"`
	OrgIDs         []string          `json:"org_ids"`
	Signature      map[string]string `json:"signature"`
	IncludePayload bool              `json:"include_payload"`
	Headers        map[string]string `json:"headers"`
	Enabled        bool              `json:"enabled"`
	DisabledReason string            `json:"disabled_reason"`
	Encrypted      bool              `json:"encrypted"`
	PrevExpiresAt  *time.Time        `json:"previous_secret_expires_at"`
	Secret         string            `json:"secret"`
	CreatedAt      time.Time         `json:"created_at"`
}

// createWebhook creates a webhook for token with body merged over defaults.
func (tb *testBundle) createWebhook(t *testing.T, token string, body map[string]any) webhook {
	t.Helper()
	req := map[string]any{"name": "hr sync", "url": "https://receiver.example.com/hooks", "events": []string{"sync.*"}}
	for k, v := range body {
		req[k] = v
	}
	r := tb.do(t, http.MethodPost, "/v1/webhooks", token, req)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var w webhook
	r.json(t, &w)
	require.NotEmpty(t, w.ID)
	return w
}
