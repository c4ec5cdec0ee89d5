package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/internal/streamlog"
	"github.com/hookstream/hookstream/scheduler"
	"github.com/hookstream/hookstream/schemas"
)

// webhooks is an in-memory scheduler.Webhooks.
type webhooks struct {
	mu sync.Mutex
	m  map[string]*schemas.Webhook
}

func (w *webhooks) Webhook(_ context.Context, tenantID, id string) (*schemas.Webhook, bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wh, ok := w.m[tenantID+"."+id]
	return wh, ok, nil
}

// put stores an enabled webhook, or a disabled one when reason is not "".
func (w *webhooks) put(tenantID, id, disabledReason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.m[tenantID+"."+id] = &schemas.Webhook{ID: id, TenantID: tenantID, Enabled: disabledReason == "", DisabledReason: disabledReason}
}

func (w *webhooks) delete(tenantID, id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, tenantID+"."+id)
}

// bundle is a broker with a Replayer over in-memory webhooks.
type bundle struct {
	b        *broker.Broker
	hooks    *webhooks
	replayer *scheduler.Replayer
	logger   *slog.Logger
	events   int
}

func setup(t testing.TB) *bundle {
	t.Helper()
	tb := &bundle{b: brokertest.New(t), hooks: &webhooks{m: map[string]*schemas.Webhook{}}, logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r, err := scheduler.NewReplayer(scheduler.ReplayerConfig{JS: tb.b.JS, Webhooks: tb.hooks, Logger: tb.logger})
	require.NoError(t, err)
	tb.replayer = r
	return tb
}

// deadLetter writes a dead letter as a sender does, after two failed
// attempts, and returns its sequence and delivery id.
func (tb *bundle) deadLetter(t *testing.T, tenantID, webhookID string, at time.Time) (uint64, string) {
	t.Helper()
	return tb.deadLetterWithHeader(t, tenantID, webhookID, at, nil)
}

// deadLetterWithHeader is deadLetter with extra headers on the message.
func (tb *bundle) deadLetterWithHeader(t *testing.T, tenantID, webhookID string, at time.Time, h map[string]string) (uint64, string) {
	t.Helper()
	tb.events++
	eventID := fmt.Sprintf("evt_%03d", tb.events)
	d := schemas.Delivery{
		ID: schemas.DeliveryID(eventID, webhookID), EventID: eventID, EventType: "sync.started", TenantID: tenantID,
		OrgID: "org_1", WebhookID: webhookID, CreatedAt: at.Add(-time.Hour), Attempts: 2, NotBefore: at.Add(-time.Minute),
		History: []schemas.AttemptSummary{
			{Attempt: 1, At: at.Add(-time.Hour), Outcome: schemas.OutcomeFailed, StatusCode: 503},
			{Attempt: 2, At: at, Outcome: schemas.OutcomeError, Error: "connection refused"},
		},
		Payload: []byte(`{"id":"` + eventID + `"}`),
	}
	dl := schemas.DeadLetter{Delivery: d, Reason: "gave up after 2 attempts: connection refused", Attempts: 2, LastError: "connection refused", At: at}
	msg, err := broker.DeadLetterMsg(&dl, d.ID+":dl:"+eventID)
	require.NoError(t, err)
	for k, v := range h {
		msg.Header.Set(k, v)
	}
	ack, err := tb.b.JS.PublishMsg(context.Background(), msg)
	require.NoError(t, err)
	require.False(t, ack.Duplicate)
	return ack.Sequence, d.ID
}

// queued is a delivery waiting in DELIVERIES with its Nats-Msg-Id and
// traceparent.
type queued struct {
	MsgID, Traceparent string
	schemas.Delivery
}

// queued returns the deliveries in DELIVERIES, in stream order. (A work
// queue stream cannot have the ordered consumer of streamlog.)
func (tb *bundle) queued(t *testing.T) []queued {
	t.Helper()
	ctx := context.Background()
	s, err := tb.b.JS.Stream(ctx, broker.StreamDeliveries)
	require.NoError(t, err)
	var out []queued
	for seq := uint64(1); ; seq++ {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(broker.DeliveriesFilter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		require.NoError(t, err)
		var d schemas.Delivery
		require.NoError(t, schemas.Unmarshal(m.Data, &d))
		out = append(out, queued{MsgID: m.Header.Get(jetstream.MsgIDHeader), Traceparent: m.Header.Get("traceparent"), Delivery: d})
		seq = m.Sequence
	}
}

// queuedIDs returns the delivery ids in DELIVERIES, in stream order.
func (tb *bundle) queuedIDs(t *testing.T) []string {
	t.Helper()
	var ids []string
	for _, q := range tb.queued(t) {
		ids = append(ids, q.ID)
	}
	return ids
}

// remaining returns the sequences left in DEADLETTERS.
func (tb *bundle) remaining(t *testing.T) []uint64 {
	t.Helper()
	var seqs []uint64
	require.NoError(t, streamlog.Scan(context.Background(), tb.b.JS, broker.StreamDeadLetters, broker.AllDeadLetters, streamlog.Range{},
		func(m streamlog.Msg) error {
			seqs = append(seqs, m.Seq)
			return nil
		}))
	return seqs
}

// audits returns the audit records of a kind, oldest first.
func (tb *bundle) audits(t *testing.T, kind schemas.AuditKind) []schemas.AuditRecord {
	t.Helper()
	var out []schemas.AuditRecord
	require.NoError(t, streamlog.Scan(context.Background(), tb.b.JS, broker.StreamAudit, "audit.>", streamlog.Range{},
		func(m streamlog.Msg) error {
			var r schemas.AuditRecord
			require.NoError(t, schemas.Unmarshal(m.Data, &r))
			if r.Kind == kind {
				out = append(out, r)
			}
			return nil
		}))
	return out
}
