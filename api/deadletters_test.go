package api_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/api"
	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/scheduler"
	"github.com/hookstream/hookstream/schemas"
)

// payloadMarker is in every test dead letter's payload: no answer may show it.
const payloadMarker = "salary-of-the-ceo"

// deadLetter writes a dead letter for the webhook as a sender does and
// returns its id (stream sequence) as the API shows it.
func (tb *testBundle) deadLetter(t *testing.T, tenantID, webhookID, eventID string, at time.Time) string {
	t.Helper()
	d := schemas.Delivery{
		ID: schemas.DeliveryID(eventID, webhookID), EventID: eventID, EventType: "sync.failed", TenantID: tenantID,
		OrgID: "org_9", WebhookID: webhookID, CreatedAt: at.Add(-time.Hour), Attempts: 2,
		History: []schemas.AttemptSummary{
			{Attempt: 1, At: at.Add(-time.Minute), Outcome: schemas.OutcomeFailed, StatusCode: 503},
			{Attempt: 2, At: at, Outcome: schemas.OutcomeError, Error: "connection refused"},
		},
		Payload: []byte(`{"data":"` + payloadMarker + `"}`),
	}
	dl := schemas.DeadLetter{Delivery: d, Reason: "gave up after 2 attempts: connection refused", Attempts: 2,
		LastStatus: 0, LastError: "connection refused", At: at}
	msg, err := broker.DeadLetterMsg(&dl, d.ID+":dl")
	require.NoError(t, err)
	ack, err := tb.b.JS.PublishMsg(context.Background(), msg)
	require.NoError(t, err)
	return strconv.FormatUint(ack.Sequence, 10)
}

type deadLetterPage struct {
	Data []struct {
		ID             string                   `json:"id"`
		DeliveryID     string                   `json:"delivery_id"`
		EventID        string                   `json:"event_id"`
		EventType      string                   `json:"event_type"`
		WebhookID      string                   `json:"webhook_id"`
		OrgID          string                   `json:"org_id"`
		Reason         string                   `json:"reason"`
		Attempts       int                      `json:"attempts"`
		LastStatus     int                      `json:"last_status"`
		LastError      string                   `json:"last_error"`
		DeadLetteredAt time.Time                `json:"dead_lettered_at"`
		Replays        int                      `json:"replays"`
		History        []schemas.AttemptSummary `json:"history"`
		Replayable     bool                     `json:"replayable"`
		KeptReason     string                   `json:"kept_reason"`
	} `json:"data"`
	Next         string     `json:"next"`
	NextReplayAt *time.Time `json:"next_replay_at"`
}

func (p deadLetterPage) ids() []string {
	out := []string{}
	for _, d := range p.Data {
		out = append(out, d.ID)
	}
	return out
}

// listDeadLetters gets a page, checking that no payload is shown.
func (tb *testBundle) listDeadLetters(t *testing.T, token, query string) deadLetterPage {
	t.Helper()
	r := tb.do(t, http.MethodGet, "/v1/dead-letters"+query, token, nil)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	require.NotContains(t, string(r.body), payloadMarker)
	var p deadLetterPage
	r.json(t, &p)
	return p
}

// disable turns a webhook off through the API.
func (tb *testBundle) disable(t *testing.T, id string) {
	t.Helper()
	r := tb.do(t, http.MethodPatch, "/v1/webhooks/"+id, tokenA, map[string]any{"enabled": false})
	require.Equal(t, http.StatusOK, r.status, string(r.body))
}

func berlinSchedule(t *testing.T) func(*api.Config) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	return func(c *api.Config) {
		c.NextReplay = func(now time.Time) time.Time {
			return scheduler.NextRun(now, scheduler.TimeOfDay{Hour: 23, Minute: 59}, berlin)
		}
	}
}

