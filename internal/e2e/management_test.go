package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/egress"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/signature"
)

// A "*" webhook created before a type is added to the catalog receives it.
func TestWildcardReceivesTypesAddedLater(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, nil)
	e.createWebhook(rc.URL, []string{"*"}, nil)

	name := fmt.Sprintf("leave%d.approved", time.Now().UnixNano())
	code := callAPI(t, e.api.URL, adminToken, http.MethodPost, "/v1/event-types",
		map[string]any{"name": name, "description": "A leave request was approved."}, nil)
	require.Equal(t, http.StatusCreated, code)

	var out struct{ ID string }
	code = e.call(http.MethodPost, "/v1/events", map[string]any{"type": name, "org_id": "org_1", "data": map[string]any{"days": 3}}, &out)
	require.Equal(t, http.StatusAccepted, code)
	got := rc.next(t)
	require.Equal(t, name, got.Event.Type)
	require.Equal(t, out.ID, got.Event.ID)
}

// During the grace period a receiver holding only the old secret and one
// holding only the new one both verify; after it, only the new one does.
func TestRotationGracePeriod(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	e := start(t, options{clock: clk})
	rc := newReceiver(t, nil)
	wh := e.createWebhook(rc.URL, []string{"sync.*"}, nil)
	oldSecret := wh.Secret

	var rotated createdWebhook
	require.Equal(t, http.StatusOK, e.call(http.MethodPost, "/v1/webhooks/"+wh.ID+"/rotate-secret", map[string]any{"grace_period": "1h"}, &rotated))
	newSecret := rotated.Secret
	require.NotEqual(t, oldSecret, newSecret)
	expectSignedBy(t, rc.URL, newSecret)

	e.publish(syncStarted("org_1"))
	during := rc.next(t)
	for _, sec := range []string{oldSecret, newSecret} {
		ref, err := standardwebhooks.NewWebhook(sec)
		require.NoError(t, err)
		require.NoError(t, ref.Verify(during.Body, during.Header), "the reference library accepts either secret during the grace period")
	}
	require.Len(t, strings.Fields(during.Header.Get("webhook-signature")), 2)

	clk.advance(2 * time.Hour)
	e.publish(syncStarted("org_1"))
	after := rc.next(t)
	require.Len(t, strings.Fields(after.Header.Get("webhook-signature")), 1)
	verify := func(secret string) error {
		rcv, err := signature.NewReceiver(signature.ReceiverConfig{Secrets: []string{secret}, Now: clk.now})
		require.NoError(t, err)
		_, err = rcv.Open(after.Header, after.Body)
		return err
	}
	require.NoError(t, verify(newSecret), "the new secret verifies after the grace period")
	require.ErrorIs(t, verify(oldSecret), signature.ErrNoMatch, "the old one no longer does")
}

// Events published with one tenant's token reach only that tenant's
// webhooks, even when both subscribe to everything.
func TestEventsReachOnlyTheirTenant(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	var tenant struct{ ID, Token string }
	require.Equal(t, http.StatusCreated, callAPI(t, e.api.URL, adminToken, http.MethodPost, "/v1/tenants", map[string]any{"name": "Globex"}, &tenant))

	mine, theirs := newReceiver(t, nil), newReceiver(t, nil)
	e.createWebhook(mine.URL, []string{"*"}, nil)
	var w createdWebhook
	require.Equal(t, http.StatusCreated, callAPI(t, e.api.URL, tenant.Token, http.MethodPost, "/v1/webhooks",
		map[string]any{"name": "globex", "url": theirs.URL, "events": []string{"*"}}, &w))

	var out struct{ ID string }
	require.Equal(t, http.StatusAccepted, callAPI(t, e.api.URL, tenant.Token, http.MethodPost, "/v1/events",
		map[string]any{"type": "sync.started", "org_id": "o", "data": map[string]any{"sync_session_id": "s", "hrms": "keka"}}, &out))
	got := theirs.next(t)
	require.Equal(t, out.ID, got.Event.ID)
	var body struct {
		TenantID string `json:"tenant_id"`
	}
	require.NoError(t, json.Unmarshal(got.Body, &body))
	require.Equal(t, tenant.ID, body.TenantID)

	e.publish(syncStarted("org_1")) // the default tenant's own event
	require.NoError(t, json.Unmarshal(mine.next(t).Body, &body))
	require.Equal(t, "default", body.TenantID)
	e.settle()
	require.Equal(t, 1, theirs.count("sync.started"), "the other tenant got only its own event")
	require.Equal(t, 1, mine.count("sync.started"), "and the default tenant only its own")
}

// With the default policy, private destinations are refused when a webhook
// is saved and when the sender dials, whatever the name resolved to earlier.
func TestPrivateDestinationsAreRefused(t *testing.T) {
	t.Parallel()
	e := start(t, options{egress: &egress.Policy{}})
	rc := newReceiver(t, nil)

	for _, url := range []string{rc.URL, "http://10.1.2.3/hooks", "http://169.254.169.254/latest/meta-data", "http://localhost:9/x"} {
		var out struct {
			Error struct{ Field, Message string }
		}
		code := e.call(http.MethodPost, "/v1/webhooks", map[string]any{"name": "x", "url": url, "events": []string{"*"}}, &out)
		require.Equal(t, http.StatusBadRequest, code, url)
		require.Equal(t, "url", out.Error.Field)
		require.Contains(t, out.Error.Message, "not allowed")
	}

	// A name that passed the check when it was saved but resolves to a
	// loopback address when the sender dials is refused at dial time.
	wh := &schemas.Webhook{ID: "wh_rebind", TenantID: "default", Name: "rebind", URL: strings.Replace(rc.URL, "127.0.0.1", "localhost", 1),
		Events: []string{"*"}, Enabled: true, IncludePayload: true, Secrets: []schemas.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}}
	require.NoError(t, e.p.Store.Create(t.Context(), wh))
	require.Eventually(t, func() bool { _, ok := e.p.Index.Get("default", wh.ID); return ok }, 5*time.Second, 5*time.Millisecond)
	e.publish(syncStarted("org_1"))
	e.settle()
	require.Zero(t, rc.count("sync.started"), "nothing reached the loopback receiver")
	log := e.deliveryLog(wh.ID, func(log []loggedAttempt) bool { return len(log) > 0 })
	for _, a := range log {
		require.Equal(t, schemas.OutcomeError, a.Outcome)
		require.Contains(t, a.Error, "destination not allowed")
	}
}
