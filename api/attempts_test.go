package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/schemas"
)

type attemptsPage struct {
	Data []struct {
		ID    string `json:"id"`
		Seq   uint64 `json:"seq"`
		Index int    `json:"index"`
		schemas.Attempt
	} `json:"data"`
	Next string `json:"next"`
}

// attempts returns the page's attempt numbers, in order.
func (p attemptsPage) attempts() []int {
	out := make([]int, 0, len(p.Data))
	for _, a := range p.Data {
		out = append(out, a.Attempt.Attempt)
	}
	return out
}

// logAttempts publishes attempts 1..10 for the webhook to ATTEMPTS as
// senders do, several to a message: 1 | 2 3 4 | 5 6 | 7 8 9 10. Attempt
// i's outcome cycles success, failed, error.
func logAttempts(t *testing.T, tb *testBundle, webhookID string) {
	t.Helper()
	ctx := context.Background()
	outcomes := []schemas.Outcome{schemas.OutcomeSuccess, schemas.OutcomeFailed, schemas.OutcomeError}
	i := 1
	for _, together := range []int{1, 3, 2, 4} {
		var msg []byte
		for range together {
			a := schemas.Attempt{
				DeliveryID: fmt.Sprintf("evt_%d:%s", i, webhookID), EventID: fmt.Sprintf("evt_%d", i), EventType: "sync.started",
				TenantID: tenantA, WebhookID: webhookID, Attempt: i, URL: "https://receiver.example.com/",
				Outcome: outcomes[(i-1)%3], StatusCode: 200, Latency: 1500 * time.Microsecond,
				At: time.Date(2024, 5, 1, 12, 0, i, 0, time.UTC),
			}
			var err error
			msg, err = schemas.Marshal(msg, &a)
			require.NoError(t, err)
			i++
		}
		_, err := tb.b.JS.Publish(ctx, broker.AttemptSubject(tenantA, webhookID), msg)
		require.NoError(t, err)
		// Another webhook's attempts interleave in the stream.
		_, err = tb.b.JS.Publish(ctx, broker.AttemptSubject(tenantA, "wh_other"), msg)
		require.NoError(t, err)
	}
}

func TestListAttempts(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	w := tb.createWebhook(t, tokenA, nil)
	path := "/v1/webhooks/" + w.ID + "/attempts"
	get := func(t *testing.T, query string) attemptsPage {
		t.Helper()
		r := tb.do(t, http.MethodGet, path+query, tokenA, nil)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var p attemptsPage
		r.json(t, &p)
		return p
	}

	// An empty log.
	r := tb.do(t, http.MethodGet, path, tokenA, nil)
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"data":[],"next":""}`, string(r.body))

	logAttempts(t, tb, w.ID)

	t.Run("newest first", func(t *testing.T) {
		t.Parallel()
		p := get(t, "")
		require.Equal(t, []int{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, p.attempts())
		require.Empty(t, p.Next)
		a := p.Data[0]
		require.Equal(t, w.ID, a.WebhookID)
		require.Equal(t, "evt_10", a.EventID)
		require.InDelta(t, 1.5, a.LatencyMS, 1e-9)
		var ids []string
		for i, a := range p.Data {
			ids = append(ids, a.ID)
			if i > 0 {
				prev := p.Data[i-1]
				require.True(t, prev.Seq > a.Seq || prev.Seq == a.Seq && prev.Index == a.Index+1, "newest first: %s before %s", prev.ID, a.ID)
			}
		}
		// Attempts logged together share a message; an id names each.
		s1, s2, s3, s4 := p.Data[9].Seq, p.Data[8].Seq, p.Data[5].Seq, p.Data[3].Seq
		require.Equal(t, []string{
			fmt.Sprintf("%d.3", s4), fmt.Sprintf("%d.2", s4), fmt.Sprintf("%d.1", s4), fmt.Sprint(s4),
			fmt.Sprintf("%d.1", s3), fmt.Sprint(s3),
			fmt.Sprintf("%d.2", s2), fmt.Sprintf("%d.1", s2), fmt.Sprint(s2),
			fmt.Sprint(s1),
		}, ids)

		// One attempt of a message, expanded.
		for _, want := range []int{9, 7, 3} {
			var one struct {
				ID      string `json:"id"`
				Attempt int    `json:"attempt"`
			}
			r := tb.do(t, http.MethodGet, path+"/"+ids[10-want], tokenA, nil)
			require.Equal(t, http.StatusOK, r.status, string(r.body))
			r.json(t, &one)
			require.Equal(t, want, one.Attempt)
			require.Equal(t, ids[10-want], one.ID)
		}
		require.Equal(t, http.StatusNotFound, tb.do(t, http.MethodGet, path+"/"+fmt.Sprintf("%d.4", s4), tokenA, nil).status)
	})

	t.Run("status filter", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, []int{10, 7, 4, 1}, get(t, "?status=success").attempts())
		require.Equal(t, []int{8, 5, 2}, get(t, "?status=failed").attempts())
		require.Equal(t, []int{9, 6, 3}, get(t, "?status=error").attempts())
	})

	t.Run("limit and cursor", func(t *testing.T) {
		t.Parallel()
		var pages [][]int
		next := ""
		for range 10 {
			q := "?limit=4"
			if next != "" {
				q += "&before=" + next
			}
			p := get(t, q)
			pages = append(pages, p.attempts())
			if next = p.Next; next == "" {
				break
			}
		}
		require.Equal(t, [][]int{{10, 9, 8, 7}, {6, 5, 4, 3}, {2, 1}}, pages)

		// An exact multiple of the limit ends without a dangling cursor.
		p := get(t, "?limit=5")
		require.Equal(t, []int{10, 9, 8, 7, 6}, p.attempts())
		p = get(t, "?limit=5&before="+p.Next)
		require.Equal(t, []int{5, 4, 3, 2, 1}, p.attempts())
		require.Empty(t, p.Next)

		// Filter and page together.
		p = get(t, "?status=success&limit=3")
		require.Equal(t, []int{10, 7, 4}, p.attempts())
		p = get(t, "?status=success&limit=3&before="+p.Next)
		require.Equal(t, []int{1}, p.attempts())
		require.Empty(t, p.Next)
	})

	t.Run("bad query", func(t *testing.T) {
		t.Parallel()
		for q, field := range map[string]string{
			"?status=ok": "status", "?limit=0": "limit", "?limit=201": "limit", "?limit=x": "limit",
			"?before=abc": "before", "?before=0": "before", "?before=5.x": "before", "?before=.1": "before",
		} {
			r := tb.do(t, http.MethodGet, path+q, tokenA, nil)
			require.Equal(t, http.StatusBadRequest, r.status, q)
			require.Equal(t, field, r.errorOf(t).Field, q)
		}
	})

	t.Run("unknown webhook", func(t *testing.T) {
		t.Parallel()
		r := tb.do(t, http.MethodGet, "/v1/webhooks/wh_other/attempts", tokenA, nil)
		require.Equal(t, http.StatusNotFound, r.status)
		require.Equal(t, "not_found", r.errorOf(t).Code)
	})
}
