package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/scheduler"
	"github.com/hookstream/hookstream/schemas"
)

// deadLetterReasons waits until the webhook has n dead letters and returns
// their reasons by event id.
func (e *env) deadLetterReasons(webhookID string, n int) map[string]string {
	e.t.Helper()
	e.deadLetters(webhookID, n)
	page, err := e.p.Replayer.List(context.Background(), scheduler.Query{TenantID: "default", WebhookID: webhookID, Limit: 200})
	require.NoError(e.t, err)
	out := map[string]string{}
	for _, l := range page.Letters {
		out[l.Delivery.EventID] = l.Reason
	}
	return out
}

// A transform that fails on a delivery dead-letters that delivery at once,
// with the reason, in the delivery log too; the other webhooks get the
// event, and the process carries on.
func TestTransformFailuresDeadLetterTheirDeliveryOnly(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	good := newReceiver(t, nil)
	e.createWebhook(good.URL, []string{"sync.*"}, map[string]any{"transform": `{id: .event.id, n: .event_name}`})
	kinds := []struct {
		name, program, reason string
	}{
		{"runs forever", `def f: f; f`, "transform: timed out after 100ms"},
		{"returns a string", `.event.id`, "transform: produced a string, not an object"},
		{"returns 1 MiB", `{a: [range(40) | "x" * 30000]}`, "transform: the output is larger than 256 KiB"},
		{"errors", `error("no such field: \(.event.type)")`, "transform: no such field: sync.started"},
	}
	never := newReceiver(t, nil)
	hooks := make([]createdWebhook, len(kinds))
	for i, k := range kinds {
		hooks[i] = e.createWebhook(never.URL, []string{"sync.*"}, map[string]any{"transform": k.program})
	}
	// A program that does not compile reaches a webhook only by writing the
	// bucket behind the API's back: its deliveries are dead-lettered too.
	e.storeWebhook(&schemas.Webhook{ID: "wh_broken", Name: "broken", URL: never.URL, Events: []string{"sync.*"},
		Signature: schemas.SignatureConfig{Preset: "tartan"}, Secrets: schemas.Secrets{{Value: "tartan_key"}}, Transform: `{a: `})

	id := e.publish(syncStarted("org_1"))
	got := waitRequests(t, good, 1, func(r request) bool { return strings.Contains(string(r.Body), "webhook.ping") })
	require.JSONEq(t, fmt.Sprintf(`{"id":%q,"n":"sync.started"}`, id), string(got[0].Body))

	for i, k := range kinds {
		// The creation ping failed the same way, and was dead-lettered too.
		reasons := e.deadLetterReasons(hooks[i].ID, 2)
		require.True(t, strings.HasPrefix(reasons[id], k.reason), "%s: %q", k.name, reasons[id])
		log := e.deliveryLog(hooks[i].ID, func(a []loggedAttempt) bool { return len(a) == 2 })
		for _, a := range log {
			require.Equal(t, schemas.OutcomeError, a.Outcome, k.name)
			require.True(t, a.Final, "%s: the one attempt is the last", k.name)
			require.True(t, strings.HasPrefix(a.Error, "transform: "), a.Error)
		}
	}
	reasons := e.deadLetterReasons("wh_broken", 1)
	require.Contains(t, reasons[id], "transform: does not compile")
	e.settle()
	require.Empty(t, never.all(), "nothing is sent that the transform did not make")
	require.GreaterOrEqual(t, e.scrape()["hookstream_transform_failures_total"], float64(2*len(kinds)+1))
}

// A filter lets through only the events it yields true for; one that errors
// counts as not matched; both are counted in the webhook's stats.
func TestFiltersKeepOutWhatTheyDoNotMatch(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	keka, failing := newReceiver(t, nil), newReceiver(t, nil)
	kekaHook := e.createWebhook(keka.URL, []string{"sync.*"}, map[string]any{"filter": `.event.data.hrms == "keka"`})
	failingHook := e.createWebhook(failing.URL, []string{"sync.*"}, map[string]any{"filter": `.event.data.nope | error`})

	darwinbox := e.publish(syncStarted("org_1"))
	kekaEvent := &schemas.Event{TenantID: "default", Type: "sync.started", OrgID: "org_1",
		Data: []byte(`{"sync_session_id":"ss_2","hrms":"keka"}`)}
	kekaID := e.publish(kekaEvent)
	got := keka.next(t)
	require.Equal(t, kekaID, got.Event.ID)
	e.settle()
	require.Equal(t, 1, keka.count("sync.started"), "not %s", darwinbox)
	require.Zero(t, failing.count("sync.started"))

	stats := func(id string) (filtered, errors uint64) {
		var st struct {
			Filtered     uint64 `json:"filtered"`
			FilterErrors uint64 `json:"filter_errors"`
		}
		require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/v1/webhooks/"+id+"/stats", nil, &st))
		return st.Filtered, st.FilterErrors
	}
	require.Eventually(t, func() bool {
		f, errs := stats(kekaHook.ID)
		ff, ferrs := stats(failingHook.ID)
		return f == 1 && errs == 0 && ff == 2 && ferrs == 2
	}, 10*time.Second, 20*time.Millisecond, "the routers' counts reach the stats")
	m := e.scrape()
	require.Equal(t, float64(1), m[`hookstream_deliveries_filtered_total{result="not_matched"}`])
	require.Equal(t, float64(2), m[`hookstream_deliveries_filtered_total{result="error"}`])
}

// A webhook's retry schedule replaces the sender's.
func TestWebhookRetryScheduleReplacesTheSenders(t *testing.T) {
	t.Parallel()
	e := start(t, options{}) // the sender retries twice
	down := func(_ int, r request) int {
		if r.Event.Type == "webhook.ping" {
			return http.StatusOK
		}
		return http.StatusServiceUnavailable
	}
	// A receiver each: a webhook's ping may arrive before the harness knows
	// its secret, and a shared receiver would check it against the other's.
	own := e.createWebhook(newReceiver(t, down).URL, []string{"sync.*"}, map[string]any{"retry_schedule": "5ms,5ms,5ms,5ms"})
	def := e.createWebhook(newReceiver(t, down).URL, []string{"sync.*"}, nil)
	id := e.publish(syncStarted("org_1"))
	require.Equal(t, "gave up after 5 attempts: HTTP 503", e.deadLetterReasons(own.ID, 1)[id])
	require.Equal(t, "gave up after 3 attempts: HTTP 503", e.deadLetterReasons(def.ID, 1)[id])
}
