package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/dialect"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/streamlog"
	"github.com/hookstream/hookstream/schemas"
)

// dialectHook is the API's view of a webhook with its dialect fields.
type dialectHook struct {
	webhook
	Profile                string            `json:"profile"`
	Transform              string            `json:"transform"`
	Filter                 string            `json:"filter"`
	EventNames             map[string]string `json:"event_names"`
	SigningKey             string            `json:"signing_key"`
	EventTypes             []string          `json:"event_types"`
	RetrySchedule          *string           `json:"retry_schedule"`
	EffectiveRetrySchedule *string           `json:"effective_retry_schedule"`
}

// hookBody is a valid POST /v1/webhooks body with kv set over it.
func hookBody(kv map[string]any) map[string]any {
	b := map[string]any{"name": "vendor", "url": "https://receiver.example.com/hooks", "events": []string{"sync.*"}}
	for k, v := range kv {
		b[k] = v
	}
	return b
}

// createDialectHook creates a webhook for tenant acme with kv over a valid body.
func (tb *testBundle) createDialectHook(t *testing.T, kv map[string]any) dialectHook {
	t.Helper()
	r := tb.do(t, http.MethodPost, "/v1/webhooks", tokenA, hookBody(kv))
	require.Equal(t, http.StatusCreated, r.status, string(r.body))
	var w dialectHook
	r.json(t, &w)
	require.NotEmpty(t, w.ID)
	return w
}

// patchDialectHook patches a webhook of acme and expects a 200.
func (tb *testBundle) patchDialectHook(t *testing.T, id string, body map[string]any) dialectHook {
	t.Helper()
	r := tb.do(t, http.MethodPatch, "/v1/webhooks/"+id, tokenA, body)
	require.Equal(t, http.StatusOK, r.status, "%v: %s", body, r.body)
	var w dialectHook
	r.json(t, &w)
	return w
}

func (tb *testBundle) getDialectHook(t *testing.T, id string) dialectHook {
	t.Helper()
	r := tb.do(t, http.MethodGet, "/v1/webhooks/"+id, tokenA, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var w dialectHook
	r.json(t, &w)
	return w
}

// position is the position of a program error.
type position struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Offset int `json:"offset"`
}

// programError is an error answer with its position.
type programError struct {
	Code     string    `json:"code"`
	Message  string    `json:"message"`
	Field    string    `json:"field"`
	Position *position `json:"position"`
}

// programErrorOf decodes a 400 naming a field, with its position if any.
func (r response) programErrorOf(t *testing.T) programError {
	t.Helper()
	require.Equal(t, http.StatusBadRequest, r.status, string(r.body))
	r.errorOf(t) // the shape of every error
	var body struct {
		Error programError `json:"error"`
	}
	r.json(t, &body)
	require.Equal(t, "invalid_request", body.Error.Code)
	return body.Error
}

// audits returns the AUDIT stream's records of a kind, oldest first.
func (tb *testBundle) audits(t *testing.T, kind schemas.AuditKind) []schemas.AuditRecord {
	t.Helper()
	var out []schemas.AuditRecord
	require.NoError(t, streamlog.Scan(context.Background(), tb.b.JS, broker.StreamAudit, "audit.>", streamlog.Range{},
		func(m streamlog.Msg) error {
			var r schemas.AuditRecord
			require.NoError(t, schemas.Unmarshal(m.Data, &r))
			require.Equal(t, broker.AuditSubject(r.TenantID, r.WebhookID), m.Subject)
			if r.Kind == kind {
				out = append(out, r)
			}
			return nil
		}))
	return out
}

func ptr[T any](v T) *T { return &v }

func TestProfileDefaultsOnCreate(t *testing.T) {
	t.Parallel()
	tb := setup(t)

	tests := []struct {
		profile, preset, signingKey string
		includePayload              bool
		effective                   *string
	}{
		{"tartan", "tartan", "webhook", true, ptr("30s,2m,10m")},
		{"bindbee", "bindbee", "tenant", true, nil},
		{"trutac", "trutac", "webhook", true, nil},
		{"teal", "teal", "webhook", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			w := tb.createDialectHook(t, map[string]any{"profile": tt.profile})
			require.Equal(t, tt.profile, w.Profile)
			require.Equal(t, map[string]string{"preset": tt.preset}, w.Signature)
			require.Equal(t, tt.includePayload, w.IncludePayload)
			require.Equal(t, tt.signingKey, w.SigningKey)
			require.Nil(t, w.RetrySchedule, "the webhook has no schedule of its own")
			require.Equal(t, tt.effective, w.EffectiveRetrySchedule)
			require.NotEmpty(t, w.Secret)
			require.Empty(t, w.Transform, "the profile's transform is not copied onto the webhook")
			require.Empty(t, w.EventNames)

			stored, err := tb.store.Get(t.Context(), tenantA, w.ID)
			require.NoError(t, err)
			require.Empty(t, stored.Transform)
			require.Nil(t, stored.RetrySchedule)
			p, ok := dialect.LookupProfile(tt.profile)
			require.True(t, ok)
			require.Equal(t, p.Transform, dialect.SettingsOf(stored).Transform, "the profile's transform applies")
		})
	}

	// What the request gives wins over the profile's defaults.
	w := tb.createDialectHook(t, map[string]any{
		"profile": "tartan", "signature": map[string]string{"preset": "standard"}, "include_payload": false,
		"signing_key": "tenant", "retry_schedule": "5s,120s", "transform": "{mine: .event_name}",
		"event_names": map[string]string{"sync.started": "go"},
	})
	require.Equal(t, map[string]string{"preset": "standard"}, w.Signature)
	require.False(t, w.IncludePayload)
	require.Equal(t, "tenant", w.SigningKey)
	require.Equal(t, ptr("5s,2m"), w.RetrySchedule, "written in its shortest form")
	require.Equal(t, ptr("5s,2m"), w.EffectiveRetrySchedule)
	require.Equal(t, "{mine: .event_name}", w.Transform)
	require.Equal(t, map[string]string{"sync.started": "go"}, w.EventNames)
	stored, err := tb.store.Get(t.Context(), tenantA, w.ID)
	require.NoError(t, err)
	require.Equal(t, []time.Duration{5 * time.Second, 2 * time.Minute}, stored.RetrySchedule)

	b := tb.createDialectHook(t, map[string]any{"profile": "bindbee", "signing_key": "webhook"})
	require.Equal(t, "webhook", b.SigningKey, "signing_key given over bindbee's tenant default")
	stored, err = tb.store.Get(t.Context(), tenantA, b.ID)
	require.NoError(t, err)
	require.Equal(t, schemas.Secrets{{Value: b.Secret}}, stored.Secrets, "a secret of its own")

	plain := tb.createDialectHook(t, nil)
	require.Empty(t, plain.Profile)
	require.Equal(t, "webhook", plain.SigningKey)
	require.Nil(t, plain.RetrySchedule)
	require.Nil(t, plain.EffectiveRetrySchedule, "the sender's default")

	for _, bad := range []map[string]any{
		{"profile": "stripe"}, {"profile": "Tartan"},
	} {
		r := tb.do(t, http.MethodPost, "/v1/webhooks", tokenA, hookBody(bad))
		require.Equal(t, "profile", r.programErrorOf(t).Field, "%v", bad)
	}
	r := tb.do(t, http.MethodPost, "/v1/webhooks", tokenA, hookBody(map[string]any{"signing_key": "org"}))
	require.Equal(t, "signing_key", r.programErrorOf(t).Field)
	r = tb.do(t, http.MethodPost, "/v1/webhooks", tokenA, hookBody(map[string]any{"profile": "bindbee", "secret": strings.Repeat("k", 32)}))
	require.Equal(t, "secret", r.programErrorOf(t).Field, "a webhook on the tenant's key takes no secret")
}

