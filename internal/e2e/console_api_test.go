package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// What the console shows of a webhook: an attempt expanded (headers masked,
// the body), a resend, the webhook's stats and the tenant's live counts.
func TestDeliveryLogDetailResendAndStats(t *testing.T) {
	t.Parallel()
	e := start(t, options{schedule: []time.Duration{5 * time.Millisecond}})
	rc := newReceiver(t, nil)
	wh := e.createWebhook(rc.URL, []string{"sync.*"}, map[string]any{"headers": map[string]string{"X-Api-Key": "key-of-the-receiver"}})
	id := e.publish(syncStarted("org_1"))
	first := rc.next(t)
	e.settle()

	var attemptID string
	e.deliveryLog(wh.ID, func(log []loggedAttempt) bool {
		for _, a := range log {
			if a.EventType == "sync.started" {
				attemptID = a.ID
			}
		}
		return attemptID != ""
	})

	var detail struct {
		DeliveryID     string            `json:"delivery_id"`
		RequestHeaders map[string]string `json:"request_headers"`
		Body           json.RawMessage   `json:"body"`
		Resendable     bool              `json:"resendable"`
	}
	path := "/v1/webhooks/" + wh.ID + "/attempts/" + attemptID
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, path, nil, &detail))
	require.Equal(t, first.Header.Get("webhook-id"), detail.RequestHeaders["Webhook-Id"])
	require.Equal(t, "sync.started", detail.RequestHeaders["Webhook-Event-Type"])
	require.Equal(t, "application/json", detail.RequestHeaders["Content-Type"])
	require.NotContains(t, detail.RequestHeaders["Webhook-Signature"], first.Header.Get("webhook-signature")[3:], "the signature is masked")
	require.Equal(t, "••••••", detail.RequestHeaders["Webhook-Signature"])
	require.Equal(t, "••••••", detail.RequestHeaders["X-Api-Key"], "custom header values may be credentials")
	require.JSONEq(t, string(first.Body), string(detail.Body), "the body as sent")
	require.True(t, detail.Resendable)

	// Resend: the same event once more, same webhook-id.
	var resent struct {
		DeliveryID string `json:"delivery_id"`
	}
	require.Equal(t, http.StatusAccepted, e.call(http.MethodPost, path+"/resend", nil, &resent))
	again := rc.next(t)
	require.Equal(t, id, again.Event.ID)
	require.Equal(t, first.Header.Get("webhook-id"), again.Header.Get("webhook-id"))
	e.settle()
	e.deliveryLog(wh.ID, func(log []loggedAttempt) bool { return len(log) == 3 }) // ping, event, resend

	var stats struct {
		LastAttempt *struct{ Outcome string } `json:"last_attempt"`
		SuccessRate *float64                  `json:"success_rate"`
		Sampled     int                       `json:"sampled"`
		DeadLetters int                       `json:"dead_letters"`
	}
	require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/v1/webhooks/"+wh.ID+"/stats", nil, &stats))
	require.Equal(t, "success", stats.LastAttempt.Outcome)
	require.Equal(t, 3, stats.Sampled, "ping, event, resend")
	require.InDelta(t, 1.0, *stats.SuccessRate, 1e-9)

	var live struct {
		IntervalSeconds int `json:"interval_seconds"`
		Buckets         []struct {
			Attempts map[string]int `json:"attempts"`
		} `json:"buckets"`
	}
	require.Eventually(t, func() bool {
		require.Equal(t, http.StatusOK, e.call(http.MethodGet, "/v1/stats/deliveries?minutes=5", nil, &live))
		n := 0
		for _, b := range live.Buckets {
			n += b.Attempts["2xx"]
		}
		return n == 3
	}, 10*time.Second, 20*time.Millisecond, "the live view counts the tenant's attempts")
	require.Equal(t, 10, live.IntervalSeconds)
	require.Equal(t, http.StatusBadRequest, e.call(http.MethodGet, "/v1/stats/deliveries?minutes=0", nil, nil))
	require.Equal(t, http.StatusNotFound, e.call(http.MethodGet, "/v1/webhooks/"+wh.ID+"/attempts/999999", nil, nil))
	require.Equal(t, http.StatusNotFound, e.call(http.MethodGet, path+".999", nil, nil), "an index past the message's attempts")
	require.Equal(t, http.StatusNotFound, e.call(http.MethodGet, "/v1/webhooks/"+wh.ID+"/attempts/1.x", nil, nil))
}
