package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/pipeline"
	"github.com/hookstream/hookstream/schemas"
)

func syncStarted(org string) *schemas.Event {
	return &schemas.Event{
		TenantID: "default", Type: "sync.started", OrgID: org,
		Data: json.RawMessage(`{"sync_session_id":"ss_1","hrms":"darwinbox"}`),
	}
}

func employeeCreated(org string) *schemas.Event {
	return &schemas.Event{
		TenantID: "default", Type: "employee.created", OrgID: org,
		Data: json.RawMessage(`{"sync_session_id":"ss_1","hrms":"darwinbox","webhook_counter":1,"record_count":1,"records":[{"id":"e1","first_name":"Asha"}]}`),
	}
}

func (e *env) publish(ev *schemas.Event) string {
	e.t.Helper()
	return e.publishCtx(context.Background(), ev)
}

func (e *env) publishCtx(ctx context.Context, ev *schemas.Event) string {
	e.t.Helper()
	res, err := e.p.Producer.Publish(ctx, ev)
	require.NoError(e.t, err)
	return res.ID
}

// settle waits until every published event is routed and no delivery is
// waiting or in flight. It reads the streams, not only the consumers'
// pending counts: a consumer learns of a message just stored a moment
// later, so counts of zero alone may come before the work.
func (e *env) settle() {
	e.t.Helper()
	ctx := context.Background()
	require.Eventually(e.t, func() bool {
		events, err := e.b.JS.Stream(ctx, broker.StreamEvents)
		if err != nil {
			return false
		}
		rc, err := e.b.JS.Consumer(ctx, broker.StreamEvents, broker.ConsumerRouter)
		if err != nil {
			return false
		}
		ri, err := rc.Info(ctx)
		if err != nil || ri.NumAckPending != 0 || ri.AckFloor.Stream < events.CachedInfo().State.LastSeq {
			return false
		}
		deliveries, err := e.b.JS.Stream(ctx, broker.StreamDeliveries)
		if err != nil {
			return false
		}
		waiting, err := deliveries.Info(ctx, jetstream.WithSubjectFilter(broker.DeliveriesFilter))
		if err != nil || len(waiting.State.Subjects) != 0 {
			return false // DELIVERIES is a work queue: what is acknowledged is gone
		}
		sc, err := e.b.JS.Consumer(ctx, broker.StreamDeliveries, broker.ConsumerSender)
		if err != nil {
			return false
		}
		si, err := sc.Info(ctx)
		return err == nil && si.NumPending == 0 && si.NumAckPending == 0
	}, 15*time.Second, 10*time.Millisecond)
}

func TestDeliveryIsSignedWithStandardWebhooks(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, nil)
	wh := e.createWebhook(rc.URL, []string{"sync.*"}, nil)
	verifier, err := standardwebhooks.NewWebhook(wh.Secret)
	require.NoError(t, err)

	id := e.publish(syncStarted("org_1"))
	got := rc.next(t)
	require.Equal(t, id, got.Event.ID)
	require.Equal(t, "sync.started", got.Event.Type)
	require.JSONEq(t, `{"sync_session_id":"ss_1","hrms":"darwinbox"}`, string(got.Event.Data))
	require.NoError(t, verifier.Verify(got.Body, got.Header), "reference library must accept our signature")
	require.Equal(t, schemas.DeliveryID(id, wh.ID), got.Header.Get("webhook-id"))
	require.Equal(t, "application/json", got.Header.Get("Content-Type"))
	require.Contains(t, got.Header.Get("User-Agent"), "Hookstream/")
	require.Equal(t, "sync.started", got.Header.Get("Webhook-Event-Type"))

	// The ping sent on creation is signed too.
	e.settle()
	ping := rc.first(t, "webhook.ping")
	require.NoError(t, verifier.Verify(ping.Body, ping.Header))

	// A tampered body fails verification: the check above can fail.
	require.Error(t, verifier.Verify(append([]byte(" "), got.Body...), got.Header))
}