// The profile's transform and event names shape what the receiver gets
// unless the webhook sets its own.
func TestProfileShapesDeliveries(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	rc := newRecorder(t, http.StatusOK)
	w := tb.createDialectHook(t, map[string]any{"profile": "tartan", "url": rc.URL, "enabled": false})

	send := func() (*http.Request, map[string]any) {
		t.Helper()
		r := tb.do(t, http.MethodPost, "/v1/webhooks/"+w.ID+"/test", tokenA, nil)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var a attempt
		r.json(t, &a)
		require.Equal(t, "success", a.Outcome, a.Error)
		req, raw := rc.last(t)
		var body map[string]any
		require.NoError(t, json.Unmarshal(raw, &body), string(raw))
		return req, body
	}
	req, body := send()
	require.Equal(t, "webhook.test", body["event"], "tartan's body")
	require.Equal(t, req.Header.Get("webhook-id"), body["requestId"])
	require.NotEmpty(t, req.Header.Get("Tartan-Signature"))

	tb.patchDialectHook(t, w.ID, map[string]any{"transform": "{mine: .event_name}", "event_names": map[string]string{"webhook.test": "probe"}})
	req, body = send()
	require.Equal(t, map[string]any{"mine": "probe"}, body, "the webhook's own transform and names")
	require.Equal(t, "probe", req.Header.Get("Webhook-Event-Type"))

	tb.patchDialectHook(t, w.ID, map[string]any{"transform": "", "event_names": map[string]string{}})
	_, body = send()
	require.Equal(t, "webhook.test", body["event"], "back to tartan's")

	trutac := tb.createDialectHook(t, map[string]any{"profile": "trutac", "url": rc.URL, "enabled": false})
	r := tb.do(t, http.MethodPost, "/v1/webhooks/"+trutac.ID+"/test", tokenA, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	req, _ = rc.last(t)
	require.Equal(t, "ping", req.Header.Get("Tt-Hook-Event"), "trutac's name of webhook.test")
}

func TestPatchProfileChange(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	w := tb.createDialectHook(t, map[string]any{
		"profile": "tartan", "transform": "{a: 1}", "filter": `.event.org_id != ""`,
		"event_names": map[string]string{"sync.started": "go"}, "retry_schedule": "1s,2s",
		"events": []string{"sync.started"},
	})
	tartanSecret := w.Secret

	// Other fields leave the dialect alone.
	got := tb.patchDialectHook(t, w.ID, map[string]any{"name": "renamed"})
	require.Equal(t, "tartan", got.Profile)
	require.Equal(t, "{a: 1}", got.Transform)
	require.Equal(t, map[string]string{"sync.started": "go"}, got.EventNames)
	require.Equal(t, ptr("1s,2s"), got.RetrySchedule)
	require.Equal(t, []string{"go"}, got.Events)
	// So does the profile it already has.
	got = tb.patchDialectHook(t, w.ID, map[string]any{"profile": "tartan"})
	require.Equal(t, "{a: 1}", got.Transform)
	require.Equal(t, ptr("1s,2s"), got.RetrySchedule)

	// A new profile brings its defaults and clears the webhook's own
	// transform, names and schedule; the filter stays.
	got = tb.patchDialectHook(t, w.ID, map[string]any{"profile": "teal"})
	require.Equal(t, "teal", got.Profile)
	require.Equal(t, map[string]string{"preset": "teal"}, got.Signature)
	require.False(t, got.IncludePayload, "teal's default")
	require.Equal(t, "webhook", got.SigningKey)
	require.Empty(t, got.Transform)
	require.Empty(t, got.EventNames)
	require.Nil(t, got.RetrySchedule)
	require.Nil(t, got.EffectiveRetrySchedule, "teal has none")
	require.Equal(t, `.event.org_id != ""`, got.Filter)
	require.Equal(t, []string{"sync.started"}, got.Events, "the subscription is kept, named as teal names it")
	require.Empty(t, got.Secret, "tartan's HMAC secret signs teal's too")
	stored, err := tb.store.Get(t.Context(), tenantA, w.ID)
	require.NoError(t, err)
	require.Equal(t, schemas.Secrets{{Value: tartanSecret}}, stored.Secrets)
	require.Empty(t, stored.Transform)
	require.Nil(t, stored.EventNames)
	require.Nil(t, stored.RetrySchedule)

	// What is given with the new profile wins.
	got = tb.patchDialectHook(t, w.ID, map[string]any{
		"profile": "tartan", "transform": "{b: 2}", "event_names": map[string]string{"sync.started": "begin"},
		"retry_schedule": "1m", "include_payload": false, "signature": map[string]string{"preset": "standard"},
		"signing_key": "webhook",
	})
	require.Equal(t, "tartan", got.Profile)
	require.Equal(t, "{b: 2}", got.Transform)
	require.Equal(t, map[string]string{"sync.started": "begin"}, got.EventNames)
	require.Equal(t, ptr("1m"), got.RetrySchedule)
	require.False(t, got.IncludePayload)
	require.Equal(t, map[string]string{"preset": "standard"}, got.Signature)
	require.True(t, strings.HasPrefix(got.Secret, "whsec_"), "an HMAC secret cannot sign Standard Webhooks: a new one")
	ownSecret := got.Secret
	require.Equal(t, []string{"begin"}, got.Events)

	// A profile on the tenant's key: the key is returned, the webhook's own
	// secrets are not used.
	got = tb.patchDialectHook(t, w.ID, map[string]any{"profile": "bindbee"})
	require.Equal(t, "tenant", got.SigningKey)
	require.Equal(t, map[string]string{"preset": "bindbee"}, got.Signature)
	require.True(t, got.IncludePayload)
	require.Nil(t, got.RetrySchedule)
	require.Nil(t, got.EffectiveRetrySchedule)
	require.Equal(t, []string{"connector_sync_started"}, got.Events)
	require.NotEmpty(t, got.Secret)
	var key struct {
		Secret string `json:"secret"`
	}
	tb.do(t, http.MethodGet, "/v1/signing-key", tokenA, nil).json(t, &key)
	require.Equal(t, key.Secret, got.Secret, "the tenant's key")

	// No profile: the standard scheme and a secret of its own again, new
	// and shown (the one from before it moved onto the tenant's key would
	// sign unseen).
	got = tb.patchDialectHook(t, w.ID, map[string]any{"profile": ""})
	require.Empty(t, got.Profile)
	require.Equal(t, map[string]string{"preset": "standard"}, got.Signature)
	require.True(t, got.IncludePayload)
	require.Equal(t, "webhook", got.SigningKey)
	require.True(t, strings.HasPrefix(got.Secret, "whsec_"))
	require.NotEqual(t, ownSecret, got.Secret)
	require.Equal(t, []string{"sync.started"}, got.Events)
	stored, err = tb.store.Get(t.Context(), tenantA, w.ID)
	require.NoError(t, err)
	require.Empty(t, stored.SigningKey)
	require.Equal(t, schemas.Secrets{{Value: got.Secret}}, stored.Secrets)
	// From a tenant-key webhook without a secret that fits, a new one.
	nb := tb.createDialectHook(t, map[string]any{"profile": "bindbee"})
	got = tb.patchDialectHook(t, nb.ID, map[string]any{"profile": "trutac"})
	require.Equal(t, "webhook", got.SigningKey)
	require.Len(t, got.Secret, 64, "a new hex secret for trutac's HMAC")
	require.NotEqual(t, key.Secret, got.Secret)

	// A profile change is checked like a creation.
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"profile": "stripe"}, "profile"},
		{map[string]any{"profile": "bindbee", "events": []string{"connector_synced", "go"}}, "events"},
		{map[string]any{"signing_key": "org"}, "signing_key"},
		{map[string]any{"transform": "{"}, "transform"},
		{map[string]any{"retry_schedule": "soon"}, "retry_schedule"},
		{map[string]any{"event_names": map[string]string{"sync.nope": "x"}}, "event_names"},
	} {
		r := tb.do(t, http.MethodPatch, "/v1/webhooks/"+w.ID, tokenA, tc.body)
		require.Equal(t, tc.field, r.programErrorOf(t).Field, "%v", tc.body)
	}
	require.Equal(t, stored, func() *schemas.Webhook {
		s, err := tb.store.Get(t.Context(), tenantA, w.ID)
		require.NoError(t, err)
		return s
	}(), "a refused PATCH changes nothing")
}

