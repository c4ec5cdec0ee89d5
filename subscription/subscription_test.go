package subscription_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/hookstream/hookstream/internal/brokertest"
	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/subscription"
	"github.com/hookstream/hookstream/subscription/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestKVStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) subscription.Store {
		return subscription.NewKVStore(brokertest.New(t).Webhooks)
	})
}

func hook(tenant, id string, events []string, orgs ...string) *schemas.Webhook {
	return &schemas.Webhook{ID: id, TenantID: tenant, URL: "https://example.com", Events: events, OrgIDs: orgs, Enabled: true}
}

// startIndex runs an index over a fresh bucket holding hooks.
func startIndex(t *testing.T, hooks ...*schemas.Webhook) (*subscription.Index, *subscription.KVStore) {
	t.Helper()
	b := brokertest.New(t)
	store := subscription.NewKVStore(b.Webhooks)
	for _, h := range hooks {
		require.NoError(t, store.Create(context.Background(), h))
	}
	ix := subscription.NewIndex(b.Webhooks, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ix.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	select {
	case <-ix.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("index not ready")
	}
	return ix, store
}

func ids(ws []*schemas.Webhook) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.ID
	}
	return out
}

func TestIndexMatch(t *testing.T) {
	t.Parallel()
	disabled := hook("t1", "disabled", []string{"*"})
	disabled.Enabled = false
	ix, _ := startIndex(t,
		hook("t1", "exact", []string{"sync.started"}),
		hook("t1", "family", []string{"sync.*", "sync.completed"}),
		hook("t1", "all", []string{"*"}),
		hook("t1", "org", []string{"*"}, "org_a", "org_b"),
		hook("t1", "multi", []string{"sync.failed", "employee.created", "employee.created"}),
		hook("t2", "other", []string{"*"}),
		disabled,
	)
	cases := []struct {
		typ, org string
		want     []string
	}{
		{"sync.started", "org_z", []string{"all", "exact", "family", "disabled"}},
		{"sync.completed", "org_z", []string{"all", "family", "disabled"}},
		{"sync.failed", "org_a", []string{"all", "family", "multi", "org", "disabled"}},
		{"employee.created", "org_b", []string{"all", "multi", "org", "disabled"}},
		{"employee.updated", "org_z", []string{"all", "disabled"}},
		{"payroll.submitted", "org_a", []string{"all", "org", "disabled"}},
		{"sync", "org_a", []string{"all", "org", "disabled"}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%s", tc.typ, tc.org), func(t *testing.T) {
			t.Parallel()
			require.ElementsMatch(t, tc.want, ids(ix.Match(nil, "t1", tc.typ, tc.org)))
		})
	}
	require.Empty(t, ix.Match(nil, "nobody", "sync.started", "o"))
	w, ok := ix.Get("t1", "disabled")
	require.True(t, ok, "disabled webhooks are indexed: the router dead-letters what they miss")
	require.False(t, w.Enabled)
}

func TestIndexAppliesUpdatesWithoutRestart(t *testing.T) {
	t.Parallel()
	ix, store := startIndex(t)
	ctx := context.Background()
	require.NoError(t, store.Create(ctx, hook("t1", "w1", []string{"sync.started"})))
	require.Eventually(t, func() bool { return len(ix.Match(nil, "t1", "sync.started", "o")) == 1 }, 5*time.Second, time.Millisecond)

	_, err := store.Update(ctx, "t1", "w1", func(w *schemas.Webhook) error { w.Events = []string{"employee.*"}; return nil })
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return len(ix.Match(nil, "t1", "sync.started", "o")) == 0 && len(ix.Match(nil, "t1", "employee.deleted", "o")) == 1
	}, 5*time.Second, time.Millisecond)

	require.NoError(t, store.Delete(ctx, "t1", "w1"))
	require.Eventually(t, func() bool { return ix.Len() == 0 }, 5*time.Second, time.Millisecond)
	_, found, err := ix.Webhook(ctx, "t1", "w1")
	require.NoError(t, err)
	require.False(t, found)
}

func TestIndexWebhookFallsBackToTheBucket(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	store := subscription.NewKVStore(b.Webhooks)
	ix := subscription.NewIndex(b.Webhooks, nil) // never run: always empty
	require.NoError(t, store.Create(context.Background(), hook("t1", "w1", []string{"*"})))
	w, found, err := ix.Webhook(context.Background(), "t1", "w1")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "w1", w.ID)
}

// Run returns promptly when cancelled in the middle of a burst of writes
// (it once spun on the closed watch channel while draining the burst).
func TestIndexStopsDuringABurst(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	store := subscription.NewKVStore(b.Webhooks)
	ix := subscription.NewIndex(b.Webhooks, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- ix.Run(ctx) }()
	<-ix.Ready()
	for i := range 2000 {
		require.NoError(t, store.Create(context.Background(), hook("t1", fmt.Sprintf("w%d", i), []string{"*"})))
		if i == 1000 {
			cancel()
		}
	}
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Index.Run did not return after cancel")
	}
}

// After Sync, the index holds every write made before it.
func TestIndexSync(t *testing.T) {
	t.Parallel()
	ix, store := startIndex(t)
	ctx := context.Background()
	for i := range 50 {
		id := fmt.Sprintf("w%d", i)
		require.NoError(t, store.Create(ctx, hook("t1", id, []string{"*"})))
		require.NoError(t, ix.Sync(ctx))
		_, ok := ix.Get("t1", id)
		require.True(t, ok, "%s indexed after Sync", id)
	}
	require.NoError(t, store.Delete(ctx, "t1", "w0"))
	require.NoError(t, ix.Sync(ctx))
	_, ok := ix.Get("t1", "w0")
	require.False(t, ok)
}