func TestMatchingExactFamilyWildcardAndOrg(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	exact, family, all, orgOnly := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	e.createWebhook(exact.URL, []string{"employee.created"}, nil)
	e.createWebhook(family.URL, []string{"employee.*", "employee.created"}, nil)
	e.createWebhook(all.URL, []string{"sync.started", "*"}, nil)
	e.createWebhook(orgOnly.URL, []string{"*"}, map[string]any{"org_ids": []string{"org_x"}})

	e.publish(employeeCreated("org_y"))
	e.publish(&schemas.Event{TenantID: "default", Type: "employee.deleted", OrgID: "org_y",
		Data: json.RawMessage(`{"sync_session_id":"ss_1","hrms":"darwinbox","webhook_counter":1,"record_count":1,"records":[{"id":"e1"}]}`)})
	e.publish(syncStarted("org_x"))
	e.settle()

	require.Equal(t, 1, exact.count("employee.created"))
	require.Equal(t, 0, exact.count("employee.deleted"))
	require.Equal(t, 0, exact.count("sync.started"))

	require.Equal(t, 1, family.count("employee.created"), "a family and an exact entry deliver once")
	require.Equal(t, 1, family.count("employee.deleted"))
	require.Equal(t, 0, family.count("sync.started"))

	require.Equal(t, 1, all.count("employee.created"))
	require.Equal(t, 1, all.count("employee.deleted"))
	require.Equal(t, 1, all.count("sync.started"))

	require.Equal(t, 0, orgOnly.count("employee.created"), "org filter excludes org_y")
	require.Equal(t, 0, orgOnly.count("employee.deleted"))
	require.Equal(t, 1, orgOnly.count("sync.started"))
}

func TestRepublishedEventIDIsDeliveredOnce(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, nil)
	e.createWebhook(rc.URL, []string{"*"}, nil)

	ev := syncStarted("org_1")
	ev.ID = "evt_dedupe_1"
	first, err := e.p.Producer.Publish(context.Background(), ev)
	require.NoError(t, err)
	require.False(t, first.Duplicate)
	again := syncStarted("org_1")
	again.ID = "evt_dedupe_1"
	second, err := e.p.Producer.Publish(context.Background(), again)
	require.NoError(t, err)
	require.True(t, second.Duplicate)
	require.Equal(t, first.Sequence, second.Sequence)

	// Over HTTP too.
	var out struct {
		ID        string `json:"id"`
		Duplicate bool   `json:"duplicate"`
	}
	code := e.call(http.MethodPost, "/v1/events", map[string]any{
		"id": "evt_dedupe_1", "type": "sync.started", "org_id": "org_1",
		"data": map[string]any{"sync_session_id": "ss_1", "hrms": "darwinbox"},
	}, &out)
	require.Equal(t, http.StatusAccepted, code)
	require.True(t, out.Duplicate)

	e.settle()
	require.Equal(t, 1, rc.count("sync.started"), "router %+v sender %+v", e.p.Router.Stats(), e.p.Sender.Stats())
}

func TestFailingTwiceThenSucceedingIsDeliveredWithSameID(t *testing.T) {
	t.Parallel()
	e := start(t, options{schedule: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}})
	var fails atomic.Int32
	rc := newReceiver(t, func(_ int, r request) int {
		if r.Event.Type == "sync.started" && fails.Add(1) <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	wh := e.createWebhook(rc.URL, []string{"sync.started"}, nil)
	id := e.publish(syncStarted("org_1"))

	ids := []string{rc.next(t).Header.Get("webhook-id"), rc.next(t).Header.Get("webhook-id"), rc.next(t).Header.Get("webhook-id")}
	want := schemas.DeliveryID(id, wh.ID)
	require.Equal(t, []string{want, want, want}, ids)
	e.settle()
	require.Equal(t, 3, rc.count("sync.started"), "delivered once more after two failures, then no more")

	var statuses []int
	e.deliveryLog(wh.ID, func(log []loggedAttempt) bool {
		statuses = statuses[:0]
		for _, a := range log {
			if a.EventType == "sync.started" {
				statuses = append(statuses, a.StatusCode)
			}
		}
		return len(statuses) >= 3
	})
	require.Equal(t, []int{200, 503, 503}, statuses, "newest first")
}

func TestAlwaysFailingEndsInDeadLetters(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, func(int, request) int { return http.StatusInternalServerError })
	wh := e.createWebhook(rc.URL, []string{"sync.started"}, nil)
	id := e.publish(syncStarted("org_1"))
	e.settle()
	require.Equal(t, e.p.Sender.MaxAttempts(), rc.count("sync.started"))

	ctx := context.Background()
	// The webhook.ping failed too and is dead-lettered beside our event.
	dl := findMsg(t, e, broker.StreamDeadLetters, broker.DeadLetterSubject("default", wh.ID), func(m *jetstream.RawStreamMsg) bool {
		var letter schemas.DeadLetter
		require.NoError(t, schemas.Unmarshal(m.Data, &letter))
		return letter.Delivery.EventID == id
	})
	var letter schemas.DeadLetter
	require.NoError(t, schemas.Unmarshal(dl.Data, &letter))
	require.Equal(t, schemas.DeliveryID(id, wh.ID), letter.Delivery.ID)
	require.Equal(t, 500, letter.LastStatus)
	require.Equal(t, e.p.Sender.MaxAttempts(), letter.Attempts)
	require.Contains(t, letter.Reason, "HTTP 500")
	require.Contains(t, dl.Header.Get(broker.HeaderReason), "gave up")

	// The work queue no longer holds it.
	ds, err := e.b.JS.Stream(ctx, broker.StreamDeliveries)
	require.NoError(t, err)
	info, err := ds.Info(ctx)
	require.NoError(t, err)
	require.Zero(t, info.State.Msgs)
}