func TestVendorNameSubscriptions(t *testing.T) {
	t.Parallel()
	tb := setup(t)

	b := tb.createDialectHook(t, map[string]any{"profile": "bindbee", "events": []string{"connector_sync_started", "employee_data_changed"}})
	require.Equal(t, []string{"connector_sync_started", "employee_data_changed"}, b.Events)
	require.Equal(t, []string{"sync.started", "employee.created", "employee.deleted", "employee.updated"}, b.EventTypes)
	stored, err := tb.store.Get(t.Context(), tenantA, b.ID)
	require.NoError(t, err)
	require.Equal(t, b.EventTypes, stored.Events, "stored as catalog types, which the router matches")
	got := tb.getDialectHook(t, b.ID)
	require.Equal(t, b.Events, got.Events)
	require.Equal(t, b.EventTypes, got.EventTypes)

	// What GET shows can be sent back as it is.
	got = tb.patchDialectHook(t, b.ID, map[string]any{"events": got.Events})
	require.Equal(t, b.EventTypes, got.EventTypes)
	got = tb.patchDialectHook(t, b.ID, map[string]any{"events": []string{"connector_synced", "sync.failed", "datamodel.*"}})
	require.Equal(t, []string{"sync.completed", "sync.failed", "datamodel.*"}, got.EventTypes)
	require.Equal(t, []string{"connector_synced", "connector_sync_error", "datamodel.*"}, got.Events,
		"types are shown in the vendor's names; families stay")

	// TruTac's "clocking" is both clocking types; one of them alone keeps
	// its catalog name.
	tt := tb.createDialectHook(t, map[string]any{"profile": "trutac", "events": []string{"clocking"}})
	require.Equal(t, []string{"clocking.created", "clocking.updated"}, tt.EventTypes)
	require.Equal(t, []string{"clocking"}, tt.Events)
	tt = tb.createDialectHook(t, map[string]any{"profile": "trutac", "events": []string{"clocking.created"}})
	require.Equal(t, []string{"clocking.created"}, tt.EventTypes)
	require.Equal(t, []string{"clocking.created"}, tt.Events)

	// The webhook's own names, without a profile and over one.
	own := tb.createDialectHook(t, map[string]any{"event_names": map[string]string{"payroll.submitted": "payroll_done"}, "events": []string{"payroll_done"}})
	require.Equal(t, []string{"payroll.submitted"}, own.EventTypes)
	require.Equal(t, []string{"payroll_done"}, own.Events)
	over := tb.createDialectHook(t, map[string]any{"profile": "teal", "events": []string{"submitted"},
		"event_names": map[string]string{"payroll.submitted": "submitted"}})
	require.Equal(t, []string{"payroll.submitted"}, over.EventTypes)
	require.Equal(t, []string{"submitted"}, over.Events)

	// "*" stays "*".
	all := tb.createDialectHook(t, map[string]any{"profile": "bindbee", "events": []string{"*"}})
	require.Equal(t, []string{"*"}, all.Events)
	require.Equal(t, []string{"*"}, all.EventTypes)

	// Names are the webhook's dialect's, no other.
	for _, body := range []map[string]any{
		{"events": []string{"connector_sync_started"}},
		{"profile": "tartan", "events": []string{"connector_sync_started"}},
		{"profile": "teal", "events": []string{"clocking"}},
		{"profile": "trutac", "events": []string{"ping"}}, // webhook.ping and webhook.test are not subscribed to
	} {
		r := tb.do(t, http.MethodPost, "/v1/webhooks", tokenA, hookBody(body))
		require.Equal(t, "events", r.programErrorOf(t).Field, "%v", body)
	}
}

func TestTealRequestForms(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	const tealSecret = "teal-shared-secret-0123456789abcdef"

	w := tb.createDialectHook(t, map[string]any{"profile": "teal", "events": []string{"user-payroll-submitted"},
		"signing_secret": tealSecret, "include_payload": "true"})
	require.Equal(t, tealSecret, w.Secret)
	require.True(t, w.IncludePayload)
	require.Equal(t, []string{"payroll.submitted"}, w.EventTypes)
	stored, err := tb.store.Get(t.Context(), tenantA, w.ID)
	require.NoError(t, err)
	require.Equal(t, schemas.Secrets{{Value: tealSecret}}, stored.Secrets)
	require.True(t, stored.IncludePayload)

	w = tb.createDialectHook(t, map[string]any{"profile": "teal", "include_payload": "false", "secret": tealSecret, "signing_secret": tealSecret})
	require.False(t, w.IncludePayload)
	require.Equal(t, tealSecret, w.Secret, "the same secret under both names")
	w = tb.createDialectHook(t, map[string]any{"profile": "teal", "include_payload": true})
	require.True(t, w.IncludePayload, "booleans still work")

	// Elsewhere the API is strict.
	tests := []struct {
		name, method, path string
		body               map[string]any
		field              string
	}{
		{"signing_secret without a profile", http.MethodPost, "/v1/webhooks", hookBody(map[string]any{"signing_secret": tealSecret}), "signing_secret"},
		{"signing_secret under another profile", http.MethodPost, "/v1/webhooks", hookBody(map[string]any{"profile": "tartan", "signing_secret": tealSecret}), "signing_secret"},
		{"signing_secret and secret differ", http.MethodPost, "/v1/webhooks", hookBody(map[string]any{"profile": "teal", "signing_secret": tealSecret, "secret": tealSecret + "x"}), "signing_secret"},
		{"string flag without a profile", http.MethodPost, "/v1/webhooks", hookBody(map[string]any{"include_payload": "true"}), "include_payload"},
		{"string flag under another profile", http.MethodPost, "/v1/webhooks", hookBody(map[string]any{"profile": "bindbee", "include_payload": "false"}), "include_payload"},
		{"other strings under teal", http.MethodPost, "/v1/webhooks", hookBody(map[string]any{"profile": "teal", "include_payload": "yes"}), "include_payload"},
		{"a number under teal", http.MethodPost, "/v1/webhooks", hookBody(map[string]any{"profile": "teal", "include_payload": 1}), "include_payload"},
		{"string flag in a PATCH", http.MethodPatch, "/v1/webhooks/" + w.ID, map[string]any{"include_payload": "true"}, "include_payload"},
		{"signing_secret in a PATCH", http.MethodPatch, "/v1/webhooks/" + w.ID, map[string]any{"signing_secret": tealSecret}, "signing_secret"},
		{"string flag in a Test URL", http.MethodPost, "/v1/webhooks/test", map[string]any{"url": "https://receiver.example.com/", "profile": "teal", "include_payload": "true"}, "include_payload"},
	}
	for _, tt := range tests {
		r := tb.do(t, tt.method, tt.path, tokenA, tt.body)
		require.Equal(t, tt.field, r.programErrorOf(t).Field, tt.name)
	}
	var list struct {
		Data []dialectHook `json:"data"`
	}
	tb.do(t, http.MethodGet, "/v1/webhooks", tokenA, nil).json(t, &list)
	require.Len(t, list.Data, 3, "nothing refused was stored")
}