func TestListDeadLetters(t *testing.T) {
	t.Parallel()
	tb := setup(t, berlinSchedule(t))
	tokenB := tb.newTenant(t, "globex")
	live := tb.createWebhook(t, tokenA, nil)
	off := tb.createWebhook(t, tokenA, nil)
	tb.disable(t, off.ID)
	other := tb.createWebhook(t, tokenB, nil)

	// Dead-lettered over the last hours (the listing reads the stream from
	// since on, by the stream's clock).
	base := time.Now().UTC().Truncate(time.Second).Add(-6 * time.Hour)
	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Hour) }
	ids := []string{
		tb.deadLetter(t, tenantA, live.ID, "evt_1", at(0)),
		tb.deadLetter(t, tenantA, off.ID, "evt_2", at(1)),
		tb.deadLetter(t, tenantA, live.ID, "evt_3", at(2)),
		tb.deadLetter(t, tenantA, "wh_deleted", "evt_4", at(3)),
		tb.deadLetter(t, tenantA, live.ID, "evt_5", at(4)),
	}
	otherID := tb.deadLetter(t, "globex", other.ID, "evt_6", at(0))

	t.Run("newest first, with what a replay would do", func(t *testing.T) {
		t.Parallel()
		p := tb.listDeadLetters(t, tokenA, "")
		require.Equal(t, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, p.ids())
		require.Empty(t, p.Next)
		d := p.Data[0]
		require.Equal(t, schemas.DeliveryID("evt_5", live.ID), d.DeliveryID)
		require.Equal(t, "evt_5", d.EventID)
		require.Equal(t, "sync.failed", d.EventType)
		require.Equal(t, live.ID, d.WebhookID)
		require.Equal(t, "org_9", d.OrgID)
		require.Equal(t, "gave up after 2 attempts: connection refused", d.Reason)
		require.Equal(t, 2, d.Attempts)
		require.Equal(t, "connection refused", d.LastError)
		require.True(t, at(4).Equal(d.DeadLetteredAt))
		require.Len(t, d.History, 2)
		require.Equal(t, 503, d.History[0].StatusCode)
		require.True(t, d.Replayable)
		require.Empty(t, d.KeptReason)

		require.False(t, p.Data[1].Replayable)
		require.Equal(t, "webhook deleted", p.Data[1].KeptReason)
		require.False(t, p.Data[3].Replayable)
		require.Equal(t, "webhook disabled: disabled through the API", p.Data[3].KeptReason)

		require.NotNil(t, p.NextReplayAt)
		require.True(t, p.NextReplayAt.After(time.Now()))
		require.Equal(t, 23, p.NextReplayAt.Hour())
		require.Equal(t, 59, p.NextReplayAt.Minute())
	})

	t.Run("pages", func(t *testing.T) {
		t.Parallel()
		var pages [][]string
		next := ""
		for range 5 {
			q := "?limit=2"
			if next != "" {
				q += "&before=" + next
			}
			p := tb.listDeadLetters(t, tokenA, q)
			pages = append(pages, p.ids())
			if next = p.Next; next == "" {
				break
			}
		}
		require.Equal(t, [][]string{{ids[4], ids[3]}, {ids[2], ids[1]}, {ids[0]}}, pages)
	})

	t.Run("filters", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, []string{ids[4], ids[2], ids[0]}, tb.listDeadLetters(t, tokenA, "?webhook_id="+live.ID).ids())
		require.Equal(t, []string{ids[3]}, tb.listDeadLetters(t, tokenA, "?webhook_id=wh_deleted").ids())
		q := "?since=" + at(1).Format(time.RFC3339) + "&until=" + at(3).Format(time.RFC3339)
		require.Equal(t, []string{ids[3], ids[2], ids[1]}, tb.listDeadLetters(t, tokenA, q).ids())
		require.Equal(t, []string{ids[1]}, tb.listDeadLetters(t, tokenA, q+"&webhook_id="+off.ID).ids())
	})

	t.Run("tenants see their own", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, []string{otherID}, tb.listDeadLetters(t, tokenB, "").ids())
		require.Empty(t, tb.listDeadLetters(t, tokenA, "?webhook_id="+other.ID).ids(), "another tenant's webhook selects nothing")
		require.Empty(t, tb.listDeadLetters(t, tokenB, "?webhook_id="+live.ID).ids())
	})

	t.Run("bad query", func(t *testing.T) {
		t.Parallel()
		for q, field := range map[string]string{
			"?webhook_id=a.b": "webhook_id", "?webhook_id=*": "webhook_id", "?webhook_id=%3E": "webhook_id",
			"?since=yesterday": "since", "?until=2026-11-24": "until",
			"?since=2026-11-24T10:00:00Z&until=2026-11-24T09:00:00Z": "until",
			"?limit=0": "limit", "?limit=201": "limit", "?limit=x": "limit", "?before=abc": "before", "?before=0": "before",
		} {
			r := tb.do(t, http.MethodGet, "/v1/dead-letters"+q, tokenA, nil)
			require.Equal(t, http.StatusBadRequest, r.status, q)
			require.Equal(t, field, r.errorOf(t).Field, q)
		}
	})
}