// findMsg returns the first message on subject in stream that match accepts.
func findMsg(t *testing.T, e *env, stream, subject string, match func(*jetstream.RawStreamMsg) bool) *jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := e.b.JS.Stream(ctx, stream)
	require.NoError(t, err)
	for seq := uint64(1); ; seq++ {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		require.NoError(t, err, "no matching message on %s", subject)
		if match(m) {
			return m
		}
		seq = m.Sequence
	}
}

func TestMalformedEventsAreQuarantinedAndThePipelineFlows(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, nil)
	e.createWebhook(rc.URL, []string{"*"}, nil)
	ctx := context.Background()

	_, err := e.b.JS.Publish(ctx, broker.EventSubject("default", "sync.started"), []byte("\xc1 not msgpack"))
	require.NoError(t, err)
	_, err = e.b.JS.PublishMsg(ctx, natsMsg{subject: broker.EventSubject("default", "sync.started"),
		data: `{"id":"evt_bad_data","type":"sync.started","org_id":"o","occurred_at":"2026-01-01T00:00:00Z","data":{"hrms":"x"}}`, json: true}.msg())
	require.NoError(t, err)
	id := e.publish(syncStarted("org_1"))

	require.Equal(t, id, rc.next(t).Event.ID, "a valid event after bad ones is delivered")
	e.settle()
	qs, err := e.b.JS.Stream(ctx, broker.StreamQuarantine)
	require.NoError(t, err)
	info, err := qs.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, info.State.Msgs)
	first, err := qs.GetMsg(ctx, info.State.FirstSeq)
	require.NoError(t, err)
	require.Contains(t, first.Header.Get(broker.HeaderReason), "undecodable")
	require.Equal(t, "\xc1 not msgpack", string(first.Data), "raw bytes are kept")
	second, err := qs.GetMsg(ctx, info.State.LastSeq)
	require.NoError(t, err)
	require.Contains(t, second.Header.Get(broker.HeaderReason), "sync_session_id")
	require.Equal(t, uint64(2), e.p.Router.Stats().Quarantined)
}

func TestJSONEventOnTheSubjectIsDelivered(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	rc := newReceiver(t, nil)
	e.createWebhook(rc.URL, []string{"sync.started"}, nil)
	_, err := e.b.JS.PublishMsg(context.Background(), natsMsg{subject: broker.EventSubject("default", "sync.started"),
		data: `{"id":"evt_from_python","org_id":"o1","occurred_at":"2026-01-01T00:00:00Z","data":{"sync_session_id":"s","hrms":"keka"}}`, json: true}.msg())
	require.NoError(t, err)
	got := rc.next(t)
	require.Equal(t, "evt_from_python", got.Event.ID)
	require.Equal(t, "sync.started", got.Event.Type, "type taken from the subject")
}

func TestPendingDeliveriesSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rc := newReceiver(t, nil)

	// First run: API and router only, so deliveries pile up unsent.
	first := start(t, options{dir: dir, roles: pipeline.Roles{API: true, Router: true}})
	first.createWebhook(rc.URL, []string{"employee.created"}, nil)
	var ids []string
	for range 20 {
		ids = append(ids, first.publish(employeeCreated("org_1")))
	}
	require.Eventually(t, func() bool { return first.p.Router.Stats().Deliveries >= 20 }, 10*time.Second, 5*time.Millisecond)
	first.stop()
	first.srv.Shutdown()
	first.srv.WaitForShutdown()
	require.Zero(t, rc.count("employee.created"))

	// Second run on the same data: the sender delivers everything.
	second := start(t, options{dir: dir})
	got := map[string]bool{}
	for range ids {
		got[rc.next(t).Event.ID] = true
	}
	for _, id := range ids {
		require.True(t, got[id], "event %s delivered after restart", id)
	}
	second.settle()
}