func TestProgramCompileErrorsHavePositions(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	w := tb.createDialectHook(t, nil)

	programs := []struct {
		name, field, src string
		pos              position
	}{
		{"syntax", "transform", "{a: }", position{Line: 1, Column: 5, Offset: 4}},
		{"unknown function on line 2", "transform", "{a: 1}\n| foo", position{Line: 2, Column: 3, Offset: 9}},
		{"unknown variable", "transform", "{a: $nope}", position{Line: 1, Column: 5, Offset: 4}},
		{"filter cut short", "filter", ".event.type == ", position{Line: 1, Column: 16, Offset: 15}},
		{"jq internals", "filter", "_plus(1; 2)", position{Line: 1, Column: 1, Offset: 0}},
	}
	routes := []struct {
		method, path string
		body         func(field, src string) map[string]any
		filters      bool
	}{
		{http.MethodPost, "/v1/webhooks", func(f, s string) map[string]any { return hookBody(map[string]any{f: s}) }, true},
		{http.MethodPatch, "/v1/webhooks/" + w.ID, func(f, s string) map[string]any { return map[string]any{f: s} }, true},
		{http.MethodPost, "/v1/webhooks/test", func(f, s string) map[string]any {
			return map[string]any{"url": "https://receiver.example.com/", f: s}
		}, false},
		{http.MethodPost, "/v1/transform/preview", func(f, s string) map[string]any {
			return map[string]any{"type": "sync.started", f: s}
		}, true},
	}
	for _, rt := range routes {
		for _, p := range programs {
			if p.field == "filter" && !rt.filters {
				continue
			}
			r := tb.do(t, rt.method, rt.path, tokenA, rt.body(p.field, p.src))
			e := r.programErrorOf(t)
			require.Equal(t, p.field, e.Field, "%s %s: %s", rt.method, rt.path, p.name)
			require.NotNil(t, e.Position, "%s %s: %s: %s", rt.method, rt.path, p.name, r.body)
			require.Equal(t, p.pos, *e.Position, "%s %s: %s: %s", rt.method, rt.path, p.name, e.Message)
		}
	}

	// Faults that are nowhere in particular have no position.
	for _, tc := range []struct{ field, src string }{
		{"filter", "   "},
		{"transform", strings.Repeat(" ", dialect.MaxSource) + "{}"},
	} {
		r := tb.do(t, http.MethodPost, "/v1/webhooks", tokenA, hookBody(map[string]any{tc.field: tc.src}))
		e := r.programErrorOf(t)
		require.Equal(t, tc.field, e.Field)
		require.Nil(t, e.Position, e.Message)
		require.NotContains(t, string(r.body), `"position"`)
	}
	// Other errors carry none either.
	r := tb.do(t, http.MethodPost, "/v1/webhooks", tokenA, hookBody(map[string]any{"url": "ftp://x"}))
	require.NotContains(t, string(r.body), `"position"`)

	stored, err := tb.store.Get(t.Context(), tenantA, w.ID)
	require.NoError(t, err)
	require.Empty(t, stored.Transform)
	require.Empty(t, stored.Filter)
}

func TestEventNamesAndRetryScheduleBounds(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tooMany := map[string]string{}
	for i := range 65 {
		tooMany["custom"+strings.Repeat("x", i)+".type"] = "n"
	}
	retries := func(n int) string { return strings.TrimSuffix(strings.Repeat("1s,", n), ",") }

	refused := []struct {
		name   string
		body   map[string]any
		field  string
		substr string
	}{
		{"not a catalog type", map[string]any{"event_names": map[string]string{"sync.exploded": "x"}}, "event_names", "sync.exploded"},
		{"a family", map[string]any{"event_names": map[string]string{"sync.*": "x"}}, "event_names", "not an event type"},
		{"empty name", map[string]any{"event_names": map[string]string{"sync.started": ""}}, "event_names", "128"},
		{"long name", map[string]any{"event_names": map[string]string{"sync.started": strings.Repeat("n", 129)}}, "event_names", "128"},
		{"not ASCII", map[string]any{"event_names": map[string]string{"sync.started": "début"}}, "event_names", "printable ASCII"},
		{"header injection", map[string]any{"event_names": map[string]string{"sync.started": "a\r\nX-Evil: 1"}}, "event_names", "printable ASCII"},
		{"too many", map[string]any{"event_names": tooMany}, "event_names", "limit is 64"},
		{"not a duration", map[string]any{"retry_schedule": "soon"}, "retry_schedule", "soon"},
		{"negative", map[string]any{"retry_schedule": "5s,-1s"}, "retry_schedule", "-1s"},
		{"empty entry", map[string]any{"retry_schedule": "5s,,10s"}, "retry_schedule", "duration"},
		{"21 retries", map[string]any{"retry_schedule": retries(21)}, "retry_schedule", "limit is 20"},
		{"over a day", map[string]any{"retry_schedule": "1m,24h0m1s"}, "retry_schedule", "24h"},
		{"not a string", map[string]any{"retry_schedule": []string{"5s"}}, "retry_schedule", "string"},
	}
	for _, tc := range refused {
		r := tb.do(t, http.MethodPost, "/v1/webhooks", tokenA, hookBody(tc.body))
		e := r.programErrorOf(t)
		require.Equal(t, tc.field, e.Field, tc.name)
		require.Contains(t, e.Message, tc.substr, tc.name)
	}

	// The limits themselves are allowed.
	w := tb.createDialectHook(t, map[string]any{
		"event_names":    map[string]string{"sync.started": strings.Repeat("n", 128), "sync.failed": "Sync Failed!~"},
		"retry_schedule": retries(20),
	})
	require.Len(t, w.EventNames["sync.started"], 128)
	require.Equal(t, ptr(retries(20)), w.RetrySchedule)
	w = tb.createDialectHook(t, map[string]any{"retry_schedule": "0s, 24h"})
	require.Equal(t, ptr("0s,24h"), w.RetrySchedule)

	// "" is no schedule of the webhook's own: the profile's, or the sender's.
	w = tb.createDialectHook(t, map[string]any{"retry_schedule": ""})
	require.Nil(t, w.RetrySchedule)
	require.Nil(t, w.EffectiveRetrySchedule)
	w = tb.createDialectHook(t, map[string]any{"profile": "tartan", "retry_schedule": "1h"})
	require.Equal(t, ptr("1h"), w.EffectiveRetrySchedule)
	got := tb.patchDialectHook(t, w.ID, map[string]any{"retry_schedule": "2m,4m"})
	require.Equal(t, ptr("2m,4m"), got.RetrySchedule)
	require.Equal(t, ptr("2m,4m"), got.EffectiveRetrySchedule)
	got = tb.patchDialectHook(t, w.ID, map[string]any{"retry_schedule": ""})
	require.Nil(t, got.RetrySchedule)
	require.Equal(t, ptr("30s,2m,10m"), got.EffectiveRetrySchedule, "reset to tartan's")
	stored, err := tb.store.Get(t.Context(), tenantA, w.ID)
	require.NoError(t, err)
	require.Nil(t, stored.RetrySchedule)

	for _, tc := range refused {
		r := tb.do(t, http.MethodPatch, "/v1/webhooks/"+w.ID, tokenA, tc.body)
		require.Equal(t, tc.field, r.programErrorOf(t).Field, "PATCH: %s", tc.name)
	}
	// PATCH event_names replaces the webhook's own; {} removes them.
	got = tb.patchDialectHook(t, w.ID, map[string]any{"event_names": map[string]string{"sync.failed": "oops"}})
	require.Equal(t, map[string]string{"sync.failed": "oops"}, got.EventNames)
	got = tb.patchDialectHook(t, w.ID, map[string]any{"event_names": map[string]string{}})
	require.Empty(t, got.EventNames)
}

