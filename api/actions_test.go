package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/signature"
)

// recorder is a receiver that keeps the requests it got and answers status.
type recorder struct {
	*httptest.Server
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
	status int
}

func newRecorder(t *testing.T, status int) *recorder {
	t.Helper()
	rc := &recorder{status: status}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, r)
		rc.bodies = append(rc.bodies, body)
		rc.mu.Unlock()
		w.WriteHeader(rc.status)
		_, _ = w.Write([]byte("hello from the receiver"))
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *recorder) last(t *testing.T) (*http.Request, []byte) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	require.NotEmpty(t, rc.got)
	return rc.got[len(rc.got)-1], rc.bodies[len(rc.bodies)-1]
}

type attempt struct {
	Seq        uint64  `json:"seq"`
	DeliveryID string  `json:"delivery_id"`
	EventType  string  `json:"event_type"`
	WebhookID  string  `json:"webhook_id"`
	Outcome    string  `json:"outcome"`
	StatusCode int     `json:"status_code"`
	LatencyMS  float64 `json:"latency_ms"`
	Response   string  `json:"response"`
	Error      string  `json:"error"`
}

func TestTestWebhookSendsNowAndLogs(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	rc := newRecorder(t, http.StatusOK)
	w := tb.createWebhook(t, tokenA, map[string]any{"url": rc.URL + "/hooks", "enabled": false})

	r := tb.do(t, http.MethodPost, "/v1/webhooks/"+w.ID+"/test", tokenA, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var a attempt
	r.json(t, &a)
	require.Equal(t, "success", a.Outcome)
	require.Equal(t, 200, a.StatusCode)
	require.Equal(t, "hello from the receiver", a.Response)
	require.Equal(t, "webhook.test", a.EventType)
	require.Positive(t, a.LatencyMS)
	require.NotZero(t, a.Seq, "logged")

	req, body := rc.last(t)
	verifier, err := standardwebhooks.NewWebhook(w.Secret)
	require.NoError(t, err)
	require.NoError(t, verifier.Verify(body, req.Header), "signed like any delivery")
	require.Equal(t, a.DeliveryID, req.Header.Get("webhook-id"))
	var ev struct {
		Type string `json:"type"`
		Data struct {
			WebhookID string `json:"webhook_id"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &ev))
	require.Equal(t, "webhook.test", ev.Type)
	require.Equal(t, w.ID, ev.Data.WebhookID)

	var log struct {
		Data []attempt `json:"data"`
	}
	tb.do(t, http.MethodGet, "/v1/webhooks/"+w.ID+"/attempts", tokenA, nil).json(t, &log)
	require.Len(t, log.Data, 1)
	require.Equal(t, a, log.Data[0])

	// A failing receiver is a 200 whose outcome says so.
	rc.status = http.StatusBadGateway
	r = tb.do(t, http.MethodPost, "/v1/webhooks/"+w.ID+"/test", tokenA, nil)
	require.Equal(t, http.StatusOK, r.status)
	r.json(t, &a)
	require.Equal(t, "failed", a.Outcome)
	require.Equal(t, http.StatusBadGateway, a.StatusCode)

	// No answer at all.
	rc.Close()
	r = tb.do(t, http.MethodPost, "/v1/webhooks/"+w.ID+"/test", tokenA, nil)
	require.Equal(t, http.StatusOK, r.status)
	r.json(t, &a)
	require.Equal(t, "error", a.Outcome)
	// Refused, or, when the client reused a kept-alive connection the
	// closing server had not yet closed, closed before a response.
	require.Regexp(t, "refused|closed before a response", a.Error)
	require.NotContains(t, a.Error, rc.URL, "errors do not carry the URL")
}

func TestTestURLBeforeCreating(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	rc := newRecorder(t, http.StatusAccepted)
	r := tb.do(t, http.MethodPost, "/v1/webhooks/test", tokenA, map[string]any{
		"url": rc.URL, "signature": map[string]string{"preset": "tartan"}, "secret": "my_secret_key",
		"headers": map[string]string{"X-Api-Key": "k"},
	})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var a attempt
	r.json(t, &a)
	require.Equal(t, "success", a.Outcome)
	require.Equal(t, http.StatusAccepted, a.StatusCode)
	require.Zero(t, a.Seq, "not logged: there is no webhook yet")

	req, body := rc.last(t)
	require.Equal(t, "k", req.Header.Get("X-Api-Key"))
	rcv, err := signature.NewReceiver(signature.ReceiverConfig{Scheme: signature.Config{Preset: "tartan"}, Secrets: []string{"my_secret_key"}})
	require.NoError(t, err)
	_, err = rcv.Open(req.Header, body)
	require.NoError(t, err)

	r = tb.do(t, http.MethodPost, "/v1/webhooks/test", tokenA, map[string]any{"url": "ftp://x"})
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "url", r.errorOf(t).Field)
	r = tb.do(t, http.MethodPost, "/v1/webhooks/test", tokenA, map[string]any{"url": rc.URL, "encryption_key": "short"})
	require.Equal(t, "encryption_key", r.errorOf(t).Field)
}

func TestPatchWebhook(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	w := tb.createWebhook(t, tokenA, map[string]any{"headers": map[string]string{"X-Team": "hr"}})

	patch := func(body any) response {
		t.Helper()
		return tb.do(t, http.MethodPatch, "/v1/webhooks/"+w.ID, tokenA, body)
	}
	r := patch(map[string]any{
		"name": "renamed", "url": "https://other.example.com/in", "events": []string{"employee.*", "payroll.submitted"},
		"org_ids": []string{"org_9"}, "include_payload": false, "enabled": false,
	})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var got webhook
	r.json(t, &got)
	require.Equal(t, "renamed", got.Name)
	require.Equal(t, "https://other.example.com/in", got.URL)
	require.Equal(t, []string{"employee.*", "payroll.submitted"}, got.Events)
	require.Equal(t, []string{"org_9"}, got.OrgIDs)
	require.False(t, got.IncludePayload)
	require.False(t, got.Enabled)
	require.NotEmpty(t, got.DisabledReason)
	require.Equal(t, map[string]string{"X-Team": "hr"}, got.Headers, "absent fields are kept")
	require.Empty(t, got.Secret, "the secret is not shown")

	// "*" replaces the other entries; enabling clears the reason.
	r = patch(map[string]any{"events": []string{"sync.started", "*"}, "enabled": true, "headers": map[string]string{}})
	got = webhook{}
	r.json(t, &got)
	require.Equal(t, []string{"*"}, got.Events)
	require.True(t, got.Enabled)
	require.Empty(t, got.DisabledReason)
	require.Empty(t, got.Headers)

	// A secret that fits the new scheme is kept (a whsec_ string is a fine
	// HMAC key)…
	r = patch(map[string]any{"signature": map[string]string{"preset": "teal"}})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	got = webhook{}
	r.json(t, &got)
	require.Equal(t, map[string]string{"preset": "teal"}, got.Signature)
	require.Empty(t, got.Secret)
	// …one that does not gets replaced by a new secret, shown once.
	hmacHook := tb.createWebhook(t, tokenA, map[string]any{"signature": map[string]string{"preset": "tartan"}, "secret": "my_secret_key"})
	r = tb.do(t, http.MethodPatch, "/v1/webhooks/"+hmacHook.ID, tokenA, map[string]any{"signature": map[string]string{"preset": "standard"}})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	got = webhook{}
	r.json(t, &got)
	require.True(t, strings.HasPrefix(got.Secret, "whsec_"), "my_secret_key cannot sign Standard Webhooks")
	stored, err := tb.store.Get(t.Context(), tenantA, hmacHook.ID)
	require.NoError(t, err)
	require.Equal(t, schemas.Secrets{{Value: got.Secret}}, stored.Secrets)

	// Encryption on and off.
	r = patch(map[string]any{"encryption_key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="})
	r.json(t, &got)
	require.True(t, got.Encrypted)
	r = patch(map[string]any{"encryption_key": ""})
	r.json(t, &got)
	require.False(t, got.Encrypted)

	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"url": "not a url"}, "url"},
		{map[string]any{"events": []string{"employee.promoted"}}, "events"},
		{map[string]any{"events": []string{}}, "events"},
		{map[string]any{"name": ""}, "name"},
		{map[string]any{"signature": map[string]string{"preset": "nope"}}, "signature"},
		{map[string]any{"encryption_key": "c2hvcnQ="}, "encryption_key"},
		{map[string]any{"headers": map[string]string{"webhook-id": "x"}}, "headers"},
		{map[string]any{"enabled": "yes"}, "enabled"},
		{map[string]any{"secret": "x"}, "secret"},
	} {
		r := patch(tc.body)
		require.Equal(t, http.StatusBadRequest, r.status, "%v: %s", tc.body, r.body)
		require.Equal(t, tc.field, r.errorOf(t).Field, "%v", tc.body)
	}
	require.Equal(t, http.StatusNotFound, tb.do(t, http.MethodPatch, "/v1/webhooks/wh_nope", tokenA, map[string]any{}).status)
}

func TestRotateSecret(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	w := tb.createWebhook(t, tokenA, nil)
	require.Nil(t, w.PrevExpiresAt)

	r := tb.do(t, http.MethodPost, "/v1/webhooks/"+w.ID+"/rotate-secret", tokenA, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var rotated webhook
	r.json(t, &rotated)
	require.True(t, strings.HasPrefix(rotated.Secret, "whsec_"))
	require.NotEqual(t, w.Secret, rotated.Secret)
	require.NotNil(t, rotated.PrevExpiresAt)
	require.WithinDuration(t, time.Now().Add(24*time.Hour), *rotated.PrevExpiresAt, time.Minute, "default grace period")

	stored, err := tb.store.Get(t.Context(), tenantA, w.ID)
	require.NoError(t, err)
	require.Equal(t, []string{rotated.Secret, w.Secret}, stored.ActiveSecrets(time.Now()))

	// Reading it back shows the grace period but not the secrets.
	got := tb.do(t, http.MethodGet, "/v1/webhooks/"+w.ID, tokenA, nil)
	require.NotContains(t, string(got.body), rotated.Secret)
	require.NotContains(t, string(got.body), w.Secret)
	require.Contains(t, string(got.body), "previous_secret_expires_at")

	// A given secret and grace period.
	mine := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	r = tb.do(t, http.MethodPost, "/v1/webhooks/"+w.ID+"/rotate-secret", tokenA, map[string]any{"secret": mine, "grace_period": "0s"})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	r.json(t, &rotated)
	require.Equal(t, mine, rotated.Secret)
	stored, err = tb.store.Get(t.Context(), tenantA, w.ID)
	require.NoError(t, err)
	require.Equal(t, []string{mine, w.Secret}, stored.ActiveSecrets(time.Now()),
		"grace 0s ends the replaced secret at once; the first one keeps its own grace")

	for _, body := range []map[string]any{{"secret": "not-whsec"}, {"grace_period": "200h"}, {"grace_period": "soon"}} {
		r := tb.do(t, http.MethodPost, "/v1/webhooks/"+w.ID+"/rotate-secret", tokenA, body)
		require.Equal(t, http.StatusBadRequest, r.status, "%v", body)
	}
}

func TestEventTypes(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	var list struct {
		Data []schemas.EventType `json:"data"`
	}
	r := tb.do(t, http.MethodGet, "/v1/event-types", tokenA, nil)
	require.Equal(t, http.StatusOK, r.status)
	r.json(t, &list)
	names := map[string]bool{}
	for _, et := range list.Data {
		names[et.Name] = true
		require.NotEmpty(t, et.Schema, et.Name)
		require.NotEmpty(t, et.Description, et.Name)
	}
	for _, want := range []string{"sync.started", "sync.completed", "sync.failed", "employee.created", "employee.updated",
		"employee.deleted", "datamodel.changed", "connection.invited", "connection.accepted", "connection.terminated",
		"payroll.submitted", "clocking.created", "clocking.updated", "webhook.ping", "webhook.test"} {
		require.True(t, names[want], want)
	}

	// The admin adds a type; a "*" webhook and a family webhook may use it.
	name := fmt.Sprintf("leaveapi%d.requested", time.Now().UnixNano()) // unique under -count
	body := map[string]any{"name": name, "description": "An employee requested leave.",
		"schema": map[string]any{"type": "object", "required": []string{"days"}, "properties": map[string]any{"days": map[string]any{"type": "integer"}}}}
	require.Equal(t, http.StatusUnauthorized, tb.do(t, http.MethodPost, "/v1/event-types", tokenA, body).status)
	r = tb.do(t, http.MethodPost, "/v1/event-types", adminToken, body)
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	require.Equal(t, http.StatusConflict, tb.do(t, http.MethodPost, "/v1/event-types", adminToken, body).status)
	family := strings.TrimSuffix(name, ".requested") + ".*"
	tb.createWebhook(t, tokenA, map[string]any{"events": []string{family}})

	// Publishing it is validated against its schema.
	r = tb.do(t, http.MethodPost, "/v1/events", tokenA, map[string]any{"type": name, "org_id": "o", "data": map[string]any{"days": "two"}})
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Equal(t, "data.days", r.errorOf(t).Field)
	r = tb.do(t, http.MethodPost, "/v1/events", tokenA, map[string]any{"type": name, "org_id": "o", "data": map[string]any{"days": 2}})
	require.Equal(t, http.StatusAccepted, r.status, string(r.body))

	for _, bad := range []map[string]any{
		{"name": "NoDots"}, {"name": "webhook.custom"}, {"name": "x.y", "schema": map[string]any{"type": 12}},
	} {
		r := tb.do(t, http.MethodPost, "/v1/event-types", adminToken, bad)
		require.Equal(t, http.StatusBadRequest, r.status, "%v: %s", bad, r.body)
	}
}

func TestOpenAPIIsServed(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	r := tb.do(t, http.MethodGet, "/v1/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, r.status)
	var doc map[string]any
	r.json(t, &doc)
	require.Contains(t, doc, "paths")
}
