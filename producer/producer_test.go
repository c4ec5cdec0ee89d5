package producer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/internal/broker"
	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/producer"
	"github.com/hookstream/hookstream/schemas"
)

func setup(t *testing.T, maxBytes int) (*producer.Producer, *broker.Broker) {
	t.Helper()
	b := brokertest.New(t)
	p, err := producer.New(producer.Config{JS: b.JS, MaxEventBytes: maxBytes})
	require.NoError(t, err)
	return p, b
}

// readAll returns every event in EVENTS, in order.
func readAll(t *testing.T, b *broker.Broker) []schemas.Event {
	t.Helper()
	ctx := context.Background()
	s, err := b.JS.Stream(ctx, broker.StreamEvents)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	var out []schemas.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		require.NoError(t, err)
		var ev schemas.Event
		require.NoError(t, schemas.Unmarshal(m.Data, &ev))
		require.Equal(t, ev.ID, m.Header.Get(jetstream.MsgIDHeader))
		require.Equal(t, broker.EventSubject(ev.TenantID, ev.Type), m.Subject)
		out = append(out, ev)
	}
	return out
}

func TestPublishDedupesByID(t *testing.T) {
	t.Parallel()
	p, b := setup(t, 0)
	ctx := context.Background()
	ev := schemas.Event{TenantID: "t1", Type: schemas.TypeSyncStarted, OrgID: "o1",
		Data: json.RawMessage(`{ "sync_session_id": "s1", "hrms": "keka" }`)}
	first, err := p.Publish(ctx, &ev)
	require.NoError(t, err)
	require.NotEmpty(t, first.ID)
	require.False(t, first.Duplicate)
	again := ev
	second, err := p.Publish(ctx, &again)
	require.NoError(t, err)
	require.True(t, second.Duplicate)
	events := readAll(t, b)
	require.Len(t, events, 1)
	require.JSONEq(t, `{"sync_session_id":"s1","hrms":"keka"}`, string(events[0].Data))
	require.NotContains(t, string(events[0].Data), " ", "data is compacted")
}

func TestPublishRejectsInvalidAndOversize(t *testing.T) {
	t.Parallel()
	p, _ := setup(t, 2048)
	ctx := context.Background()
	_, err := p.Publish(ctx, &schemas.Event{TenantID: "t1", Type: "sync.started", OrgID: "o1", Data: json.RawMessage(`{"hrms":"keka"}`)})
	var verr *schemas.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, "data.sync_session_id", verr.Field)

	big := fmt.Sprintf(`{"sync_session_id":"s1","hrms":"%s"}`, strings.Repeat("x", 4096))
	_, err = p.Publish(ctx, &schemas.Event{TenantID: "t1", Type: "sync.started", OrgID: "o1", Data: json.RawMessage(big)})
	require.ErrorIs(t, err, producer.ErrTooLarge)
}

func TestPublishBatch(t *testing.T) {
	t.Parallel()
	p, b := setup(t, 0)
	evs := make([]schemas.Event, 50)
	for i := range evs {
		evs[i] = schemas.Event{TenantID: "t1", Type: schemas.TypeSyncStarted, OrgID: "o1",
			Data: json.RawMessage(fmt.Sprintf(`{"sync_session_id":"s%d","hrms":"keka"}`, i))}
	}
	res, err := p.PublishBatch(context.Background(), evs)
	require.NoError(t, err)
	require.Len(t, res, 50)
	require.Len(t, readAll(t, b), 50)

	bad := []schemas.Event{evs[0], {TenantID: "t1", Type: "nope"}}
	_, err = p.PublishBatch(context.Background(), bad)
	require.Error(t, err, "an invalid event fails the batch before anything is published")
	require.Len(t, readAll(t, b), 50)
}

func TestSyncSessionPagesAndCounts(t *testing.T) {
	t.Parallel()
	p, b := setup(t, 0)
	ctx := context.Background()
	s, err := p.StartSync(ctx, producer.SyncConfig{TenantID: "t1", OrgID: "o1", HRMS: "darwinbox", SessionID: "ss_42", PageSize: 10, MaxPageBytes: 2048})
	require.NoError(t, err)
	emp := func(i int) schemas.Employee {
		return schemas.Employee{ID: fmt.Sprintf("e%d", i), FirstName: "Asha", LastName: strings.Repeat("K", 100), Email: fmt.Sprintf("e%d@example.com", i)}
	}
	var created, updated []schemas.Employee
	for i := range 25 {
		created = append(created, emp(i))
	}
	for i := range 3 {
		updated = append(updated, emp(100+i))
	}
	require.NoError(t, s.Created(ctx, created))
	require.NoError(t, s.Updated(ctx, updated))
	_, err = s.Complete(ctx)
	require.NoError(t, err)
	_, err = s.Fail(ctx, "x", "y")
	require.ErrorIs(t, err, producer.ErrSessionFinished)

	events := readAll(t, b)
	require.Equal(t, schemas.TypeSyncStarted, events[0].Type)
	require.Equal(t, "ss_42:started", events[0].ID)
	last := events[len(events)-1]
	require.Equal(t, schemas.TypeSyncCompleted, last.Type)
	var done schemas.SyncData
	require.NoError(t, json.Unmarshal(last.Data, &done))
	require.Equal(t, 28, done.RecordCount)
	require.Equal(t, 25, done.NewRecords)
	require.Equal(t, 3, done.UpdatedRecords)

	seen := 0
	for i, ev := range events[1 : len(events)-1] {
		var page schemas.EmployeeData
		require.NoError(t, json.Unmarshal(ev.Data, &page))
		require.Equal(t, i+1, page.WebhookCounter, "pages are numbered 1..k")
		require.Equal(t, len(page.Records), page.RecordCount)
		require.LessOrEqual(t, len(page.Records), 10)
		require.LessOrEqual(t, len(ev.Data), 2048, "each page under the byte limit")
		require.NoError(t, schemas.Validate(&ev))
		seen += len(page.Records)
	}
	require.Equal(t, 28, seen)
	require.Greater(t, s.Pages(), 3, "the byte limit split pages below PageSize")
}

func TestSyncSessionFailAndOversizeRecord(t *testing.T) {
	t.Parallel()
	p, b := setup(t, 0)
	ctx := context.Background()
	s, err := p.StartSync(ctx, producer.SyncConfig{TenantID: "t1", OrgID: "o1", HRMS: "keka", MaxPageBytes: 1024})
	require.NoError(t, err)
	err = s.Created(ctx, []schemas.Employee{{ID: "huge", LastName: strings.Repeat("x", 2000)}})
	require.True(t, errors.Is(err, producer.ErrTooLarge), err)
	_, err = s.Fail(ctx, "auth_failed", "HRMS rejected the credentials")
	require.NoError(t, err)
	events := readAll(t, b)
	require.Equal(t, schemas.TypeSyncFailed, events[len(events)-1].Type)
	require.Contains(t, string(events[len(events)-1].Data), "auth_failed")
}