// signingKey is GET /v1/signing-key and its rotation's answer.
type signingKey struct {
	Secret          string     `json:"secret"`
	PreviousExpires *time.Time `json:"previous_secret_expires_at"`
	CreatedAt       time.Time  `json:"created_at"`
	RotatedAt       *time.Time `json:"rotated_at"`
}

func (tb *testBundle) signingKey(t *testing.T, token string) signingKey {
	t.Helper()
	r := tb.do(t, http.MethodGet, "/v1/signing-key", token, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var k signingKey
	r.json(t, &k)
	return k
}

func TestTenantSigningKey(t *testing.T) {
	t.Parallel()
	tb := setup(t)

	// A webhook on the tenant's key creates the key and shows it.
	w := tb.createDialectHook(t, map[string]any{"profile": "bindbee"})
	require.Equal(t, "tenant", w.SigningKey)
	require.True(t, strings.HasPrefix(w.Secret, "whsec_"), "a key every scheme signs with: %s", w.Secret)
	stored, err := tb.store.Get(t.Context(), tenantA, w.ID)
	require.NoError(t, err)
	require.Empty(t, stored.Secrets, "the webhook has no secret of its own")

	// GET /v1/signing-key reads the same key, each read audited.
	before := len(tb.audits(t, schemas.AuditSecretRevealed))
	k := tb.signingKey(t, tokenA)
	require.Equal(t, w.Secret, k.Secret)
	require.Nil(t, k.RotatedAt)
	require.Nil(t, k.PreviousExpires)
	require.False(t, k.CreatedAt.IsZero())
	recs := tb.audits(t, schemas.AuditSecretRevealed)
	require.Len(t, recs, before+1)
	rec := recs[len(recs)-1]
	require.Equal(t, tenantA, rec.TenantID)
	require.Empty(t, rec.WebhookID, "the tenant's key is no webhook's")
	require.NotEmpty(t, rec.Reason)
	require.NotContains(t, rec.Reason, k.Secret)
	require.WithinDuration(t, time.Now(), rec.At, time.Minute)
	require.Equal(t, k, tb.signingKey(t, tokenA))
	require.Len(t, tb.audits(t, schemas.AuditSecretRevealed), before+2, "every read")

	// Another webhook on the key gets the same key: a read, and audited.
	w2 := tb.createDialectHook(t, map[string]any{"signing_key": "tenant", "url": "https://other.example.com/"})
	require.Equal(t, k.Secret, w2.Secret)
	recs = tb.audits(t, schemas.AuditSecretRevealed)
	require.Len(t, recs, before+3, "the key returned on creation is a read too")
	require.Equal(t, w2.ID, recs[len(recs)-1].WebhookID)

	// Its own secret cannot be rotated: the tenant's key is.
	r := tb.do(t, http.MethodPost, "/v1/webhooks/"+w.ID+"/rotate-secret", tokenA, nil)
	require.Equal(t, http.StatusConflict, r.status, string(r.body))
	require.Equal(t, "conflict", r.errorOf(t).Code)
	require.Contains(t, r.errorOf(t).Message, "/v1/signing-key/rotate")

	// Another tenant has a key of its own, created on its first read.
	tokenB := tb.newTenant(t, "beta")
	kb := tb.signingKey(t, tokenB)
	require.NotEqual(t, k.Secret, kb.Secret)
	require.Equal(t, kb.Secret, tb.signingKey(t, tokenB).Secret)
	require.Equal(t, k.Secret, tb.signingKey(t, tokenA).Secret)

	// Rotation validation.
	for _, body := range []map[string]any{
		{"secret": "not-whsec-at-all"}, {"secret": "my_hmac_secret_0123456789abcdef"},
		{"grace_period": "200h"}, {"grace_period": "-1s"}, {"grace_period": "soon"}, {"colour": "blue"},
	} {
		r := tb.do(t, http.MethodPost, "/v1/signing-key/rotate", tokenA, body)
		require.Equal(t, http.StatusBadRequest, r.status, "%v: %s", body, r.body)
	}
	require.Empty(t, tb.audits(t, schemas.AuditSigningKeyRotated), "refused rotations are not audited")
	require.Equal(t, k.Secret, tb.signingKey(t, tokenA).Secret)
}

func TestTenantSigningKeyRotationKeepsOldKeySigning(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	rc := newRecorder(t, http.StatusOK)
	w := tb.createDialectHook(t, map[string]any{"signing_key": "tenant", "url": rc.URL, "enabled": false})
	old := w.Secret

	// verifies reports which keys verify the last test request.
	verifies := func(keys ...string) []bool {
		t.Helper()
		r := tb.do(t, http.MethodPost, "/v1/webhooks/"+w.ID+"/test", tokenA, nil)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var a attempt
		r.json(t, &a)
		require.Equal(t, "success", a.Outcome, a.Error)
		req, body := rc.last(t)
		var out []bool
		for _, k := range keys {
			v, err := standardwebhooks.NewWebhook(k)
			require.NoError(t, err)
			out = append(out, v.Verify(body, req.Header) == nil)
		}
		return out
	}
	require.Equal(t, []bool{true}, verifies(old))

	r := tb.do(t, http.MethodPost, "/v1/signing-key/rotate", tokenA, map[string]any{"grace_period": "1h"})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var k signingKey
	r.json(t, &k)
	require.NotEqual(t, old, k.Secret)
	require.True(t, strings.HasPrefix(k.Secret, "whsec_"))
	require.NotNil(t, k.PreviousExpires)
	require.WithinDuration(t, time.Now().Add(time.Hour), *k.PreviousExpires, time.Minute)
	require.NotNil(t, k.RotatedAt)
	recs := tb.audits(t, schemas.AuditSigningKeyRotated)
	require.Len(t, recs, 1)
	require.Equal(t, tenantA, recs[0].TenantID)
	require.NotContains(t, recs[0].Reason, k.Secret)
	require.NotContains(t, recs[0].Reason, old)

	require.Equal(t, []bool{true, true}, verifies(old, k.Secret), "both keys sign during the grace period")

	// The webhook's secret, as GET .../secret shows it, is the new key.
	revealed := tb.audits(t, schemas.AuditSecretRevealed)
	r = tb.do(t, http.MethodGet, "/v1/webhooks/"+w.ID+"/secret", tokenA, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var sec struct {
		SigningKey      string     `json:"signing_key"`
		Secret          string     `json:"secret"`
		PreviousExpires *time.Time `json:"previous_secret_expires_at"`
	}
	r.json(t, &sec)
	require.Equal(t, "tenant", sec.SigningKey)
	require.Equal(t, k.Secret, sec.Secret)
	require.NotNil(t, sec.PreviousExpires)
	require.Equal(t, k.PreviousExpires.UTC(), sec.PreviousExpires.UTC())
	after := tb.audits(t, schemas.AuditSecretRevealed)
	require.Len(t, after, len(revealed)+1)
	require.Equal(t, w.ID, after[len(after)-1].WebhookID)
	require.Equal(t, tenantA, after[len(after)-1].TenantID)

	// A given key, without grace: the key it replaces stops at once.
	mine := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	r = tb.do(t, http.MethodPost, "/v1/signing-key/rotate", tokenA, map[string]any{"secret": mine, "grace_period": "0s"})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var k2 signingKey
	r.json(t, &k2)
	require.Equal(t, mine, k2.Secret)
	require.Equal(t, []bool{true, false, true}, verifies(mine, k.Secret, old),
		"the first key keeps its own grace period")
	require.Len(t, tb.audits(t, schemas.AuditSigningKeyRotated), 2)
}

func TestWebhookSecretReveal(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	w := tb.createDialectHook(t, nil)

	type secretResponse struct {
		SigningKey      string     `json:"signing_key"`
		Secret          string     `json:"secret"`
		PreviousExpires *time.Time `json:"previous_secret_expires_at"`
	}
	read := func(id string) secretResponse {
		t.Helper()
		r := tb.do(t, http.MethodGet, "/v1/webhooks/"+id+"/secret", tokenA, nil)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var s secretResponse
		r.json(t, &s)
		return s
	}
	require.Equal(t, secretResponse{SigningKey: "webhook", Secret: w.Secret}, read(w.ID))
	recs := tb.audits(t, schemas.AuditSecretRevealed)
	require.Len(t, recs, 1)
	require.Equal(t, schemas.AuditSecretRevealed, recs[0].Kind)
	require.Equal(t, tenantA, recs[0].TenantID)
	require.Equal(t, w.ID, recs[0].WebhookID)
	require.NotContains(t, recs[0].Reason, w.Secret)

	r := tb.do(t, http.MethodPost, "/v1/webhooks/"+w.ID+"/rotate-secret", tokenA, map[string]any{"grace_period": "2h"})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var rotated dialectHook
	r.json(t, &rotated)
	s := read(w.ID)
	require.Equal(t, rotated.Secret, s.Secret, "the current secret")
	require.NotNil(t, s.PreviousExpires)
	require.WithinDuration(t, time.Now().Add(2*time.Hour), *s.PreviousExpires, time.Minute)
	require.Len(t, tb.audits(t, schemas.AuditSecretRevealed), 2)

	// Unknown webhooks and other tenants' are 404s, and not audited.
	tokenB := tb.newTenant(t, "beta")
	for _, tc := range []struct{ id, token string }{{"wh_nope", tokenA}, {w.ID, tokenB}} {
		r := tb.do(t, http.MethodGet, "/v1/webhooks/"+tc.id+"/secret", tc.token, nil)
		require.Equal(t, http.StatusNotFound, r.status, string(r.body))
		require.NotContains(t, string(r.body), rotated.Secret)
	}
	require.Equal(t, http.StatusUnauthorized, tb.do(t, http.MethodGet, "/v1/webhooks/"+w.ID+"/secret", "", nil).status)
	require.Len(t, tb.audits(t, schemas.AuditSecretRevealed), 2)

	// Neither GET /v1/webhooks/{id} nor the list shows it.
	require.NotContains(t, string(tb.do(t, http.MethodGet, "/v1/webhooks/"+w.ID, tokenA, nil).body), rotated.Secret)
}

// preview is the answer of POST /v1/transform/preview.
type preview struct {
	EventName   string            `json:"event_name"`
	Matched     bool              `json:"matched"`
	FilterError string            `json:"filter_error"`
	Body        json.RawMessage   `json:"body"`
	Error       string            `json:"error"`
	Headers     map[string]string `json:"headers"`
	Event       struct {
		ID    string          `json:"id"`
		Type  string          `json:"type"`
		OrgID string          `json:"org_id"`
		Data  json.RawMessage `json:"data"`
	} `json:"event"`
}

func (tb *testBundle) preview(t *testing.T, body map[string]any) (preview, map[string]any) {
	t.Helper()
	r := tb.do(t, http.MethodPost, "/v1/transform/preview", tokenA, body)
	require.Equal(t, http.StatusOK, r.status, "%v: %s", body, r.body)
	var p preview
	r.json(t, &p)
	var b map[string]any
	if len(p.Body) > 0 && string(p.Body) != "null" {
		require.NoError(t, json.Unmarshal(p.Body, &b), string(p.Body))
	}
	return p, b
}

func TestTransformPreview(t *testing.T) {
	t.Parallel()
	tb := setup(t)

	// By type: the catalog's example, shaped by tartan's program.
	p, body := tb.preview(t, map[string]any{"profile": "tartan", "type": "sync.completed"})
	require.Equal(t, "sync.completed", p.EventName)
	require.True(t, p.Matched)
	require.Empty(t, p.Error)
	require.Equal(t, "sync.completed", p.Event.Type)
	et, ok := schemas.LookupType("sync.completed")
	require.True(t, ok)
	require.JSONEq(t, string(et.Example), string(p.Event.Data))
	var example struct {
		SyncSessionID string `json:"sync_session_id"`
	}
	require.NoError(t, json.Unmarshal(et.Example, &example))
	require.NotEmpty(t, example.SyncSessionID)
	require.Equal(t, example.SyncSessionID, body["syncSessionId"])
	require.Equal(t, p.Headers["Webhook-Id"], body["requestId"], "requestId is the delivery's id")
	require.NotEmpty(t, body["requestId"])
	require.Equal(t, "sync.completed", body["event"])
	require.Equal(t, map[string]any{"orgId": tenantA}, body["vendor"])
	require.Equal(t, "••••••", p.Headers["Tartan-Signature"], "signature headers are masked")

	// The vendor's event names, and the request's own over them.
	p, body = tb.preview(t, map[string]any{"profile": "bindbee", "type": "employee.updated"})
	require.Equal(t, "employee_data_changed", p.EventName)
	require.Equal(t, "employee_data_changed", p.Headers["Webhook-Event-Type"])
	require.Equal(t, "employee_data_changed", body["webhook"].(map[string]any)["event"])
	require.Contains(t, p.Headers, "X-Bindbee-Webhook-Signature")
	p, _ = tb.preview(t, map[string]any{"profile": "bindbee", "type": "employee.updated", "event_names": map[string]string{"employee.updated": "emp_upd"}})
	require.Equal(t, "emp_upd", p.EventName)

	// Teal's include_payload default, and the request's.
	_, body = tb.preview(t, map[string]any{"profile": "teal", "type": "payroll.submitted"})
	require.Equal(t, "user-payroll-submitted", body["event"])
	require.NotContains(t, body, "payload", "teal leaves the payload out by default")
	require.Contains(t, body, "user_id")
	_, body = tb.preview(t, map[string]any{"profile": "teal", "type": "payroll.submitted", "include_payload": true})
	require.Contains(t, body, "payload")

	// An event given, and what .webhook holds.
	p, body = tb.preview(t, map[string]any{
		"transform": "{id: .event.id, org: .event.org_id, n: .event.data.record_count, wh: .webhook.id, name: .webhook.name, orgs: .webhook.org_ids}",
		"event":     map[string]any{"id": "evt_mine", "type": "sync.completed", "org_id": "org_7", "data": map[string]any{"sync_session_id": "ss_9", "hrms": "keka", "record_count": 3}},
		"webhook":   map[string]any{"id": "wh_mine", "name": "Mine", "org_ids": []string{"org_7"}},
	})
	require.Equal(t, map[string]any{"id": "evt_mine", "org": "org_7", "n": 3.0, "wh": "wh_mine", "name": "Mine", "orgs": []any{"org_7"}}, body)
	require.Equal(t, "evt_mine:wh_mine", p.Headers["Webhook-Id"])

	// No transform: the event itself.
	p, body = tb.preview(t, map[string]any{"type": "sync.started"})
	require.Equal(t, "sync.started", body["type"])
	require.Contains(t, p.Headers, "Webhook-Signature")

	// Filters.
	p, _ = tb.preview(t, map[string]any{"type": "sync.started", "filter": `.event.data.hrms == "darwinbox"`})
	require.True(t, p.Matched)
	p, body = tb.preview(t, map[string]any{"type": "sync.started", "filter": `.event.data.hrms == "keka"`})
	require.False(t, p.Matched)
	require.Empty(t, p.FilterError)
	require.NotEmpty(t, body, "the body is shown even when the filter keeps the event out")
	p, _ = tb.preview(t, map[string]any{"type": "sync.started", "filter": `error("nope")`})
	require.False(t, p.Matched, "a failing filter counts as not matched")
	require.Contains(t, p.FilterError, "nope")

	// A transform that fails on the event is a 200 saying why.
	for _, src := range []string{`error("boom")`, `"a string"`, `.event.data.hrms | .x`} {
		p, _ := tb.preview(t, map[string]any{"type": "sync.started", "transform": src})
		require.NotEmpty(t, p.Error, src)
		require.Equal(t, "null", string(p.Body), src)
		require.NotEmpty(t, p.Headers, src)
	}
	p, _ = tb.preview(t, map[string]any{"type": "sync.started", "transform": `error("boom")`})
	require.Contains(t, p.Error, "boom")

	// Requests it cannot answer.
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{}, "event"},
		{map[string]any{"type": "sync.exploded"}, "type"},
		{map[string]any{"type": "sync.started", "event": map[string]any{"type": "sync.started", "data": map[string]any{}}}, "type"},
		{map[string]any{"event": map[string]any{"type": "sync.started", "data": map[string]any{}}}, "event.data.sync_session_id"},
		{map[string]any{"type": "sync.started", "profile": "stripe"}, "profile"},
		{map[string]any{"type": "sync.started", "transform": "{"}, "transform"},
		{map[string]any{"type": "sync.started", "event_names": map[string]string{"sync.started": ""}}, "event_names"},
		{map[string]any{"type": "sync.started", "signature": map[string]string{"preset": "acme"}}, "signature"},
		{map[string]any{"type": "sync.started", "colour": "blue"}, "colour"},
	} {
		r := tb.do(t, http.MethodPost, "/v1/transform/preview", tokenA, tc.body)
		require.Equal(t, tc.field, r.programErrorOf(t).Field, "%v", tc.body)
	}
	require.Equal(t, http.StatusUnauthorized, tb.do(t, http.MethodPost, "/v1/transform/preview", "", map[string]any{"type": "sync.started"}).status)
}