func TestListDeadLettersWithoutSchedule(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	r := tb.do(t, http.MethodGet, "/v1/dead-letters", tokenA, nil)
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"data":[],"next":"","next_replay_at":null}`, string(r.body))
}

type replayAnswer struct {
	Replayed    int            `json:"replayed"`
	Kept        int            `json:"kept"`
	KeptReasons map[string]int `json:"kept_reasons"`
	NotFound    int            `json:"not_found"`
	Complete    bool           `json:"complete"`
}

func (tb *testBundle) replay(t *testing.T, token string, body any) replayAnswer {
	t.Helper()
	r := tb.do(t, http.MethodPost, "/v1/dead-letters/replay", token, body)
	require.Equal(t, http.StatusOK, r.status, string(r.body))
	var a replayAnswer
	r.json(t, &a)
	require.True(t, a.Complete)
	return a
}

// replayedTo returns the event ids replayed to a webhook, in queue order.
func (tb *testBundle) replayedTo(t *testing.T, tenantID, webhookID string) []string {
	t.Helper()
	ctx := context.Background()
	s, err := tb.b.JS.Stream(ctx, broker.StreamDeliveries)
	require.NoError(t, err)
	var out []string
	for seq := uint64(1); ; seq++ {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(broker.DeliverySubject(tenantID, webhookID)))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		require.NoError(t, err)
		var d schemas.Delivery
		require.NoError(t, schemas.Unmarshal(m.Data, &d))
		if d.Replays > 0 { // not the webhook.ping
			require.Zero(t, d.Attempts)
			out = append(out, d.EventID)
		}
		seq = m.Sequence
	}
}

func TestReplayDeadLetters(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	tokenB := tb.newTenant(t, "globex")
	live := tb.createWebhook(t, tokenA, nil)
	off := tb.createWebhook(t, tokenA, nil)
	tb.disable(t, off.ID)
	other := tb.createWebhook(t, tokenB, nil)
	base := time.Now().UTC().Truncate(time.Second).Add(-6 * time.Hour)
	first := tb.deadLetter(t, tenantA, live.ID, "evt_1", base)
	tb.deadLetter(t, tenantA, off.ID, "evt_2", base.Add(time.Hour))
	tb.deadLetter(t, tenantA, live.ID, "evt_3", base.Add(2*time.Hour))
	tb.deadLetter(t, tenantA, off.ID, "evt_4", base.Add(3*time.Hour))
	tb.deadLetter(t, tenantA, live.ID, "evt_5", base.Add(4*time.Hour))
	otherID := tb.deadLetter(t, "globex", other.ID, "evt_6", base)

	t.Run("bad requests", func(t *testing.T) {
		for body, field := range map[string]string{
			`{}`:            "all",
			`{"all":false}`: "all",
			`{"all":true,"webhook_id":"` + live.ID + `"}`: "all",
			`{"ids":["12x"]}`:    "ids",
			`{"ids":["0"]}`:      "ids",
			`{"ids":[]}`:         "ids",
			`{"ids":[12]}`:       "ids",
			`{"since":"monday"}`: "since",
			`{"since":"2026-11-24T10:00:00Z","until":"2026-11-24T09:00:00Z"}`: "until",
			`{"webhook_id":"*"}`:                        "webhook_id",
			`{"webhook_id":"` + live.ID + `","nope":1}`: "nope",
		} {
			r := tb.do(t, http.MethodPost, "/v1/dead-letters/replay", tokenA, body)
			require.Equal(t, http.StatusBadRequest, r.status, body)
			require.Equal(t, field, r.errorOf(t).Field, body)
		}
		require.Len(t, tb.listDeadLetters(t, tokenA, "").Data, 5, "nothing replayed")
	})

	// By ids: another tenant's id is not found, and stays.
	a := tb.replay(t, tokenA, map[string]any{"ids": []string{otherID, first, "999999"}})
	require.Equal(t, replayAnswer{Replayed: 1, KeptReasons: map[string]int{}, NotFound: 2, Complete: true}, a)
	require.Equal(t, []string{"evt_1"}, tb.replayedTo(t, tenantA, live.ID))
	require.Equal(t, []string{otherID}, tb.listDeadLetters(t, tokenB, "").ids())

	// A disabled webhook's dead letters are kept, with the reason.
	a = tb.replay(t, tokenA, map[string]any{"webhook_id": off.ID})
	require.Equal(t, replayAnswer{KeptReasons: map[string]int{"webhook disabled: disabled through the API": 2}, Kept: 2, Complete: true}, a)

	// A time window.
	a = tb.replay(t, tokenA, map[string]any{"since": base.Add(90 * time.Minute).Format(time.RFC3339), "until": base.Add(150 * time.Minute).Format(time.RFC3339)})
	require.Equal(t, 1, a.Replayed)
	require.Equal(t, []string{"evt_1", "evt_3"}, tb.replayedTo(t, tenantA, live.ID))

	// Everything of the tenant, and only of the tenant.
	a = tb.replay(t, tokenA, map[string]any{"all": true})
	require.Equal(t, replayAnswer{Replayed: 1, Kept: 2, KeptReasons: map[string]int{"webhook disabled: disabled through the API": 2}, Complete: true}, a)
	require.Equal(t, []string{"evt_1", "evt_3", "evt_5"}, tb.replayedTo(t, tenantA, live.ID))
	require.Empty(t, tb.replayedTo(t, "globex", other.ID))
	require.Len(t, tb.listDeadLetters(t, tokenA, "").Data, 2)

	// Another tenant's replay does not touch acme's.
	a = tb.replay(t, tokenB, map[string]any{"all": true})
	require.Equal(t, 1, a.Replayed)
	require.Equal(t, []string{"evt_6"}, tb.replayedTo(t, "globex", other.ID))
	require.Len(t, tb.listDeadLetters(t, tokenA, "").Data, 2)
}

func TestReenablingAWebhookCountsItsDeadLetters(t *testing.T) {
	t.Parallel()
	tb := setup(t, berlinSchedule(t))
	w := tb.createWebhook(t, tokenA, nil)
	other := tb.createWebhook(t, tokenA, nil)
	tb.disable(t, w.ID)
	for i, id := range []string{w.ID, w.ID, other.ID, w.ID} {
		tb.deadLetter(t, tenantA, id, "evt_"+strconv.Itoa(i), time.Now().UTC())
	}
	type patched struct {
		webhook
		DeadLetters *int   `json:"dead_letters"`
		ReplayHint  string `json:"replay_hint"`
	}
	patch := func(t *testing.T, id string, body map[string]any) patched {
		t.Helper()
		r := tb.do(t, http.MethodPatch, "/v1/webhooks/"+id, tokenA, body)
		require.Equal(t, http.StatusOK, r.status, string(r.body))
		var p patched
		r.json(t, &p)
		return p
	}

	p := patch(t, w.ID, map[string]any{"enabled": true})
	require.True(t, p.Enabled)
	require.NotNil(t, p.DeadLetters)
	require.Equal(t, 3, *p.DeadLetters)
	require.Contains(t, p.ReplayHint, "POST /v1/dead-letters/replay")
	require.Contains(t, p.ReplayHint, `{"webhook_id":"`+w.ID+`"}`)
	require.Contains(t, p.ReplayHint, "end-of-day replay")

	// No change of state, no count.
	p = patch(t, w.ID, map[string]any{"enabled": true, "name": "renamed"})
	require.Nil(t, p.DeadLetters)
	require.Empty(t, p.ReplayHint)
	tb.disable(t, other.ID)
	p = patch(t, other.ID, map[string]any{"name": "still off"})
	require.Nil(t, p.DeadLetters)

	// Nothing missed: a zero, and no hint.
	fresh := tb.createWebhook(t, tokenA, nil)
	tb.disable(t, fresh.ID)
	p = patch(t, fresh.ID, map[string]any{"enabled": true})
	require.NotNil(t, p.DeadLetters)
	require.Zero(t, *p.DeadLetters)
	require.Empty(t, p.ReplayHint)

	// The webhook's dead letters replay now.
	a := tb.replay(t, tokenA, map[string]any{"webhook_id": w.ID})
	require.Equal(t, 3, a.Replayed)
}
