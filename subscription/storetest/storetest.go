package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hookstream/hookstream/schemas"
	"github.com/hookstream/hookstream/subscription"
)

// Run exercises store, which must start empty for each call of newStore.
func Run(t *testing.T, newStore func(t *testing.T) subscription.Store) {
	ctx := context.Background()
	webhook := func(tenant, name string) *schemas.Webhook {
		now := time.Now().UTC().Truncate(time.Millisecond)
		return &schemas.Webhook{
			ID: schemas.NewWebhookID(), TenantID: tenant, Name: name, URL: "https://example.com/hook",
			Events: []string{"sync.*"}, Enabled: true, IncludePayload: true,
			Secrets: []schemas.Secret{{Value: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0"}}, CreatedAt: now, UpdatedAt: now,
		}
	}

	t.Run("CreateGet", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := webhook("t1", "a")
		require.NoError(t, s.Create(ctx, w))
		got, err := s.Get(ctx, "t1", w.ID)
		require.NoError(t, err)
		require.Equal(t, w, got)
		require.ErrorIs(t, s.Create(ctx, w), subscription.ErrConflict)
	})
	t.Run("TenantScoped", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := webhook("t1", "a")
		require.NoError(t, s.Create(ctx, w))
		_, err := s.Get(ctx, "t2", w.ID)
		require.ErrorIs(t, err, subscription.ErrNotFound)
		require.ErrorIs(t, s.Delete(ctx, "t2", w.ID), subscription.ErrNotFound)
		_, err = s.Update(ctx, "t2", w.ID, func(*schemas.Webhook) error { return nil })
		require.ErrorIs(t, err, subscription.ErrNotFound)
		list, err := s.List(ctx, "t2")
		require.NoError(t, err)
		require.Empty(t, list)
	})
	t.Run("ListOldestFirst", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		a, b := webhook("t1", "a"), webhook("t1", "b")
		b.CreatedAt = a.CreatedAt.Add(time.Second)
		require.NoError(t, s.Create(ctx, b))
		require.NoError(t, s.Create(ctx, a))
		require.NoError(t, s.Create(ctx, webhook("t2", "other")))
		list, err := s.List(ctx, "t1")
		require.NoError(t, err)
		require.Len(t, list, 2)
		require.Equal(t, []string{"a", "b"}, []string{list[0].Name, list[1].Name})
	})
	t.Run("UpdateDelete", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := webhook("t1", "a")
		require.NoError(t, s.Create(ctx, w))
		got, err := s.Update(ctx, "t1", w.ID, func(w *schemas.Webhook) error { w.URL = "https://example.org/x"; return nil })
		require.NoError(t, err)
		require.Equal(t, "https://example.org/x", got.URL)
		boom := errors.New("boom")
		_, err = s.Update(ctx, "t1", w.ID, func(*schemas.Webhook) error { return boom })
		require.ErrorIs(t, err, boom)
		require.NoError(t, s.Delete(ctx, "t1", w.ID))
		_, err = s.Get(ctx, "t1", w.ID)
		require.ErrorIs(t, err, subscription.ErrNotFound)
		require.ErrorIs(t, s.Delete(ctx, "t1", w.ID), subscription.ErrNotFound)
	})
	t.Run("ConcurrentUpdatesAllApply", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		w := webhook("t1", "a")
		require.NoError(t, s.Create(ctx, w))
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, err := s.Update(ctx, "t1", w.ID, func(w *schemas.Webhook) error {
					w.OrgIDs = append(w.OrgIDs, "o")
					return nil
				})
				require.NoError(t, err)
			})
		}
		wg.Wait()
		got, err := s.Get(ctx, "t1", w.ID)
		require.NoError(t, err)
		require.Len(t, got.OrgIDs, 8, "optimistic concurrency loses no update")
	})
}