func TestProfilesList(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	type profileResp struct {
		Name           string            `json:"name"`
		Vendor         string            `json:"vendor"`
		Description    string            `json:"description"`
		Signature      string            `json:"signature_preset"`
		Transform      string            `json:"transform"`
		EventNames     map[string]string `json:"event_names"`
		IncludePayload bool              `json:"include_payload"`
		RetrySchedule  *string           `json:"retry_schedule"`
		SigningKey     string            `json:"signing_key"`
	}
	r := tb.do(t, http.MethodGet, "/v1/profiles", tokenA, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var list struct {
		Data []profileResp `json:"data"`
	}
	r.json(t, &list)
	var names []string
	for _, p := range list.Data {
		names = append(names, p.Name)
	}
	require.Equal(t, []string{"bindbee", "tartan", "teal", "trutac"}, names)
	for _, got := range list.Data {
		p, ok := dialect.LookupProfile(got.Name)
		require.True(t, ok)
		require.Equal(t, p.Vendor, got.Vendor)
		require.NotEmpty(t, got.Description)
		require.Equal(t, p.Signature, got.Signature)
		require.Equal(t, p.Transform, got.Transform, "%s's program", got.Name)
		_, err := dialect.Compile(dialect.KindTransform, got.Transform)
		require.NoError(t, err, got.Name)
		require.Equal(t, map[string]string(p.EventNames.Over(nil)), nonNil(got.EventNames), got.Name)
		require.NotNil(t, got.EventNames, "an object, even when empty")
		require.Equal(t, p.IncludePayload, got.IncludePayload)
		require.Equal(t, p.SigningKey, got.SigningKey)

		one := tb.do(t, http.MethodGet, "/v1/profiles/"+got.Name, tokenA, nil)
		require.Equal(t, http.StatusOK, one.status)
		var single profileResp
		one.json(t, &single)
		require.Equal(t, got, single)
	}
	byName := func(n string) profileResp {
		i := slices.IndexFunc(list.Data, func(p profileResp) bool { return p.Name == n })
		require.GreaterOrEqual(t, i, 0)
		return list.Data[i]
	}
	require.Equal(t, ptr("30s,2m,10m"), byName("tartan").RetrySchedule)
	require.Nil(t, byName("bindbee").RetrySchedule)
	require.Equal(t, "connector_sync_started", byName("bindbee").EventNames["sync.started"])
	require.Equal(t, "tenant", byName("bindbee").SigningKey)
	require.Equal(t, "clocking", byName("trutac").EventNames["clocking.updated"])
	require.False(t, byName("teal").IncludePayload)
	require.Empty(t, byName("tartan").EventNames)
	require.Contains(t, string(r.body), `"event_names":{}`, "tartan names nothing")

	r = tb.do(t, http.MethodGet, "/v1/profiles/stripe", tokenA, nil)
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "not_found", r.errorOf(t).Code)
	require.Equal(t, http.StatusUnauthorized, tb.do(t, http.MethodGet, "/v1/profiles", "", nil).status)
}

func nonNil(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func TestTestURLWithDialect(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	rc := newRecorder(t, http.StatusOK)
	send := func(body map[string]any) attempt {
		t.Helper()
		body["url"] = rc.URL
		r := tb.do(t, http.MethodPost, "/v1/webhooks/test", tokenA, body)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var a attempt
		r.json(t, &a)
		return a
	}

	a := send(map[string]any{"profile": "trutac"})
	require.Equal(t, "success", a.Outcome, a.Error)
	req, raw := rc.last(t)
	require.Equal(t, "ping", req.Header.Get("Tt-Hook-Event"))
	require.NotEmpty(t, req.Header.Get("Tt-Hook-Signature"), "trutac's preset")
	var body map[string]any
	require.NoError(t, json.Unmarshal(raw, &body))
	require.Equal(t, "test", body["action"], "trutac's program")

	a = send(map[string]any{"transform": "{hello: .event_name, id: .event.data.webhook_id}", "event_names": map[string]string{"webhook.test": "probe"}})
	require.Equal(t, "success", a.Outcome, a.Error)
	req, raw = rc.last(t)
	require.JSONEq(t, `{"hello": "probe", "id": "wh_test"}`, string(raw))
	require.Equal(t, "probe", req.Header.Get("Webhook-Event-Type"))
	require.NotEmpty(t, req.Header.Get("Webhook-Signature"), "the standard preset without a profile")

	// A transform that fails sends nothing; the attempt says why.
	n := func() int {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return len(rc.got)
	}
	before := n()
	a = send(map[string]any{"transform": `error("boom")`})
	require.Equal(t, "error", a.Outcome)
	require.Contains(t, a.Error, "boom")
	require.Equal(t, before, n(), "nothing was sent")

	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"url": rc.URL, "profile": "stripe"}, "profile"},
		{map[string]any{"url": rc.URL, "event_names": map[string]string{"nope.nope": "x"}}, "event_names"},
		{map[string]any{"url": rc.URL, "filter": "true"}, "filter"},
	} {
		r := tb.do(t, http.MethodPost, "/v1/webhooks/test", tokenA, tc.body)
		require.Equal(t, tc.field, r.programErrorOf(t).Field, "%v", tc.body)
	}
}

func TestWebhookStatsFilterCounts(t *testing.T) {
	t.Parallel()
	var shift atomic.Int64 // added to the API's clock
	tb := setup(t, func(c *api.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }
	})
	w := tb.createDialectHook(t, map[string]any{"filter": `.event.org_id == "org_1"`})
	plain := tb.createDialectHook(t, nil)
	other := tb.createDialectHook(t, map[string]any{"filter": "true"})

	publish := func(tenant string, counts map[string]schemas.FilterCount) {
		t.Helper()
		st := schemas.DeliveryStats{TenantID: tenant, Start: time.Now().UTC(), Seconds: 10, Filtered: counts}
		data, err := schemas.Marshal(nil, &st)
		require.NoError(t, err)
		_, err = tb.b.JS.PublishMsg(t.Context(), &nats.Msg{Subject: broker.StatsSubject(tenant), Data: data})
		require.NoError(t, err)
	}
	type stats struct {
		Filtered     uint64 `json:"filtered"`
		FilterErrors uint64 `json:"filter_errors"`
	}
	read := func(id string) stats {
		t.Helper()
		r := tb.do(t, http.MethodGet, "/v1/webhooks/"+id+"/stats", tokenA, nil)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		require.Contains(t, string(r.body), `"filtered":`)
		require.Contains(t, string(r.body), `"filter_errors":`)
		var s stats
		r.json(t, &s)
		return s
	}
	require.Equal(t, stats{}, read(w.ID))

	publish(tenantA, map[string]schemas.FilterCount{w.ID: {Filtered: 3, Errors: 1}, other.ID: {Filtered: 7}})
	publish(tenantA, map[string]schemas.FilterCount{w.ID: {Filtered: 2}})
	publish("beta", map[string]schemas.FilterCount{w.ID: {Filtered: 100, Errors: 100}}) // another tenant's counts
	st := schemas.DeliveryStats{TenantID: tenantA, Start: time.Now().UTC(), Seconds: 10, Attempts: map[string]uint64{"2xx": 4}}
	data, err := schemas.Marshal(nil, &st)
	require.NoError(t, err)
	_, err = tb.b.JS.PublishMsg(t.Context(), &nats.Msg{Subject: broker.StatsSubject(tenantA), Data: data}) // a sender's
	require.NoError(t, err)

	require.Equal(t, stats{Filtered: 5, FilterErrors: 1}, read(w.ID))
	require.Equal(t, stats{Filtered: 7}, read(other.ID))
	require.Equal(t, stats{}, read(plain.ID))

	// The counts cover the last hour.
	shift.Store(int64(61 * time.Minute))
	require.Equal(t, stats{}, read(w.ID))
}

// A receiver's name that reads as a catalog type, a family or "*" cannot
// stand for the types it names in events: sent back, it would subscribe to
// something else.
func TestEventNamesThatReadAsCatalogPatterns(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	for _, name := range []string{"sync.completed", "employee.*", "*"} {
		w := tb.createDialectHook(t, map[string]any{"events": []string{"sync.started"}, "event_names": map[string]string{"sync.started": name}})
		require.Equal(t, []string{"sync.started"}, w.EventTypes, name)
		require.Equal(t, []string{"sync.started"}, w.Events, "%q reads as another subscription", name)

		got := tb.patchDialectHook(t, w.ID, map[string]any{"events": tb.getDialectHook(t, w.ID).Events})
		require.Equal(t, []string{"sync.started"}, got.EventTypes, "what GET shows, sent back, keeps the subscription (%q)", name)
	}
	// Other names still stand for their types.
	w := tb.createDialectHook(t, map[string]any{"events": []string{"sync.started"}, "event_names": map[string]string{"sync.started": "sync-begun"}})
	require.Equal(t, []string{"sync-begun"}, w.Events)
}

// The vendor presets carry one signature, made with the newest secret: a
// rotated-out secret does not sign, and the API does not say it does.
func TestSingleSignatureSchemesShowNoPreviousSecret(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	w := tb.createDialectHook(t, map[string]any{"profile": "tartan"})
	r := tb.do(t, http.MethodPost, "/v1/webhooks/"+w.ID+"/rotate-secret", tokenA, map[string]any{"grace_period": "24h"})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var rotated dialectHook
	r.json(t, &rotated)
	require.Nil(t, rotated.PrevExpiresAt, "tartan signs with the new secret at once")
	var shown webhookSecretShown
	tb.do(t, http.MethodGet, "/v1/webhooks/"+w.ID+"/secret", tokenA, nil).json(t, &shown)
	require.Equal(t, rotated.Secret, shown.Secret)
	require.Nil(t, shown.PreviousExpires)
}

type webhookSecretShown struct {
	Secret          string     `json:"secret"`
	PreviousExpires *time.Time `json:"previous_secret_expires_at"`
}
